use driftless_api::image::{
    AlphabeticalPolicy, ImagePolicyChoice, ImagePolicySpec, NumericalPolicy, SemVerPolicy,
    SortOrder, TagFilter as TagFilterSpec,
};
use driftless_api::meta::NamespacedObjectReference;

use super::*;

fn spec(policy: ImagePolicyChoice, filter: Option<(&str, Option<&str>)>) -> ImagePolicySpec {
    ImagePolicySpec {
        image_repository_ref: NamespacedObjectReference {
            name: "app".into(),
            namespace: None,
        },
        policy,
        filter_tags: filter.map(|(p, e)| TagFilterSpec {
            pattern: p.into(),
            extract: e.map(str::to_owned),
        }),
    }
}

fn semver(range: &str) -> ImagePolicyChoice {
    ImagePolicyChoice {
        semver: Some(SemVerPolicy {
            range: range.into(),
        }),
        ..Default::default()
    }
}

fn pick<'t>(spec: &ImagePolicySpec, tags: &'t [&'t str]) -> Option<&'t str> {
    Selector::from_spec(spec).unwrap().latest(tags).unwrap()
}

/// A deterministic mix of release, pre-release, `v`-prefixed, CI and junk tags.
fn many_tags(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            0 => format!("{}.{}.{}", i % 7, i % 13, i % 101),
            1 => format!("v{}.{}.{}-rc.{}", i % 7, i % 13, i % 101, i % 9),
            2 => format!("main-{:07x}-{}", i * 7919, 1_700_000_000 + i),
            3 => format!("{}", 1000 + i),
            _ => format!("feature-{i}"),
        })
        .collect()
}

#[test]
fn issue_example_caret_one_picks_the_newest_1x_release() {
    let tags = ["1.0.0", "1.1.0", "2.0.0-rc.1"];
    assert_eq!(pick(&spec(semver("^1"), None), &tags), Some("1.1.0"));
    assert_eq!(
        pick(&spec(semver(">=1.0.0 <2.0.0"), None), &tags),
        Some("1.1.0")
    );
    assert_eq!(pick(&spec(semver("1.x"), None), &tags), Some("1.1.0"));
    assert_eq!(
        pick(&spec(semver(">=1.0.0"), None), &tags),
        Some("1.1.0"),
        "no pre-releases unless named"
    );
    assert_eq!(
        pick(&spec(semver(">=2.0.0-0"), None), &tags),
        Some("2.0.0-rc.1")
    );
    assert_eq!(pick(&spec(semver("^3"), None), &tags), None);
}

#[test]
fn semver_over_thousands_of_tags_matches_a_brute_force_sort() {
    let tags = many_tags(10_000);
    for range in [
        "^5",
        "~3.4",
        ">=2.0.0 <4.0.0",
        "1.x",
        ">=6.0.0-0",
        "*",
        "<1.0.0 || >=6.12.0",
    ] {
        let got = Selector::from_spec(&spec(semver(range), None))
            .unwrap()
            .latest(&tags)
            .unwrap();
        let parsed = SemverRange::parse(range).unwrap();
        let mut expected: Vec<(Version, &str)> = tags
            .iter()
            .filter_map(|t| parse_version_loose(t).map(|v| (v, t.as_str())))
            .filter(|(v, _)| parsed.matches(v))
            .collect();
        expected.sort_by(|a, b| a.0.cmp_precedence(&b.0).then_with(|| a.1.cmp(b.1)));
        assert_eq!(got, expected.last().map(|(_, t)| *t), "range {range}");
        assert!(
            got.is_some(),
            "range {range} should match something in the mix"
        );
    }
    // Like Flux, a bare number is a version: `10998` is 10998.0.0.
    let numeric = Selector::from_spec(&spec(semver(">=10000"), None))
        .unwrap()
        .latest(&tags)
        .unwrap();
    assert_eq!(numeric, Some("10998"));
    let six = Selector::from_spec(&spec(semver(">=6.0.0-0 <7.0.0-0"), None))
        .unwrap()
        .latest(&tags)
        .unwrap();
    assert!(
        six.is_some_and(|t| t.starts_with("6.12.") || t.starts_with("v6.12.")),
        "{six:?}"
    );
}

