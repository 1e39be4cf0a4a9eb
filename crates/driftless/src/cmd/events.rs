//! `driftless events`: the Events the controllers recorded, oldest first, optionally for one
//! object (`--for Kind/name`).

use anyhow::{Context as _, bail};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

use crate::cmd::kinds::Kind;
use crate::cmd::kube_args::{ListArgs, OutputArgs, OutputFormat, check_object_name};
use crate::cmd::output::{Table, age, one_line, print_objects};

/// Arguments of `driftless events`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only the events of this object, as `Kind/name` (e.g. `Kustomization/apps`,
    /// `gitrepository/apps`). Without it: the events of every Driftless kind.
    #[arg(long = "for", value_name = "KIND/NAME")]
    for_object: Option<String>,
    #[command(flatten)]
    list: ListArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let filter = args.for_object.as_deref().map(parse_for).transpose()?;
    let cluster = args.list.kube.connect().await?;
    let scope = args.list.scope(&cluster);
    let api: Api<Event> = match &scope {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let mut events: Vec<Event> = api
        .list(&ListParams::default())
        .await
        .context("listing events")?
        .items
        .into_iter()
        .filter(|e| {
            let Some(regarding) = &e.regarding else {
                return false;
            };
            let kind = regarding.kind.as_deref().unwrap_or("");
            match &filter {
                Some((want_kind, want_name)) => {
                    kind.eq_ignore_ascii_case(want_kind)
                        && regarding.name.as_deref() == Some(want_name.as_str())
                }
                None => {
                    Kind::parse(kind).is_some()
                        && regarding
                            .api_version
                            .as_deref()
                            .is_some_and(|v| v.contains(".driftless.dev/"))
                }
            }
        })
        .collect();
    events.sort_by_key(|e| last_seen(e).map(|t| t.as_nanosecond()).unwrap_or_default());
    if let Some((kind, name)) = &filter
        && events.is_empty()
    {
        eprintln!("no events for {kind}/{name}");
    }
    match args.output.output {
        OutputFormat::Table => {
            let mut header = Vec::new();
            if scope.is_none() {
                header.push("NAMESPACE");
            }
            header.extend(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
            let mut table = Table::new(&header);
            let now = Timestamp::now();
            for e in &events {
                let regarding = e.regarding.clone().unwrap_or_default();
                let mut row = Vec::new();
                if scope.is_none() {
                    row.push(e.metadata.namespace.clone().unwrap_or_default());
                }
                row.push(
                    last_seen(e)
                        .map(|t| age(Some(&t.to_string()), now))
                        .unwrap_or_else(|| String::from("<unknown>")),
                );
                row.push(e.type_.clone().unwrap_or_default());
                row.push(e.reason.clone().unwrap_or_default());
                row.push(format!(
                    "{}/{}",
                    regarding.kind.unwrap_or_default(),
                    regarding.name.unwrap_or_default()
                ));
                row.push(one_line(e.note.as_deref().unwrap_or(""), 200));
                table.push(row);
            }
            if !table.is_empty() {
                print!("{}", table.render());
            } else if filter.is_none() {
                eprintln!("no events");
            }
        }
        format => {
            let values: Vec<Value> = events
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            print_objects(format, &values, true)?;
        }
    }
    Ok(())
}

fn last_seen(e: &Event) -> Option<Timestamp> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// `Kind/name`: the kind as written (any kind may have events), the name checked.
fn parse_for(text: &str) -> anyhow::Result<(String, String)> {
    let Some((kind, name)) = text.split_once('/') else {
        bail!("--for '{text}' must be Kind/name, e.g. Kustomization/apps");
    };
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("--for '{text}': '{kind}' is not a kind");
    }
    check_object_name("--for name", name)?;
    let kind = Kind::parse(kind).map_or_else(|| kind.to_owned(), |k| k.name().to_owned());
    Ok((kind, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_takes_kind_slash_name() {
        assert_eq!(
            parse_for("ks/apps").unwrap(),
            (String::from("Kustomization"), String::from("apps"))
        );
        assert_eq!(
            parse_for("Deployment/web").unwrap(),
            (String::from("Deployment"), String::from("web"))
        );
        assert!(parse_for("apps").is_err());
        assert!(parse_for("Kustomization/../x").is_err());
    }
}
