//! The network side of a bare mirror: list a remote's refs and fetch chosen refs
//! into the mirror with gix. Every function here blocks; the cache runs them on
//! tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use gix::protocol::handshake::Ref;
use gix::protocol::transport::client::blocking_io::http;
use gix::remote::Direction;
use gix::remote::fetch::Shallow;

use crate::auth::GitAuth;
use crate::error::Error;
use crate::limits::{FETCH_ALLOC_FLOOR, Limits};
use crate::reference::RemoteRef;
use crate::ssh::{SSH_LOG, ssh_command, ssh_failure_hint, ssh_log_summary};

/// A remote URL with its credentials, as one fetch sees it.
pub(crate) struct RemoteSpec<'a> {
    /// The URL as given (may contain user info, which is never displayed).
    pub url: &'a str,
    /// The URL for messages, without user info.
    pub display_url: String,
    /// Credentials, if any.
    pub auth: Option<&'a GitAuth>,
    /// A private directory for the ssh identity and known_hosts files.
    pub scratch: PathBuf,
}

impl<'a> RemoteSpec<'a> {
    pub(crate) fn new(url: &'a str, auth: Option<&'a GitAuth>, scratch: PathBuf) -> Self {
        RemoteSpec {
            url,
            display_url: display_url(url),
            auth,
            scratch,
        }
    }

    /// Remove any secret that a transport might have echoed into `message`.
    fn redact(&self, mut message: String) -> String {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(auth) = self.auth {
            if let Some(b) = &auth.basic {
                secrets.push(b.password.clone());
            }
            if let Some(t) = &auth.bearer_token {
                secrets.push(t.clone());
            }
        }
        if let Some(pw) = url_password(self.url) {
            secrets.push(pw);
        }
        if self.display_url != self.url {
            message = message.replace(self.url, &self.display_url);
        }
        for s in secrets.iter().filter(|s| s.len() >= 3) {
            message = message.replace(s.as_str(), "<redacted>");
        }
        message
    }

    fn error(&self, err: &gix::Error) -> Error {
        let chain: Vec<String> = err.iter_errors().map(|e| e.to_string()).collect();
        let mut message = chain.join(": ");
        if message.is_empty() {
            message = err.to_string();
        }
        let mut message = self.redact(message);
        // ssh writes its own diagnostics to the log named by `-E` (see `ssh_command`).
        let ssh = std::fs::read(self.scratch.join(SSH_LOG))
            .map(|log| ssh_log_summary(&String::from_utf8_lossy(&log)))
            .unwrap_or_default();
        if !ssh.is_empty() {
            message = format!("ssh: {}; {message}", self.redact(ssh.clone()));
        }
        let has_known_hosts = self.auth.is_some_and(|a| a.known_hosts.is_some());
        if let Some(hint) = ssh_failure_hint(&message, has_known_hosts) {
            message = format!("{hint}: {message}");
        }
        if err.classify().is_unauthenticated()
            || err.classify().is_permission_denied()
            || ssh.contains("Permission denied")
        {
            Error::Authentication {
                url: self.display_url.clone(),
                message,
            }
        } else {
            Error::Remote {
                url: self.display_url.clone(),
                message,
            }
        }
    }

    fn parse_url(&self) -> Result<gix::Url, Error> {
        let parsed = gix::url::parse(gix::bstr::BStr::new(self.url.as_bytes())).map_err(|e| {
            Error::InvalidUrl {
                url: self.display_url.clone(),
                message: self.redact(e.to_string()),
            }
        })?;
        use gix::url::Scheme;
        match parsed.scheme {
            Scheme::File | Scheme::Git | Scheme::Ssh | Scheme::Http | Scheme::Https => Ok(parsed),
            other => Err(Error::InvalidUrl {
                url: self.display_url.clone(),
                message: format!("unsupported scheme {other}"),
            }),
        }
    }

    fn is_http(&self) -> bool {
        self.url.starts_with("http://") || self.url.starts_with("https://")
    }
}

/// `url` without user info, for messages and logs.
pub(crate) fn display_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}{path}");
        }
    }
    url.to_owned()
}

fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, pw)| pw.to_owned())
}