#[test]
fn the_scan_order_does_not_change_the_answer() {
    let mut tags = many_tags(3_000);
    tags.push("5.0".into());
    tags.push("5.0.0".into());
    let selector = Selector::from_spec(&spec(semver("5.0.0"), None)).unwrap();
    let forward = selector.latest(&tags).unwrap().map(str::to_owned);
    tags.reverse();
    assert_eq!(selector.latest(&tags).unwrap().map(str::to_owned), forward);
    assert_eq!(
        forward.as_deref(),
        Some("5.0.0"),
        "ties go to the greater tag string"
    );
}

#[test]
fn alphabetical_and_numerical_orders() {
    let alpha = |order| ImagePolicyChoice {
        alphabetical: Some(AlphabeticalPolicy { order }),
        ..Default::default()
    };
    let num = |order| ImagePolicyChoice {
        numerical: Some(NumericalPolicy { order }),
        ..Default::default()
    };
    let words = ["b", "c", "a", "RELEASE.2024-01-02", "RELEASE.2023-12-31"];
    assert_eq!(pick(&spec(alpha(SortOrder::Asc), None), &words), Some("c"));
    assert_eq!(
        pick(&spec(alpha(SortOrder::Desc), None), &words),
        Some("RELEASE.2023-12-31")
    );
    let numbers = ["9", "10", "100", "1.5", "-3"];
    assert_eq!(
        pick(&spec(num(SortOrder::Asc), None), &numbers),
        Some("100"),
        "numbers, not strings"
    );
    assert_eq!(
        pick(&spec(num(SortOrder::Desc), None), &numbers),
        Some("-3")
    );
    let err = Selector::from_spec(&spec(num(SortOrder::Asc), None))
        .unwrap()
        .latest(&["1", "latest"])
        .unwrap_err();
    assert!(
        err.to_string().contains("'latest'") && err.to_string().contains("filterTags"),
        "{err}"
    );
}

#[test]
fn filter_and_extract_over_thousands_of_ci_tags() {
    let tags = many_tags(10_000);
    let num = ImagePolicyChoice {
        numerical: Some(NumericalPolicy {
            order: SortOrder::Asc,
        }),
        ..Default::default()
    };
    let got = pick_owned(
        &spec(num, Some((r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$", Some("$ts")))),
        &tags,
    );
    // i % 5 == 2 and i < 10_000: the last such i is 9997.
    assert_eq!(
        got.as_deref(),
        Some(format!("main-{:07x}-{}", 9997 * 7919, 1_700_000_000 + 9997).as_str())
    );
    let semver_filtered = pick_owned(
        &spec(
            semver(">=1.0.0"),
            Some((r"^v(?P<v>.*)-rc\.[0-9]+$", Some("$v"))),
        ),
        &tags,
    );
    assert!(
        semver_filtered
            .as_deref()
            .is_some_and(|t| t.starts_with("v6.12.")),
        "{semver_filtered:?}"
    );
}

fn pick_owned(spec: &ImagePolicySpec, tags: &[String]) -> Option<String> {
    Selector::from_spec(spec)
        .unwrap()
        .latest(tags)
        .unwrap()
        .map(str::to_owned)
}

#[test]
fn bad_specs_name_the_field() {
    let err = Selector::from_spec(&spec(semver(">= one"), None)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("spec.policy.semver.range: invalid semver range '>= one'"),
        "{err}"
    );
    assert!(err.is_stalling());
    let err = Selector::from_spec(&spec(semver("^1"), Some(("([a-z", None)))).unwrap_err();
    assert!(err.to_string().contains("spec.filterTags.pattern"), "{err}");
    let err = Selector::from_spec(&spec(ImagePolicyChoice::default(), None)).unwrap_err();
    assert!(err.to_string().contains("spec.policy"), "{err}");
}
