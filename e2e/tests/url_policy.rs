//! The URL policy and the network bounds, with the real `driftless` binary: `file://`
//! refused for image automation, `--denied-cidrs` refusing git and registry URLs before any
//! connection (proved by a listener that accepts nothing), registry credentials kept on the
//! registry's own host across `Link` pagination, registry answers and webhook bodies bounded.
//!
//! Every server here listens on loopback: 127.0.0.1, and 127.0.0.2 as the "denied" address.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use driftless_api::notification::Receiver;
use driftless_api::{GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_e2e::{
    ControlPlane, Driftless, Error, GitServer, Registry, TestNamespace, poll_until,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REGISTRY_USER: &str = "driftless";
const REGISTRY_PASSWORD: &str = "stub-registry-pass";
/// `Basic base64("driftless:stub-registry-pass")`.
const REGISTRY_AUTHORIZATION: &str = "Basic ZHJpZnRsZXNzOnN0dWItcmVnaXN0cnktcGFzcw==";

/// One request a [`HttpStub`] received.
#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    headers: Vec<(String, String)>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a [`HttpStub`] answers.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send the body chunked, without `Content-Length`.
    chunked: bool,
}

impl Reply {
    fn json(body: &str) -> Self {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            chunked: false,
        }
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A minimal HTTP/1.1 server on a loopback address that records every request's headers
/// and answers with `handler`, one request per connection.
struct HttpStub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpStub {
    async fn start(ip: &str, handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, recorded) = (handler.clone(), recorded.clone());
                tokio::spawn(async move {
                    let _ = serve_one(stream, &*handler, &recorded).await;
                });
            }
        });
        HttpStub {
            addr,
            requests,
            task,
        }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut stream: TcpStream,
    handler: &Handler,
    recorded: &Mutex<Vec<Recorded>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        if stream.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let request = Recorded { path, headers };
    recorded.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    let mut out = format!("HTTP/1.1 {} Stub\r\nConnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if reply.chunked {
        out.push_str("Transfer-Encoding: chunked\r\n\r\n");
        stream.write_all(out.as_bytes()).await?;
        for chunk in reply.body.chunks(64 * 1024) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await?;
        }
        stream.write_all(b"0\r\n\r\n").await?;
    } else {
        out.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        stream.write_all(out.as_bytes()).await?;
        stream.write_all(&reply.body).await?;
    }
    stream.shutdown().await
}

/// A tag page with `count` tags of about 60 bytes each.
fn big_tag_page(count: usize) -> String {
    let tags: Vec<String> = (0..count)
        .map(|i| format!("\"1.0.{i}-padding-padding-padding-padding-padding-padding\""))
        .collect();
    format!("{{\"name\":\"team/app\",\"tags\":[{}]}}", tags.join(","))
}

fn ready(conditions: Option<&[Condition]>) -> Option<Condition> {
    conditions.and_then(ready_of)
}

fn image_repository_yaml(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageRepository\nmetadata: {{name: {name}}}\nspec: {{image: '{image}', interval: 1m, insecure: true{extra}}}\n"
    )
}

fn git_repository_yaml(name: &str, url: &str) -> String {
    format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec: {{url: '{url}', interval: 1m, ref: {{branch: main}}}}\n"
    )
}

fn automation_yaml(name: &str, source: &str) -> String {
    format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: {name}}}\nspec:\n  sourceRef: {{kind: GitRepository, name: {source}}}\n  interval: 1m\n  git:\n    commit:\n      author: {{email: bot@driftless.dev}}\n"
    )
}