/// Open the bare mirror at `path`, creating it (atomically, via a sibling temp dir) if absent.
pub(crate) fn open_or_init_mirror(
    path: &Path,
    display: &str,
    limits: &Limits,
) -> Result<gix::Repository, Error> {
    if !path.exists() {
        let tmp = path.with_extension(format!("init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        gix::init_bare(&tmp).map_err(|e| Error::Mirror {
            url: display.to_owned(),
            mirror: path.to_owned(),
            message: e.to_string(),
        })?;
        std::fs::rename(&tmp, path).map_err(|e| Error::storage("creating mirror", path, e))?;
    }
    open_mirror(path, display, limits)
}

/// Open the existing bare mirror at `path`, isolated from any git configuration, with
/// every allocation that object data asks for (inflating an object, indexing a fetched
/// pack) bounded by [`Limits::alloc_limit`]: a blob that would inflate to more is
/// refused before its memory is allocated.
pub(crate) fn open_mirror(
    path: &Path,
    display: &str,
    limits: &Limits,
) -> Result<gix::Repository, Error> {
    let options = gix::open::Options::isolated().config_overrides([format!(
        "gitoxide.objects.allocLimit={}",
        limits.alloc_limit()
    )]);
    gix::open_opts(path, options).map_err(|e| Error::Mirror {
        url: display.to_owned(),
        mirror: path.to_owned(),
        message: e.to_string(),
    })
}

/// Configure the ssh command (identity, known_hosts, strict host key checking) on the
/// in-memory config of `repo`, for `ssh://` (and scp-like) URLs.
///
/// The host key is always checked strictly against the secret's `known_hosts` and nothing
/// else: no user or system ssh configuration, no `~/.ssh/known_hosts`, never `accept-new`. A
/// secret without `known_hosts` (or no secret) makes every ssh connection fail host key
/// verification, with [`ssh_failure_hint`] saying why.
fn configure_ssh(repo: &mut gix::Repository, spec: &RemoteSpec<'_>) -> Result<(), Error> {
    if spec.is_http() || spec.url.starts_with("git://") || spec.url.starts_with("file://") {
        return Ok(());
    }
    std::fs::create_dir_all(&spec.scratch)
        .map_err(|e| Error::storage("creating", &spec.scratch, e))?;
    let write_private = |name: &str, bytes: &[u8]| -> Result<PathBuf, Error> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let p = spec.scratch.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| Error::storage("writing", &p, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::storage("writing", &p, e))?;
        Ok(p)
    };
    let auth = spec.auth.cloned().unwrap_or_default();
    let identity = match &auth.ssh_identity {
        Some(key) => {
            let mut key = key.clone();
            if !key.ends_with(b"\n") {
                key.push(b'\n');
            }
            Some(write_private("identity", &key)?)
        }
        None => None,
    };
    let known_hosts = match &auth.known_hosts {
        Some(kh) => Some(write_private("known_hosts", kh)?),
        None => None,
    };
    let log = spec.scratch.join(SSH_LOG);
    if log.exists() {
        std::fs::remove_file(&log).map_err(|e| Error::storage("removing", &log, e))?;
    }
    let command = ssh_command(identity.as_deref(), known_hosts.as_deref(), Some(&log)).ok_or_else(
        || Error::InvalidAuth {
            url: spec.display_url.clone(),
            message: format!(
                "the storage path {} holds a quote character; ssh files cannot be passed safely",
                spec.scratch.display()
            ),
        },
    )?;
    let mut snapshot = repo.config_snapshot_mut();
    snapshot
        .append_config(
            [format!("core.sshCommand={command}").as_str()],
            gix::config::Source::Api,
        )
        .map_err(|e| Error::InvalidAuth {
            url: spec.display_url.clone(),
            message: e.to_string(),
        })?;
    snapshot.commit().map_err(|e| Error::InvalidAuth {
        url: spec.display_url.clone(),
        message: e.to_string(),
    })?;
    Ok(())
}

