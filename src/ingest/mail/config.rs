//! The mailboxes clerk reads (`[mailboxes.NAME]` in `clerk.toml`) and which mail a job takes
//! (the `[mail]` table of a job file). Two steps, as everywhere in clerk's configuration: serde
//! structs that refuse unknown keys (their doc comments are the user documentation), then
//! checked types with secrets read, durations parsed and paths resolved.
//!
//! ```toml
//! [mailboxes.statements]
//! kind = "imap"
//! host = "imap.bank-ops.example"
//! username = "statements@ops.example"
//! password_env = "CLERK_IMAP_PASSWORD"
//!
//! # jobs/bank-eur.toml
//! [mail]
//! mailbox = "statements"
//! senders = ["@bank.example", "ops@custodian.example"]
//! subject = "(?i)statement"
//! attachments = ["*.sta", "*.xml"]
//! ```

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use tokio_rustls::rustls;

use super::message::MailLimits;
use crate::secret::SecretSource;
use crate::settings::limits::{self, CountRange, DurationRange};
use crate::settings::resolve;

/// One `[mailboxes.NAME]` table of `clerk.toml`: an IMAP folder or a local Maildir that clerk
/// takes statements and invoices from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSpec {
    /// `"imap"` (a mail server) or `"maildir"` (a local folder that fetchmail, mbsync or a
    /// local MTA fills).
    pub kind: Option<MailboxKind>,
    /// IMAP: host name (checked against the server's certificate) or IP address.
    pub host: Option<String>,
    /// IMAP: default 993 for `security = "tls"`, 143 for `"starttls"` and `"none"`.
    pub port: Option<u16>,
    /// IMAP: `"tls"` (default: TLS from the first byte), `"starttls"` (required, never
    /// opportunistic: a server that does not offer it is refused) or `"none"` (clear text,
    /// only to a loopback address).
    pub security: Option<Security>,
    /// IMAP: the login name.
    pub username: Option<String>,
    /// IMAP, `auth = "password"`: name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// IMAP, `auth = "password"`: file holding the password (its first line).
    pub password_file: Option<String>,
    /// IMAP: `"password"` (default; IMAP LOGIN) or `"xoauth2"` (an OAuth 2 access token, as
    /// Microsoft 365 and Google require; see `token_command` and `token_file`).
    pub auth: Option<AuthKind>,
    /// IMAP, `auth = "xoauth2"`: a command printing a fresh access token on its standard
    /// output, as a list: `["/usr/local/bin/get-token", "--account", "statements"]`. It runs
    /// without a shell before every connection, under `timeout`.
    pub token_command: Option<Vec<String>>,
    /// IMAP, `auth = "xoauth2"`: a file holding the access token (its first line), kept fresh
    /// by something else; read before every connection.
    pub token_file: Option<String>,
    /// IMAP: an extra CA certificate (PEM) to trust, for a server with a private CA; the
    /// system's roots are trusted as well.
    pub ca_file: Option<String>,
    /// IMAP: the folder to read. Default `"INBOX"`.
    pub folder: Option<String>,
    /// What happens to a message once its attachments are taken: `"move"` (default) to
    /// `processed_folder` or `failed_folder`, or `"flag"`: it stays and gets the keyword
    /// `$ClerkProcessed` or `$ClerkFailed` (for a shared mailbox people also read).
    pub after: Option<After>,
    /// Where processed messages go. Default `"Processed"`; created when missing.
    pub processed_folder: Option<String>,
    /// Where messages that could not be processed go. Default `"Failed"`; created when
    /// missing.
    pub failed_folder: Option<String>,
    /// How often to look for new mail when the server cannot tell (no IDLE, or `idle =
    /// false`), and how often a Maildir is listed. Default `"60s"`.
    pub poll_interval: Option<String>,
    /// IMAP: wait for new mail with IDLE when the server offers it. Default `true`.
    pub idle: Option<bool>,
    /// IMAP: how long one step (connect, TLS, login, a command) may take. Default `"30s"`.
    pub timeout: Option<String>,
    /// Maildir: the folder holding `new/`, `cur/` and `tmp/`.
    pub path: Option<String>,
    /// Messages larger than this (MB) are refused without being downloaded. Default 50.
    pub max_message_mb: Option<i64>,
    /// Attachments (and files inside a ZIP) larger than this (MB) are refused. Default 25.
    pub max_attachment_mb: Option<i64>,
    /// A ZIP attachment with more files than this is refused. Default 200.
    pub max_zip_entries: Option<i64>,
    /// The ZIP attachments of one message may unpack to this much (MB, all their files
    /// together); a ZIP that goes past it is refused. Default 200.
    pub max_unzipped_mb: Option<i64>,
    /// A message with more MIME parts than this is refused. Default 1000.
    pub max_parts: Option<i64>,
    /// The authserv-id of your own mail server's `Authentication-Results` header (RFC 8601),
    /// e.g. `"mx.example.com"`. When set, a mail is taken only if such a header says
    /// `dmarc=pass` for the domain of its From address: the server checked SPF and DKIM
    /// against the From header. Without it, `senders` compares an unauthenticated header. Your
    /// server must remove headers of that name that arrive from outside (RFC 8601 asks it to).
    pub authentication_results: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxKind {
    Imap,
    Maildir,
}

