//! `driftless tree kustomization NAME`: a Kustomization's inventory as a tree, with the
//! Kustomizations it applies expanded in turn.

use driftless_api::Kustomization;
use driftless_api::kustomize::GROUP as KUSTOMIZE_GROUP;
use driftless_apply::ObjectRef;
use kube::Client;
use serde::Serialize;

use crate::cmd::kube_args::{KubeArgs, OutputArgs, OutputFormat};
use crate::cmd::local_build::read_kustomization;

/// How deep nested Kustomizations are expanded (a cycle or a very deep chain stops here).
const MAX_DEPTH: usize = 16;

/// Arguments of `driftless tree`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Print what a Kustomization applied (its inventory) as a tree.
    #[command(alias = "ks")]
    Kustomization(KustomizationArgs),
}

#[derive(clap::Args, Debug)]
struct KustomizationArgs {
    /// Name of the Kustomization.
    name: String,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// One node of the tree.
#[derive(Serialize, Debug)]
struct Node {
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<Node>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let What::Kustomization(args) = &args.what;
    let cluster = args.kube.connect().await?;
    let ks = read_kustomization(&cluster.client, &cluster.namespace, &args.name).await?;
    let mut path = vec![(cluster.namespace.clone(), args.name.clone())];
    let children = expand(&cluster.client, &ks, &mut path).await?;
    let root = Node {
        kind: String::from("Kustomization"),
        namespace: Some(cluster.namespace.clone()),
        name: args.name.clone(),
        children,
        note: None,
    };
    match args.output.output {
        OutputFormat::Table => print!("{}", render(&root)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&root)?),
        OutputFormat::Yaml => print!("{}", serde_norway::to_string(&root)?),
    }
    Ok(())
}

fn expand<'a>(
    client: &'a Client,
    ks: &'a Kustomization,
    path: &'a mut Vec<(String, String)>,
) -> futures::future::BoxFuture<'a, anyhow::Result<Vec<Node>>> {
    Box::pin(async move {
        let entries = ks
            .status
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .map(|i| i.entries.clone())
            .unwrap_or_default();
        let mut nodes = Vec::new();
        for entry in entries {
            let Some(object) = ObjectRef::from_inventory(&entry) else {
                continue;
            };
            let mut node = Node {
                kind: object.kind.clone(),
                namespace: object.namespace.clone(),
                name: object.name.clone(),
                children: Vec::new(),
                note: None,
            };
            if object.group == KUSTOMIZE_GROUP && object.kind == "Kustomization" {
                let key = (
                    object.namespace.clone().unwrap_or_default(),
                    object.name.clone(),
                );
                if path.contains(&key) {
                    node.note = Some(String::from("cycle: already above"));
                } else if path.len() >= MAX_DEPTH {
                    node.note = Some(format!("deeper than {MAX_DEPTH} levels: not expanded"));
                } else {
                    match read_kustomization(client, &key.0, &key.1).await {
                        Ok(child) => {
                            path.push(key);
                            node.children = expand(client, &child, path).await?;
                            path.pop();
                        }
                        Err(err) => node.note = Some(format!("{err:#}")),
                    }
                }
            }
            nodes.push(node);
        }
        Ok(nodes)
    })
}

fn label(node: &Node) -> String {
    let mut text = match &node.namespace {
        Some(ns) => format!("{}/{}/{}", node.kind, ns, node.name),
        None => format!("{}/{}", node.kind, node.name),
    };
    if let Some(note) = &node.note {
        text.push_str(&format!(" ({note})"));
    }
    text
}

fn render(root: &Node) -> String {
    let mut out = format!("{}\n", label(root));
    render_children(&root.children, "", &mut out);
    out
}

fn render_children(children: &[Node], prefix: &str, out: &mut String) {
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        out.push_str(&format!(
            "{prefix}{}{}\n",
            if last { "└── " } else { "├── " },
            label(child)
        ));
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        render_children(&child.children, &deeper, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(kind: &str, ns: Option<&str>, name: &str) -> Node {
        Node {
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
            children: Vec::new(),
            note: None,
        }
    }

    #[test]
    fn trees_draw_like_flux() {
        let mut child = leaf("Kustomization", Some("a"), "child");
        child.children.push(leaf("ConfigMap", Some("b"), "cm"));
        let mut root = leaf("Kustomization", Some("a"), "root");
        root.children.push(leaf("Namespace", None, "b"));
        root.children.push(child);
        assert_eq!(
            render(&root),
            "Kustomization/a/root\n├── Namespace/b\n└── Kustomization/a/child\n    └── ConfigMap/b/cm\n"
        );
    }
}