/// HTTP transport options carrying the bearer token and CA bundle.
fn http_options(spec: &RemoteSpec<'_>) -> Result<Option<http::Options>, Error> {
    let Some(auth) = spec.auth else {
        return Ok(None);
    };
    if !spec.is_http() || (auth.bearer_token.is_none() && auth.ca_bundle.is_none()) {
        return Ok(None);
    }
    let mut options = http::Options::default();
    if let Some(header) = auth.bearer_header() {
        options
            .extra_headers
            .push(format!("Authorization: {header}"));
    }
    if let Some(pem) = &auth.ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| Error::InvalidAuth {
            url: spec.display_url.clone(),
            message: format!("CA bundle is not valid PEM: {e}"),
        })?;
        if certs.is_empty() {
            return Err(Error::InvalidAuth {
                url: spec.display_url.clone(),
                message: "CA bundle holds no certificate".into(),
            });
        }
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(move |mut builder| {
                for cert in &certs {
                    builder = builder.add_root_certificate(cert.clone());
                }
                Ok(builder)
            })),
            configure_request: None,
        };
        options.backend = Some(Arc::new(Mutex::new(backend)));
    }
    Ok(Some(options))
}

type Connection<'s, 'r> = gix::remote::Connection<
    's,
    'static,
    'r,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

fn with_auth<'s, 'r>(
    con: Connection<'s, 'r>,
    spec: &RemoteSpec<'_>,
) -> Result<
    gix::remote::Connection<
        's,
        'static,
        'r,
        Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
    >,
    Error,
> {
    let mut con = match spec.auth.and_then(|a| a.basic.clone()) {
        Some(basic) => con.with_credentials(move |action| match action {
            gix::credentials::helper::Action::Get(ctx) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: basic.username.clone(),
                        password: basic.password.clone(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                }))
            }
            _ => Ok(None),
        }),
        // Never ask a credential helper or a terminal: the secret is the only source.
        None => con.with_credentials(|action| match action {
            gix::credentials::helper::Action::Get(_) => Ok(None),
            _ => Ok(None),
        }),
    };
    if let Some(options) = http_options(spec)? {
        con.set_transport_options(Box::new(options));
    }
    Ok(con)
}

fn remote<'r>(
    repo: &'r gix::Repository,
    spec: &RemoteSpec<'_>,
    refspecs: &[String],
) -> Result<gix::Remote<'r>, Error> {
    let url = spec.parse_url()?;
    repo.remote_at(url)
        .and_then(|r| r.with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch))
        .map(|r| r.with_fetch_tags(gix::remote::fetch::Tags::None))
        .map_err(|e| Error::InvalidUrl {
            url: spec.display_url.clone(),
            message: spec.redact(e.to_string()),
        })
}

fn to_remote_refs(refs: &[Ref]) -> Vec<RemoteRef> {
    refs.iter()
        .filter_map(|r| match r {
            Ref::Peeled {
                full_ref_name,
                tag,
                object,
            } => Some(RemoteRef {
                name: full_ref_name.to_string(),
                target: tag.to_hex().to_string(),
                peeled: Some(object.to_hex().to_string()),
            }),
            Ref::Direct {
                full_ref_name,
                object,
            } => Some(RemoteRef {
                name: full_ref_name.to_string(),
                target: object.to_hex().to_string(),
                peeled: None,
            }),
            Ref::Symbolic {
                full_ref_name,
                tag,
                object,
                ..
            } => Some(RemoteRef {
                name: full_ref_name.to_string(),
                target: tag.unwrap_or(*object).to_hex().to_string(),
                peeled: tag.map(|_| object.to_hex().to_string()),
            }),
            Ref::Unborn { .. } => None,
        })
        .collect()
}

/// List the refs matching `patterns` (e.g. `refs/heads/main`, `refs/tags/*`): one ref
/// advertisement, no writes.
pub(crate) fn list_refs(
    repo: &gix::Repository,
    spec: &RemoteSpec<'_>,
    patterns: &[String],
) -> Result<Vec<RemoteRef>, Error> {
    let mut repo = repo.clone();
    configure_ssh(&mut repo, spec)?;
    // Glob refspecs must be two-sided; listing never writes to the destination.
    let refspecs: Vec<String> = patterns
        .iter()
        .map(|p| {
            if p.contains('*') {
                format!("{p}:{p}")
            } else {
                p.clone()
            }
        })
        .collect();
    let remote = remote(&repo, spec, &refspecs)?;
    let con = remote
        .connect(Direction::Fetch)
        .map_err(|e| spec.error(&e))?;
    let con = with_auth(con, spec)?;
    let (ref_map, _handshake) = con
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|e| spec.error(&e))?;
    Ok(to_remote_refs(&ref_map.remote_refs))
}

