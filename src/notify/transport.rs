//! Hands finished messages over: to an SMTP server, or to an outbox folder that something else
//! (a mail relay's pickup folder, an operator) empties.
//!
//! SMTP goes through lettre's connection-level client, one fresh connection per delivery, and
//! every step (connect, TLS, STARTTLS, AUTH, MAIL, RCPT, DATA) runs under one deadline. Why not
//! `AsyncSmtpTransport`: with lettre's `pool` feature on (it is, crate-wide) every transport is
//! a pool, and a connection handed back to it is closed by a detached task that sends QUIT with
//! no read timeout; after a timeout of ours that task can hang on a dead server for ever
//! (lettre#743/#917). A connection we own is closed by dropping it. Driving MAIL/RCPT/DATA
//! ourselves also lets an error say which recipient the server refused.
//!
//! **Invariant:** the password leaves [`Secret`] only to be handed to lettre's AUTH, with
//! logging switched off around it (lettre logs every line it writes at DEBUG, AUTH included).
//! It is read from its [`SecretSource`] at each login, not before: building a [`Mailer`]
//! reads no secret.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Noop, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::time::{Instant, timeout_at};

use super::error::{MailError, Reply};
use super::message::{normalise_message_id, parse_mailbox};
use crate::fsx::write_atomic;
use crate::secret::{Secret, SecretSource};

/// How the connection to the SMTP server is protected.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (usually port 587). Required: a server that does
    /// not offer STARTTLS is refused, never used in clear text.
    Starttls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
    /// Clear text: only to a loopback address (a local relay).
    None,
}

