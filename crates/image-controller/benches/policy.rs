//! Policy evaluation over 10,000 tags, against a naive peer (parse every tag strictly with
//! the `semver` crate, match a Cargo `VersionReq`, sort everything, take the last).
//! Run: `cargo bench -p driftless-image-controller --bench policy`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use driftless_api::image::{
    ImagePolicyChoice, ImagePolicySpec, NumericalPolicy, SemVerPolicy, SortOrder, TagFilter,
};
use driftless_api::meta::NamespacedObjectReference;
use driftless_image_controller::policy::Selector;

const TAGS: usize = 10_000;
const ROUNDS: u32 = 50;

fn tags() -> Vec<String> {
    (0..TAGS)
        .map(|i| match i % 4 {
            0 => format!("{}.{}.{}", i % 7, i % 13, i % 101),
            1 => format!("{}.{}.{}-rc.{}", i % 7, i % 13, i % 101, i % 9),
            2 => format!("main-{:07x}-{}", i * 7919, 1_700_000_000 + i),
            _ => format!("feature-{i}"),
        })
        .collect()
}

fn spec(policy: ImagePolicyChoice, filter: Option<TagFilter>) -> ImagePolicySpec {
    ImagePolicySpec {
        image_repository_ref: NamespacedObjectReference {
            name: "app".into(),
            namespace: None,
        },
        policy,
        filter_tags: filter,
    }
}

fn time<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut result = f();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        result = black_box(f());
    }
    (started.elapsed() / ROUNDS, result)
}

fn naive_semver(tags: &[String], req: &semver::VersionReq) -> Option<String> {
    let mut matching: Vec<(semver::Version, &String)> = tags
        .iter()
        .filter_map(|t| semver::Version::parse(t).ok().map(|v| (v, t)))
        .filter(|(v, _)| req.matches(v))
        .collect();
    matching.sort_by(|a, b| a.0.cmp(&b.0));
    matching.last().map(|(_, t)| (*t).clone())
}

fn main() {
    let tags = tags();
    let semver_spec = spec(
        ImagePolicyChoice {
            semver: Some(SemVerPolicy {
                range: ">=1.0.0 <6.0.0".into(),
            }),
            ..Default::default()
        },
        None,
    );
    let selector = Selector::from_spec(&semver_spec).expect("valid spec");
    let (ours, picked) = time(|| {
        selector
            .latest(&tags)
            .expect("evaluates")
            .map(str::to_owned)
    });
    let req = semver::VersionReq::parse(">=1.0.0, <6.0.0").expect("valid req");
    let (naive, naive_picked) = time(|| naive_semver(&tags, &req));
    assert_eq!(picked, naive_picked, "both must pick the same tag");
    println!(
        "semver '>=1.0.0 <6.0.0' over {TAGS} tags: driftless {:.3} ms, naive parse+sort {:.3} ms (picked {})",
        ours.as_secs_f64() * 1e3,
        naive.as_secs_f64() * 1e3,
        picked.unwrap_or_default()
    );

    let numerical_spec = spec(
        ImagePolicyChoice {
            numerical: Some(NumericalPolicy {
                order: SortOrder::Asc,
            }),
            ..Default::default()
        },
        Some(TagFilter {
            pattern: r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$".into(),
            extract: Some("$ts".into()),
        }),
    );
    let selector = Selector::from_spec(&numerical_spec).expect("valid spec");
    let (filtered, picked) = time(|| {
        selector
            .latest(&tags)
            .expect("evaluates")
            .map(str::to_owned)
    });
    println!(
        "numerical with filterTags '$ts' over {TAGS} tags: driftless {:.3} ms (picked {})",
        filtered.as_secs_f64() * 1e3,
        picked.unwrap_or_default()
    );
    let goal = Duration::from_millis(10);
    println!(
        "goal: under {} ms each: {}",
        goal.as_millis(),
        if ours < goal && filtered < goal {
            "met"
        } else {
            "MISSED"
        }
    );
}
