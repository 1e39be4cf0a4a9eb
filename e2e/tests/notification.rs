//! Notifications end to end against the real API server: Providers deliver published
//! events to loopback sinks (Slack-shaped and generic JSON over HTTP, an HMAC-signed
//! generic webhook, email over SMTP), a hanging provider delays nobody else, and a
//! GitHub-signed webhook call requests a reconcile of a GitRepository.
//!
//! Until `driftless run` wires the notification controller, it runs in-process here, fed
//! by an `EventRecorder` the test publishes through.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use common::*;
use driftless_api::well_known::RECONCILE_REQUESTED_AT;
use driftless_api::{Alert, GitRepository, Provider, Receiver};
use driftless_e2e::{ControlPlane, TestNamespace, poll_until};
use driftless_notification_controller::{Context, DeliveryOptions, receiver_routes};
use driftless_runtime::events::Severity;
use driftless_runtime::{EventRecorder, Metrics};
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// One HTTP request a sink received.
#[derive(Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the sink received JSON")
    }
}

/// An HTTP server on loopback recording every request and answering 200.
async fn http_sink() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .fallback(
            |State(tx): State<mpsc::UnboundedSender<Received>>,
             method: Method,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                assert_eq!(method, Method::POST);
                let _ = tx.send(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                });
                StatusCode::OK
            },
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

/// A server on loopback that accepts connections and never answers; reports each accept.
async fn hanging_sink() -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = tx.send(());
        }
    });
    (addr, rx)
}

/// One email an SMTP sink received.
#[derive(Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server on loopback (EHLO, MAIL, RCPT, DATA, QUIT; no TLS, no auth).
async fn smtp_sink() -> (SocketAddr, mpsc::UnboundedReceiver<Mail>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut mail = Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                };
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mail.from = line[10..].trim().to_owned();
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        mail.to.push(line[8..].trim().to_owned());
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            // Unfold folded header lines (RFC 5322 2.2.3), as mail readers do.
                            if l.starts_with([' ', '\t']) && mail.data.ends_with('\n') {
                                mail.data.pop();
                            }
                            mail.data.push_str(&l);
                            mail.data.push('\n');
                        }
                        let _ = tx.send(std::mem::replace(
                            &mut mail,
                            Mail {
                                from: String::new(),
                                to: Vec::new(),
                                data: String::new(),
                            },
                        ));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (addr, rx)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing arrived within {DEADLINE:?}"))
        .unwrap_or_else(|| panic!("{what}: the sink stopped"))
}