/// Fetch `refs` (full names) into the mirror under the same names. A pack holding an
/// object that would inflate beyond [`Limits::alloc_limit`] is refused as
/// [`Error::LimitExceeded`] (with an empty commit, for the caller to fill in).
pub(crate) fn fetch_refs(
    repo: &gix::Repository,
    spec: &RemoteSpec<'_>,
    refs: &[String],
    shallow: Shallow,
    interrupt: &AtomicBool,
    limits: &Limits,
) -> Result<(), Error> {
    let mut repo = repo.clone();
    configure_ssh(&mut repo, spec)?;
    let refspecs: Vec<String> = refs.iter().map(|r| format!("+{r}:{r}")).collect();
    let remote = remote(&repo, spec, &refspecs)?;
    let con = remote
        .connect(Direction::Fetch)
        .map_err(|e| spec.error(&e))?;
    let con = with_auth(con, spec)?;
    con.prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| spec.error(&e))?
        .with_shallow(shallow)
        .receive(gix::progress::Discard, interrupt)
        .map_err(|e| {
            if e.classify().is_resource_exhausted() {
                Error::LimitExceeded {
                    url: spec.display_url.clone(),
                    commit: String::new(),
                    message: format!(
                        "the remote sent an object that inflates to more than {} bytes (--max-file-bytes={}, never less than {FETCH_ALLOC_FLOOR} while fetching); the pack was refused before the object was inflated",
                        limits.alloc_limit(),
                        limits.max_file_bytes
                    ),
                }
            } else {
                spec.error(&e)
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_drops_user_info() {
        assert_eq!(
            display_url("https://alice:pw@git.example/a/b.git"),
            "https://git.example/a/b.git"
        );
        assert_eq!(display_url("ssh://git@host:22/x"), "ssh://host:22/x");
        assert_eq!(display_url("file:///tmp/repo"), "file:///tmp/repo");
        assert_eq!(
            url_password("https://alice:pw9@h/x").as_deref(),
            Some("pw9")
        );
    }

    #[test]
    fn redact_removes_passwords_tokens_and_url_secrets() {
        let auth = GitAuth {
            basic: Some(crate::auth::BasicAuth {
                username: "bob".into(),
                password: "hunter22".into(),
            }),
            bearer_token: Some("tkn-999".into()),
            ..Default::default()
        };
        let url = "https://bob:urlpass@h/x";
        let spec = RemoteSpec::new(url, Some(&auth), PathBuf::from("/nonexistent"));
        let msg = spec.redact(format!("failed {url} with hunter22 and tkn-999"));
        for s in ["hunter22", "tkn-999", "urlpass"] {
            assert!(!msg.contains(s), "{msg}");
        }
        assert!(msg.contains("https://h/x"));
    }

    #[test]
    fn http_options_carry_bearer_and_reject_bad_ca() {
        let auth = GitAuth {
            bearer_token: Some("tok".into()),
            ..Default::default()
        };
        let spec = RemoteSpec::new("https://h/x", Some(&auth), PathBuf::from("/x"));
        let opts = http_options(&spec).unwrap().expect("options for bearer");
        assert_eq!(
            opts.extra_headers,
            vec!["Authorization: Bearer tok".to_owned()]
        );
        let plain = RemoteSpec::new("git://h/x", Some(&auth), PathBuf::from("/x"));
        assert!(http_options(&plain).unwrap().is_none(), "only for http(s)");
        let bad = GitAuth {
            ca_bundle: Some(b"not a certificate".to_vec()),
            ..Default::default()
        };
        let spec = RemoteSpec::new("https://h/x", Some(&bad), PathBuf::from("/x"));
        let Err(err) = http_options(&spec) else {
            panic!("an invalid CA bundle must be rejected");
        };
        assert_eq!(err.reason(), "AuthenticationFailed");
    }

    #[test]
    fn unsupported_scheme_is_invalid_url() {
        let spec = RemoteSpec::new("ftp://h/x", None, PathBuf::from("/x"));
        assert_eq!(spec.parse_url().unwrap_err().reason(), "URLInvalid");
    }
}