/// Where and how to reach the SMTP server.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Host name (checked against the server's certificate) or IP address.
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// With `password`, logs in with AUTH PLAIN or LOGIN.
    pub username: Option<String>,
    /// Where the password is; read at each login.
    pub password: Option<SecretSource>,
    /// An extra trusted CA certificate (PEM), for servers with a private CA; the system's
    /// roots are trusted as well.
    pub ca_file: Option<PathBuf>,
    /// Bounds one whole delivery or health check, from connect to the server's reply to the
    /// message.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// Checks what can be checked without the network. The error is a sentence for the person
    /// editing the configuration.
    pub fn check(&self) -> Result<(), String> {
        let host = self.host.as_str();
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(format!(
                "SMTP host {host:?} is not a host name or IP address"
            ));
        }
        if host.contains(':') && host.parse::<IpAddr>().is_err() {
            return Err(format!(
                "SMTP host {host:?} is not a host name or IP address (the port goes in `port`)"
            ));
        }
        if self.port == 0 {
            return Err("SMTP port 0 is not a port".to_owned());
        }
        if self.timeout.is_zero() {
            return Err("SMTP timeout must be longer than zero".to_owned());
        }
        if self.security == SmtpSecurity::None && !is_loopback(host) {
            return Err(format!(
                "SMTP security \"none\" sends mail and passwords in clear text, so it is allowed \
                 only to a loopback address (127.0.0.0/8, ::1, localhost), not to {host:?}: use \
                 \"starttls\" or \"tls\""
            ));
        }
        if self.security == SmtpSecurity::None && self.ca_file.is_some() {
            return Err(
                "an SMTP ca_file is only used with security \"starttls\" or \"tls\"".to_owned(),
            );
        }
        match (&self.username, &self.password) {
            (Some(u), Some(_)) if u.is_empty() => Err("SMTP username is empty".to_owned()),
            (Some(_), None) => Err("SMTP username given without a password".to_owned()),
            (None, Some(_)) => Err("SMTP password given without a username".to_owned()),
            _ => Ok(()),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Where messages go.
#[derive(Clone, Debug)]
pub enum Delivery {
    Smtp(SmtpSettings),
    /// A folder: one `<message-id>.eml` per message.
    Outbox(PathBuf),
}

/// Delivers messages by SMTP or to an outbox folder. Cheap to clone; holds no connection.
#[derive(Clone)]
pub struct Mailer {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Smtp(Box<Smtp>),
    Outbox(PathBuf),
}

#[derive(Clone)]
struct Smtp {
    settings: SmtpSettings,
    /// Built once from the settings (and the CA file), for TLS and STARTTLS.
    tls: Option<TlsParameters>,
    /// The name we greet with (EHLO): this machine's host name.
    hello: ClientId,
}

/// Politeness has a limit: QUIT after a delivery gets this long at most, and its failure does
/// not fail a delivery the server has already accepted.
const QUIT_GRACE: Duration = Duration::from_secs(5);

impl Mailer {
    /// Checks the settings and reads the CA file, so a bad configuration fails at start-up
    /// rather than at the first delivery.
    pub fn new(delivery: Delivery) -> Result<Mailer, MailError> {
        let inner = match delivery {
            Delivery::Smtp(settings) => {
                settings.check().map_err(MailError::Settings)?;
                let tls = match settings.security {
                    SmtpSecurity::None => None,
                    SmtpSecurity::Starttls | SmtpSecurity::Tls => Some(tls_parameters(&settings)?),
                };
                Inner::Smtp(Box::new(Smtp {
                    settings,
                    tls,
                    hello: ClientId::default(),
                }))
            }
            Delivery::Outbox(dir) => {
                if dir.as_os_str().is_empty() {
                    return Err(MailError::Settings("the outbox folder is empty".to_owned()));
                }
                Inner::Outbox(dir)
            }
        };
        Ok(Mailer { inner })
    }

    /// Hands one message over: the server accepted it, or its file is in the outbox.
    ///
    /// Idempotent for the outbox: the file is named after `message_id`, and when it exists the
    /// message was handed over before and nothing is written. Over SMTP a retry after an
    /// unclear failure (a timeout after DATA) may deliver twice; the stable Message-ID lets
    /// mail clients recognise the copy.
    pub async fn deliver(
        &self,
        message_id: &str,
        from: &str,
        to: &[String],
        raw: &[u8],
    ) -> Result<(), MailError> {
        let from = parse_mailbox("From", from)?.email;
        let to = to
            .iter()
            .map(|a| parse_mailbox("To", a).map(|m| m.email))
            .collect::<Result<Vec<Address>, _>>()?;
        let envelope = Envelope::new(Some(from), to).map_err(|_| MailError::NoRecipients)?;
        match &self.inner {
            Inner::Smtp(smtp) => {
                smtp.session(Some((&envelope, raw))).await?;
                tracing::info!(
                    message_id,
                    recipients = envelope.to().len(),
                    via = %self.describe(),
                    "mail delivered"
                );
                Ok(())
            }
            Inner::Outbox(dir) => {
                let id = normalise_message_id(message_id)?;
                let dir = dir.clone();
                let raw = raw.to_vec();
                let written =
                    run_blocking(&dir.clone(), move || write_outbox(&dir, &id, &raw)).await?;
                tracing::info!(
                    message_id,
                    written,
                    via = %self.describe(),
                    "mail put in the outbox"
                );
                Ok(())
            }
        }
    }

    /// For `clerk check`: the SMTP server answers, greets, TLS or STARTTLS works and the login
    /// succeeds (if there are credentials), and it answers a NOOP. For the outbox: the folder
    /// exists or can be created, and a file can be written to it.
    pub async fn health_check(&self) -> Result<(), MailError> {
        match &self.inner {
            Inner::Smtp(smtp) => smtp.session(None).await,
            Inner::Outbox(dir) => {
                let dir = dir.clone();
                run_blocking(&dir.clone(), move || {
                    ensure_dir(&dir)?;
                    let probe = dir.join(format!(".clerk-health-check.{}", std::process::id()));
                    let io_err = |source| MailError::Io {
                        path: probe.clone(),
                        source,
                    };
                    write_atomic(&probe, b"clerk health check\n").map_err(io_err)?;
                    std::fs::remove_file(&probe).map_err(io_err)
                })
                .await
            }
        }
    }

    /// Where messages go, for logs and `clerk check`. Never shows the password.
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Smtp(smtp) => {
                let s = &smtp.settings;
                let (scheme, security) = match s.security {
                    SmtpSecurity::Starttls => ("smtp", "STARTTLS"),
                    SmtpSecurity::Tls => ("smtps", "TLS"),
                    SmtpSecurity::None => ("smtp", "no TLS"),
                };
                let user = s
                    .username
                    .as_deref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                let ca = s
                    .ca_file
                    .as_deref()
                    .map(|p| format!(", extra CA {}", p.display()))
                    .unwrap_or_default();
                format!("{scheme}://{user}{} ({security}{ca})", smtp.server())
            }
            Inner::Outbox(dir) => format!("outbox folder {}", dir.display()),
        }
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mailer").field(&self.describe()).finish()
    }
}

