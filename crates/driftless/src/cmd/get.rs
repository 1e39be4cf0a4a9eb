//! `driftless get`: the Driftless objects at a glance (name, revision, suspended, ready,
//! message, age), once or as they change (`--watch`).

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::cmd::kinds::{Kind, is_suspended, ready_condition};
use crate::cmd::kube_args::{Cluster, ListArgs, OutputArgs, OutputFormat};
use crate::cmd::output::{Table, age, one_line, print_objects, text_at};

/// Arguments of `driftless get`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    list: ListArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// After listing, keep printing objects as they change (one kind only).
    #[arg(long, short = 'w', global = true)]
    watch: bool,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Sources: `get sources git` (GitRepositories) or `get sources all`.
    #[command(subcommand, alias = "source")]
    Sources(SourceWhat),
    /// Kustomizations.
    #[command(alias = "kustomization", alias = "ks")]
    Kustomizations,
    /// Image automation: ImageRepositories, ImagePolicies and ImageUpdateAutomations.
    #[command(subcommand, alias = "image")]
    Images(ImageWhat),
    /// Notification Alerts.
    #[command(alias = "alert")]
    Alerts,
    /// Notification Providers.
    #[command(alias = "provider")]
    Providers,
    /// Webhook Receivers.
    #[command(alias = "receiver")]
    Receivers,
    /// Every Driftless kind.
    All,
}

#[derive(clap::Subcommand, Debug)]
enum SourceWhat {
    /// GitRepositories.
    Git,
    /// Every source kind.
    All,
}

#[derive(clap::Subcommand, Debug)]
enum ImageWhat {
    /// ImageRepositories.
    #[command(alias = "repositories")]
    Repository,
    /// ImagePolicies.
    #[command(alias = "policies")]
    Policy,
    /// ImageUpdateAutomations.
    #[command(alias = "updates")]
    Update,
    /// The three image kinds.
    All,
}

impl What {
    fn kinds(&self) -> Vec<Kind> {
        match self {
            What::Sources(_) => vec![Kind::GitRepository],
            What::Kustomizations => vec![Kind::Kustomization],
            What::Images(ImageWhat::Repository) => vec![Kind::ImageRepository],
            What::Images(ImageWhat::Policy) => vec![Kind::ImagePolicy],
            What::Images(ImageWhat::Update) => vec![Kind::ImageUpdateAutomation],
            What::Images(ImageWhat::All) => vec![
                Kind::ImageRepository,
                Kind::ImagePolicy,
                Kind::ImageUpdateAutomation,
            ],
            What::Alerts => vec![Kind::Alert],
            What::Providers => vec![Kind::Provider],
            What::Receivers => vec![Kind::Receiver],
            What::All => Kind::ALL.to_vec(),
        }
    }
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let cluster = args.list.kube.connect().await?;
    let scope = args.list.scope(&cluster);
    let kinds = args.what.kinds();
    if args.watch && kinds.len() != 1 {
        anyhow::bail!("--watch follows one kind: name it (e.g. `get kustomizations --watch`)");
    }
    let all_ns = scope.is_none();
    let mut listed = Vec::new();
    for kind in &kinds {
        let objects = list(&cluster, *kind, scope.as_deref()).await?;
        listed.push((*kind, objects));
    }
    match args.output.output {
        OutputFormat::Table => {
            let mut printed = 0;
            for (kind, objects) in &listed {
                if objects.is_empty() && kinds.len() > 1 {
                    continue;
                }
                if printed > 0 {
                    println!();
                }
                printed += 1;
                let mut table = table_for(all_ns, kinds.len() > 1);
                for object in objects {
                    table.push(row(*kind, object, all_ns, kinds.len() > 1));
                }
                if table.is_empty() {
                    eprintln!("{}", nothing_found(*kind, scope.as_deref()));
                } else {
                    print!("{}", table.render());
                }
            }
            if printed == 0 {
                eprintln!(
                    "no Driftless objects found{}",
                    scope
                        .as_deref()
                        .map_or(String::new(), |ns| format!(" in namespace '{ns}'"))
                );
            }
        }
        format => {
            let objects: Vec<Value> = listed.iter().flat_map(|(_, o)| o.clone()).collect();
            print_objects(format, &objects, true)?;
        }
    }
    if args.watch {
        let printed = listed.pop().map(|(_, objects)| objects).unwrap_or_default();
        watch(
            &cluster,
            kinds[0],
            scope.as_deref(),
            args.output.output,
            all_ns,
            printed,
        )
        .await?;
    }
    Ok(())
}