/// The controller running in-process on namespace `ns`; its receiver routes on loopback.
struct Controller {
    recorder: EventRecorder,
    metrics: Metrics,
    hooks: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start_controller(client: &Client, ns: &str) -> Controller {
    let metrics = Metrics::new().unwrap();
    let recorder = EventRecorder::new(client.clone(), "driftless");
    let options = DeliveryOptions {
        initial_backoff: Duration::from_millis(100),
        ..DeliveryOptions::default()
    };
    let ctx = Arc::new(Context::new(client.clone(), metrics.clone(), options).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let (hooks, serve) = driftless_runtime::http::bind(
        "127.0.0.1:0".parse().unwrap(),
        receiver_routes(ctx.clone()),
        std::future::pending(),
    )
    .await
    .unwrap();
    tokio::spawn(serve);
    tokio::spawn(driftless_notification_controller::run(
        ctx,
        recorder.subscribe(),
        Api::namespaced(client.clone(), ns),
        Api::namespaced(client.clone(), ns),
        Api::namespaced(client.clone(), ns),
        watcher::Config::default(),
        || {},
        stopped,
    ));
    Controller {
        recorder,
        metrics,
        hooks,
        _stop: stop,
    }
}

async fn wait_ready<K>(
    api: &Api<K>,
    name: &str,
    conditions: impl Fn(&K) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> K
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let polled = poll_until(&format!("{name} Ready"), DEADLINE, || async {
        let obj = api
            .get(name)
            .await
            .map_err(driftless_e2e::Error::kube(format!("get {name}")))?;
        let ready = conditions(&obj)
            .and_then(|c| ready_of(&c))
            .is_some_and(|c| c.status == "True");
        Ok(ready.then_some(obj))
    })
    .await;
    match polled {
        Ok(obj) => obj,
        Err(e) => panic!("{e}\nlast: {:#?}", api.get(name).await.ok()),
    }
}

fn kustomization_ref(ns: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("kustomize.driftless.dev/v1".into()),
        kind: Some("Kustomization".into()),
        namespace: Some(ns.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn counter(metrics: &Metrics, provider: &str, result: &str) -> u64 {
    metrics
        .notification_deliveries_total
        .with_label_values(&[provider, result])
        .get()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_every_provider_and_a_hanging_one_delays_nobody() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "notify").await.unwrap();
    let ns = ns.name().to_owned();
    let (http_at, mut http_rx) = http_sink().await;
    let (smtp_at, mut smtp_rx) = smtp_sink().await;
    let (hang_at, mut hang_rx) = hanging_sink().await;
    let controller = start_controller(&client, &ns).await;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    apply_yaml(
        &secrets,
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: hmac\n  namespace: {ns}\nstringData:\n  token: hmac-key\n"),
    )
    .await;
    let providers: Api<Provider> = Api::namespaced(client.clone(), &ns);
    let alerts: Api<Alert> = Api::namespaced(client.clone(), &ns);
    let provider = |name: &str, body: &str| {
        format!(
            "apiVersion: notification.driftless.dev/v1\nkind: Provider\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{body}"
        )
    };
    // The hanging provider comes first: its worker is stuck for 30 s on every event.
    for (name, body) in [
        (
            "hang",
            format!("  type: generic\n  address: http://{hang_at}/hang\n  timeout: 30s\n"),
        ),
        (
            "slack",
            format!("  type: slack\n  address: http://{http_at}/slack\n  channel: '#ops'\n"),
        ),
        (
            "generic",
            format!("  type: generic\n  address: http://{http_at}/generic\n"),
        ),
        (
            "signed",
            format!(
                "  type: generic-hmac\n  address: http://{http_at}/signed\n  secretRef:\n    name: hmac\n"
            ),
        ),
        (
            "mail",
            format!(
                "  type: smtp\n  address: smtp://{smtp_at}\n  from: driftless@example.com\n  to: [ops@example.com]\n  startTLS: Disabled\n"
            ),
        ),
    ] {
        apply_yaml(&providers, &provider(name, &body)).await;
        apply_yaml(
            &alerts,
            &format!("apiVersion: notification.driftless.dev/v1\nkind: Alert\nmetadata:\n  name: to-{name}\n  namespace: {ns}\nspec:\n  providerRef:\n    name: {name}\n  summary: e2e cluster\n  eventSources:\n  - kind: Kustomization\n    name: '*'\n  exclusionList: ['^ignored']\n"),
        )
        .await;
    }
    for name in ["hang", "slack", "generic", "signed", "mail"] {
        wait_ready(&providers, name, |p: &Provider| {
            p.status.as_ref().map(|s| s.conditions.clone())
        })
        .await;
        wait_ready(&alerts, &format!("to-{name}"), |a: &Alert| {
            a.status.as_ref().map(|s| s.conditions.clone())
        })
        .await;
    }

    let web = kustomization_ref(&ns, "web");
    let published = Instant::now();
    controller
        .recorder
        .publish(
            &web,
            Severity::Info,
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:abc",
            Some("main@sha1:abc"),
        )
        .await;
    controller
        .recorder
        .publish(
            &web,
            Severity::Info,
            "ReconciliationSucceeded",
            "ignored by the exclusion list",
            None,
        )
        .await;
    controller
        .recorder
        .publish(
            &web,
            Severity::Error,
            "HealthCheckFailed",
            "Deployment/web not ready",
            Some("main@sha1:abc"),
        )
        .await;
    let publishing = published.elapsed();
    assert!(
        publishing < Duration::from_secs(5),
        "publishing 3 events took {publishing:?} with a hanging provider"
    );
    next(&mut hang_rx, "the hanging provider is contacted").await;

    // Every other provider gets both events while the hanging one is still stuck on the first.
    let mut by_path: std::collections::BTreeMap<String, Vec<Received>> = Default::default();
    for _ in 0..6 {
        let r = next(&mut http_rx, "webhook deliveries").await;
        by_path.entry(r.path.clone()).or_default().push(r);
    }
    let mails = [
        next(&mut smtp_rx, "first email").await,
        next(&mut smtp_rx, "second email").await,
    ];
    let delivered = published.elapsed();
    assert!(
        delivered < Duration::from_secs(20),
        "deliveries took {delivered:?}: the hanging provider (30 s timeout) held them up"
    );
    assert_eq!(
        counter(&controller.metrics, &format!("{ns}/hang"), "success"),
        0
    );
    assert_eq!(
        counter(&controller.metrics, &format!("{ns}/hang"), "error"),
        0
    );

    let slack = &by_path["/slack"];
    assert_eq!(slack.len(), 2, "{by_path:?}");
    let info = slack[0].json();
    assert_eq!(info["channel"], "#ops");
    assert_eq!(info["attachments"][0]["color"], "good");
    assert_eq!(
        info["attachments"][0]["author_name"],
        format!("Kustomization/{ns}/web (e2e cluster)")
    );
    assert_eq!(
        info["attachments"][0]["text"],
        "Applied revision: main@sha1:abc"
    );
    assert_eq!(
        info["attachments"][0]["fields"][1]["value"],
        "main@sha1:abc"
    );
    let failed = slack[1].json();
    assert_eq!(failed["attachments"][0]["color"], "danger");
    assert_eq!(failed["attachments"][0]["title"], "HealthCheckFailed");

    let generic = &by_path["/generic"];
    assert_eq!(generic.len(), 2);
    let event = generic[1].json();
    assert_eq!(event["involvedObject"]["kind"], "Kustomization");
    assert_eq!(event["involvedObject"]["namespace"], ns.as_str());
    assert_eq!(event["involvedObject"]["name"], "web");
    assert_eq!(event["severity"], "error");
    assert_eq!(event["reason"], "HealthCheckFailed");
    assert_eq!(event["message"], "Deployment/web not ready");
    assert_eq!(event["metadata"]["revision"], "main@sha1:abc");
    assert_eq!(event["metadata"]["summary"], "e2e cluster");
    assert_eq!(event["reportingController"], "driftless");
    assert!(
        event["timestamp"]
            .as_str()
            .unwrap()
            .parse::<k8s_openapi::jiff::Timestamp>()
            .is_ok(),
        "{event}"
    );
    assert!(generic[0].headers.get("x-signature").is_none());

    let signed = &by_path["/signed"];
    assert_eq!(signed.len(), 2);
    for r in signed {
        let header = r.headers["x-signature"].to_str().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hmac-key").unwrap();
        mac.update(&r.body);
        assert_eq!(
            header,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
    }

    assert_eq!(mails[0].from, "<driftless@example.com>");
    assert_eq!(mails[0].to, vec!["<ops@example.com>".to_owned()]);
    assert!(
        mails[0].data.contains(&format!(
            "Subject: [driftless] info Kustomization/{ns}/web: ReconciliationSucceeded"
        )),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains("Applied revision: main@sha1:abc"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[1].data.contains(&format!(
            "Subject: [driftless] error Kustomization/{ns}/web: HealthCheckFailed"
        )),
        "{}",
        mails[1].data
    );
    assert!(
        mails[1].data.contains("Deployment/web not ready"),
        "{}",
        mails[1].data
    );

    // An identical event within the window is folded; a different one still goes out, and
    // the per-provider queue keeps order, so the fold shows as no extra delivery before it.
    controller
        .recorder
        .publish(
            &web,
            Severity::Error,
            "HealthCheckFailed",
            "Deployment/web not ready",
            Some("main@sha1:abc"),
        )
        .await;
    controller
        .recorder
        .publish(
            &web,
            Severity::Info,
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:def",
            Some("main@sha1:def"),
        )
        .await;
    let mut later = Vec::new();
    while later.len() < 3 {
        later.push(next(&mut http_rx, "deliveries after the folded event").await);
    }
    for r in &later {
        assert_eq!(
            r.json()["message"]
                .as_str()
                .or(r.json()["attachments"][0]["text"].as_str()),
            Some("Applied revision: main@sha1:def"),
            "{r:?}"
        );
    }
    assert_eq!(
        counter(&controller.metrics, &format!("{ns}/slack"), "folded"),
        1
    );
    // The worker counts a success once the sink's answer is back: poll for it.
    let slack_id = format!("{ns}/slack");
    poll_until(
        "3 successful Slack deliveries counted",
        DEADLINE,
        || async { Ok((counter(&controller.metrics, &slack_id, "success") == 3).then_some(())) },
    )
    .await
    .unwrap();
    assert_eq!(counter(&controller.metrics, &slack_id, "error"), 0);
    let exported = controller.metrics.render();
    assert!(
        exported.contains(&format!(
            "driftless_notification_deliveries_total{{provider=\"{ns}/slack\",result=\"folded\"}} 1"
        )),
        "{exported}"
    );
}

fn github_signature(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread")]
async fn github_push_requests_a_reconcile_and_a_bad_signature_does_not() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "receiver").await.unwrap();
    let ns = ns.name().to_owned();
    let controller = start_controller(&client, &ns).await;

    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    apply_yaml(
        &repos,
        &format!("apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: {ns}\nspec:\n  url: https://git.example/app\n  interval: 1h\n"),
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    apply_yaml(
        &secrets,
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: webhook\n  namespace: {ns}\nstringData:\n  token: gh-token\n"),
    )
    .await;
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), &ns);
    apply_yaml(
        &receivers,
        &format!("apiVersion: notification.driftless.dev/v1\nkind: Receiver\nmetadata:\n  name: gh\n  namespace: {ns}\nspec:\n  type: github\n  events: [push]\n  secretRef:\n    name: webhook\n  resources:\n  - kind: GitRepository\n    name: app\n"),
    )
    .await;
    let receiver = wait_ready(&receivers, "gh", |r: &Receiver| {
        r.status.as_ref().map(|s| s.conditions.clone())
    })
    .await;
    let expected = format!(
        "/hook/{}",
        hex::encode(Sha256::digest(format!("gh-tokengh{ns}").as_bytes()))
    );
    let path = receiver.status.unwrap().webhook_path.unwrap();
    assert_eq!(path, expected);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("http://{}{path}", controller.hooks);
    let body = br#"{"ref":"refs/heads/main","after":"abc"}"#.to_vec();
    let requested = |repo: &GitRepository| repo.annotations().get(RECONCILE_REQUESTED_AT).cloned();

    let wrong = http
        .post(&url)
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            github_signature("not-the-token", &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED);
    // The handler answers after patching, so a patch would be visible now.
    assert_eq!(requested(&repos.get("app").await.unwrap()), None);

    let unknown = http
        .post(format!(
            "http://{}/hook/{}",
            controller.hooks,
            "0".repeat(64)
        ))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);

    let called = Instant::now();
    let ok = http
        .post(&url)
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", github_signature("gh-token", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status(),
        reqwest::StatusCode::OK,
        "{:?}",
        ok.text().await
    );
    let at = requested(&repos.get("app").await.unwrap()).expect("requestedAt annotation set");
    let at = at
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    let age = k8s_openapi::jiff::Timestamp::now().duration_since(at);
    assert!(
        age.unsigned_abs() < Duration::from_secs(30),
        "requestedAt {at} is not now"
    );
    assert!(called.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn match_labels_read_the_object_and_a_missing_secret_is_reported() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "notify-labels").await.unwrap();
    let ns = ns.name().to_owned();
    let (http_at, mut http_rx) = http_sink().await;
    let controller = start_controller(&client, &ns).await;

    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    for (name, team) in [("team-a-app", "a"), ("team-b-app", "b")] {
        apply_yaml(
            &repos,
            &format!("apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    team: {team}\nspec:\n  url: https://git.example/{name}\n  interval: 1h\n"),
        )
        .await;
    }
    let providers: Api<Provider> = Api::namespaced(client.clone(), &ns);
    apply_yaml(
        &providers,
        &format!("apiVersion: notification.driftless.dev/v1\nkind: Provider\nmetadata:\n  name: sink\n  namespace: {ns}\nspec:\n  type: generic\n  address: http://{http_at}/labels\n"),
    )
    .await;
    apply_yaml(
        &providers,
        &format!("apiVersion: notification.driftless.dev/v1\nkind: Provider\nmetadata:\n  name: no-secret\n  namespace: {ns}\nspec:\n  type: generic-hmac\n  address: http://{http_at}/never\n  secretRef:\n    name: missing\n"),
    )
    .await;
    let alerts: Api<Alert> = Api::namespaced(client.clone(), &ns);
    apply_yaml(
        &alerts,
        &format!("apiVersion: notification.driftless.dev/v1\nkind: Alert\nmetadata:\n  name: team-a\n  namespace: {ns}\nspec:\n  providerRef:\n    name: sink\n  eventSeverity: error\n  eventSources:\n  - kind: GitRepository\n    name: '*'\n    matchLabels:\n      team: a\n"),
    )
    .await;
    wait_ready(&providers, "sink", |p: &Provider| {
        p.status.as_ref().map(|s| s.conditions.clone())
    })
    .await;
    wait_ready(&alerts, "team-a", |a: &Alert| {
        a.status.as_ref().map(|s| s.conditions.clone())
    })
    .await;
    let polled = poll_until(
        "Provider no-secret reports its Secret",
        DEADLINE,
        || async {
            let p = providers
                .get("no-secret")
                .await
                .map_err(driftless_e2e::Error::kube("get Provider no-secret"))?;
            Ok(failing_with(
                p.status.as_ref().map(|s| s.conditions.as_slice()),
                &format!("Secret {ns}/missing not found"),
            )
            .then_some(()))
        },
    )
    .await;
    if let Err(e) = polled {
        panic!("{e}: {:#?}", providers.get_opt("no-secret").await);
    }

    let repo_ref = |name: &str| ObjectReference {
        api_version: Some("source.driftless.dev/v1".into()),
        kind: Some("GitRepository".into()),
        namespace: Some(ns.clone()),
        name: Some(name.into()),
        ..Default::default()
    };
    let publish = |name: &'static str, severity, message: &'static str| {
        let recorder = controller.recorder.clone();
        let r = repo_ref(name);
        async move {
            recorder
                .publish(&r, severity, "GitOperationFailed", message, None)
                .await
        }
    };
    // In order: wrong labels, wrong severity, then the one that matches. The provider's
    // queue keeps order, so the first delivery must be the matching one.
    publish("team-b-app", Severity::Error, "b failed").await;
    publish("team-a-app", Severity::Info, "a info").await;
    publish("team-a-app", Severity::Error, "a failed").await;
    let first = next(&mut http_rx, "the team-a error").await;
    assert_eq!(first.path, "/labels");
    let event = first.json();
    assert_eq!(event["involvedObject"]["name"], "team-a-app");
    assert_eq!(event["message"], "a failed");
    publish("team-a-app", Severity::Error, "a failed again").await;
    let second = next(&mut http_rx, "the second team-a error").await;
    assert_eq!(second.json()["message"], "a failed again");
}
