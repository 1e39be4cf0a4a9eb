//! `spec.include`: which artifacts of other GitRepositories go into this one's, read from the
//! controller's watch cache (never a GET per reconcile). Self-includes and include cycles are
//! refused before anything is copied, since each turn of a cycle would nest the previous
//! artifact into the next one without end.

use driftless_api::GitRepository;
use driftless_api::meta::Artifact as StatusArtifact;
use driftless_source::{Digest, IncludedArtifact};
use kube::ResourceExt;

use crate::{Error, PublishedArtifacts};

/// Most entries of `spec.include` (also the CRD's `maxItems`).
pub const MAX_INCLUDES: usize = 32;

/// How deep the include graph is followed looking for a cycle back to the including object.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// One include, resolved: what the cache copies, and what status records.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// For the cache.
    pub artifact: IncludedArtifact,
    /// The included repository's `status.artifact`, for `status.includedArtifacts`.
    pub status: StatusArtifact,
}

/// Resolve `repo.spec.include` against the GitRepositories in `published`'s stores.
pub fn resolve(
    repo: &GitRepository,
    published: &PublishedArtifacts,
) -> Result<Vec<Resolved>, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let own = repo.name_any();
    let includes = &repo.spec.include;
    if includes.len() > MAX_INCLUDES {
        return Err(Error::InvalidSpec(format!(
            "spec.include has {} entries, more than {MAX_INCLUDES}",
            includes.len()
        )));
    }
    for (i, inc) in includes.iter().enumerate() {
        if inc.repository.name == own {
            return Err(Error::InvalidSpec(format!(
                "spec.include[{i}]: GitRepository '{own}' includes itself"
            )));
        }
    }
    let lookup = |name: &str| published.git_repository(&namespace, name);
    let mut path = vec![own.clone()];
    for inc in includes {
        find_cycle(&own, &inc.repository.name, &mut path, &lookup)?;
    }
    let mut resolved = Vec::with_capacity(includes.len());
    for inc in includes {
        let name = &inc.repository.name;
        let included = lookup(name).ok_or_else(|| Error::IncludeUnavailable {
            reason: "NotFound",
            message: format!("could not get resource for include '{name}': GitRepository '{namespace}/{name}' not found"),
        })?;
        let no_artifact = || Error::IncludeUnavailable {
            reason: "NoArtifact",
            message: format!("no artifact available for include '{name}'"),
        };
        let status = included
            .status
            .as_ref()
            .and_then(|s| s.artifact.clone())
            .ok_or_else(no_artifact)?;
        let digest = status
            .digest
            .as_deref()
            .and_then(Digest::parse)
            .ok_or_else(no_artifact)?;
        resolved.push(Resolved {
            artifact: IncludedArtifact {
                name: name.clone(),
                digest,
                from_path: inc.from_path.clone(),
                to_path: inc.to_path().to_owned(),
            },
            status,
        });
    }
    Ok(resolved)
}

/// Follow `name`'s includes depth first; refuse when they lead back to `own`.
fn find_cycle(
    own: &str,
    name: &str,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<std::sync::Arc<GitRepository>>,
) -> Result<(), Error> {
    if name == own {
        path.push(name.to_owned());
        return Err(Error::InvalidSpec(format!(
            "spec.include: include cycle {}",
            path.join(" -> ")
        )));
    }
    if path.iter().any(|p| p == name) {
        // A cycle among other objects: theirs to refuse.
        return Ok(());
    }
    if path.len() > MAX_INCLUDE_DEPTH {
        return Err(Error::InvalidSpec(format!(
            "spec.include: includes nested deeper than {MAX_INCLUDE_DEPTH} ({} -> {name})",
            path.join(" -> ")
        )));
    }
    let Some(repo) = lookup(name) else {
        return Ok(());
    };
    path.push(name.to_owned());
    for inc in repo.spec.include.iter().take(MAX_INCLUDES) {
        find_cycle(own, &inc.repository.name, path, lookup)?;
    }
    path.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::source::{GitRepositoryInclude, GitRepositorySpec, GitRepositoryStatus};
    use kube::runtime::{reflector, watcher};

    fn repo(name: &str, includes: &[&str], digest: Option<&str>) -> GitRepository {
        let spec: GitRepositorySpec = serde_json::from_value(serde_json::json!({
            "url": "https://git.example/x", "interval": "1m"
        }))
        .unwrap();
        let mut repo = GitRepository::new(name, spec);
        repo.metadata.namespace = Some("team".into());
        repo.spec.include = includes
            .iter()
            .map(|n| GitRepositoryInclude {
                repository: driftless_api::meta::LocalObjectReference { name: (*n).into() },
                ..Default::default()
            })
            .collect();
        repo.status = digest.map(|d| GitRepositoryStatus {
            artifact: Some(StatusArtifact {
                revision: "main@sha1:0".into(),
                digest: Some(d.into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        repo
    }

    fn published(repos: &[GitRepository]) -> PublishedArtifacts {
        let (store, mut writer) = reflector::store();
        for r in repos {
            writer.apply_watcher_event(&watcher::Event::Apply(r.clone()));
        }
        let published = PublishedArtifacts::default();
        published.register(store);
        published
    }

    #[test]
    fn resolves_includes_in_order_with_the_default_to_path() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let app = repo("app", &["lib"], None);
        let all = published(&[app.clone(), repo("lib", &[], Some(&digest))]);
        let resolved = resolve(&app, &all).unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].artifact.to_path, "lib");
        assert_eq!(resolved[0].artifact.digest.to_string(), digest);
        assert_eq!(
            all.includers_of("team", "lib"),
            vec![kube::runtime::reflector::ObjectRef::from_obj(&app)]
        );
    }

    #[test]
    fn missing_or_artifactless_includes_are_unavailable() {
        let app = repo("app", &["lib"], None);
        let err = resolve(&app, &published(std::slice::from_ref(&app))).unwrap_err();
        assert_eq!(err.reason(), "NotFound");
        assert!(err.to_string().contains("include 'lib'"), "{err}");
        let err = resolve(&app, &published(&[app.clone(), repo("lib", &[], None)])).unwrap_err();
        assert_eq!(err.reason(), "NoArtifact");
        assert!(!err.is_stalling());
    }

    #[test]
    fn self_includes_cycles_and_deep_chains_are_refused() {
        let me = repo("a", &["a"], None);
        let err = resolve(&me, &published(std::slice::from_ref(&me))).unwrap_err();
        assert!(err.to_string().contains("includes itself"), "{err}");
        assert!(err.is_stalling());

        let a = repo("a", &["b"], None);
        let all = published(&[a.clone(), repo("b", &["c"], None), repo("c", &["a"], None)]);
        let err = resolve(&a, &all).unwrap_err();
        assert!(
            err.to_string().contains("include cycle a -> b -> c -> a"),
            "{err}"
        );

        // A cycle among others is theirs to refuse: `a` only waits for an artifact.
        let a = repo("a", &["b"], None);
        let all = published(&[a.clone(), repo("b", &["c"], None), repo("c", &["b"], None)]);
        assert_eq!(resolve(&a, &all).unwrap_err().reason(), "NoArtifact");

        // A chain deeper than the bound is refused rather than followed.
        let names: Vec<String> = (0..=MAX_INCLUDE_DEPTH + 2)
            .map(|i| format!("r{i}"))
            .collect();
        let mut chain: Vec<GitRepository> = names
            .windows(2)
            .map(|w| repo(&w[0], &[w[1].as_str()], None))
            .collect();
        chain.push(repo(names.last().unwrap(), &[], None));
        let err = resolve(&chain[0], &published(&chain)).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }
}
