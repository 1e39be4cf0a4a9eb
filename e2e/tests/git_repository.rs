//! GitRepository end to end: the real `driftless` binary against the loopback control plane
//! and git server. Refs, new commits, credentials over smart HTTP, and failures that keep the
//! last artifact.

mod common;

use common::*;
use driftless_api::GitRepository;
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

fn tag_and_push(server: &GitServer, url: &str, commit: &str, tag: &str) {
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = server
            .git_command()
            .current_dir(work.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["clone", "--quiet", url, "."]);
    run(&["tag", tag, commit]);
    run(&["push", "--quiet", "origin", tag]);
}

#[tokio::test(flavor = "multi_thread")]
async fn refs_and_new_commits_become_revisions() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "gitrepo-refs").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("app").unwrap();
    let url = server.git_url("app");
    let first = server
        .push_files(
            &url,
            "main",
            &[("deploy/cm.yaml", "kind: ConfigMap\n")],
            "first",
        )
        .unwrap();
    tag_and_push(&server, &url, &first, "v1.0.0");
    let second = server
        .push_files(
            &url,
            "main",
            &[("deploy/cm.yaml", "kind: ConfigMap # 2\n")],
            "second",
        )
        .unwrap();
    tag_and_push(&server, &url, &second, "v1.1.0");
    tag_and_push(&server, &url, &second, "v2.0.0-rc.1");

    let _driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    let refs = [
        (
            "branch",
            "{branch: main}".to_owned(),
            format!("main@sha1:{second}"),
        ),
        (
            "tag",
            "{tag: v1.0.0}".to_owned(),
            format!("v1.0.0@sha1:{first}"),
        ),
        (
            "semver",
            "{semver: '>=1.0.0 <2.0.0'}".to_owned(),
            format!("v1.1.0@sha1:{second}"),
        ),
        (
            "commit",
            format!("{{commit: {first}}}"),
            format!("sha1:{first}"),
        ),
    ];
    for (name, reference, _) in &refs {
        apply_yaml(&api, &format!(
            "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec: {{url: '{url}', interval: 1m, ref: {reference}}}\n"
        )).await;
    }
    for (name, _, expected) in &refs {
        let repo = wait_repo(
            &api,
            name,
            &format!("GitRepository {name} at {expected}"),
            |r| artifact_revision(r).as_deref() == Some(expected.as_str()),
        )
        .await;
        let ready = ready_of(&repo.status.as_ref().unwrap().conditions).unwrap();
        assert_eq!(ready.status, "True", "{name}: {ready:?}");
        assert_eq!(ready.reason, "Succeeded");
        let digest = repo
            .status
            .as_ref()
            .unwrap()
            .artifact
            .as_ref()
            .unwrap()
            .digest
            .clone()
            .unwrap();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
    }

    // A new commit on the branch appears as a new revision after a reconcile request.
    let third = server
        .push_files(
            &url,
            "main",
            &[("deploy/extra.yaml", "kind: Secret\n")],
            "third",
        )
        .unwrap();
    apply_yaml(&api, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: branch, annotations: {{reconcile.driftless.dev/requestedAt: now-1}}}}\nspec: {{url: '{url}', interval: 1m, ref: {{branch: main}}}}\n"
    )).await;
    let expected = format!("main@sha1:{third}");
    let repo = wait_repo(&api, "branch", "the new commit", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    assert_eq!(
        repo.status
            .unwrap()
            .reconcile_request
            .last_handled_reconcile_at
            .as_deref(),
        Some("now-1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_unknown_branches_and_a_dead_server() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "gitrepo-auth").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_private_repo("private").unwrap();
    let push_url =
        server.private_http_url_with_credentials("private", server.username(), server.password());
    let commit = server
        .push_files(
            &push_url,
            "main",
            &[("app.yaml", "kind: ConfigMap\n")],
            "first",
        )
        .unwrap();
    let url = server.private_http_url("private");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&secrets, &format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: good}}\nstringData: {{username: '{}', password: '{}'}}\n",
        server.username(), server.password()
    )).await;
    apply_yaml(&secrets, &format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: bad}}\nstringData: {{username: '{}', password: wrong-password}}\n",
        server.username()
    )).await;

    let _driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    for (name, secret, branch) in [
        ("authed", "good", "main"),
        ("wrong-creds", "bad", "main"),
        ("no-branch", "good", "does-not-exist"),
    ] {
        apply_yaml(&api, &format!(
            "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec: {{url: '{url}', interval: 1m, secretRef: {{name: {secret}}}, ref: {{branch: {branch}}}}}\n"
        )).await;
    }
    let expected = format!("main@sha1:{commit}");
    wait_repo(&api, "authed", "basic auth over smart HTTP", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    let wrong = wait_repo(&api, "wrong-creds", "AuthenticationFailed", |r| {
        r.status
            .as_ref()
            .and_then(|s| ready_of(&s.conditions))
            .is_some_and(|c| c.status == "False")
    })
    .await;
    let ready = ready_of(&wrong.status.as_ref().unwrap().conditions).unwrap();
    assert_eq!(ready.reason, "AuthenticationFailed", "{ready:?}");
    assert!(
        !ready.message.contains("wrong-password"),
        "secrets never reach status: {}",
        ready.message
    );
    let missing = wait_repo(&api, "no-branch", "unknown branch reported", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "does-not-exist",
        )
    })
    .await;
    assert!(missing.status.unwrap().artifact.is_none());

    // file:// would let a tenant read the controller's own disk: refused unless allowed.
    apply_yaml(&api, "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {name: local}\nspec: {url: 'file:///etc', interval: 1m}\n").await;
    let local = wait_repo(&api, "local", "file:// refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "file:// URLs are disabled",
        )
    })
    .await;
    let stalled =
        driftless_api::condition::find(&local.status.unwrap().conditions, "Stalled").cloned();
    assert_eq!(stalled.map(|c| c.status).as_deref(), Some("True"));

    // The git server goes away: the last artifact stays, Ready turns False with a message.
    drop(server);
    apply_yaml(&api, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: authed, annotations: {{reconcile.driftless.dev/requestedAt: server-down}}}}\nspec: {{url: '{url}', interval: 1m, secretRef: {{name: good}}, ref: {{branch: main}}}}\n"
    )).await;
    let down = wait_repo(
        &api,
        "authed",
        "Ready=False after the server went away",
        |r| {
            r.status.as_ref().is_some_and(|s| {
                s.reconcile_request.last_handled_reconcile_at.as_deref() == Some("server-down")
                    && !driftless_api::condition::is_ready(&s.conditions)
            })
        },
    )
    .await;
    let status = down.status.unwrap();
    assert_eq!(
        status.artifact.as_ref().map(|a| a.revision.as_str()),
        Some(expected.as_str()),
        "the last artifact stays"
    );
    let ready = ready_of(&status.conditions).unwrap();
    assert_eq!(ready.reason, "GitOperationFailed", "{ready:?}");
    assert!(
        ready.message.contains("127.0.0.1"),
        "the message names the server: {}",
        ready.message
    );
}