fn tls_parameters(s: &SmtpSettings) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(s.host.clone());
    if let Some(path) = &s.ca_file {
        let settings =
            |what: String| MailError::Settings(format!("ca_file {}: {what}", path.display()));
        let pem = std::fs::read(path).map_err(|e| settings(e.to_string()))?;
        // lettre accepts a file without any certificate and trusts nothing more.
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(settings("no PEM certificate in it".to_owned()));
        }
        let cert = Certificate::from_pem(&pem).map_err(|e| settings(e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| MailError::Settings(format!("TLS for {}: {e}", s.host)))
}

/// One step of an SMTP session: what a timeout or error happened during.
#[derive(Clone, Copy)]
enum Stage<'a> {
    Connect,
    StartTls,
    Auth,
    Sender(&'a Address),
    Recipient(&'a Address),
    Data,
    Noop,
}

impl fmt::Display for Stage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Connect => f.write_str("connect and greeting"),
            Stage::StartTls => f.write_str("STARTTLS"),
            Stage::Auth => f.write_str("AUTH"),
            Stage::Sender(a) => write!(f, "MAIL FROM:<{a}>"),
            Stage::Recipient(a) => write!(f, "RCPT TO:<{a}>"),
            Stage::Data => f.write_str("DATA"),
            Stage::Noop => f.write_str("NOOP"),
        }
    }
}

impl Smtp {
    /// `host:port`, as errors and logs show it.
    fn server(&self) -> String {
        let s = &self.settings;
        if s.host.contains(':') {
            format!("[{}]:{}", s.host, s.port)
        } else {
            format!("{}:{}", s.host, s.port)
        }
    }

    /// One connection: connect (TLS), STARTTLS, AUTH, then either send `mail` or NOOP; then
    /// QUIT. Everything up to the server's reply to the message runs before one deadline.
    async fn session(&self, mail: Option<(&Envelope, &[u8])>) -> Result<(), MailError> {
        let s = &self.settings;
        // Read before connecting: a password that cannot be read makes a login pointless.
        let password = match (&s.username, &s.password) {
            (Some(_), Some(source)) => Some(
                source
                    .read()
                    .map_err(|e| MailError::Settings(format!("the SMTP password: {e}")))?,
            ),
            _ => None,
        };
        let deadline = Instant::now() + s.timeout;
        let implicit_tls = match s.security {
            SmtpSecurity::Tls => self.tls.clone(),
            SmtpSecurity::Starttls | SmtpSecurity::None => None,
        };
        let mut conn = self
            .step(
                deadline,
                Stage::Connect,
                AsyncSmtpConnection::connect_tokio1(
                    (s.host.as_str(), s.port),
                    Some(s.timeout),
                    &self.hello,
                    implicit_tls,
                    None,
                ),
            )
            .await?;

        let result = self
            .exchange(&mut conn, deadline, mail, password.as_ref())
            .await;
        let broken = matches!(
            result,
            Err(MailError::Timeout { .. } | MailError::Protocol { .. } | MailError::Tls { .. })
        );
        if !broken {
            // The server's verdict is in; QUIT is a courtesy.
            let _ = tokio::time::timeout(QUIT_GRACE.min(s.timeout), conn.quit()).await;
        }
        // Dropping the connection closes the socket, whatever state it is in.
        drop(conn);
        result
    }