fn nothing_found(kind: Kind, scope: Option<&str>) -> String {
    match scope {
        Some(ns) => format!("no {} found in namespace '{ns}'", kind.resource().plural),
        None => format!("no {} found in any namespace", kind.resource().plural),
    }
}

/// Lists one kind as JSON objects, sorted by namespace and name.
pub async fn list(
    cluster: &Cluster,
    kind: Kind,
    scope: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let api = kind.api(&cluster.client, scope);
    let list = api.list(&ListParams::default()).await.map_err(|err| {
        crate::cmd::kinds::describe_kube_error(err, kind, scope.unwrap_or("*"), "*")
    })?;
    let mut objects: Vec<Value> = list
        .items
        .into_iter()
        .map(|o| with_type(kind, o))
        .collect::<anyhow::Result<_>>()?;
    objects.sort_by_key(object_key);
    Ok(objects)
}

/// A listed object as JSON, with the apiVersion and kind a list's items lack.
pub fn with_type(kind: Kind, object: DynamicObject) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(object)?;
    let resource = kind.resource();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(resource.api_version));
        map.insert("kind".into(), Value::String(resource.kind));
    }
    Ok(value)
}

fn table_for(all_ns: bool, with_kind: bool) -> Table {
    let mut header = Vec::new();
    if all_ns {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"]);
    let _ = with_kind;
    Table::new(&header)
}

fn row(kind: Kind, object: &Value, all_ns: bool, with_kind: bool) -> Vec<String> {
    let s = |p: &str| text_at(object, p);
    let mut row = Vec::new();
    if all_ns {
        row.push(s("/metadata/namespace"));
    }
    let name = s("/metadata/name");
    row.push(if with_kind {
        format!("{}/{name}", kind.resource().kind.to_ascii_lowercase())
    } else {
        name
    });
    row.push(one_line(&kind.revision(object), 60));
    row.push(if kind.can_suspend() {
        is_suspended(object).to_string()
    } else {
        String::from("-")
    });
    let (ready, _, message) = ready_condition(object).unwrap_or_else(|| {
        (
            String::from("Unknown"),
            String::new(),
            String::from("not reconciled yet"),
        )
    });
    row.push(ready);
    row.push(one_line(&message, 100));
    row.push(age(
        s("/metadata/creationTimestamp").as_str().into(),
        Timestamp::now(),
    ));
    row
}

/// Follows one kind after its listing, printing what changes.
async fn watch(
    cluster: &Cluster,
    kind: Kind,
    scope: Option<&str>,
    format: OutputFormat,
    all_ns: bool,
    printed: Vec<Value>,
) -> anyhow::Result<()> {
    let mut shown = Shown::new(printed);
    let api = kind.api(&cluster.client, scope);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = stream.try_next().await? {
        for (value, deleted) in shown.take(typed(kind, event)?) {
            print_change(kind, &value, deleted, format, all_ns)?;
        }
    }
    Ok(())
}

/// A watch event's object as JSON, with its apiVersion and kind.
fn typed(
    kind: Kind,
    event: watcher::Event<DynamicObject>,
) -> anyhow::Result<watcher::Event<Value>> {
    Ok(match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(with_type(kind, o)?),
        watcher::Event::Apply(o) => watcher::Event::Apply(with_type(kind, o)?),
        watcher::Event::Delete(o) => watcher::Event::Delete(with_type(kind, o)?),
    })
}

/// What `get --watch` has shown. The watcher lists before it watches (and again after a
/// broken watch); each list is compared with what was shown, so whatever changed, appeared
/// or went away between two lists is printed too, not only what the watch itself reports.
struct Shown {
    objects: HashMap<(String, String), Value>,
    /// During a list: shown objects the list has not had yet.
    unlisted: HashSet<(String, String)>,
}

impl Shown {
    /// Starts from the objects the listing printed.
    fn new(printed: Vec<Value>) -> Self {
        Self {
            objects: printed.into_iter().map(|o| (object_key(&o), o)).collect(),
            unlisted: HashSet::new(),
        }
    }

