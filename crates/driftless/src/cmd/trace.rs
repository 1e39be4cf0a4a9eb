//! `driftless trace KIND NAME`: which Kustomization applied an object, from which
//! GitRepository, at which revision (read from the `kustomize.driftless.dev/name` and
//! `/namespace` labels the controller puts on everything it applies).

use anyhow::{Context as _, bail};
use driftless_api::GitRepository;
use driftless_api::kustomize::ResourceRef;
use driftless_api::well_known::{KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL};
use kube::api::{ApiResource, DynamicObject};
use kube::discovery::{Discovery, Scope};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::cmd::kinds::{Kind, ready_condition};
use crate::cmd::kube_args::{KubeArgs, OutputArgs, OutputFormat, check_object_name};
use crate::cmd::local_build::read_kustomization;
use crate::cmd::output::{print_objects, text_at};

/// Arguments of `driftless trace`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kind of the object: its name (`Deployment`), plural (`deployments`) or `kind.group`
    /// (`deployments.apps`) when several groups serve the same kind.
    kind: String,
    /// Name of the object.
    name: String,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    check_object_name("NAME", &args.name)?;
    let cluster = args.kube.connect().await?;
    let (resource, namespaced) = find_resource(&cluster.client, &args.kind).await?;
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(cluster.client.clone(), &cluster.namespace, &resource)
    } else {
        Api::all_with(cluster.client.clone(), &resource)
    };
    let described = if namespaced {
        format!("{}/{}/{}", resource.kind, cluster.namespace, args.name)
    } else {
        format!("{}/{}", resource.kind, args.name)
    };
    let object = api
        .get_opt(&args.name)
        .await
        .with_context(|| format!("reading {described}"))?
        .with_context(|| format!("{described} not found"))?;
    let labels = object.labels();
    let (Some(ks_name), Some(ks_ns)) = (
        labels.get(KUSTOMIZE_NAME_LABEL),
        labels.get(KUSTOMIZE_NAMESPACE_LABEL),
    ) else {
        bail!(
            "{described} is not managed by Driftless (it has no {KUSTOMIZE_NAME_LABEL} and \
             {KUSTOMIZE_NAMESPACE_LABEL} labels)"
        );
    };
    let ks = read_kustomization(&cluster.client, ks_ns, ks_name)
        .await
        .with_context(|| format!("{described} names Kustomization {ks_ns}/{ks_name}"))?;
    let ks_value = serde_json::to_value(&ks)?;
    let id = ResourceRef::new(
        object.namespace().as_deref().unwrap_or(""),
        &args.name,
        group_of(&resource.api_version),
        &resource.kind,
        "",
    )
    .id;
    let in_inventory = ks
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .is_some_and(|i| i.entries.iter().any(|e| e.id == id));
    let source_ns = ks
        .spec
        .source_ref
        .namespace
        .clone()
        .unwrap_or_else(|| ks_ns.clone());
    let repo_api: Api<GitRepository> = Api::namespaced(cluster.client.clone(), &source_ns);
    let repo = repo_api
        .get_opt(&ks.spec.source_ref.name)
        .await
        .with_context(|| {
            format!(
                "reading GitRepository {source_ns}/{}",
                ks.spec.source_ref.name
            )
        })?;
    let repo_value = repo.as_ref().map(serde_json::to_value).transpose()?;
    let condition = |v: &Value| ready_condition(v).unwrap_or_default();
    let (ks_ready, _, ks_message) = condition(&ks_value);
    let mut report = json!({
        "object": described,
        "inInventory": in_inventory,
        "kustomization": {
            "name": ks_name, "namespace": ks_ns,
            "path": ks.spec.path.clone().unwrap_or_else(|| String::from("./")),
            "revision": Kind::Kustomization.revision(&ks_value),
            "ready": ks_ready, "message": ks_message,
        },
    });
    match &repo_value {
        Some(repo_value) => {
            let (ready, _, message) = condition(repo_value);
            let s = |p: &str| text_at(repo_value, p);
            report["gitRepository"] = json!({
                "name": ks.spec.source_ref.name, "namespace": source_ns,
                "url": s("/spec/url"),
                "ref": repo_value.pointer("/spec/ref").cloned().unwrap_or(Value::Null),
                "revision": Kind::GitRepository.revision(repo_value),
                "ready": ready, "message": message,
            });
        }
        None => {
            report["gitRepository"] = json!({
                "name": ks.spec.source_ref.name, "namespace": source_ns, "missing": true,
            });
        }
    }
    match args.output.output {
        OutputFormat::Table => print!("{}", render(&report)),
        format => print_objects(format, &[report], false)?,
    }
    Ok(())
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Finds the API resource serving `kind` (name, plural or `plural.group`).
async fn find_resource(client: &Client, kind: &str) -> anyhow::Result<(ApiResource, bool)> {
    let lower = kind.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_owned(), Some(g.to_owned())),
        None => (lower.clone(), None),
    };
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .context("discovering the API server's resources")?;
    let mut found: Vec<(ApiResource, bool)> = Vec::new();
    for api_group in discovery.groups() {
        if group.as_deref().is_some_and(|g| g != api_group.name()) {
            continue;
        }
        for (resource, caps) in api_group.recommended_resources() {
            if resource.kind.to_ascii_lowercase() == name || resource.plural == name {
                found.push((resource, caps.scope == Scope::Namespaced));
            }
        }
    }
    match found.len() {
        0 => bail!("the API server serves no kind '{kind}'"),
        1 => Ok(found.remove(0)),
        _ => bail!(
            "kind '{kind}' is served by several groups ({}): name one as plural.group",
            found
                .iter()
                .map(|(r, _)| format!("{}.{}", r.plural, group_of(&r.api_version)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn render(report: &Value) -> String {
    let s = |p: &str| {
        report
            .pointer(p)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let mut out = format!("Object:         {}\n", s("/object"));
    if report["inInventory"] != Value::Bool(true) {
        out.push_str("Note:           not in the Kustomization's inventory (yet, or any more)\n");
    }
    out.push_str(&format!(
        "\nKustomization:  {}\nNamespace:      {}\nPath:           {}\nRevision:       {}\nReady:          {}\nMessage:        {}\n",
        s("/kustomization/name"), s("/kustomization/namespace"), s("/kustomization/path"),
        s("/kustomization/revision"), s("/kustomization/ready"), s("/kustomization/message"),
    ));
    if report.pointer("/gitRepository/missing").is_some() {
        out.push_str(&format!(
            "\nGitRepository:  {} (not found in namespace {})\n",
            s("/gitRepository/name"),
            s("/gitRepository/namespace")
        ));
    } else {
        out.push_str(&format!(
            "\nGitRepository:  {}\nNamespace:      {}\nURL:            {}\nRevision:       {}\nReady:          {}\nMessage:        {}\n",
            s("/gitRepository/name"), s("/gitRepository/namespace"), s("/gitRepository/url"),
            s("/gitRepository/revision"), s("/gitRepository/ready"), s("/gitRepository/message"),
        ));
    }
    out
}