    async fn exchange(
        &self,
        conn: &mut AsyncSmtpConnection,
        deadline: Instant,
        mail: Option<(&Envelope, &[u8])>,
        password: Option<&Secret>,
    ) -> Result<(), MailError> {
        let s = &self.settings;
        if s.security == SmtpSecurity::Starttls {
            if !conn.can_starttls() {
                return Err(MailError::StartTlsMissing {
                    server: self.server(),
                });
            }
            let tls = self
                .tls
                .clone()
                .ok_or_else(|| MailError::Settings("STARTTLS without TLS parameters".to_owned()))?;
            self.step(deadline, Stage::StartTls, conn.starttls(tls, &self.hello))
                .await?;
        }

        if let (Some(user), Some(password)) = (&s.username, password) {
            let credentials = Credentials::new(user.clone(), password.expose().to_owned());
            let mechanisms = [Mechanism::Plain, Mechanism::Login];
            self.step(
                deadline,
                Stage::Auth,
                without_logs(conn.auth(&mechanisms, &credentials)),
            )
            .await?;
        }

        let Some((envelope, raw)) = mail else {
            self.step(deadline, Stage::Noop, conn.command(Noop)).await?;
            return Ok(());
        };

        let mut parameters = Vec::new();
        if !raw.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(MailError::MessageRejected {
                    server: self.server(),
                    reply: Reply {
                        code: None,
                        text: "the message has 8-bit content and the server does not offer \
                               8BITMIME"
                            .to_owned(),
                    },
                });
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let non_ascii_address = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a: &Address| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_address {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(MailError::MessageRejected {
                    server: self.server(),
                    reply: Reply {
                        code: None,
                        text: "an address is not ASCII and the server does not offer SMTPUTF8"
                            .to_owned(),
                    },
                });
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }

        let sender = envelope.from();
        let sender_stage = match sender {
            Some(a) => Stage::Sender(a),
            None => Stage::Data,
        };
        self.step(
            deadline,
            sender_stage,
            conn.command(Mail::new(sender.cloned(), parameters)),
        )
        .await?;
        // All or nothing: one refused recipient fails the delivery before DATA, so a retry
        // never sends a second copy to the others.
        for rcpt in envelope.to() {
            self.step(
                deadline,
                Stage::Recipient(rcpt),
                conn.command(Rcpt::new(rcpt.clone(), Vec::new())),
            )
            .await?;
        }
        self.step(deadline, Stage::Data, conn.command(Data)).await?;
        self.step(deadline, Stage::Data, conn.message(raw)).await?;
        Ok(())
    }

    /// Runs one step before `deadline` and names its failure.
    async fn step<T>(
        &self,
        deadline: Instant,
        stage: Stage<'_>,
        fut: impl Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, MailError> {
        match timeout_at(deadline, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.classify(stage, &e)),
            Err(_elapsed) => Err(self.timeout(stage)),
        }
    }

    fn timeout(&self, stage: Stage<'_>) -> MailError {
        MailError::Timeout {
            server: self.server(),
            stage: stage.to_string(),
            timeout: self.settings.timeout,
        }
    }

    fn classify(&self, stage: Stage<'_>, e: &SmtpError) -> MailError {
        let server = self.server();
        if e.is_timeout() {
            return self.timeout(stage);
        }
        if e.is_tls() {
            return MailError::Tls {
                server,
                detail: innermost(e),
            };
        }
        let reply = Reply::from_error(e);
        match stage {
            // lettre reports a failed implicit-TLS handshake as a connection error; rustls's
            // verdict (bad certificate, alert) reaches us as an I/O error of kind InvalidData,
            // which a TCP connect never produces.
            Stage::Connect
                if self.settings.security == SmtpSecurity::Tls
                    && io_error_kind(e) == Some(io::ErrorKind::InvalidData) =>
            {
                MailError::Tls {
                    server,
                    detail: innermost(e),
                }
            }
            Stage::Connect => MailError::Connect {
                server,
                detail: innermost(e),
            },
            Stage::StartTls => MailError::Tls {
                server,
                detail: reply.to_string(),
            },
            Stage::Auth => MailError::Auth {
                server,
                username: self.settings.username.clone().unwrap_or_default(),
                reply,
            },
            _ if reply.code.is_none() => MailError::Protocol {
                server,
                stage: stage.to_string(),
                detail: innermost(e),
            },
            Stage::Sender(a) => MailError::SenderRejected {
                server,
                address: a.to_string(),
                reply,
            },
            Stage::Recipient(a) => MailError::RecipientRejected {
                server,
                address: a.to_string(),
                reply,
            },
            Stage::Data => MailError::MessageRejected { server, reply },
            Stage::Noop => MailError::Protocol {
                server,
                stage: stage.to_string(),
                detail: reply.to_string(),
            },
        }
    }
}