    /// Takes in one watch event; returns the objects to print, each with whether it is gone.
    fn take(&mut self, event: watcher::Event<Value>) -> Vec<(Value, bool)> {
        match event {
            watcher::Event::Init => {
                self.unlisted = self.objects.keys().cloned().collect();
                Vec::new()
            }
            watcher::Event::InitApply(value) => {
                let key = object_key(&value);
                self.unlisted.remove(&key);
                let unchanged =
                    self.objects.get(&key).map(resource_version) == Some(resource_version(&value));
                if unchanged {
                    return Vec::new();
                }
                self.objects.insert(key, value.clone());
                vec![(value, false)]
            }
            watcher::Event::InitDone => std::mem::take(&mut self.unlisted)
                .into_iter()
                .filter_map(|key| self.objects.remove(&key))
                .map(|gone| (gone, true))
                .collect(),
            watcher::Event::Apply(value) => {
                self.objects.insert(object_key(&value), value.clone());
                vec![(value, false)]
            }
            watcher::Event::Delete(value) => {
                self.objects.remove(&object_key(&value));
                vec![(value, true)]
            }
        }
    }
}

/// Prints one changed object: a table row without its header, or the object itself.
fn print_change(
    kind: Kind,
    value: &Value,
    deleted: bool,
    format: OutputFormat,
    all_ns: bool,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let mut table = table_for(all_ns, false);
            let mut cells = row(kind, value, all_ns, false);
            if deleted && let Some(message) = cells.get_mut(if all_ns { 5 } else { 4 }) {
                *message = String::from("(deleted)");
            }
            table.push(cells);
            // Only the row: the header was printed with the listing.
            if let Some(line) = table.render().lines().nth(1) {
                println!("{line}");
            }
        }
        other => print_objects(other, std::slice::from_ref(value), false)?,
    }
    Ok(())
}

fn object_key(object: &Value) -> (String, String) {
    (
        text_at(object, "/metadata/namespace"),
        text_at(object, "/metadata/name"),
    )
}

fn resource_version(object: &Value) -> String {
    text_at(object, "/metadata/resourceVersion")
}

#[cfg(test)]
mod tests {
    use kube::runtime::watcher::Event;
    use serde_json::json;

    use super::*;

    fn ks(name: &str, version: &str) -> Value {
        json!({"metadata": {"namespace": "apps", "name": name, "resourceVersion": version}})
    }

    fn names(changes: &[(Value, bool)]) -> Vec<(String, String, bool)> {
        changes
            .iter()
            .map(|(o, gone)| (text_at(o, "/metadata/name"), resource_version(o), *gone))
            .collect()
    }

    fn change(name: &str, version: &str, gone: bool) -> (String, String, bool) {
        (name.to_owned(), version.to_owned(), gone)
    }

    /// The race CI hit: an edit made after the listing was printed but before the
    /// watcher's own list is in that list only; it must be printed.
    #[test]
    fn what_changed_between_the_listing_and_the_watch_is_printed() {
        let mut shown = Shown::new(vec![ks("a", "1"), ks("b", "1"), ks("gone", "1")]);
        assert!(shown.take(Event::Init).is_empty());
        assert_eq!(
            names(&shown.take(Event::InitApply(ks("a", "2")))),
            [change("a", "2", false)],
            "edited in the gap"
        );
        assert!(
            shown.take(Event::InitApply(ks("b", "1"))).is_empty(),
            "unchanged: printed already"
        );
        assert_eq!(
            names(&shown.take(Event::InitApply(ks("new", "3")))),
            [change("new", "3", false)],
            "created in the gap"
        );
        assert_eq!(
            names(&shown.take(Event::InitDone)),
            [change("gone", "1", true)],
            "deleted in the gap"
        );
        assert_eq!(
            names(&shown.take(Event::Apply(ks("b", "4")))),
            [change("b", "4", false)]
        );
    }

    /// A relist after a broken watch compares with what the watch last showed.
    #[test]
    fn a_relist_prints_only_what_the_broken_watch_missed() {
        let mut shown = Shown::new(vec![ks("a", "1"), ks("b", "1")]);
        shown.take(Event::Init);
        shown.take(Event::InitApply(ks("a", "1")));
        shown.take(Event::InitApply(ks("b", "1")));
        assert!(shown.take(Event::InitDone).is_empty());
        assert_eq!(
            names(&shown.take(Event::Apply(ks("a", "5")))),
            [change("a", "5", false)]
        );
        assert_eq!(
            names(&shown.take(Event::Delete(ks("b", "6")))),
            [change("b", "6", true)]
        );
        // The watch broke; the relist holds a at 5 (seen) and c (missed).
        assert!(shown.take(Event::Init).is_empty());
        assert!(shown.take(Event::InitApply(ks("a", "5"))).is_empty());
        assert_eq!(
            names(&shown.take(Event::InitApply(ks("c", "7")))),
            [change("c", "7", false)]
        );
        assert!(
            shown.take(Event::InitDone).is_empty(),
            "b was shown deleted already"
        );
    }
}
