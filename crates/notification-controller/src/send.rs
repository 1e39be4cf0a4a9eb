//! One delivery attempt to one provider: an HTTP POST or an email.

use driftless_api::notification::{ProviderType, StartTlsPolicy};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::payload::{self, Notification};
use crate::provider_config::{EmailConfig, ProviderConfig};
use crate::signature::sign_sha256;

/// An HTTP client for webhooks (ring as the TLS provider, the platform's roots).
pub fn http_client() -> Result<reqwest::Client, String> {
    // Installed once per process; a second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!(
            "driftless-notification-controller/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

/// Sends `n` once. The error says what failed without the address or credentials.
pub async fn send(
    http: &reqwest::Client,
    config: &ProviderConfig,
    n: &Notification,
) -> Result<(), String> {
    let attempt = async {
        match config.type_ {
            ProviderType::Slack => {
                let body =
                    payload::slack_body(n, config.channel.as_deref(), config.username.as_deref());
                post(
                    http,
                    config,
                    serde_json::to_vec(&body).unwrap_or_default(),
                    None,
                )
                .await
            }
            ProviderType::Generic => {
                post(
                    http,
                    config,
                    serde_json::to_vec(&payload::generic_body(n)).unwrap_or_default(),
                    None,
                )
                .await
            }
            ProviderType::GenericHmac => {
                let body = serde_json::to_vec(&payload::generic_body(n)).unwrap_or_default();
                let key = config.token.as_deref().unwrap_or_default();
                let signature = format!("sha256={}", sign_sha256(key.as_bytes(), &body));
                post(http, config, body, Some(signature)).await
            }
            ProviderType::Smtp => match &config.email {
                Some(email) => send_email(email, config, n).await,
                None => Err("smtp settings missing".to_owned()),
            },
        }
    };
    match tokio::time::timeout(config.timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("timed out after {:?}", config.timeout)),
    }
}

async fn post(
    http: &reqwest::Client,
    config: &ProviderConfig,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(), String> {
    let mut req = http
        .post(&config.address)
        .timeout(config.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(sig) = signature {
        req = req.header("X-Signature", sig);
    }
    // reqwest errors carry the URL, which may hold a secret: keep only their kind.
    let response = req.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        format!("POST {kind}")
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("POST answered {status}"))
    }
}

async fn send_email(
    email: &EmailConfig,
    config: &ProviderConfig,
    n: &Notification,
) -> Result<(), String> {
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| format!("spec.from {:?}: {e}", email.from))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(payload::email_subject(n));
    for to in &email.to {
        let mailbox: Mailbox = to.parse().map_err(|e| format!("spec.to {to:?}: {e}"))?;
        builder = builder.to(mailbox);
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(payload::email_body(n))
        .map_err(|e| format!("building the email: {e}"))?;
    let tls = match email.start_tls {
        StartTlsPolicy::Disabled => Tls::None,
        policy => {
            let params = TlsParameters::new(email.host.clone())
                .map_err(|e| format!("TLS settings for {}: {e}", email.host))?;
            if policy == StartTlsPolicy::Required {
                Tls::Required(params)
            } else {
                Tls::Opportunistic(params)
            }
        }
    };
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(email.host.as_str())
            .port(email.port)
            .tls(tls)
            .timeout(Some(config.timeout));
    if let Some((user, password)) = &email.credentials {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP to {}:{}: {e}", email.host, email.port))
}
