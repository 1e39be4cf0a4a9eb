//! GitRepository `spec.verify` end to end, with commits and tags signed at runtime by the
//! real `git commit -S` / `git tag -s` (gpg from Debian's gnupg, ssh-keygen from
//! openssh-client): a commit signed by a trusted OpenPGP key is Ready and SourceVerified; a
//! commit signed by another key and an unsigned commit are Ready=False naming the commit and
//! the reason while the last verified artifact stays. SSH: a signed tag and commit pass
//! `TagAndHEAD`; an unsigned annotated tag is refused naming the tag; `Tag` mode on a branch
//! is refused as a spec error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use driftless_api::GitRepository;
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A GnuPG home with keys made by `gpg --quick-gen-key`; the agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        // Short path: gpg-agent's socket path must fit in sun_path.
        let home = tempfile::Builder::new()
            .prefix("gpg-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg { home }
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path()).args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    /// Generates an ed25519 signing key; its fingerprint.
    fn generate(&self, uid: &str) -> String {
        run(self
            .gpg()
            .args(["--quick-gen-key", uid, "ed25519", "sign", "never"]));
        let listing = run(self.gpg().args(["--with-colons", "--list-keys", uid]));
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .unwrap()
            .to_owned()
    }

    fn export(&self, fingerprint: &str) -> Vec<u8> {
        run(self.gpg().args(["--armor", "--export", fingerprint])).into_bytes()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// How a commit or tag is signed.
enum Signing<'a> {
    None,
    Gpg(&'a Gpg, &'a str),
    Ssh(&'a Path),
}

/// A clone of the repository where the test commits, signs and pushes.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn clone(server: &GitServer, url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        run(server
            .git_command()
            .arg("clone")
            .arg("--quiet")
            .arg(url)
            .arg(dir.path()));
        run(server
            .git_command()
            .current_dir(dir.path())
            .args(["checkout", "--quiet", "-B", "main"]));
        Work { dir }
    }

    fn git(&self, server: &GitServer, signing: &Signing) -> Command {
        let mut c = server.git_command();
        c.current_dir(self.dir.path());
        match signing {
            Signing::None => {}
            Signing::Gpg(gpg, fingerprint) => {
                c.env("GNUPGHOME", gpg.home.path()).args([
                    "-c",
                    "gpg.format=openpgp",
                    "-c",
                    &format!("user.signingkey={fingerprint}"),
                ]);
            }
            Signing::Ssh(key) => {
                c.args(["-c", "gpg.format=ssh", "-c"])
                    .arg(format!("user.signingkey={}", key.display()));
            }
        }
        c
    }

    /// Commits a file change (signed with `-S` unless `Signing::None`) and pushes `main`.
    fn commit(&self, server: &GitServer, content: &str, signing: &Signing) -> String {
        std::fs::write(self.dir.path().join("configmap.yaml"), content).unwrap();
        run(self.git(server, signing).args(["add", "--all"]));
        let mut commit = self.git(server, signing);
        commit.args(["commit", "--quiet", "-m", "change"]);
        if !matches!(signing, Signing::None) {
            commit.arg("-S");
        }
        run(&mut commit);
        run(self
            .git(server, signing)
            .args(["push", "--quiet", "origin", "HEAD:refs/heads/main"]));
        run(self.git(server, signing).args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned()
    }

    /// An annotated tag on HEAD (signed with `-s` unless `Signing::None`), pushed.
    fn tag(&self, server: &GitServer, name: &str, signing: &Signing) {
        let mut tag = self.git(server, signing);
        tag.args(["tag", "-m", name]);
        tag.arg(if matches!(signing, Signing::None) {
            "-a"
        } else {
            "-s"
        });
        tag.arg(name);
        run(&mut tag);
        run(self
            .git(server, signing)
            .args(["push", "--quiet", "origin"])
            .arg(format!("refs/tags/{name}")));
    }
}

fn configmap(greeting: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: greeting}}\ndata: {{greeting: {greeting}}}\n"
    )
}

async fn secret(client: &Client, ns: &str, name: &str, entries: &[(&str, Vec<u8>)]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), k8s_openapi::ByteString(v.clone())))
                .collect(),
        ),
        ..Default::default()
    };
    api.create(&PostParams::default(), &secret).await.unwrap();
}

fn git_repository(name: &str, url: &str, reference: &str, verify: &str) -> String {
    format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec:\n  url: '{url}'\n  interval: 10m\n  ref: {reference}\n  verify: {verify}\n"
    )
}