/// The innermost cause of `e`: lettre wraps the same words in a "Connection error: ..." per
/// layer, the cause alone says what happened ("Connection refused", "invalid peer certificate").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
}

/// The kind of the first I/O error in `e`'s chain of causes.
fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        current = err.source();
    }
    None
}

/// Runs `fut` with tracing switched off. lettre logs every line it writes at DEBUG; during
/// AUTH those lines are the base64 of the username and password.
async fn without_logs<F: Future>(fut: F) -> F::Output {
    use tracing::instrument::WithSubscriber;
    fut.with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await
}

/// Runs blocking file work on `dir` off the async threads and waits for it.
async fn run_blocking<T: Send + 'static>(
    dir: &Path,
    f: impl FnOnce() -> Result<T, MailError> + Send + 'static,
) -> Result<T, MailError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| MailError::Io {
            path: dir.to_path_buf(),
            source: io::Error::other(format!("the outbox task failed: {e}")),
        })?
}

/// The outbox file for a Message-ID: the ID without angle brackets, every character outside
/// `[A-Za-z0-9._-]` replaced by `_`, never starting with a dot (dot files are temp files).
pub(crate) fn outbox_file_name(message_id: &str) -> Result<String, MailError> {
    let id = normalise_message_id(message_id)?;
    let mut name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    name.push_str(".eml");
    Ok(name)
}

/// Writes `raw` as the outbox file of Message-ID `id` (normalised) unless that file exists.
/// Returns whether it wrote.
///
/// An existing file is the same message handed over before, so nothing is written; unless its
/// own Message-ID differs (the file-name mapping is readable, not one-to-one: `a@b` and `a_b`
/// share a file), which is an error rather than a message silently dropped.
fn write_outbox(dir: &Path, id: &str, raw: &[u8]) -> Result<bool, MailError> {
    ensure_dir(dir)?;
    let path = dir.join(outbox_file_name(id)?);
    let existing = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomic(&path, raw).map_err(|source| MailError::Io { path, source })?;
            return Ok(true);
        }
        Err(source) => return Err(MailError::Io { path, source }),
    };
    match header_message_id(&existing) {
        Some(other) if other != id => Err(MailError::OutboxCollision {
            path,
            message_id: id.to_owned(),
            existing: other,
        }),
        _ => Ok(false),
    }
}

/// The Message-ID header of a stored message, without angle brackets.
fn header_message_id(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text
        .split("\r\n\r\n")
        .next()
        .and_then(|h| h.split("\n\n").next())
        .unwrap_or_default();
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("Message-ID")
            .then(|| normalise_message_id(value).ok())
            .flatten()
    })
}

