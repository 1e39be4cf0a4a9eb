use std::collections::BTreeMap;

use super::*;

fn image(name: &str, tag: &str) -> ImageRef {
    ImageRef {
        name: name.into(),
        tag: tag.into(),
        digest: None,
    }
}

fn key(ns: &str, name: &str) -> PolicyKey {
    PolicyKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn lookup_in<'a>(
    images: &'a BTreeMap<PolicyKey, ImageRef>,
) -> impl Fn(&PolicyKey) -> PolicyLookup<'a> + 'a {
    move |k| match images.get(k) {
        Some(i) => PolicyLookup::Image(i),
        None if k.name == "unselected" => PolicyLookup::Skip,
        None => PolicyLookup::Missing,
    }
}

const MANIFEST: &str = "# top comment\r\napiVersion: apps/v1\r\nkind: Deployment\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n        - name: web   # keep me\r\n          image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"team-a:web\"}\r\n        - name: sidecar\r\n          image: \"ghcr.io/acme/side:0.1\"  # {\"$imagepolicy\": \"team-a:unselected\"}\r\n      # trailing comment, no newline at end";

#[test]
fn only_the_value_bytes_change() {
    let images = BTreeMap::from([(key("team-a", "web"), image("ghcr.io/acme/web", "1.1.0"))]);
    let (new, changes) =
        rewrite(MANIFEST, "deploy/app.yaml", "team-a", &lookup_in(&images)).unwrap();
    let new = new.expect("a change");
    assert_eq!(
        new,
        MANIFEST.replace("web:1.0.0 #", "web:1.1.0 #"),
        "every other byte identical"
    );
    assert_eq!(
        changes,
        [Change {
            file: "deploy/app.yaml".into(),
            line: 9,
            policy: key("team-a", "web"),
            old: "ghcr.io/acme/web:1.0.0".into(),
            new: "ghcr.io/acme/web:1.1.0".into(),
        }]
    );
    assert_eq!(
        changes[0].to_string(),
        "deploy/app.yaml:9: ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.1.0 (team-a:web)"
    );
    let (again, none) = rewrite(&new, "deploy/app.yaml", "team-a", &lookup_in(&images)).unwrap();
    assert!(
        again.is_none() && none.is_empty(),
        "rewriting twice changes nothing"
    );
}

#[test]
fn tag_and_name_variants_keep_their_quotes() {
    let text = "image:\n  repository: 'ghcr.io/old/web' # {\"$imagepolicy\": \"ns:web:name\"}\n  tag: \"1.0\" # {\"$imagepolicy\": \"ns:web:tag\"}\n";
    let images = BTreeMap::from([(key("ns", "web"), image("ghcr.io/acme/web", "1.2.0"))]);
    let (new, changes) = rewrite(text, "values.yaml", "ns", &lookup_in(&images)).unwrap();
    assert_eq!(
        new.unwrap(),
        "image:\n  repository: 'ghcr.io/acme/web' # {\"$imagepolicy\": \"ns:web:name\"}\n  tag: \"1.2.0\" # {\"$imagepolicy\": \"ns:web:tag\"}\n"
    );
    assert_eq!(changes.len(), 2);
}

#[test]
fn a_missing_policy_is_an_error_naming_file_and_line() {
    let text = "a: b\nimage: x:1 # {\"$imagepolicy\": \"ns:gone\"}\n";
    let err = rewrite(text, "apps/web.yaml", "ns", &lookup_in(&BTreeMap::new()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "apps/web.yaml:2: setter marker names ImagePolicy 'ns:gone', which does not exist"
    );
}

#[test]
fn many_markers_in_a_large_file_are_all_rewritten() {
    let mut text = String::new();
    for i in 0..2_000 {
        text.push_str(&format!(
            "# c{i}\n- image: r/app{}:0.{i} # {{\"$imagepolicy\": \"ns:p{}\"}}\n",
            i % 10,
            i % 10
        ));
    }
    let images: BTreeMap<_, _> = (0..10)
        .map(|i| {
            (
                key("ns", &format!("p{i}")),
                image(&format!("r/app{i}"), "9.9.9"),
            )
        })
        .collect();
    let (new, changes) = rewrite(&text, "big.yaml", "ns", &lookup_in(&images)).unwrap();
    let new = new.unwrap();
    assert_eq!(changes.len(), 2_000);
    assert_eq!(new.lines().count(), text.lines().count());
    for (before, after) in text.lines().zip(new.lines()) {
        if before.starts_with('#') {
            assert_eq!(before, after);
        } else {
            assert!(after.contains(":9.9.9 # {"), "{after}");
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// YAML-ish lines without setter markers: keys, list items, comments, quotes, CRLF.
    fn plain_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,8}: [a-zA-Z0-9 ./:'\"-]{0,20}",
            " {0,6}- [a-z0-9:/.]{1,20}",
            " {0,6}# [ -~]{0,30}",
            " {0,4}[a-z]{1,6}: \"[a-z#: ]{0,12}\" # note",
            Just(String::new()),
        ]
        .prop_map(|line| line.replace("$imagepolicy", ""))
    }

    proptest! {
        #[test]
        fn every_byte_outside_the_marked_values_is_kept(
            before in prop::collection::vec(plain_line(), 0..20),
            after in prop::collection::vec(plain_line(), 0..20),
            indent in " {0,8}",
            quote in prop_oneof![Just(""), Just("\""), Just("'")],
            old_tag in "[0-9]{1,3}\\.[0-9]{1,3}",
            new_tag in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            crlf in any::<bool>(),
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let head: String = before.iter().map(|l| format!("{l}{eol}")).collect();
            let tail: String = after.iter().map(|l| format!("{l}{eol}")).collect();
            let marked = |tag: &str| format!("{indent}image: {quote}r/app:{tag}{quote}   # {{\"$imagepolicy\": \"ns:app\"}}{eol}");
            let text = format!("{head}{}{tail}", marked(&old_tag));
            let images = BTreeMap::from([(key("ns", "app"), image("r/app", &new_tag))]);
            let (new, changes) = rewrite(&text, "f.yaml", "ns", &lookup_in(&images)).unwrap();
            prop_assert_eq!(new.unwrap(), format!("{head}{}{tail}", marked(&new_tag)));
            prop_assert_eq!(changes.len(), 1);
            prop_assert_eq!(changes[0].line, before.len() + 1);
            let (unchanged, none) = rewrite(&format!("{head}{tail}"), "f.yaml", "ns", &lookup_in(&images)).unwrap();
            prop_assert!(unchanged.is_none() && none.is_empty());
        }
    }
}
