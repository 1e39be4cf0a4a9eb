//! The loopback OCI registry: images pushed under tags are listed and
//! resolvable by digest.

use driftless_e2e::Registry;

#[tokio::test]
async fn pushed_tags_are_listed_with_their_own_digests() {
    let registry = Registry::start().expect("registry starts");
    let tags = ["1.0.0", "1.1.0", "2.0.0-rc.1"];

    let mut digests = Vec::new();
    for tag in tags {
        let digest = registry
            .push_image("team/app", tag)
            .await
            .expect("push image");
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "not a sha256 digest: {digest}"
        );
        assert_eq!(
            registry
                .manifest_digest("team/app", tag)
                .await
                .expect("HEAD manifest"),
            digest
        );
        digests.push(digest);
    }

    let mut listed = registry.tags("team/app").await.expect("list tags");
    listed.sort();
    assert_eq!(listed, tags);
    digests.sort();
    digests.dedup();
    assert_eq!(
        digests.len(),
        tags.len(),
        "each tag must have its own digest"
    );
}

#[tokio::test]
async fn pushing_the_same_tag_again_is_idempotent() {
    let registry = Registry::start().expect("registry starts");
    let first = registry
        .push_image("app", "latest")
        .await
        .expect("first push");
    let second = registry
        .push_image("app", "latest")
        .await
        .expect("second push");
    assert_eq!(first, second);
    assert_eq!(registry.tags("app").await.expect("list tags"), ["latest"]);
}
