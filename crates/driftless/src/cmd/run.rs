//! `driftless run`: the controllers, in one process, sharing one source cache.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use driftless_api::notification::{Alert, Provider, Receiver};
use driftless_api::{
    GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation, Kustomization,
    OCIRepository,
};
use driftless_image_controller::{image_policy, image_repository, image_update_automation};
use driftless_runtime::leader::{self, LeaderElector, LeaseTimings};
use driftless_runtime::url_policy::UrlPolicy;
use driftless_runtime::{EventRecorder, Metrics, Readiness, http};
use driftless_source::SourceCache;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::watch;

/// Which controllers to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerName {
    /// GitRepository and OCIRepository: fetch sources into the shared cache.
    Source,
    /// Kustomization: build, apply, prune, check health, correct drift.
    Kustomize,
    /// ImageRepository, ImagePolicy, ImageUpdateAutomation: scan tags, pick, commit to git.
    Image,
    /// Provider, Alert, Receiver: notifications out, webhook-triggered reconciles in.
    Notification,
}

/// Log output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `driftless run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Controllers to run (comma-separated). All by default.
    #[arg(long, value_delimiter = ',', default_values = ["source", "kustomize", "image", "notification"])]
    controllers: Vec<ControllerName>,
    /// Address of the Prometheus /metrics endpoint.
    #[arg(long, default_value = "0.0.0.0:8080", env = "DRIFTLESS_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Address of the /healthz and /readyz probes.
    #[arg(long, default_value = "0.0.0.0:9440", env = "DRIFTLESS_HEALTH_ADDR")]
    health_addr: SocketAddr,
    /// Address serving artifact tarballs (/artifacts/...). Use 127.0.0.1:9090 when nothing
    /// reads artifacts over the network (the in-process controllers never do).
    #[arg(long, default_value = "0.0.0.0:9090", env = "DRIFTLESS_STORAGE_ADDR")]
    storage_addr: SocketAddr,
    /// Address of the webhook receivers (/hook/<digest>).
    #[arg(long, default_value = "0.0.0.0:9292", env = "DRIFTLESS_RECEIVER_ADDR")]
    receiver_addr: SocketAddr,
    /// Base URL other processes reach the artifact server at (written into GitRepository status).
    /// Defaults to http://<hostname>:<storage port>.
    #[arg(long, env = "DRIFTLESS_STORAGE_ADV_ADDR")]
    storage_adv_addr: Option<String>,
    /// Directory of the source cache (artifacts and git mirrors).
    #[arg(long, default_value = "/data", env = "DRIFTLESS_STORAGE_PATH")]
    storage_path: PathBuf,
    /// Byte budget of the source cache; least recently used artifacts not named in any
    /// status are evicted beyond it.
    #[arg(long, default_value_t = 2 * 1024 * 1024 * 1024)]
    storage_budget_bytes: u64,
    /// Largest GitRepository artifact (sum of its files' sizes).
    #[arg(long, default_value_t = driftless_source::DEFAULT_MAX_ARTIFACT_BYTES)]
    max_artifact_bytes: u64,
    /// Deepest directory nesting of a GitRepository artifact.
    #[arg(long, default_value_t = driftless_source::DEFAULT_MAX_TREE_DEPTH)]
    max_tree_depth: usize,
    /// Most files plus directories in one commit of a GitRepository.
    #[arg(long, default_value_t = driftless_source::DEFAULT_MAX_TREE_ENTRIES)]
    max_tree_entries: usize,
    /// Compete for a coordination.k8s.io Lease; only the leader reconciles. Use it when
    /// running more than one replica.
    #[arg(long, env = "DRIFTLESS_LEADER_ELECT")]
    leader_elect: bool,
    /// Name of the leader election Lease (in $POD_NAMESPACE, else driftless-system).
    #[arg(long, default_value = driftless_runtime::leader::DEFAULT_LEASE_NAME)]
    leader_election_id: String,
    /// Namespace of the leader election Lease. Defaults to $POD_NAMESPACE, then the
    /// ServiceAccount's namespace, then driftless-system.
    #[arg(long)]
    leader_election_namespace: Option<String>,
    /// Only watch these namespaces (repeatable). All namespaces when not given.
    #[arg(long = "watch-namespace", value_name = "NAMESPACE")]
    watch_namespaces: Vec<String>,
    /// Refuse sourceRef and dependsOn references to another namespace.
    #[arg(long)]
    no_cross_namespace_refs: bool,
    /// Accept GitRepository URLs with the file:// scheme (local development only: a tenant
    /// could otherwise read repositories on the controller's disk).
    #[arg(long)]
    allow_file_urls: bool,
    /// Hosts tenants' git and registry URLs may name (comma-separated globs, `*` within one
    /// DNS label, e.g. `github.com,*.corp.example`). Any host when not given.
    #[arg(long, value_delimiter = ',', value_name = "GLOB")]
    allowed_hosts: Vec<String>,
    /// Address ranges tenants' git and registry URLs may not reach (comma-separated CIDRs).
    /// Hosts are resolved before connecting and refused when any address is in a range.
    /// Deny at least 169.254.0.0/16 and fd00:ec2::254/128 (cloud metadata) and the
    /// cluster's own pod and service ranges.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    denied_cidrs: Vec<String>,
    /// Bytes of one registry response read at most (tag pages, token answers).
    #[arg(long, default_value_t = driftless_image_controller::registry::DEFAULT_MAX_RESPONSE_BYTES)]
    max_registry_response_bytes: u64,
    /// Bytes of one webhook request body accepted at most (larger ones get 413).
    #[arg(long, default_value_t = driftless_notification_controller::DEFAULT_MAX_WEBHOOK_BODY_BYTES)]
    max_webhook_body_bytes: u64,
    /// Refuse kustomizations that pull remote bases. Driftless's engine never fetches remote
    /// bases (they are always an error naming the entry), so this is always in force; the
    /// flag is accepted so Flux's lockdown flag set works unchanged.
    #[arg(long)]
    no_remote_bases: bool,
    /// ServiceAccount (in the Kustomization's own namespace) to impersonate when
    /// `spec.serviceAccountName` is empty. Without it (and without the two flags below) such
    /// a Kustomization is refused: it never applies with the controller's own identity.
    #[arg(long, value_name = "NAME")]
    default_service_account: Option<String>,
    /// Flux-compatible and unsafe with tenants: a Kustomization without
    /// `spec.serviceAccountName` applies with the controller's own identity, in every
    /// namespace. Only for single-team clusters where the controller is bound to what git
    /// may create.
    #[arg(long, conflicts_with = "default_service_account")]
    insecure_apply_as_controller: bool,
    /// Kustomizations in this namespace (repeatable) without `spec.serviceAccountName` apply
    /// with the controller's own identity, e.g. the cluster's own bootstrap in
    /// driftless-system. Only name namespaces where admins alone create Kustomizations.
    #[arg(long = "apply-as-controller-namespace", value_name = "NAMESPACE")]
    apply_as_controller_namespaces: Vec<String>,
    /// Only watch objects matching this label selector (shard objects across instances,
    /// e.g. `sharding.driftless.dev/key=shard1`).
    #[arg(long)]
    watch_label_selector: Option<String>,
    /// How often a Kustomization reads and dry-runs every object it applies even when its
    /// revision is unchanged and its drift watch saw no edit (e.g. `30m`, `1h`). Between
    /// those, a periodic reconcile of an unchanged, undrifted set asks the API server
    /// nothing; a `reconcile.driftless.dev/requestedAt` annotation forces a full one.
    #[arg(long, default_value = "1h", value_parser = parse_interval)]
    full_resync_interval: std::time::Duration,
    /// Kubernetes API requests in flight at once, across every client of the process (its
    /// own, impersonated ServiceAccounts', remote clusters'); more wait their turn. Each one
    /// in flight holds an HTTP/1.1 connection and its buffers. Too few makes throughput
    /// the API server's latency divided into this number.
    #[arg(long, default_value_t = 128)]
    max_api_requests_in_flight: usize,
    /// Kustomizations reconciled at once (per watched namespace with `--watch-namespace`);
    /// more wait their turn, and an edit to one waiting is merged into that turn. Each one
    /// in flight holds its built objects, so this bounds memory; a reconcile that waits for
    /// health holds its slot. 0: no bound.
    #[arg(long, default_value_t = 128)]
    concurrent: u16,
    /// Bounds on what one Kustomization build may consume.
    #[command(flatten)]
    build_limits: super::build_limits::BuildLimitArgs,
    /// Log format.
    #[arg(long, value_enum, default_value = "text", env = "DRIFTLESS_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log level or tracing filter (e.g. `info`, `debug`, `driftless=debug,kube=info`).
    #[arg(long, default_value = "info", env = "DRIFTLESS_LOG_LEVEL")]
    log_level: String,
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("--log-level {:?}", args.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// One `Api` per watched namespace, or a single cluster-wide one.
fn scoped_apis<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }
}