fn remote_head(bare: &std::path::Path) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["rev-parse", "main"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn image_automation_refuses_a_file_url_without_allow_file_urls() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "url-file").await.unwrap();
    let n = ns.name();
    let registry = Registry::start().unwrap();
    registry.push_image("team/app", "1.1.0").await.unwrap();
    let image = format!("{}/team/app", registry.host());
    let server = GitServer::start().unwrap();
    let bare = server.create_repo("fleet").unwrap();
    let marked = format!("image: {image}:1.0.0 # {{\"$imagepolicy\": \"{n}:app\"}}\n");
    server
        .push_files(
            &server.git_url("fleet"),
            "main",
            &[("app.yaml", &marked)],
            "initial",
        )
        .unwrap();
    let head = remote_head(&bare);
    let _driftless = Driftless::start(plane, &[n], &["--controllers=image"])
        .await
        .unwrap();

    let file_url = format!("file://{}", bare.display());
    apply_yaml(
        &Api::<GitRepository>::namespaced(client.clone(), n),
        &git_repository_yaml("local", &file_url),
    )
    .await;
    apply_yaml(
        &Api::<ImageRepository>::namespaced(client.clone(), n),
        &image_repository_yaml("app", &image, ""),
    )
    .await;
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), n);
    apply_yaml(&policies, "apiVersion: image.driftless.dev/v1\nkind: ImagePolicy\nmetadata: {name: app}\nspec: {imageRepositoryRef: {name: app}, policy: {semver: {range: '^1'}}}\n").await;
    // The policy has chosen 1.1.0: an automation allowed to reach the repository would commit.
    poll_until("ImagePolicy picks 1.1.0", DEADLINE, || async {
        let p = policies
            .get("app")
            .await
            .map_err(Error::kube("get ImagePolicy app"))?;
        Ok(p.status
            .and_then(|s| s.latest_ref)
            .filter(|r| r.tag == "1.1.0")
            .map(|_| ()))
    })
    .await
    .unwrap();
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), n);
    apply_yaml(&automations, &automation_yaml("local", "local")).await;
    let refused = wait_for(&automations, "local", "file:// refused", |a| {
        failing_with(
            a.status.as_ref().map(|s| s.conditions.as_slice()),
            "file:// URLs are disabled",
        )
    })
    .await;
    let status = refused.status.unwrap();
    let condition = ready(Some(&status.conditions)).unwrap();
    assert_eq!(condition.reason, "URLNotAllowed", "{condition:?}");
    assert!(
        condition
            .message
            .contains(&format!("GitRepository {n}/local spec.url")),
        "names the field: {}",
        condition.message
    );
    assert!(status.last_push_commit.is_none(), "nothing pushed");
    assert_eq!(remote_head(&bare), head, "no commit reached the repository");
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_cidrs_refuse_git_and_registry_urls_without_connecting() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "url-cidr").await.unwrap();
    let n = ns.name();
    // The "denied" address: a listener that must never see a connection.
    let trap = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let server = GitServer::start().unwrap();
    server.create_repo("fleet").unwrap();
    let allowed_url = server.git_url("fleet");
    server
        .push_files(
            &allowed_url,
            "main",
            &[("app.yaml", "kind: ConfigMap\n")],
            "initial",
        )
        .unwrap();
    let registry = Registry::start().unwrap();
    registry.push_image("team/app", "1.0.0").await.unwrap();
    // An allowed registry that redirects to the denied address.
    let to_trap = format!("http://127.0.0.2:{trap_port}/v2/team/app/tags/list");
    let redirecting = HttpStub::start("127.0.0.1", move |_| Reply {
        status: 307,
        headers: vec![("Location".into(), to_trap.clone())],
        body: Vec::new(),
        chunked: false,
    })
    .await;
    let driftless = Driftless::start(
        plane,
        &[n],
        &[
            "--controllers=source,image",
            "--denied-cidrs=169.254.0.0/16,127.0.0.2/32",
        ],
    )
    .await
    .unwrap();

    let git_repos: Api<GitRepository> = Api::namespaced(client.clone(), n);
    let denied_git = format!("git://127.0.0.2:{trap_port}/fleet.git");
    apply_yaml(&git_repos, &git_repository_yaml("denied", &denied_git)).await;
    apply_yaml(&git_repos, &git_repository_yaml("allowed", &allowed_url)).await;
    let images: Api<ImageRepository> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &images,
        &image_repository_yaml("denied", &format!("127.0.0.2:{trap_port}/team/app"), ""),
    )
    .await;
    apply_yaml(
        &images,
        &image_repository_yaml("allowed", &format!("{}/team/app", registry.host()), ""),
    )
    .await;
    apply_yaml(
        &images,
        &image_repository_yaml(
            "redirected",
            &format!("{}/team/app", redirecting.host()),
            "",
        ),
    )
    .await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), n);
    apply_yaml(&automations, &automation_yaml("denied", "denied")).await;

    let repo = wait_repo(&git_repos, "denied", "denied git URL refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "127.0.0.2/32 (--denied-cidrs)",
        )
    })
    .await;
    let condition = ready(repo.status.as_ref().map(|s| s.conditions.as_slice())).unwrap();
    assert_eq!(condition.reason, "URLNotAllowed", "{condition:?}");
    assert!(
        condition.message.starts_with("spec.url '"),
        "{}",
        condition.message
    );
    let stalled =
        driftless_api::condition::find(&repo.status.unwrap().conditions, "Stalled").cloned();
    assert_eq!(stalled.map(|c| c.status).as_deref(), Some("True"));

    let image = wait_for(&images, "denied", "denied registry refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "127.0.0.2/32 (--denied-cidrs)",
        )
    })
    .await;
    let condition = ready(image.status.as_ref().map(|s| s.conditions.as_slice())).unwrap();
    assert_eq!(condition.reason, "URLNotAllowed", "{condition:?}");
    assert!(
        condition.message.contains("spec.image"),
        "{}",
        condition.message
    );

    let redirected = wait_for(
        &images,
        "redirected",
        "redirect to a denied address refused",
        |r| {
            failing_with(
                r.status.as_ref().map(|s| s.conditions.as_slice()),
                "127.0.0.2/32 (--denied-cidrs)",
            )
        },
    )
    .await;
    let condition = ready(redirected.status.as_ref().map(|s| s.conditions.as_slice())).unwrap();
    assert_eq!(condition.reason, "URLNotAllowed", "{condition:?}");
    assert!(
        !redirecting.requests().is_empty(),
        "the redirect was asked for"
    );

    let automation = wait_for(&automations, "denied", "denied push URL refused", |a| {
        failing_with(
            a.status.as_ref().map(|s| s.conditions.as_slice()),
            "127.0.0.2/32 (--denied-cidrs)",
        )
    })
    .await;
    let condition = ready(automation.status.as_ref().map(|s| s.conditions.as_slice())).unwrap();
    assert_eq!(condition.reason, "URLNotAllowed", "{condition:?}");

    // 127.0.0.1 is not denied: the same controllers fetch and scan from it.
    wait_repo(&git_repos, "allowed", "allowed git URL fetched", |r| {
        artifact_revision(r).is_some()
    })
    .await;
    wait_for(&images, "allowed", "allowed registry scanned", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .is_some_and(|s| s.tag_count == 1)
    })
    .await;

    // Nothing ever connected to the denied address (a completed handshake would be waiting
    // in the backlog).
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!(
            "a controller connected to the denied address from {from}\n{}",
            driftless.log()
        ),
        Err(e) => panic!("accept on the trap listener: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_to_another_host_gets_no_credentials() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "url-link").await.unwrap();
    let n = ns.name();
    // The second page lives on another host:port, which must never see the credentials.
    let other = HttpStub::start("127.0.0.1", |_| {
        Reply::json(r#"{"name":"team/app","tags":["2.0.0"]}"#)
    })
    .await;
    let next = format!(
        "http://{}/v2/team/app/tags/list?last=1.0.0&n=1000",
        other.host()
    );
    let registry = HttpStub::start("127.0.0.1", move |request| {
        if request.header("authorization") != Some(REGISTRY_AUTHORIZATION) {
            return Reply {
                status: 401,
                headers: vec![("WWW-Authenticate".into(), "Basic realm=\"stub\"".into())],
                body: Vec::new(),
                chunked: false,
            };
        }
        let mut reply = Reply::json(r#"{"name":"team/app","tags":["1.0.0"]}"#);
        reply
            .headers
            .push(("Link".into(), format!("<{next}>; rel=\"next\"")));
        reply
    })
    .await;
    let json = serde_json::json!({"auths": {registry.host(): {"username": REGISTRY_USER, "password": REGISTRY_PASSWORD}}}).to_string();
    apply_yaml(&Api::<Secret>::namespaced(client.clone(), n), &format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\ntype: kubernetes.io/dockerconfigjson\nstringData: {{.dockerconfigjson: '{json}'}}\n"
    )).await;
    let _driftless = Driftless::start(plane, &[n], &["--controllers=image"])
        .await
        .unwrap();
    let images: Api<ImageRepository> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &images,
        &image_repository_yaml(
            "app",
            &format!("{}/team/app", registry.host()),
            ", secretRef: {name: creds}",
        ),
    )
    .await;

    let scanned = wait_for(&images, "app", "both pages scanned", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .is_some_and(|s| s.tag_count == 2)
    })
    .await;
    let latest = scanned
        .status
        .unwrap()
        .last_scan_result
        .unwrap()
        .latest_tags;
    assert!(latest.contains(&"2.0.0".to_owned()), "{latest:?}");
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(REGISTRY_AUTHORIZATION)),
        "the registry itself got the credentials"
    );
    let seen = other.requests();
    assert!(!seen.is_empty(), "the Link page was followed");
    for request in &seen {
        assert_eq!(
            request.header("authorization"),
            None,
            "credentials leaked to another host: {request:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_registry_answers_and_error_bodies_stay_out_of_status() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "url-size").await.unwrap();
    let n = ns.name();
    const LIMIT: usize = 1024 * 1024;
    let page = big_tag_page(2 * LIMIT / 60);
    assert!(page.len() > LIMIT + LIMIT / 2);
    let registry = HttpStub::start("127.0.0.1", move |request| {
        if request.path.starts_with("/v2/team/sized/") {
            Reply::json(&page)
        } else if request.path.starts_with("/v2/team/streamed/") {
            let mut reply = Reply::json(&page);
            reply.chunked = true;
            reply
        } else if request.path.starts_with("/v2/team/huge/") {
            // 64 MiB, chunked: only a streaming bound keeps this out of memory.
            let mut reply = Reply::json(&big_tag_page(64 * 1024 * 1024 / 60));
            reply.chunked = true;
            reply
        } else if request.path.starts_with("/v2/team/small/") {
            Reply::json(r#"{"name":"team/small","tags":["1.0.0"]}"#)
        } else {
            Reply {
                status: 500,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: b"INTERNAL-SECRET aws_secret_access_key=abc\nsecond line".to_vec(),
                chunked: false,
            }
        }
    })
    .await;
    let driftless = Driftless::start(
        plane,
        &[n],
        &[
            "--controllers=image",
            &format!("--max-registry-response-bytes={LIMIT}"),
        ],
    )
    .await
    .unwrap();
    let images: Api<ImageRepository> = Api::namespaced(client.clone(), n);
    for name in ["sized", "streamed", "small", "broken"] {
        apply_yaml(
            &images,
            &image_repository_yaml(name, &format!("{}/team/{name}", registry.host()), ""),
        )
        .await;
    }
    let limit_named = format!("exceeds the limit of {LIMIT} bytes (--max-registry-response-bytes)");
    for name in ["sized", "streamed"] {
        wait_for(
            &images,
            name,
            &format!("{name}: oversized answer refused"),
            |r| {
                failing_with(
                    r.status.as_ref().map(|s| s.conditions.as_slice()),
                    &limit_named,
                )
            },
        )
        .await;
    }
    wait_for(&images, "small", "a small answer is fine", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .is_some_and(|s| s.tag_count == 1)
    })
    .await;
    let broken = wait_for(&images, "broken", "a 500 is reported", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "HTTP 500",
        )
    })
    .await;
    let message = ready(broken.status.as_ref().map(|s| s.conditions.as_slice()))
        .unwrap()
        .message;
    assert!(
        !message.contains("INTERNAL-SECRET") && !message.contains("aws_secret"),
        "the registry's error body reached status: {message}"
    );

    // A 64 MiB streamed answer is refused without the controller's memory following it.
    let before = peak_rss_kib(driftless.pid());
    apply_yaml(
        &images,
        &image_repository_yaml("huge", &format!("{}/team/huge", registry.host()), ""),
    )
    .await;
    wait_for(&images, "huge", "64 MiB answer refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            &limit_named,
        )
    })
    .await;
    let after = peak_rss_kib(driftless.pid());
    eprintln!(
        "peak RSS before/after refusing a 64 MiB registry answer (limit {LIMIT} bytes): {before} KiB / {after} KiB"
    );
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// POSTs `body` to `url` with chunked transfer encoding (no `Content-Length`); the status
/// and body of the answer.
async fn post_chunked(addr: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(16 * 1024) {
        // The server may answer and close before the whole body is sent.
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_webhook_bodies_get_413_naming_the_limit() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "url-hook").await.unwrap();
    let n = ns.name();
    const LIMIT: usize = 4096;
    let driftless = Driftless::start(
        plane,
        &[n],
        &[
            "--controllers=notification",
            &format!("--max-webhook-body-bytes={LIMIT}"),
        ],
    )
    .await
    .unwrap();
    apply_yaml(
        &Api::<Secret>::namespaced(client.clone(), n),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: hook}\nstringData: {token: hook-token}\n",
    )
    .await;
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), n);
    apply_yaml(&receivers, "apiVersion: notification.driftless.dev/v1\nkind: Receiver\nmetadata: {name: generic}\nspec:\n  type: generic\n  secretRef: {name: hook}\n  resources:\n  - {kind: GitRepository, name: app}\n").await;
    let path = poll_until("the receiver's webhook path", DEADLINE, || async {
        Ok(receivers
            .get("generic")
            .await
            .map_err(Error::kube("get Receiver generic"))?
            .status
            .and_then(|s| s.webhook_path))
    })
    .await
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = driftless.receiver_url(&path);
    let limit_named = format!("exceeds the limit of {LIMIT} bytes (--max-webhook-body-bytes)");

    // Within the limit: accepted, the listed GitRepository is asked to reconcile.
    apply_yaml(
        &Api::<GitRepository>::namespaced(client.clone(), n),
        &git_repository_yaml("app", "git://127.0.0.1:1/app.git"),
    )
    .await;
    let small = http
        .post(&url)
        .body(vec![b' '; LIMIT])
        .send()
        .await
        .unwrap();
    let small_status = small.status();
    let small_text = small.text().await.unwrap_or_default();
    assert_eq!(small_status, reqwest::StatusCode::OK, "{small_text}");

    // Declared too large: refused before reading.
    let big = http
        .post(&url)
        .body(vec![b' '; 4 * LIMIT])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    let text = big.text().await.unwrap();
    assert!(text.contains(&limit_named), "{text}");

    // No Content-Length, a body growing past the limit: refused while streaming.
    let addr = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let before = peak_rss_kib(driftless.pid());
    let (status, answer) = post_chunked(&addr, &path, &vec![b' '; 64 * 1024 * 1024]).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains(&limit_named), "{answer}");
    let after = peak_rss_kib(driftless.pid());
    eprintln!(
        "peak RSS before/after refusing a 64 MiB chunked webhook body (limit {LIMIT} bytes): {before} KiB / {after} KiB"
    );
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}
