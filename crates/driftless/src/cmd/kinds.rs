//! The Driftless kinds the CLI works on, and the `source git | kustomization | image … |
//! alert | provider | receiver` words that name them on the command line.

use driftless_api::{
    Alert, GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation, Kustomization,
    Provider, Receiver,
};
use kube::api::{ApiResource, DynamicObject};
use kube::{Api, Client};
use serde_json::Value;

/// One Driftless kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `source.driftless.dev/v1` GitRepository.
    GitRepository,
    /// `kustomize.driftless.dev/v1` Kustomization.
    Kustomization,
    /// `image.driftless.dev/v1` ImageRepository.
    ImageRepository,
    /// `image.driftless.dev/v1` ImagePolicy.
    ImagePolicy,
    /// `image.driftless.dev/v1` ImageUpdateAutomation.
    ImageUpdateAutomation,
    /// `notification.driftless.dev/v1` Alert.
    Alert,
    /// `notification.driftless.dev/v1` Provider.
    Provider,
    /// `notification.driftless.dev/v1` Receiver.
    Receiver,
}

impl Kind {
    /// Every kind, in the order `get all` lists them.
    pub const ALL: [Kind; 8] = [
        Kind::GitRepository,
        Kind::Kustomization,
        Kind::ImageRepository,
        Kind::ImagePolicy,
        Kind::ImageUpdateAutomation,
        Kind::Alert,
        Kind::Provider,
        Kind::Receiver,
    ];

    /// The API resource (group, version, kind, plural) of the kind.
    pub fn resource(self) -> ApiResource {
        match self {
            Kind::GitRepository => ApiResource::erase::<GitRepository>(&()),
            Kind::Kustomization => ApiResource::erase::<Kustomization>(&()),
            Kind::ImageRepository => ApiResource::erase::<ImageRepository>(&()),
            Kind::ImagePolicy => ApiResource::erase::<ImagePolicy>(&()),
            Kind::ImageUpdateAutomation => ApiResource::erase::<ImageUpdateAutomation>(&()),
            Kind::Alert => ApiResource::erase::<Alert>(&()),
            Kind::Provider => ApiResource::erase::<Provider>(&()),
            Kind::Receiver => ApiResource::erase::<Receiver>(&()),
        }
    }

    /// The kind's name, e.g. `GitRepository`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::GitRepository => "GitRepository",
            Kind::Kustomization => "Kustomization",
            Kind::ImageRepository => "ImageRepository",
            Kind::ImagePolicy => "ImagePolicy",
            Kind::ImageUpdateAutomation => "ImageUpdateAutomation",
            Kind::Alert => "Alert",
            Kind::Provider => "Provider",
            Kind::Receiver => "Receiver",
        }
    }

    /// The kind whose name (or plural, or short name) is `text`, case-insensitively.
    pub fn parse(text: &str) -> Option<Kind> {
        let lower = text.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| {
            let r = k.resource();
            lower == k.name().to_ascii_lowercase()
                || lower == r.plural
                || k.short_names().contains(&lower.as_str())
        })
    }

    fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::GitRepository => &["gitrepo", "gitrepository"],
            Kind::Kustomization => &["ks"],
            Kind::ImageRepository => &["imagerepo", "imgrepo"],
            Kind::ImagePolicy => &["imagepol", "imgpol"],
            Kind::ImageUpdateAutomation => &["iua"],
            _ => &[],
        }
    }

    /// Whether the kind has `spec.suspend` (every kind but ImagePolicy).
    pub fn can_suspend(self) -> bool {
        self != Kind::ImagePolicy
    }

    /// The revision the object last produced, as the table shows it.
    pub fn revision(self, object: &Value) -> String {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str).map(str::to_owned);
        match self {
            Kind::GitRepository => s("/status/artifact/revision"),
            Kind::Kustomization => s("/status/lastAppliedRevision"),
            Kind::ImageRepository => s("/status/lastScanResult/revision").or_else(|| {
                object
                    .pointer("/status/lastScanResult/tagCount")
                    .and_then(Value::as_i64)
                    .map(|n| format!("{n} tags"))
            }),
            Kind::ImagePolicy => {
                let name = s("/status/latestRef/name");
                let tag = s("/status/latestRef/tag");
                name.zip(tag).map(|(n, t)| format!("{n}:{t}"))
            }
            Kind::ImageUpdateAutomation => s("/status/lastPushCommit"),
            Kind::Alert | Kind::Provider | Kind::Receiver => None,
        }
        .unwrap_or_default()
    }

    /// An API for the kind in `namespace`, or across every namespace when `None`.
    pub fn api(self, client: &Client, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = self.resource();
        match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        }
    }

    /// `Kind/namespace/name` for messages.
    pub fn describe(self, namespace: &str, name: &str) -> String {
        format!("{}/{namespace}/{name}", self.name())
    }
}