/// The image kinds' `Api`s per watched namespace (or cluster-wide).
fn scoped_image_apis(
    client: &Client,
    namespaces: &[String],
) -> Vec<(
    Api<ImageRepository>,
    Api<ImagePolicy>,
    Api<ImageUpdateAutomation>,
)> {
    scoped_apis::<ImageRepository>(client, namespaces)
        .into_iter()
        .zip(scoped_apis::<ImagePolicy>(client, namespaces))
        .zip(scoped_apis::<ImageUpdateAutomation>(client, namespaces))
        .map(|((r, p), a)| (r, p, a))
        .collect()
}

/// Resolves on SIGTERM or Ctrl-C.
async fn termination() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    init_logging(args)?;
    if args.no_remote_bases {
        tracing::info!("--no-remote-bases: remote bases are always refused by the native engine");
    }
    match (
        &args.default_service_account,
        args.insecure_apply_as_controller,
    ) {
        (_, true) => tracing::warn!(
            "--insecure-apply-as-controller: Kustomizations without spec.serviceAccountName apply with the controller's own identity"
        ),
        (Some(account), false) => tracing::info!(
            account,
            "Kustomizations without spec.serviceAccountName impersonate this ServiceAccount of their namespace"
        ),
        (None, false) => tracing::info!(
            "Kustomizations without spec.serviceAccountName are refused (no --default-service-account)"
        ),
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work (git, builds) is bounded by the controllers; a small pool keeps
        // threads (and their malloc arenas) from piling up under bursts.
        .max_blocking_threads(32)
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    let config = kube::Config::infer()
        .await
        .context("loading Kubernetes config (in-cluster or $KUBECONFIG)")?;
    let request_limit = driftless_runtime::RequestLimit::new(args.max_api_requests_in_flight);
    let client = request_limit
        .client(config.clone())
        .context("building the Kubernetes client")?;
    let metrics = Metrics::new()?;
    let readiness = Readiness::new(0);
    let recorder = EventRecorder::new(client.clone(), "driftless");
    // Subscribed before any controller runs, so no event escapes the Alerts.
    let notification_events = args
        .controllers
        .contains(&ControllerName::Notification)
        .then(|| recorder.subscribe());
    std::fs::create_dir_all(&args.storage_path)
        .with_context(|| format!("creating --storage-path {}", args.storage_path.display()))?;
    let mut cache_options = driftless_source::CacheOptions::new(args.storage_budget_bytes);
    cache_options.limits = driftless_source::Limits {
        // One --max-file-bytes for both ends: a file the build would refuse is not worth
        // inflating out of git either.
        max_file_bytes: args.build_limits.max_file_bytes,
        max_artifact_bytes: args.max_artifact_bytes,
        max_tree_depth: args.max_tree_depth,
        max_tree_entries: args.max_tree_entries,
    };
    let cache = Arc::new(
        SourceCache::open_with(&args.storage_path, cache_options).with_context(|| {
            format!(
                "opening the source cache in {}",
                args.storage_path.display()
            )
        })?,
    );
    let published = driftless_source_controller::PublishedArtifacts::default();

    let url_policy = Arc::new(
        UrlPolicy::new(
            args.allow_file_urls,
            &args.allowed_hosts,
            &args.denied_cidrs,
        )
        .context("the URL policy flags")?,
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let (metrics_at, metrics_srv) = http::bind(
        args.metrics_addr,
        http::probe_routes(metrics.clone(), readiness.clone()),
        stopped(),
    )
    .await?;
    let (health_at, health_srv) = http::bind(
        args.health_addr,
        http::probe_routes(metrics.clone(), readiness.clone()),
        stopped(),
    )
    .await?;
    let (storage_at, storage_srv) = http::bind(
        args.storage_addr,
        driftless_source_controller::artifact_routes(cache.clone(), published.clone()),
        stopped(),
    )
    .await?;
    tracing::info!(%metrics_at, %health_at, %storage_at, "serving metrics, probes and artifacts");
    let artifact_base_url = args.storage_adv_addr.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
        format!("http://{host}:{}", storage_at.port())
    });

    let mut watch_config = watcher::Config::default();
    if let Some(selector) = &args.watch_label_selector {
        watch_config = watch_config.labels(selector);
    }

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move { metrics_srv.await.map_err(anyhow::Error::from) });
    tasks.spawn(async move { health_srv.await.map_err(anyhow::Error::from) });
    tasks.spawn(async move { storage_srv.await.map_err(anyhow::Error::from) });

    // Probes answer while a replica waits for leadership; only the leader reconciles.
    let elector = if args.leader_elect {
        let elector = LeaderElector::new(
            client.clone(),
            &args
                .leader_election_namespace
                .clone()
                .unwrap_or_else(leader::default_lease_namespace),
            &args.leader_election_id,
            leader::default_identity(),
            LeaseTimings::default(),
        )?;
        tracing::info!(identity = elector.identity(), "waiting for leadership");
        tokio::select! {
            () = elector.acquire() => tracing::info!(identity = elector.identity(), "became leader"),
            () = termination() => {
                let _ = stop_tx.send(true);
                return Ok(());
            }
        }
        Some(elector)
    } else {
        None
    };

    if args.controllers.contains(&ControllerName::Source) {
        readiness.add_component();
        let ctx = Arc::new(driftless_source_controller::Context {
            client: client.clone(),
            cache: cache.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            artifact_base_url: artifact_base_url.clone(),
            url_policy: url_policy.clone(),
            published: published.clone(),
            http: driftless_oci::http_client(url_policy.clone(), "driftless-source-controller")
                .context("building the registry HTTP client")?,
            max_registry_response_bytes: args.max_registry_response_bytes,
            max_artifact_bytes: args.max_artifact_bytes,
        });
        let ready = readiness.clone();
        for api in scoped_apis::<GitRepository>(&client, &args.watch_namespaces) {
            let (ctx, wc, stop, ready) =
                (ctx.clone(), watch_config.clone(), stopped(), ready.clone());
            readiness.add_component();
            tasks.spawn(async move {
                driftless_source_controller::run(ctx, api, wc, move || ready.mark_ready(), stop)
                    .await;
                Ok(())
            });
        }
        for api in scoped_apis::<OCIRepository>(&client, &args.watch_namespaces) {
            let (ctx, wc, stop, ready) =
                (ctx.clone(), watch_config.clone(), stopped(), ready.clone());
            readiness.add_component();
            tasks.spawn(async move {
                driftless_source_controller::run_oci(
                    ctx,
                    api,
                    wc,
                    move || ready.mark_ready(),
                    stop,
                )
                .await;
                Ok(())
            });
        }
        readiness.mark_ready();
    }

    if args.controllers.contains(&ControllerName::Kustomize) {
        readiness.add_component();
        let ctx = Arc::new(driftless_kustomize_controller::Context {
            clients: driftless_kustomize_controller::ClientCache::new(
                config.clone(),
                client.clone(),
                request_limit.clone(),
            )?,
            cache: cache.clone(),
            resolver: driftless_apply::Resolver::new(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            tenancy: driftless_kustomize_controller::TenancyOptions {
                no_cross_namespace_refs: args.no_cross_namespace_refs,
                default_service_account: args.default_service_account.clone(),
                insecure_apply_as_controller: args.insecure_apply_as_controller,
                apply_as_controller_namespaces: args.apply_as_controller_namespaces.clone(),
            },
            build_limits: args.build_limits.limits(),
            full_resync: args.full_resync_interval,
            concurrent: args.concurrent,
        });
        let ready = readiness.clone();
        let apis = scoped_apis::<Kustomization>(&client, &args.watch_namespaces);
        let repos = scoped_apis::<GitRepository>(&client, &args.watch_namespaces);
        let oci_repos = scoped_apis::<OCIRepository>(&client, &args.watch_namespaces);
        for ((api, repos), oci_repos) in apis.into_iter().zip(repos).zip(oci_repos) {
            let (ctx, wc, stop, ready) =
                (ctx.clone(), watch_config.clone(), stopped(), ready.clone());
            readiness.add_component();
            tasks.spawn(async move {
                driftless_kustomize_controller::run(
                    ctx,
                    api,
                    repos,
                    oci_repos,
                    wc,
                    move || ready.mark_ready(),
                    stop,
                )
                .await;
                Ok(())
            });
        }
        readiness.mark_ready();
    }

    if args.controllers.contains(&ControllerName::Image) {
        let mut image_ctx = driftless_image_controller::Context::new(
            client.clone(),
            recorder.clone(),
            metrics.clone(),
            &args.storage_path,
        )?;
        image_ctx.no_cross_namespace_refs = args.no_cross_namespace_refs;
        image_ctx.set_url_policy(url_policy.clone())?;
        image_ctx.max_registry_response_bytes = args.max_registry_response_bytes;
        let image_ctx = Arc::new(image_ctx);
        readiness.add_component();
        for ns_apis in scoped_image_apis(&client, &args.watch_namespaces) {
            let (repos, policies, automations) = ns_apis;
            for _ in 0..3 {
                readiness.add_component();
            }
            let (ctx, wc, stop, ready) = (
                image_ctx.clone(),
                watch_config.clone(),
                stopped(),
                readiness.clone(),
            );
            tasks.spawn(async move {
                image_repository::run(ctx, repos, wc, move || ready.mark_ready(), stop).await;
                Ok(())
            });
            let (ctx, wc, stop, ready) = (
                image_ctx.clone(),
                watch_config.clone(),
                stopped(),
                readiness.clone(),
            );
            tasks.spawn(async move {
                image_policy::run(ctx, policies, wc, move || ready.mark_ready(), stop).await;
                Ok(())
            });
            let (ctx, wc, stop, ready) = (
                image_ctx.clone(),
                watch_config.clone(),
                stopped(),
                readiness.clone(),
            );
            tasks.spawn(async move {
                image_update_automation::run(
                    ctx,
                    automations,
                    wc,
                    move || ready.mark_ready(),
                    stop,
                )
                .await;
                Ok(())
            });
        }
        readiness.mark_ready();
    }

    if let Some(events) = notification_events {
        let ctx = Arc::new(driftless_notification_controller::Context::new(
            client.clone(),
            metrics.clone(),
            driftless_notification_controller::DeliveryOptions::default(),
        )?);
        // Bound after leadership: only the leader knows the receivers' paths.
        let (receiver_at, receiver_srv) = http::bind(
            args.receiver_addr,
            driftless_notification_controller::receiver_routes_limited(
                ctx.clone(),
                args.max_webhook_body_bytes,
            ),
            stopped(),
        )
        .await?;
        tracing::info!(%receiver_at, "serving webhook receivers");
        tasks.spawn(async move { receiver_srv.await.map_err(anyhow::Error::from) });
        readiness.add_component();
        let apis = scoped_apis::<Provider>(&client, &args.watch_namespaces)
            .into_iter()
            .zip(scoped_apis::<Alert>(&client, &args.watch_namespaces))
            .zip(scoped_apis::<Receiver>(&client, &args.watch_namespaces));
        let mut events = Some(events);
        for ((providers, alerts), receivers) in apis {
            // One subscription per namespace scope; each run sees only its own Alerts.
            let events = events.take().unwrap_or_else(|| recorder.subscribe());
            let (ctx, wc, stop, ready) = (
                ctx.clone(),
                watch_config.clone(),
                stopped(),
                readiness.clone(),
            );
            readiness.add_component();
            tasks.spawn(async move {
                driftless_notification_controller::run(
                    ctx,
                    events,
                    providers,
                    alerts,
                    receivers,
                    wc,
                    move || ready.mark_ready(),
                    stop,
                )
                .await;
                Ok(())
            });
        }
        readiness.mark_ready();
    }

    // Renewals go on while draining, so the Lease does not expire under in-flight applies.
    let mut renewing = std::pin::pin!(async {
        match &elector {
            Some(e) => e.keep_leading().await,
            None => std::future::pending().await,
        }
    });
    tokio::select! {
        () = termination() => {}
        lost = &mut renewing => {
            tracing::error!(%lost, "lost leadership; exiting so another replica takes over");
            std::process::exit(1);
        }
    }
    tracing::info!("shutting down: finishing in-flight reconciles");
    let _ = stop_tx.send(true);
    let drain = async {
        while let Some(res) = tasks.join_next().await {
            if let Ok(Err(err)) = res {
                tracing::warn!(error = %err, "task ended with an error");
            }
        }
    };
    tokio::select! {
        drained = tokio::time::timeout(std::time::Duration::from_secs(30), drain) => {
            if drained.is_err() {
                tracing::warn!("in-flight work did not finish within 30s; exiting");
            }
        }
        lost = &mut renewing => {
            tracing::error!(%lost, "lost leadership while shutting down");
            std::process::exit(1);
        }
    }
    if let Some(elector) = &elector {
        match elector.release().await {
            Ok(()) => tracing::info!("released the leader lease"),
            Err(err) => tracing::warn!(error = %err, "releasing the leader lease"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Parses a Go-style duration (`30s`, `1h`, `1h30m`) for a flag.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    driftless_api::duration::parse_duration(text).map_err(|e| e.to_string())
}