/// How the connection to the IMAP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (usually port 993).
    Tls,
    /// A plain connection upgraded with STARTTLS before anything else is said (usually port
    /// 143). Required: nothing is sent in clear text if the server does not offer it.
    Starttls,
    /// Clear text: only to a loopback address (a local Dovecot).
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    Password,
    Xoauth2,
}

/// What happens to a message once it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum After {
    /// Moved to the processed or failed folder.
    Move,
    /// Left in place with the keyword `$ClerkProcessed` or `$ClerkFailed`.
    Flag,
}

/// A checked mailbox.
#[derive(Clone, Debug)]
pub struct Mailbox {
    /// The NAME of `[mailboxes.NAME]`, for logs and for jobs' `mail.mailbox`.
    pub name: String,
    pub source: MailboxSource,
    pub after: After,
    /// Folder names as configured (an IMAP folder, or a Maildir++ subfolder).
    pub processed_folder: String,
    pub failed_folder: String,
    pub poll_interval: Duration,
    /// Bounds each step of an IMAP session, and a token command.
    pub timeout: Duration,
    pub limits: MailLimits,
    /// The authserv-id whose `Authentication-Results` must say `dmarc=pass` for a mail to be
    /// taken; `None`: the From header is believed as it stands.
    pub authentication_results: Option<String>,
}

/// Where the mail is.
#[derive(Clone, Debug)]
pub enum MailboxSource {
    Imap(Box<ImapSettings>),
    /// The Maildir's root (holding `new/`, `cur/`, `tmp/`).
    Maildir(PathBuf),
}