/// The `Ready` condition of an object: (status, message), if it has one.
pub fn ready_condition(object: &Value) -> Option<(String, String, String)> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            (s("status"), s("reason"), s("message"))
        })
}

/// `spec.suspend` of an object.
pub fn is_suspended(object: &Value) -> bool {
    object.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
}

/// The words that name one kind on the command line, e.g. `source git`, `kustomization`,
/// `image policy`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum KindWord {
    /// A source: `source git`.
    #[command(subcommand)]
    Source(SourceWord),
    /// A Kustomization.
    #[command(alias = "ks", alias = "kustomizations")]
    Kustomization(Selection),
    /// An image automation object: `image repository|policy|update`.
    #[command(subcommand)]
    Image(ImageWord),
    /// A notification Alert.
    Alert(Selection),
    /// A notification Provider.
    Provider(Selection),
    /// A webhook Receiver.
    Receiver(Selection),
}

/// `source git`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum SourceWord {
    /// A GitRepository.
    Git(Selection),
}

/// `image repository|policy|update`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ImageWord {
    /// An ImageRepository.
    Repository(Selection),
    /// An ImagePolicy.
    Policy(Selection),
    /// An ImageUpdateAutomation.
    Update(Selection),
}

/// Which object(s) of the kind: NAME, or `--all` in the namespace.
#[derive(clap::Args, Debug, Clone)]
pub struct Selection {
    /// Name of the object.
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Every object of the kind in the namespace (or, with `-A`, in every namespace where the
    /// command allows it).
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
}

impl KindWord {
    /// The kind and the selection.
    pub fn target(&self) -> (Kind, &Selection) {
        match self {
            KindWord::Source(SourceWord::Git(s)) => (Kind::GitRepository, s),
            KindWord::Kustomization(s) => (Kind::Kustomization, s),
            KindWord::Image(ImageWord::Repository(s)) => (Kind::ImageRepository, s),
            KindWord::Image(ImageWord::Policy(s)) => (Kind::ImagePolicy, s),
            KindWord::Image(ImageWord::Update(s)) => (Kind::ImageUpdateAutomation, s),
            KindWord::Alert(s) => (Kind::Alert, s),
            KindWord::Provider(s) => (Kind::Provider, s),
            KindWord::Receiver(s) => (Kind::Receiver, s),
        }
    }
}

/// Reads one object, with an error naming it when it does not exist.
pub async fn get_object(
    client: &Client,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> anyhow::Result<DynamicObject> {
    crate::cmd::kube_args::check_object_name("NAME", name)?;
    let api = kind.api(client, Some(namespace));
    match api.get_opt(name).await {
        Ok(Some(object)) => Ok(object),
        Ok(None) => anyhow::bail!(
            "{} '{name}' not found in namespace '{namespace}'",
            kind.name()
        ),
        Err(err) => Err(describe_kube_error(err, kind, namespace, name)),
    }
}

/// Names the object in an API error, and explains a missing CRD.
pub fn describe_kube_error(
    err: kube::Error,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> anyhow::Error {
    if let kube::Error::Api(status) = &err
        && status.code == 404
    {
        return anyhow::anyhow!(
            "the {} API ({}) is not served: are the Driftless CRDs installed? (`driftless check`)",
            kind.name(),
            kind.resource().api_version
        );
    }
    anyhow::Error::new(err).context(format!("reading {}", kind.describe(namespace, name)))
}

/// The names (`Kind::name`) of every kind, for messages.
pub fn kind_names() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn kinds_parse_by_name_plural_and_short_name() {
        assert_eq!(Kind::parse("ks"), Some(Kind::Kustomization));
        assert_eq!(Kind::parse("GitRepositories"), Some(Kind::GitRepository));
        assert_eq!(Kind::parse("iua"), Some(Kind::ImageUpdateAutomation));
        assert_eq!(Kind::parse("deployment"), None);
        assert_eq!(
            Kind::parse(&ImagePolicy::kind(&())),
            Some(Kind::ImagePolicy)
        );
        for kind in Kind::ALL {
            assert_eq!(kind.resource().kind, kind.name());
        }
    }

    #[test]
    fn revisions_come_from_each_kinds_status() {
        let repo = serde_json::json!({"status": {"artifact": {"revision": "main@sha1:abc"}}});
        assert_eq!(Kind::GitRepository.revision(&repo), "main@sha1:abc");
        let pol =
            serde_json::json!({"status": {"latestRef": {"name": "ghcr.io/a/b", "tag": "1.2.0"}}});
        assert_eq!(Kind::ImagePolicy.revision(&pol), "ghcr.io/a/b:1.2.0");
        assert_eq!(Kind::Alert.revision(&pol), "");
    }
}
