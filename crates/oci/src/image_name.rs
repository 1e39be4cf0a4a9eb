//! Image names: `ghcr.io/acme/web`, `127.0.0.1:5000/team/app`, `nginx` (Docker Hub).

use crate::Error;

/// Docker Hub's name in canonical image names.
const DOCKER_HUB: &str = "docker.io";
/// The host serving Docker Hub's registry API.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image name without tag or digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageName {
    /// Registry host, with port when given (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub repository: String,
}

impl ImageName {
    /// Parses `spec.image`; a tag or digest is an error (the policy chooses the tag).
    pub fn parse(image: &str) -> Result<Self, Error> {
        Self::parse_field(image, "spec.image")
    }

    /// Parses an OCIRepository's `spec.url` (`oci://host[:port]/repository`); a tag or
    /// digest is an error (`spec.ref` chooses them), as in Flux.
    pub fn parse_oci_url(url: &str, field: &str) -> Result<Self, Error> {
        let rest = url
            .strip_prefix("oci://")
            .ok_or_else(|| Error::InvalidImage {
                field: field.to_owned(),
                image: url.to_owned(),
                reason: "must start with oci://".to_owned(),
            })?;
        Self::parse_field(rest, field)
    }

    /// Parses `image` found in `field` (named in errors).
    pub fn parse_field(image: &str, field: &str) -> Result<Self, Error> {
        let fail = |reason: &str| Error::InvalidImage {
            field: field.to_owned(),
            image: image.to_owned(),
            reason: reason.to_owned(),
        };
        if image.is_empty() {
            return Err(fail("empty"));
        }
        if image.contains('@') {
            return Err(fail("must not contain a digest"));
        }
        let (first, rest) = match image.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (Some(first), rest)
            }
            _ => (None, image),
        };
        if rest.contains(':') {
            return Err(fail("must not contain a tag"));
        }
        // The registry becomes the authority of a URL: nothing a URL parser could read as
        // user info, path or another host.
        if first.is_some_and(|host| {
            !host.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
            })
        }) {
            return Err(fail(
                "the registry must be a host name or IP address with an optional port",
            ));
        }
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !rest.split('/').all(valid_component) {
            return Err(fail(
                "path components must be lowercase letters, digits and separators '.', '_', '-'",
            ));
        }
        let registry = first.unwrap_or(DOCKER_HUB);
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !rest.contains('/') {
            format!("library/{rest}")
        } else {
            rest.to_owned()
        };
        Ok(ImageName {
            registry: registry.to_owned(),
            repository,
        })
    }

    /// `registry/repository`, e.g. `docker.io/library/nginx`.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Scheme and host of the registry API: https unless `insecure`.
    pub fn api_base(&self, insecure: bool) -> String {
        let host = if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            self.registry.as_str()
        };
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        for (image, canonical, base) in [
            (
                "nginx",
                "docker.io/library/nginx",
                "https://registry-1.docker.io",
            ),
            (
                "team/web",
                "docker.io/team/web",
                "https://registry-1.docker.io",
            ),
            ("ghcr.io/acme/web", "ghcr.io/acme/web", "https://ghcr.io"),
            (
                "127.0.0.1:5000/team/app",
                "127.0.0.1:5000/team/app",
                "https://127.0.0.1:5000",
            ),
            ("localhost/app", "localhost/app", "https://localhost"),
        ] {
            let name = ImageName::parse(image).unwrap();
            assert_eq!(name.canonical(), canonical);
            assert_eq!(name.api_base(false), base);
        }
        let oci = ImageName::parse_oci_url("oci://127.0.0.1:5000/team/app", "spec.url").unwrap();
        assert_eq!(oci.canonical(), "127.0.0.1:5000/team/app");
        for bad in [
            "https://127.0.0.1:5000/app",
            "oci://127.0.0.1:5000/app:v1",
            "oci://h.io/a@sha256:0",
        ] {
            let err = ImageName::parse_oci_url(bad, "spec.url")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("spec.url: "), "{err}");
        }
        assert_eq!(
            ImageName::parse("127.0.0.1:5000/app")
                .unwrap()
                .api_base(true),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn tags_digests_and_bad_characters_are_refused() {
        for (image, needle) in [
            ("ghcr.io/acme/web:1.0", "tag"),
            ("nginx:latest", "tag"),
            ("nginx@sha256:abc", "digest"),
            ("ghcr.io/Acme/web", "lowercase"),
            ("ghcr.io//web", "lowercase"),
            ("", "empty"),
            ("evil.example\\x:5000/app", "registry must be a host"),
            ("evil.example%2f:5000/app", "registry must be a host"),
        ] {
            let err = ImageName::parse(image).unwrap_err().to_string();
            assert!(
                err.contains("spec.image") && err.contains(needle),
                "{image}: {err}"
            );
        }
    }
}