/// The outbox folder exists afterwards; created with [`crate::fsx::DIR_MODE`] (owner, and the
/// group to read: the messages list amounts and counterparties) when it was missing.
fn ensure_dir(dir: &Path) -> Result<(), MailError> {
    let io_err = |source| MailError::Io {
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io_err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "exists and is not a folder",
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::fsx::create_dir_all(dir).map_err(io_err)
        }
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(host: &str, security: SmtpSecurity) -> SmtpSettings {
        SmtpSettings {
            host: host.to_owned(),
            port: 587,
            security,
            username: None,
            password: None,
            ca_file: None,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn clear_text_only_to_loopback() {
        for host in ["127.0.0.1", "127.3.4.5", "::1", "localhost", "LOCALHOST"] {
            assert!(settings(host, SmtpSecurity::None).check().is_ok(), "{host}");
        }
        for host in [
            "mail.example.com",
            "10.0.0.1",
            "::ffff:127.0.0.1",
            "localhost.evil.com",
        ] {
            let err = settings(host, SmtpSecurity::None).check().unwrap_err();
            assert!(err.contains("loopback"), "{host}: {err}");
        }
        assert!(
            settings("mail.example.com", SmtpSecurity::Starttls)
                .check()
                .is_ok()
        );
    }

    #[test]
    fn settings_check_catches_mistakes() {
        let mut s = settings("mail.example.com", SmtpSecurity::Tls);
        s.username = Some("clerk".to_owned());
        assert!(s.check().unwrap_err().contains("without a password"));
        s.password = Some(Secret::new("hunter2").into());
        assert!(s.check().is_ok());
        s.username = None;
        assert!(s.check().unwrap_err().contains("without a username"));
        let mut s = settings("mail example", SmtpSecurity::Tls);
        assert!(s.check().is_err());
        s.host = "mail.example.com:587".to_owned();
        assert!(s.check().unwrap_err().contains("port"));
        s.host = "mail.example.com".to_owned();
        s.port = 0;
        assert!(s.check().is_err());
        s.port = 465;
        s.timeout = Duration::ZERO;
        assert!(s.check().is_err());
    }

    #[test]
    fn describe_never_shows_the_password() {
        let mut s = settings("mail.example.com", SmtpSecurity::Starttls);
        s.username = Some("clerk".to_owned());
        s.password = Some(Secret::new("hunter2").into());
        let m = Mailer::new(Delivery::Smtp(s)).unwrap();
        assert_eq!(m.describe(), "smtp://clerk@mail.example.com:587 (STARTTLS)");
        assert!(!format!("{m:?}").contains("hunter2"));
        let m = Mailer::new(Delivery::Smtp(settings("::1", SmtpSecurity::None))).unwrap();
        assert_eq!(m.describe(), "smtp://[::1]:587 (no TLS)");
        let m = Mailer::new(Delivery::Outbox(PathBuf::from("var/outbox"))).unwrap();
        assert_eq!(m.describe(), "outbox folder var/outbox");
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let mut s = settings("mail.example.com", SmtpSecurity::Starttls);
        s.ca_file = Some(path.clone());
        let err = Mailer::new(Delivery::Smtp(s.clone())).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        s.ca_file = Some(dir.path().join("missing.pem"));
        let err = Mailer::new(Delivery::Smtp(s)).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }

    #[test]
    fn outbox_names_are_safe() {
        assert_eq!(
            outbox_file_name("<summary-2026-11-27@clerk.example.com>").unwrap(),
            "summary-2026-11-27_clerk.example.com.eml"
        );
        assert_eq!(outbox_file_name(".x/../y@z").unwrap(), "_x_.._y_z.eml");
        assert!(outbox_file_name("../../etc/passwd").is_err());
    }

    #[test]
    fn outbox_refuses_a_second_message_id_on_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = b"Message-ID: <x@y_z>\r\nSubject: a\r\n\r\nbody";
        assert!(write_outbox(dir.path(), "x@y_z", first).unwrap());
        // Same id again: already there, not rewritten.
        assert!(!write_outbox(dir.path(), "x@y_z", b"other").unwrap());
        assert_eq!(std::fs::read(dir.path().join("x_y_z.eml")).unwrap(), first);
        // Another id that maps to the same file name.
        let err = write_outbox(dir.path(), "x_y@z", b"Message-ID: <x_y@z>\r\n\r\n").unwrap_err();
        assert!(matches!(err, MailError::OutboxCollision { .. }), "{err:?}");
        assert!(err.to_string().contains("x@y_z"), "{err}");
    }

    #[test]
    fn transient_or_not() {
        let reply = |code| Reply {
            code: Some(code),
            text: "x".to_owned(),
        };
        let rcpt = |code| MailError::RecipientRejected {
            server: "s".to_owned(),
            address: "a@b".to_owned(),
            reply: reply(code),
        };
        assert!(rcpt(450).is_transient());
        assert!(!rcpt(550).is_transient());
        assert!(
            MailError::Connect {
                server: "s".to_owned(),
                detail: "refused".to_owned()
            }
            .is_transient()
        );
        assert!(
            !MailError::StartTlsMissing {
                server: "s".to_owned()
            }
            .is_transient()
        );
        assert!(!MailError::NoRecipients.is_transient());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn without_logs_silences_lettre_during_auth() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::debug!("visible");
        without_logs(async { tracing::debug!("Wrote: AUTH PLAIN c2VjcmV0") }).await;
        tracing::debug!("visible again");
        let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("visible again"), "{logged}");
        assert!(!logged.contains("AUTH"), "{logged}");
    }
}