fn gauge(body: &str, name: &str) -> u64 {
    body.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_repositories_on_one_url_cost_one_fetch_and_one_checkout() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let server = GitServer::start().unwrap();
    server.create_repo("shared").unwrap();
    let url = server.git_url("shared");
    let first = server
        .push_files(
            &url,
            "main",
            &[("app/cm.yaml", "kind: ConfigMap\n")],
            "first",
        )
        .unwrap();

    // 50 tenants' namespaces, one controller sharded onto them by a label selector.
    let shard = format!("shard-{}", std::process::id());
    let selector = format!("--watch-label-selector=driftless.dev/e2e-shard={shard}");
    let driftless = Driftless::start(plane, &[], &["--controllers=source", &selector])
        .await
        .unwrap();
    let mut namespaces = Vec::new();
    for _ in 0..50 {
        namespaces.push(
            TestNamespace::create(plane, "gitrepo-shared")
                .await
                .unwrap(),
        );
    }
    let apply_all = |token: &'static str| {
        let (client, url, shard, names) = (
            client.clone(),
            url.clone(),
            shard.clone(),
            namespaces
                .iter()
                .map(|n| n.name().to_owned())
                .collect::<Vec<_>>(),
        );
        async move {
            for ns in names {
                let api: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
                apply_yaml(&api, &format!(
                    "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: app, labels: {{driftless.dev/e2e-shard: {shard}}}, annotations: {{reconcile.driftless.dev/requestedAt: {token}}}}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
                )).await;
            }
        }
    };
    let all_at = |revision: String| {
        let (client, names) = (
            client.clone(),
            namespaces
                .iter()
                .map(|n| n.name().to_owned())
                .collect::<Vec<_>>(),
        );
        async move {
            driftless_e2e::poll_until(
                &format!("50 GitRepositories at {revision}"),
                DEADLINE,
                || async {
                    for ns in &names {
                        let api: Api<GitRepository> = Api::namespaced(client.clone(), ns);
                        let repo = api
                            .get("app")
                            .await
                            .map_err(driftless_e2e::Error::kube("get"))?;
                        if artifact_revision(&repo).as_deref() != Some(revision.as_str()) {
                            return Ok(None);
                        }
                    }
                    Ok(Some(()))
                },
            )
            .await
            .unwrap();
        }
    };
    apply_all("one").await;
    all_at(format!("main@sha1:{first}")).await;
    let body = driftless.get_metrics("/metrics").await.unwrap().1;
    eprintln!(
        "after 50 GitRepositories: fetches {}, checkouts {}, ref lists {}",
        gauge(&body, "driftless_source_cache_fetches"),
        gauge(&body, "driftless_source_cache_checkouts"),
        gauge(&body, "driftless_source_cache_ref_lists")
    );
    assert_eq!(
        gauge(&body, "driftless_source_cache_fetches"),
        1,
        "one clone for 50 GitRepositories"
    );
    assert_eq!(
        gauge(&body, "driftless_source_cache_checkouts"),
        1,
        "one artifact on disk"
    );

    // The next poll of all 50 (a reconcile request stands in for the interval) with a new
    // commit: one more fetch, one more checkout.
    let second = server
        .push_files(
            &url,
            "main",
            &[("app/cm.yaml", "kind: ConfigMap # 2\n")],
            "second",
        )
        .unwrap();
    apply_all("two").await;
    all_at(format!("main@sha1:{second}")).await;
    let body = driftless.get_metrics("/metrics").await.unwrap().1;
    assert_eq!(
        gauge(&body, "driftless_source_cache_fetches"),
        2,
        "one fetch per poll round"
    );
    assert_eq!(gauge(&body, "driftless_source_cache_checkouts"), 2);
}