async fn request_fetch(api: &Api<GitRepository>, name: &str, token: &str) {
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn verified_condition(repo: &GitRepository) -> Option<(String, String, String)> {
    let status = repo.status.as_ref()?;
    driftless_api::condition::find(&status.conditions, "SourceVerified")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready(repo: &GitRepository) -> Option<(String, String, String)> {
    ready_of(&repo.status.as_ref()?.conditions).map(|c| (c.status, c.reason, c.message))
}

struct Setup {
    client: Client,
    ns: TestNamespace,
    server: GitServer,
    url: String,
    _driftless: Driftless,
}

async fn setup(prefix: &str) -> Setup {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, prefix).await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    let driftless = Driftless::start(plane, &[ns.name()], &[]).await.unwrap();
    Setup {
        client,
        ns,
        server,
        url,
        _driftless: driftless,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openpgp_signed_commits_pass_and_others_are_refused_keeping_the_last() {
    let s = setup("verify-pgp").await;
    let gpg = Gpg::new();
    let trusted = gpg.generate("Trusted <trusted@driftless.dev>");
    let other = gpg.generate("Other <other@driftless.dev>");
    secret(
        &s.client,
        s.ns.name(),
        "keys",
        &[("trusted.asc", gpg.export(&trusted))],
    )
    .await;
    let work = Work::clone(&s.server, &s.url);
    let good = work.commit(&s.server, &configmap("one"), &Signing::Gpg(&gpg, &trusted));
    let repos: Api<GitRepository> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(
        &repos,
        &git_repository(
            "apps",
            &s.url,
            "{branch: main}",
            "{mode: HEAD, secretRef: {name: keys}}",
        ),
    )
    .await;
    let rev1 = format!("main@sha1:{good}");
    let repo = wait_repo(&repos, "apps", "the signed commit verified", |r| {
        artifact_revision(r).as_deref() == Some(rev1.as_str())
            && verified_condition(r).is_some_and(|c| c.0 == "True")
    })
    .await;
    let (_, _, message) = verified_condition(&repo).unwrap();
    assert!(message.contains(&good), "{message}");
    assert!(message.contains(&trusted), "names the key: {message}");
    assert_eq!(
        repo.status.unwrap().source_verification_mode,
        Some(driftless_api::source::GitVerificationMode::Head)
    );

    // Signed by a key the Secret does not hold.
    let wrong = work.commit(&s.server, &configmap("two"), &Signing::Gpg(&gpg, &other));
    request_fetch(&repos, "apps", "1").await;
    let repo = wait_repo(&repos, "apps", "the wrongly signed commit refused", |r| {
        ready(r).is_some_and(|c| c.0 == "False" && c.2.contains(&wrong))
    })
    .await;
    let (_, reason, message) = ready(&repo).unwrap();
    assert_eq!(reason, "InvalidCommitSignature", "{message}");
    assert!(message.contains(&other), "names the signer: {message}");
    assert_eq!(
        artifact_revision(&repo),
        Some(rev1.clone()),
        "last verified artifact kept"
    );
    assert_eq!(verified_condition(&repo).unwrap().0, "False");

    // Not signed at all.
    let unsigned = work.commit(&s.server, &configmap("three"), &Signing::None);
    request_fetch(&repos, "apps", "2").await;
    let repo = wait_repo(&repos, "apps", "the unsigned commit refused", |r| {
        ready(r).is_some_and(|c| c.0 == "False" && c.2.contains(&unsigned))
    })
    .await;
    let (_, reason, message) = ready(&repo).unwrap();
    assert_eq!(reason, "InvalidCommitSignature");
    assert!(message.contains("not signed"), "{message}");
    assert_eq!(artifact_revision(&repo), Some(rev1));

    // Signed by the trusted key again: accepted.
    let fixed = work.commit(&s.server, &configmap("four"), &Signing::Gpg(&gpg, &trusted));
    request_fetch(&repos, "apps", "3").await;
    let rev4 = format!("main@sha1:{fixed}");
    wait_repo(&repos, "apps", "the next signed commit accepted", |r| {
        artifact_revision(r).as_deref() == Some(rev4.as_str())
            && ready(r).is_some_and(|c| c.0 == "True")
    })
    .await;
}

fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public)
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_signed_tags_and_commits_pass_tag_and_head_and_unsigned_tags_are_named() {
    let s = setup("verify-ssh").await;
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = ssh_key(keys.path(), "trusted");
    secret(
        &s.client,
        s.ns.name(),
        "keys",
        &[("trusted.sshpub", public.into_bytes())],
    )
    .await;
    let work = Work::clone(&s.server, &s.url);
    let signing = Signing::Ssh(&key);
    let commit = work.commit(&s.server, &configmap("one"), &signing);
    work.tag(&s.server, "v1.0.0", &signing);
    let repos: Api<GitRepository> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(
        &repos,
        &git_repository(
            "apps",
            &s.url,
            "{tag: v1.0.0}",
            "{mode: TagAndHEAD, secretRef: {name: keys}}",
        ),
    )
    .await;
    let repo = wait_repo(&repos, "apps", "tag and commit verified", |r| {
        verified_condition(r).is_some_and(|c| c.0 == "True")
    })
    .await;
    let (_, _, message) = verified_condition(&repo).unwrap();
    assert!(
        message.contains("tag 'v1.0.0'")
            && message.contains(&commit)
            && message.contains("SHA256:"),
        "{message}"
    );

    // An annotated but unsigned tag on a signed commit.
    let commit2 = work.commit(&s.server, &configmap("two"), &signing);
    work.tag(&s.server, "v1.1.0", &Signing::None);
    apply_yaml(
        &repos,
        &git_repository(
            "unsigned-tag",
            &s.url,
            "{tag: v1.1.0}",
            "{mode: TagAndHEAD, secretRef: {name: keys}}",
        ),
    )
    .await;
    let repo = wait_repo(&repos, "unsigned-tag", "the unsigned tag refused", |r| {
        ready(r).is_some_and(|c| c.0 == "False" && c.2.contains("tag 'v1.1.0'"))
    })
    .await;
    let (_, reason, message) = ready(&repo).unwrap();
    assert_eq!(reason, "InvalidGitObject", "{message}");
    assert!(
        repo.status.unwrap().artifact.is_none(),
        "nothing checked out"
    );
    let _ = commit2;

    // Tag mode needs a tag ref: a branch ref is a spec error (Stalled).
    apply_yaml(
        &repos,
        &git_repository(
            "branch",
            &s.url,
            "{branch: main}",
            "{mode: Tag, secretRef: {name: keys}}",
        ),
    )
    .await;
    let repo = wait_repo(&repos, "branch", "Tag mode on a branch refused", |r| {
        ready(r).is_some_and(|c| c.0 == "False" && c.1 == "InvalidVerificationMode")
    })
    .await;
    let status = repo.status.unwrap();
    assert!(driftless_api::condition::find(&status.conditions, "Stalled").is_some());
}