/// A checked IMAP server and folder.
#[derive(Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub auth: ImapAuth,
    /// The extra CA certificate, for `describe`; already read into `tls`.
    pub ca_file: Option<PathBuf>,
    /// The folder to read.
    pub folder: String,
    pub idle: bool,
    /// Built once from the system's roots and `ca_file`: a bad CA file fails `check`, not the
    /// first connection. `None` for `security = "none"`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("auth", &self.auth)
            .field("ca_file", &self.ca_file)
            .field("folder", &self.folder)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl ImapSettings {
    /// `host:port`, as errors and logs show it.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How clerk logs in.
#[derive(Clone, Debug)]
pub enum ImapAuth {
    /// IMAP LOGIN, with the password read from here at each login.
    Password(SecretSource),
    /// AUTHENTICATE XOAUTH2 with an access token fetched before every connection.
    Xoauth2(TokenSource),
}

/// Where a fresh OAuth 2 access token comes from.
#[derive(Clone)]
pub enum TokenSource {
    /// argv, run without a shell; its standard output (trimmed) is the token.
    Command(Vec<String>),
    /// The first line of this file.
    File(PathBuf),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The arguments may hold a client secret: only the program is shown.
            TokenSource::Command(argv) => f
                .debug_tuple("Command")
                .field(&argv.first().map(String::as_str).unwrap_or_default())
                .field(&format_args!(
                    "{} argument(s)",
                    argv.len().saturating_sub(1)
                ))
                .finish(),
            TokenSource::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

const MB: u64 = 1024 * 1024;

impl MailboxSpec {
    /// Checks the table `[mailboxes.NAME]`, reads the CA file (not the password: see
    /// [`Mailbox::secrets`]), and resolves paths against the install `root`. The error names the key
    /// (`mailboxes.NAME.KEY`) and says what is wrong, as a sentence for the person editing the
    /// file.
    pub fn check(&self, name: &str, root: &Path) -> Result<Mailbox, (String, String)> {
        let key = |k: &str| format!("mailboxes.{name}.{k}");
        let err = |k: &str, m: String| Err((key(k), m));
        if name.is_empty() || name.contains(|c: char| c.is_control() || c.is_whitespace()) {
            return Err((
                format!("mailboxes.{name:?}"),
                "a mailbox name must be a word without spaces".to_owned(),
            ));
        }
        let Some(kind) = self.kind else {
            return err(
                "kind",
                "missing: set kind = \"imap\" or \"maildir\"".to_owned(),
            );
        };
        let duration = |k: &str, range: &DurationRange, v: &Option<String>, default| match v {
            None => Ok(default),
            Some(text) => range.parse(text).map_err(|m| (key(k), m)),
        };
        let poll_interval = duration(
            "poll_interval",
            &limits::MAILBOX_POLL_INTERVAL,
            &self.poll_interval,
            secs(60),
        )?;
        let timeout = duration("timeout", &limits::MAILBOX_TIMEOUT, &self.timeout, secs(30))?;
        let limits = self.limits().map_err(|(k, m)| (key(&k), m))?;
        let authentication_results = match self.authentication_results.as_deref() {
            None => None,
            Some(id) => {
                let id = id.trim();
                let word = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
                if id.is_empty() || id.len() > 253 || !id.chars().all(word) {
                    return err(
                        "authentication_results",
                        format!(
                            "{:?} is not an authserv-id: the host name your mail server writes \
                             first in its Authentication-Results header, like \
                             \"mx.example.com\"",
                            id.chars().take(100).collect::<String>()
                        ),
                    );
                }
                Some(id.to_ascii_lowercase())
            }
        };
        let after = self.after.unwrap_or(After::Move);
        let processed_folder = self.processed_folder.as_deref().unwrap_or("Processed");
        let failed_folder = self.failed_folder.as_deref().unwrap_or("Failed");
        for (k, folder) in [
            ("processed_folder", processed_folder),
            ("failed_folder", failed_folder),
        ] {
            check_folder_name(folder).map_err(|m| (key(k), m))?;
        }
        if processed_folder == failed_folder {
            return err(
                "failed_folder",
                "must differ from processed_folder, or failures could not be told apart".to_owned(),
            );
        }

        let source = match kind {
            MailboxKind::Maildir => {
                let imap_only = [
                    ("host", self.host.is_some()),
                    ("port", self.port.is_some()),
                    ("security", self.security.is_some()),
                    ("username", self.username.is_some()),
                    ("password_env", self.password_env.is_some()),
                    ("password_file", self.password_file.is_some()),
                    ("auth", self.auth.is_some()),
                    ("token_command", self.token_command.is_some()),
                    ("token_file", self.token_file.is_some()),
                    ("ca_file", self.ca_file.is_some()),
                    ("folder", self.folder.is_some()),
                    ("idle", self.idle.is_some()),
                ];
                if let Some((k, _)) = imap_only.iter().find(|(_, set)| *set) {
                    return err(k, "is only for kind = \"imap\"".to_owned());
                }
                let Some(path) = self.path.as_deref().filter(|p| !p.trim().is_empty()) else {
                    return err(
                        "path",
                        "missing: a Maildir needs the folder holding new/, cur/ and tmp/"
                            .to_owned(),
                    );
                };
                MailboxSource::Maildir(resolve(root, path))
            }
            MailboxKind::Imap => {
                if self.path.is_some() {
                    return err("path", "is only for kind = \"maildir\"".to_owned());
                }
                MailboxSource::Imap(Box::new(self.check_imap(root, &key)?))
            }
        };
        Ok(Mailbox {
            name: name.to_owned(),
            source,
            after,
            processed_folder: processed_folder.to_owned(),
            failed_folder: failed_folder.to_owned(),
            poll_interval,
            timeout,
            limits,
            authentication_results,
        })
    }

    fn limits(&self) -> Result<MailLimits, (String, String)> {
        let d = MailLimits::default();
        // The key's last part: the caller prefixes `mailboxes.NAME.`.
        let last = |range: &CountRange| range.key.rsplit('.').next().unwrap_or(range.key);
        let count = |range: &CountRange, v: Option<i64>, default: usize| match v {
            None => Ok(default),
            Some(n) => range
                .check_usize(n)
                .map_err(|m| (last(range).to_owned(), m)),
        };
        // In range, so at most 4096 MB: the product fits.
        let mb = |range: &CountRange, v: Option<i64>, default: u64| {
            count(range, v, 0).map(|n| if v.is_none() { default } else { n as u64 * MB })
        };
        Ok(MailLimits {
            max_message: mb(&limits::MAX_MESSAGE_MB, self.max_message_mb, d.max_message)?,
            max_attachment: mb(
                &limits::MAX_ATTACHMENT_MB,
                self.max_attachment_mb,
                d.max_attachment,
            )?,
            max_zip_entries: count(
                &limits::MAX_ZIP_ENTRIES,
                self.max_zip_entries,
                d.max_zip_entries,
            )?,
            max_unzipped: mb(
                &limits::MAX_UNZIPPED_MB,
                self.max_unzipped_mb,
                d.max_unzipped,
            )?,
            max_parts: count(&limits::MAX_PARTS, self.max_parts, d.max_parts)?,
        })
    }

    fn check_imap(
        &self,
        root: &Path,
        key: &dyn Fn(&str) -> String,
    ) -> Result<ImapSettings, (String, String)> {
        let err = |k: &str, m: String| Err((key(k), m));
        let Some(host) = self.host.as_deref() else {
            return err("host", "missing: the IMAP server's host name".to_owned());
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return err("host", format!("{host:?} is not a host name or IP address"));
        }
        if host.contains(':') && host.parse::<IpAddr>().is_err() {
            return err(
                "host",
                format!("{host:?} is not a host name or IP address (the port goes in `port`)"),
            );
        }
        let security = self.security.unwrap_or(Security::Tls);
        let port = self.port.unwrap_or(match security {
            Security::Tls => 993,
            Security::Starttls | Security::None => 143,
        });
        if port == 0 {
            return err("port", "0 is not a port".to_owned());
        }
        if security == Security::None && !is_loopback(host) {
            return err(
                "security",
                format!(
                    "\"none\" sends the password and the mail in clear text, so it is allowed \
                     only to a loopback address (127.0.0.0/8, ::1, localhost), not to \
                     {host:?}: use \"tls\" or \"starttls\""
                ),
            );
        }
        if security == Security::None && self.ca_file.is_some() {
            return err(
                "ca_file",
                "is only used with security \"tls\" or \"starttls\"".to_owned(),
            );
        }
        let username = match self.username.as_deref() {
            Some(u) if !u.is_empty() && !u.contains(['\r', '\n', '\0']) => u.to_owned(),
            Some(_) => return err("username", "must be a non-empty single line".to_owned()),
            None => return err("username", "missing: the login name".to_owned()),
        };
        let auth = match self.auth.unwrap_or(AuthKind::Password) {
            AuthKind::Password => {
                for (k, set) in [
                    ("token_command", self.token_command.is_some()),
                    ("token_file", self.token_file.is_some()),
                ] {
                    if set {
                        return err(k, "is only for auth = \"xoauth2\"".to_owned());
                    }
                }
                // Where the password is: read at each login, and up front by `clerk run` and
                // `clerk check`; a read command never needs it.
                let password = match (&self.password_env, &self.password_file) {
                    (Some(_), Some(_)) => {
                        return err(
                            "password_env",
                            "set either password_env or password_file, not both".to_owned(),
                        );
                    }
                    (Some(var), None) => SecretSource::Env(var.clone()),
                    (None, Some(file)) => SecretSource::File(resolve(root, file)),
                    (None, None) => {
                        return err(
                            "password_env",
                            "missing: set password_env or password_file (or auth = \"xoauth2\")"
                                .to_owned(),
                        );
                    }
                };
                ImapAuth::Password(password)
            }
            AuthKind::Xoauth2 => {
                for (k, set) in [
                    ("password_env", self.password_env.is_some()),
                    ("password_file", self.password_file.is_some()),
                ] {
                    if set {
                        return err(k, "is only for auth = \"password\"".to_owned());
                    }
                }
                let source = match (&self.token_command, &self.token_file) {
                    (Some(_), Some(_)) => {
                        return err(
                            "token_command",
                            "set either token_command or token_file, not both".to_owned(),
                        );
                    }
                    (Some(argv), None) => {
                        if argv.first().is_none_or(|p| p.trim().is_empty()) {
                            return err(
                                "token_command",
                                "must name a program: [\"/path/to/program\", \"arg\", ...]"
                                    .to_owned(),
                            );
                        }
                        TokenSource::Command(argv.clone())
                    }
                    // Read before every connection; `clerk run` and `clerk check` read it up front.
                    (None, Some(file)) => TokenSource::File(resolve(root, file)),
                    (None, None) => {
                        return err(
                            "token_command",
                            "missing: auth = \"xoauth2\" needs token_command or token_file"
                                .to_owned(),
                        );
                    }
                };
                ImapAuth::Xoauth2(source)
            }
        };
        let folder = self.folder.as_deref().unwrap_or("INBOX");
        check_folder_name(folder).map_err(|m| (key("folder"), m))?;
        let ca_file = self.ca_file.as_deref().map(|p| resolve(root, p));
        let tls = match security {
            Security::None => None,
            Security::Tls | Security::Starttls => {
                Some(tls_config(ca_file.as_deref()).map_err(|m| (key("ca_file"), m))?)
            }
        };
        Ok(ImapSettings {
            host: host.to_owned(),
            port,
            security,
            username,
            auth,
            ca_file,
            folder: folder.to_owned(),
            idle: self.idle.unwrap_or(true),
            tls,
        })
    }
}

impl Mailbox {
    /// The secrets this mailbox logs in with, each with the key (below `mailboxes.NAME.`)
    /// that names it: for `clerk run` and `clerk check`, which read them up front.
    pub fn secrets(&self) -> Vec<(&'static str, SecretSource)> {
        let Some(s) = self.imap() else {
            return Vec::new();
        };
        match &s.auth {
            ImapAuth::Password(source @ SecretSource::Env(_)) => {
                vec![("password_env", source.clone())]
            }
            ImapAuth::Password(source) => vec![("password_file", source.clone())],
            ImapAuth::Xoauth2(TokenSource::File(path)) => {
                vec![("token_file", SecretSource::File(path.clone()))]
            }
            // A program to run: running it is for a connection, not for a check of the
            // configuration.
            ImapAuth::Xoauth2(TokenSource::Command(_)) => Vec::new(),
        }
    }

    /// The IMAP settings, if this is an IMAP mailbox.
    pub fn imap(&self) -> Option<&ImapSettings> {
        match &self.source {
            MailboxSource::Imap(s) => Some(s),
            MailboxSource::Maildir(_) => None,
        }
    }

    /// Where the mail comes from, for logs and `clerk check`. Never shows a secret.
    pub fn describe(&self) -> String {
        match &self.source {
            MailboxSource::Imap(s) => {
                let (scheme, security) = match s.security {
                    Security::Tls => ("imaps", "TLS"),
                    Security::Starttls => ("imap", "STARTTLS"),
                    Security::None => ("imap", "no TLS"),
                };
                let auth = match s.auth {
                    ImapAuth::Password(_) => "",
                    ImapAuth::Xoauth2(_) => ", XOAUTH2",
                };
                format!(
                    "{scheme}://{}@{}/{} ({security}{auth})",
                    s.username,
                    s.server(),
                    s.folder
                )
            }
            MailboxSource::Maildir(p) => format!("maildir {}", p.display()),
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Folder names go to the server as quoted strings (or become Maildir++ folder names): no
/// control characters, no IMAP wildcards, not empty.
fn check_folder_name(folder: &str) -> Result<(), String> {
    if folder.trim().is_empty() {
        return Err("a folder name cannot be empty".to_owned());
    }
    if folder.contains(|c: char| c.is_control() || c == '*' || c == '%') {
        return Err(format!(
            "{folder:?} holds a control character or an IMAP wildcard (* or %)"
        ));
    }
    if folder.split(['/', '.']).any(|p| p == "..") {
        return Err(format!("{folder:?} must not hold \"..\""));
    }
    Ok(())
}

/// The TLS settings for IMAP: the system's roots plus `ca_file`, with the same crypto provider
/// (ring) that lettre uses for SMTP; a second provider in one process makes rustls panic.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    // A machine without system roots can still reach a server with a private CA.
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A job's `[mail]` table: which mail of which mailbox is this job's.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailRuleSpec {
    /// The NAME of a `[mailboxes.NAME]` table in `clerk.toml`.
    pub mailbox: String,
    /// Who may send this job's files: full addresses (`"ops@bank.example"`) or whole domains
    /// (`"@custodian.example"`, that domain only, not its subdomains). Compared with the
    /// message's From address, ignoring case. Empty (the default) takes mail from nobody.
    /// The From header is only as trustworthy as the mail server's checks (SPF, DKIM, DMARC).
    #[serde(default)]
    pub senders: Vec<String>,
    /// A regular expression the subject must match somewhere; `(?i)` at its start ignores
    /// case. Default: any subject.
    pub subject: Option<String>,
    /// Which attachments to take, as file-name patterns ignoring case (`"*.sta"`,
    /// `"camt053_*.xml"`); files inside a ZIP attachment count as attachments. Default
    /// `["*"]`.
    #[serde(default = "all_attachments")]
    pub attachments: Vec<String>,
}

fn all_attachments() -> Vec<String> {
    vec!["*".to_owned()]
}

/// A checked `[mail]` table.
#[derive(Clone, Debug)]
pub struct MailRule {
    mailbox: String,
    /// Full addresses, lower-case.
    addresses: Vec<String>,
    /// Domains (without the `@`), lower-case.
    domains: Vec<String>,
    subject: Option<Regex>,
    attachments: GlobSet,
}

impl MailRuleSpec {
    /// Checks addresses, the subject expression and the patterns. The error names the key
    /// (`mail.senders[1]`) and what is wrong.
    pub fn check(&self) -> Result<MailRule, (String, String)> {
        if self.mailbox.trim().is_empty() {
            return Err((
                "mail.mailbox".to_owned(),
                "missing: the name of a [mailboxes.NAME] table in clerk.toml".to_owned(),
            ));
        }
        let mut addresses = Vec::new();
        let mut domains = Vec::new();
        for (i, s) in self.senders.iter().enumerate() {
            let s = s.trim().to_lowercase();
            let bad = || {
                Err((
                    format!("mail.senders[{i}]"),
                    format!(
                        "expected an address like ops@bank.example or a domain like \
                         @bank.example, found {s:?}"
                    ),
                ))
            };
            if s.contains(|c: char| c.is_whitespace() || c.is_control() || "<>,;\"*".contains(c)) {
                return bad();
            }
            match s.split_once('@') {
                Some(("", domain)) if valid_domain(domain) => domains.push(domain.to_owned()),
                Some((local, domain)) if !local.is_empty() && valid_domain(domain) => {
                    addresses.push(s.clone())
                }
                _ => return bad(),
            }
        }
        let subject = match &self.subject {
            None => None,
            Some(re) => Some(
                RegexBuilder::new(re)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| ("mail.subject".to_owned(), e.to_string()))?,
            ),
        };
        if self.attachments.is_empty() {
            return Err((
                "mail.attachments".to_owned(),
                "is empty, so no attachment would ever be taken; leave it out to take all"
                    .to_owned(),
            ));
        }
        let mut set = GlobSetBuilder::new();
        for (i, p) in self.attachments.iter().enumerate() {
            let glob = GlobBuilder::new(p)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| (format!("mail.attachments[{i}]"), e.to_string()))?;
            set.add(glob);
        }
        let attachments = set
            .build()
            .map_err(|e| ("mail.attachments".to_owned(), e.to_string()))?;
        Ok(MailRule {
            mailbox: self.mailbox.trim().to_owned(),
            addresses,
            domains,
            subject,
            attachments,
        })
    }
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !d.contains("..")
        && !d.contains('@')
}

impl MailRule {
    /// The mailbox this job reads.
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// Whether `from` (an address, as [`super::ParsedMail::from`] gives it) may send this job's
    /// files: it is one of the addresses, or its domain is one of the domains (exactly: not a
    /// subdomain).
    pub fn sender_allowed(&self, from: &str) -> bool {
        let from = from.trim().trim_start_matches('<').trim_end_matches('>');
        let from = from.to_lowercase();
        let Some((local, domain)) = from.rsplit_once('@') else {
            return false;
        };
        if local.is_empty() || domain.is_empty() {
            return false;
        }
        self.addresses.contains(&from) || self.domains.iter().any(|d| d == domain)
    }

    /// Whether the subject matches the job's expression (always, without one).
    pub fn subject_matches(&self, subject: &str) -> bool {
        self.subject.as_ref().is_none_or(|re| re.is_match(subject))
    }

    /// Whether the job takes an attachment of this (safe) name.
    pub fn wants_attachment(&self, name: &str) -> bool {
        self.attachments.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap_spec() -> MailboxSpec {
        MailboxSpec {
            kind: Some(MailboxKind::Imap),
            host: Some("imap.example.com".to_owned()),
            username: Some("clerk".to_owned()),
            password_file: Some("secret.txt".to_owned()),
            ..MailboxSpec::default()
        }
    }

    fn root_with_password() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "hunter2\nsecond line\n").unwrap();
        dir
    }

    #[test]
    fn defaults_and_secrets() {
        let root = root_with_password();
        let mb = imap_spec().check("statements", root.path()).unwrap();
        let s = mb.imap().unwrap();
        assert_eq!(s.port, 993);
        assert_eq!(s.security, Security::Tls);
        assert_eq!(s.folder, "INBOX");
        assert!(s.idle);
        assert_eq!(mb.after, After::Move);
        assert_eq!(mb.processed_folder, "Processed");
        assert_eq!(mb.failed_folder, "Failed");
        assert_eq!(mb.poll_interval, secs(60));
        assert_eq!(mb.timeout, secs(30));
        assert_eq!(mb.limits.max_message, 50 * MB);
        assert_eq!(mb.limits.max_attachment, 25 * MB);
        assert_eq!(mb.limits.max_zip_entries, 200);
        assert_eq!(mb.limits.max_unzipped, 200 * MB);
        assert_eq!(mb.limits.max_parts, 1000);
        match &s.auth {
            ImapAuth::Password(p) => assert_eq!(p.read().unwrap().expose(), "hunter2"),
            other => panic!("{other:?}"),
        }
        let debug = format!("{mb:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(
            mb.describe(),
            "imaps://clerk@imap.example.com:993/INBOX (TLS)"
        );

        let mut spec = imap_spec();
        spec.security = Some(Security::Starttls);
        let mb = spec.check("s", root.path()).unwrap();
        assert_eq!(mb.imap().unwrap().port, 143);
    }

    #[test]
    fn errors_name_the_key() {
        let root = root_with_password();
        let key = |spec: MailboxSpec| spec.check("box", root.path()).unwrap_err().0;
        let mut s = imap_spec();
        s.kind = None;
        assert_eq!(key(s), "mailboxes.box.kind");
        let mut s = imap_spec();
        s.host = Some("mail.example.com:993".to_owned());
        assert_eq!(key(s), "mailboxes.box.host");
        let mut s = imap_spec();
        s.security = Some(Security::None);
        let (k, m) = s.check("box", root.path()).unwrap_err();
        assert_eq!(k, "mailboxes.box.security");
        assert!(m.contains("loopback"), "{m}");
        let mut s = imap_spec();
        s.host = Some("127.0.0.1".to_owned());
        s.security = Some(Security::None);
        assert!(s.check("box", root.path()).is_ok());
        // A password that cannot be read is not a configuration error (a read command never
        // needs it); `clerk run` and `clerk check` read what `secrets` lists.
        let mut s = imap_spec();
        s.password_file = Some("missing.txt".to_owned());
        let mb = s.check("box", root.path()).unwrap();
        let secrets = mb.secrets();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].0, "password_file");
        let m = secrets[0].1.read().unwrap_err();
        assert!(
            m.contains("cannot read") && m.contains("missing.txt"),
            "{m}"
        );
        let mut s = imap_spec();
        s.password_file = None;
        s.password_env = Some("CLERK_TEST_SURELY_UNSET_VARIABLE".to_owned());
        let mb = s.check("box", root.path()).unwrap();
        let (k, source) = &mb.secrets()[0];
        assert_eq!(*k, "password_env");
        assert!(source.read().unwrap_err().contains("not set"));
        let mut s = imap_spec();
        s.poll_interval = Some("soon".to_owned());
        assert_eq!(key(s), "mailboxes.box.poll_interval");
        let mut s = imap_spec();
        s.max_parts = Some(0);
        assert_eq!(key(s), "mailboxes.box.max_parts");
        for bad in ["", "mx example.com", "mx.example.com; dmarc=pass"] {
            let mut s = imap_spec();
            s.authentication_results = Some(bad.to_owned());
            let (k, m) = s.check("box", root.path()).unwrap_err();
            assert_eq!(k, "mailboxes.box.authentication_results");
            assert!(m.contains("authserv-id"), "{m}");
        }
        let mut s = imap_spec();
        s.authentication_results = Some(" MX.Example.com ".to_owned());
        let mb = s.check("box", root.path()).unwrap();
        assert_eq!(mb.authentication_results.as_deref(), Some("mx.example.com"));
        let mut s = imap_spec();
        s.path = Some("mail".to_owned());
        assert_eq!(key(s), "mailboxes.box.path");
        let mut s = imap_spec();
        s.failed_folder = Some("Processed".to_owned());
        assert_eq!(key(s), "mailboxes.box.failed_folder");
        let mut s = imap_spec();
        s.folder = Some("a*".to_owned());
        assert_eq!(key(s), "mailboxes.box.folder");
        let mut s = imap_spec();
        s.token_file = Some("secret.txt".to_owned());
        assert_eq!(key(s), "mailboxes.box.token_file");
        let mut s = imap_spec();
        s.ca_file = Some("secret.txt".to_owned());
        let (k, m) = s.check("box", root.path()).unwrap_err();
        assert_eq!(k, "mailboxes.box.ca_file");
        assert!(m.contains("no PEM certificate"), "{m}");
    }

    #[test]
    fn xoauth2_needs_a_token_source() {
        let root = root_with_password();
        let mut s = imap_spec();
        s.password_file = None;
        s.auth = Some(AuthKind::Xoauth2);
        assert_eq!(
            s.check("b", root.path()).unwrap_err().0,
            "mailboxes.b.token_command"
        );
        s.token_command = Some(vec![
            "/usr/bin/get-token".to_owned(),
            "--client-secret".to_owned(),
            "s3cr3t".to_owned(),
        ]);
        let mb = s.check("b", root.path()).unwrap();
        let debug = format!("{mb:?}");
        assert!(debug.contains("get-token"), "{debug}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(
            mb.describe().ends_with("(TLS, XOAUTH2)"),
            "{}",
            mb.describe()
        );
        s.token_command = Some(vec![String::new()]);
        assert!(s.check("b", root.path()).is_err());
        s.token_command = None;
        s.token_file = Some("secret.txt".to_owned());
        assert!(s.check("b", root.path()).is_ok());
        s.password_env = Some("X".to_owned());
        assert_eq!(
            s.check("b", root.path()).unwrap_err().0,
            "mailboxes.b.password_env"
        );
    }

    #[test]
    fn maildir_takes_a_path_and_no_server_keys() {
        let root = tempfile::tempdir().unwrap();
        let spec = MailboxSpec {
            kind: Some(MailboxKind::Maildir),
            path: Some("var/mail".to_owned()),
            ..MailboxSpec::default()
        };
        let mb = spec.check("local", root.path()).unwrap();
        match &mb.source {
            MailboxSource::Maildir(p) => assert_eq!(p, &root.path().join("var/mail")),
            other => panic!("{other:?}"),
        }
        let mut bad = spec.clone();
        bad.host = Some("x".to_owned());
        assert_eq!(
            bad.check("local", root.path()).unwrap_err().0,
            "mailboxes.local.host"
        );
        let mut bad = spec;
        bad.path = None;
        assert_eq!(
            bad.check("local", root.path()).unwrap_err().0,
            "mailboxes.local.path"
        );
    }

    #[test]
    fn toml_refuses_unknown_keys() {
        let text = "kind = \"imap\"\nhost = \"h\"\npasword_env = \"X\"\n";
        let err = toml::from_str::<MailboxSpec>(text).unwrap_err();
        assert!(err.to_string().contains("pasword_env"), "{err}");
        let spec: MailboxSpec = toml::from_str(
            "kind = \"maildir\"\npath = \"/srv/mail\"\nafter = \"flag\"\nmax_parts = 10\n",
        )
        .unwrap();
        let mb = spec.check("m", Path::new("/")).unwrap();
        assert_eq!(mb.after, After::Flag);
        assert_eq!(mb.limits.max_parts, 10);
        let rule: MailRuleSpec = toml::from_str("mailbox = \"m\"\n").unwrap();
        assert_eq!(rule.attachments, vec!["*".to_owned()]);
        assert!(toml::from_str::<MailRuleSpec>("mailbox = \"m\"\nsender = []\n").is_err());
    }

    fn rule(senders: &[&str], subject: Option<&str>, attachments: &[&str]) -> MailRule {
        MailRuleSpec {
            mailbox: "statements".to_owned(),
            senders: senders.iter().map(|s| s.to_string()).collect(),
            subject: subject.map(str::to_owned),
            attachments: attachments.iter().map(|s| s.to_string()).collect(),
        }
        .check()
        .unwrap()
    }

    #[test]
    fn senders_by_address_and_domain() {
        let r = rule(&["Ops@Bank.example", "@custodian.example"], None, &["*"]);
        assert_eq!(r.mailbox(), "statements");
        for (from, ok) in [
            ("ops@bank.example", true),
            ("OPS@BANK.EXAMPLE", true),
            ("<ops@bank.example>", true),
            ("other@bank.example", false),
            ("ops@bank.example.evil", false),
            ("anyone@custodian.example", true),
            ("anyone@CUSTODIAN.example", true),
            ("x@sub.custodian.example", false),
            ("x@evilcustodian.example", false),
            ("custodian.example", false),
            ("@custodian.example", false),
            ("", false),
        ] {
            assert_eq!(r.sender_allowed(from), ok, "{from}");
        }
        let nobody = rule(&[], None, &["*"]);
        assert!(!nobody.sender_allowed("ops@bank.example"));
    }

    #[test]
    fn bad_rules_name_the_key() {
        let check = |senders: &[&str], subject: Option<&str>, attachments: &[&str]| {
            MailRuleSpec {
                mailbox: "m".to_owned(),
                senders: senders.iter().map(|s| s.to_string()).collect(),
                subject: subject.map(str::to_owned),
                attachments: attachments.iter().map(|s| s.to_string()).collect(),
            }
            .check()
            .map(|_| ())
            .map_err(|e| e.0)
        };
        assert_eq!(
            check(&["ok@x.example", "not an address"], None, &["*"]),
            Err("mail.senders[1]".to_owned())
        );
        assert_eq!(
            check(&["@"], None, &["*"]),
            Err("mail.senders[0]".to_owned())
        );
        assert_eq!(
            check(&["a@b@c"], None, &["*"]),
            Err("mail.senders[0]".to_owned())
        );
        assert_eq!(
            check(&[], Some("(unclosed"), &["*"]),
            Err("mail.subject".to_owned())
        );
        assert_eq!(check(&[], None, &[]), Err("mail.attachments".to_owned()));
        assert_eq!(
            check(&[], None, &["[z-a]"]),
            Err("mail.attachments[0]".to_owned())
        );
        let empty_mailbox = MailRuleSpec::default().check().unwrap_err();
        assert_eq!(empty_mailbox.0, "mail.mailbox");
    }

    #[test]
    fn subject_and_attachment_patterns() {
        let r = rule(
            &[],
            Some("(?i)statement \\d{4}"),
            &["*.sta", "camt053_*.XML"],
        );
        assert!(r.subject_matches("Fwd: Daily STATEMENT 2026-11-27"));
        assert!(!r.subject_matches("Invoice 2026"));
        assert!(r.wants_attachment("may.sta"));
        assert!(r.wants_attachment("MAY.STA"));
        assert!(r.wants_attachment("camt053_20261127.xml"));
        assert!(!r.wants_attachment("camt054_20261127.xml"));
        assert!(!r.wants_attachment("may.sta.exe"));
        let any = rule(&[], None, &["*"]);
        assert!(any.subject_matches(""));
        assert!(any.wants_attachment("anything.bin"));
        let strict = rule(&[], Some("^Statement$"), &["*"]);
        assert!(!strict.subject_matches("statement"));
    }
}
