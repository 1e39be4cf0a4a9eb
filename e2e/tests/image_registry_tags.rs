//! Tag listing against the real loopback registry: `Link` pagination and plain HTTP only
//! when asked.

use std::sync::Arc;
use std::time::Duration;

use driftless_e2e::Registry;
use driftless_image_controller::Error;
use driftless_image_controller::registry::{
    DEFAULT_MAX_RESPONSE_BYTES, ImageName, TagListRequest, http_client, list_tags,
};
use driftless_runtime::url_policy::UrlPolicy;

#[tokio::test]
async fn pages_are_followed_until_the_last() {
    let registry = Registry::start().unwrap();
    let mut pushed: Vec<String> = (0..7).map(|i| format!("1.{i}.0")).collect();
    for tag in &pushed {
        registry.push_image("team/app", tag).await.unwrap();
    }
    let image = ImageName::parse(&format!("{}/team/app", registry.host())).unwrap();
    let http = http_client(Arc::new(UrlPolicy::default())).unwrap();
    for page_size in [1, 2, 3, 1000] {
        let request = TagListRequest {
            image: &image,
            insecure: true,
            credentials: None,
            timeout: Duration::from_secs(10),
            page_size,
            policy: &UrlPolicy::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        };
        let mut tags = list_tags(&http, &request).await.unwrap();
        tags.sort();
        pushed.sort();
        assert_eq!(tags, pushed, "page size {page_size}");
    }
}

#[tokio::test]
async fn https_is_the_default_and_missing_repositories_are_named() {
    let registry = Registry::start().unwrap();
    registry.push_image("team/app", "1.0.0").await.unwrap();
    let http = http_client(Arc::new(UrlPolicy::default())).unwrap();
    let image = ImageName::parse(&format!("{}/team/app", registry.host())).unwrap();
    let https = TagListRequest {
        image: &image,
        insecure: false,
        credentials: None,
        timeout: Duration::from_secs(10),
        page_size: 10,
        policy: &UrlPolicy::default(),
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
    };
    let err = list_tags(&http, &https).await.unwrap_err();
    assert!(
        matches!(&err, Error::Registry { url, .. } if url.starts_with("https://")),
        "{err}"
    );

    let missing = ImageName::parse(&format!("{}/team/missing", registry.host())).unwrap();
    let request = TagListRequest {
        image: &missing,
        insecure: true,
        credentials: None,
        timeout: Duration::from_secs(10),
        page_size: 10,
        policy: &UrlPolicy::default(),
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
    };
    let err = list_tags(&http, &request).await.unwrap_err().to_string();
    assert!(err.contains("repository 'team/missing' not found"), "{err}");
}
