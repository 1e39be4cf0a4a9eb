//! Pure translation between the GitRepository API and the source cache: spec → fetch
//! request, fetch outcome → status.

use driftless_api::condition::{self, Status, reason};
use driftless_api::duration::parse_duration;
use driftless_api::meta::Artifact as StatusArtifact;
use driftless_api::source::{GitRepositorySpec, GitRepositoryStatus, GitVerificationMode};
use driftless_source::{Artifact, FetchRequest, GitAuth, GitRef, VerifyMode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use crate::Error;

/// `spec.verify.mode` as the cache takes it.
pub fn verify_mode(mode: Option<GitVerificationMode>) -> VerifyMode {
    match mode.unwrap_or_default() {
        GitVerificationMode::Head => VerifyMode::Head,
        GitVerificationMode::Tag => VerifyMode::Tag,
        GitVerificationMode::TagAndHead => VerifyMode::TagAndHead,
    }
}

/// Builds the cache request for `spec`.
pub fn fetch_request(
    spec: &GitRepositorySpec,
    auth: Option<GitAuth>,
) -> Result<FetchRequest, Error> {
    let timeout = parse_duration(&spec.timeout)
        .map_err(|e| Error::InvalidSpec(format!("spec.timeout: {e}")))?;
    let r = spec.reference.clone().unwrap_or_default();
    let reference = GitRef {
        branch: r.branch,
        tag: r.tag,
        semver: r.semver,
        name: r.name,
        commit: r.commit,
    };
    let mut req = FetchRequest::new(spec.url.clone(), reference);
    req.auth = auth;
    req.ignore = spec.ignore.clone();
    req.sparse_checkout = spec.sparse_checkout.clone();
    req.recurse_submodules = spec.recurse_submodules;
    req.timeout = timeout;
    Ok(req)
}

/// The status artifact for a fetched artifact; `lastUpdateTime` only moves when the content does.
pub fn status_artifact(
    namespace: &str,
    name: &str,
    artifact: &Artifact,
    base_url: &str,
    previous: Option<&StatusArtifact>,
    now: Timestamp,
) -> StatusArtifact {
    let digest = artifact.digest.to_string();
    let path = format!(
        "gitrepository/{namespace}/{name}/{}.tar.gz",
        artifact.digest.hex()
    );
    let last_update_time = previous
        .filter(|p| p.digest.as_deref() == Some(digest.as_str()) && p.revision == artifact.revision)
        .map(|p| p.last_update_time.clone())
        .unwrap_or_else(|| now.to_string());
    StatusArtifact {
        url: format!(
            "{}/artifacts/{namespace}/{name}/{}.tar.gz",
            base_url.trim_end_matches('/'),
            artifact.digest.hex()
        ),
        path,
        revision: artifact.revision.clone(),
        digest: Some(digest),
        last_update_time,
        size: i64::try_from(artifact.size).ok(),
        metadata: Default::default(),
    }
}

/// Records a successful fetch of `spec` (its content fields become the observed ones).
pub fn record_success(
    status: &mut GitRepositoryStatus,
    artifact: StatusArtifact,
    generation: Option<i64>,
    spec: &GitRepositorySpec,
    now: Timestamp,
) {
    let message = format!("stored artifact for revision '{}'", artifact.revision);
    conditions_on_success(&mut status.conditions, &message, generation, now);
    status.artifact = Some(artifact);
    status.observed_generation = generation;
    status.observed_ignore = spec.ignore.clone();
    status.observed_sparse_checkout = spec.sparse_checkout.clone();
    status.observed_include = spec.include.clone();
    status.observed_recurse_submodules = spec.recurse_submodules;
    condition::remove_condition(&mut status.conditions, condition::INCLUDE_UNAVAILABLE);
}

/// Sets the conditions of a source that stored an artifact: Ready and ArtifactInStorage
/// True with `message`, no FetchFailed, Reconciling or Stalled.
pub fn conditions_on_success(
    c: &mut Vec<Condition>,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    condition::set_condition(
        c,
        condition::READY,
        Status::True,
        reason::SUCCEEDED,
        message,
        generation,
        now,
    );
    condition::set_condition(
        c,
        condition::ARTIFACT_IN_STORAGE,
        Status::True,
        reason::SUCCEEDED,
        message,
        generation,
        now,
    );
    condition::remove_condition(c, condition::FETCH_FAILED);
    condition::remove_condition(c, condition::RECONCILING);
    condition::remove_condition(c, condition::STALLED);
}

/// Records a failed fetch. The previous artifact stays in status (and in the cache).
pub fn record_failure(
    status: &mut GitRepositoryStatus,
    err: &Error,
    generation: Option<i64>,
    now: Timestamp,
) {
    conditions_on_failure(&mut status.conditions, err, generation, now);
    let verification_failed = match err {
        Error::Verification(_) => true,
        Error::Source(e) => matches!(e, driftless_source::Error::Verification { .. }),
        _ => false,
    };
    if let Error::IncludeUnavailable { reason, message } = err {
        condition::set_condition(
            &mut status.conditions,
            condition::INCLUDE_UNAVAILABLE,
            Status::True,
            reason,
            message,
            generation,
            now,
        );
    } else {
        condition::remove_condition(&mut status.conditions, condition::INCLUDE_UNAVAILABLE);
    }
    if verification_failed {
        condition::set_condition(
            &mut status.conditions,
            condition::SOURCE_VERIFIED,
            Status::False,
            err.reason(),
            &err.to_string(),
            generation,
            now,
        );
    }
    status.observed_generation = generation;
}

/// Records what `spec.verify` verified (or, without `spec.verify`, removes the condition).
pub fn record_verification(
    status: &mut GitRepositoryStatus,
    mode: Option<driftless_api::source::GitVerificationMode>,
    verified: Option<&str>,
    generation: Option<i64>,
    now: Timestamp,
) {
    match (mode, verified) {
        (Some(mode), Some(message)) => {
            condition::set_condition(
                &mut status.conditions,
                condition::SOURCE_VERIFIED,
                Status::True,
                reason::SUCCEEDED,
                message,
                generation,
                now,
            );
            status.source_verification_mode = Some(mode);
        }
        _ => {
            condition::remove_condition(&mut status.conditions, condition::SOURCE_VERIFIED);
            status.source_verification_mode = None;
        }
    }
}

/// Sets the conditions of a source whose fetch failed: Ready False and FetchFailed True with
/// the error's reason and message; Stalled too when only a spec change can help.
pub fn conditions_on_failure(
    c: &mut Vec<Condition>,
    err: &Error,
    generation: Option<i64>,
    now: Timestamp,
) {
    let message = err.to_string();
    let why = err.reason();
    condition::set_condition(
        c,
        condition::READY,
        Status::False,
        why,
        &message,
        generation,
        now,
    );
    condition::set_condition(
        c,
        condition::FETCH_FAILED,
        Status::True,
        why,
        &message,
        generation,
        now,
    );
    condition::remove_condition(c, condition::RECONCILING);
    // A spec the controller cannot use will not fix itself: Stalled until the spec changes.
    if err.is_stalling() {
        condition::set_condition(
            c,
            condition::STALLED,
            Status::True,
            why,
            &message,
            generation,
            now,
        );
    } else {
        condition::remove_condition(c, condition::STALLED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::source::GitRepositoryRef;
    use driftless_source::Digest;

    fn spec() -> GitRepositorySpec {
        GitRepositorySpec {
            url: "https://git.example/team/apps".into(),
            secret_ref: None,
            interval: "1m".into(),
            timeout: "30s".into(),
            reference: Some(GitRepositoryRef {
                tag: Some("v1.0.0".into()),
                ..Default::default()
            }),
            ignore: Some("*.md".into()),
            suspend: false,
            verify: None,
            sparse_checkout: Vec::new(),
            include: Vec::new(),
            recurse_submodules: false,
        }
    }

    fn artifact(rev: &str, hex_char: char) -> Artifact {
        Artifact {
            revision: rev.into(),
            commit: "abc".into(),
            digest: Digest::parse(&format!("sha256:{}", hex_char.to_string().repeat(64))).unwrap(),
            path: "/cache/x".into(),
            size: 42,
            verified: None,
        }
    }

    #[test]
    fn spec_becomes_a_request() {
        let req = fetch_request(&spec(), None).unwrap();
        assert_eq!(req.reference.tag.as_deref(), Some("v1.0.0"));
        assert_eq!(req.timeout.as_secs(), 30);
        assert_eq!(req.ignore.as_deref(), Some("*.md"));
        let mut bad = spec();
        bad.timeout = "soon".into();
        assert!(
            fetch_request(&bad, None)
                .unwrap_err()
                .to_string()
                .contains("spec.timeout")
        );
    }

    #[test]
    fn last_update_time_moves_only_with_content() {
        let t1 = Timestamp::from_second(100).unwrap();
        let t2 = Timestamp::from_second(200).unwrap();
        let a = status_artifact(
            "ns",
            "repo",
            &artifact("main@sha1:1", 'a'),
            "http://h:9090/",
            None,
            t1,
        );
        assert_eq!(
            a.url,
            format!("http://h:9090/artifacts/ns/repo/{}.tar.gz", "a".repeat(64))
        );
        assert_eq!(
            a.digest.as_deref(),
            Some(format!("sha256:{}", "a".repeat(64)).as_str())
        );
        let same = status_artifact(
            "ns",
            "repo",
            &artifact("main@sha1:1", 'a'),
            "http://h:9090",
            Some(&a),
            t2,
        );
        assert_eq!(same.last_update_time, a.last_update_time);
        let new = status_artifact(
            "ns",
            "repo",
            &artifact("main@sha1:2", 'b'),
            "http://h:9090",
            Some(&a),
            t2,
        );
        assert_ne!(new.last_update_time, a.last_update_time);
    }

    #[test]
    fn failure_keeps_the_last_artifact() {
        let now = Timestamp::from_second(100).unwrap();
        let mut status = GitRepositoryStatus::default();
        let a = status_artifact(
            "ns",
            "repo",
            &artifact("main@sha1:1", 'a'),
            "http://h",
            None,
            now,
        );
        record_success(&mut status, a.clone(), Some(1), &spec(), now);
        assert!(condition::is_ready(&status.conditions));
        let err = Error::Source(driftless_source::Error::Remote {
            url: "https://git.example".into(),
            message: "connection refused".into(),
        });
        record_failure(&mut status, &err, Some(1), now);
        assert!(!condition::is_ready(&status.conditions));
        assert_eq!(status.artifact, Some(a));
        let ready = condition::find(&status.conditions, condition::READY).unwrap();
        assert_eq!(ready.reason, "GitOperationFailed");
        assert!(ready.message.contains("connection refused"));
        assert!(condition::find(&status.conditions, condition::STALLED).is_none());
    }
}
