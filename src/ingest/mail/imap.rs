//! One IMAP folder over tokio (async-imap): connect with TLS or STARTTLS, log in, list the
//! UIDs after a cursor, fetch bodies without marking them seen, move or flag finished
//! messages, and wait for new mail with IDLE.
//!
//! Every step (TCP connect, TLS handshake, greeting, STARTTLS, login, each command) runs under
//! the mailbox's `timeout`; fetching a body gets one more second per 256 KB the server
//! announced. A step that times out or loses the connection leaves the session broken: every
//! later call fails at once with a transient error, and the caller connects afresh.
//!
//! **Invariant:** the password or token is written only inside the login step, which runs with
//! logging switched off: async-imap logs every command it writes at TRACE (through the `log`
//! crate, which clerk's subscriber receives), LOGIN and AUTHENTICATE's answer included.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::error::Error as ImapError;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Capability, Fetch, Flag, UnsolicitedResponse};
use async_imap::{Authenticator, Client, Session};
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::Finish;
use super::config::{After, ImapAuth, ImapSettings, Mailbox, MailboxSource, Security, TokenSource};
use super::maildir::MaildirBox;
use crate::secret::Secret;

/// The keyword `after = "flag"` sets on a processed message.
pub const PROCESSED_KEYWORD: &str = "$ClerkProcessed";
/// The keyword `after = "flag"` sets on a message that failed.
pub const FAILED_KEYWORD: &str = "$ClerkFailed";
/// RFC 2177: servers may drop an IDLE after 30 minutes; clerk re-issues it before.
const IDLE_REISSUE: Duration = Duration::from_secs(28 * 60);
/// LOGOUT is a courtesy: it gets this long at most.
const LOGOUT_GRACE: Duration = Duration::from_secs(5);
/// Extra time for fetching a body: one second per this many bytes announced.
const FETCH_BYTES_PER_SECOND: u64 = 256 * 1024;

/// Why a mailbox could not be read. [`MailboxError::is_transient`] says whether trying again
/// later (with a fresh connection) may help.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("mailbox settings: {0}")]
    Settings(String),
    #[error("cannot connect to IMAP server {server}: {detail}")]
    Connect { server: String, detail: String },
    #[error("TLS with IMAP server {server} failed: {detail}")]
    Tls { server: String, detail: String },
    #[error(
        "IMAP server {server} refused STARTTLS ({reply}), which the settings require; nothing \
         was sent in clear text"
    )]
    StartTlsRefused { server: String, reply: String },
    #[error("IMAP server {server} refused the login of {username:?}: {reply}")]
    Auth {
        server: String,
        username: String,
        reply: String,
    },
    #[error("cannot get an OAuth 2 access token: {0}")]
    Token(String),
    #[error("IMAP server {server}: folder {folder:?}: {reply}")]
    Folder {
        server: String,
        folder: String,
        reply: String,
    },
    #[error("IMAP server {server} refused {stage}: {reply}")]
    Refused {
        server: String,
        stage: String,
        reply: String,
    },
    #[error("IMAP exchange with {server} broke off during {stage}: {detail}")]
    Protocol {
        server: String,
        stage: String,
        detail: String,
    },
    #[error("IMAP server {server} did not answer within {timeout:?} (during {stage})")]
    Timeout {
        server: String,
        stage: String,
        timeout: Duration,
    },
    #[error(
        "message UID {uid} is {size} bytes, more than the limit of {max} (max_message_mb); it \
         was not downloaded"
    )]
    TooLarge { uid: u32, size: u64, max: u64 },
    #[error("maildir: {0}")]
    Io(#[from] io::Error),
}

impl MailboxError {
    /// Network trouble, timeouts, a lost connection, a token service that did not answer and
    /// the server's "[UNAVAILABLE]"/"[INUSE]" replies may pass; bad settings, certificates,
    /// credentials and messages over the limit need a person.
    pub fn is_transient(&self) -> bool {
        match self {
            MailboxError::Connect { .. }
            | MailboxError::Protocol { .. }
            | MailboxError::Timeout { .. }
            | MailboxError::Token(_) => true,
            MailboxError::Auth { reply, .. }
            | MailboxError::Folder { reply, .. }
            | MailboxError::Refused { reply, .. } => {
                let r = reply.to_ascii_uppercase();
                r.contains("UNAVAILABLE") || r.contains("INUSE") || r.contains("SERVERBUG")
            }
            MailboxError::Io(e) => !matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
            ),
            MailboxError::Settings(_)
            | MailboxError::Tls { .. }
            | MailboxError::StartTlsRefused { .. }
            | MailboxError::TooLarge { .. } => false,
        }
    }
}

/// The connection: clear text (loopback only, or before STARTTLS) or TLS.
#[derive(Debug)]
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in connection to one IMAP folder.
pub struct ImapSession {
    /// `None` once broken (a timeout or a lost connection mid-command): the protocol state is
    /// unknown, so nothing more is said on it.
    session: Option<Session<Conn>>,
    settings: ImapSettings,
    after: After,
    processed_folder: String,
    failed_folder: String,
    poll_interval: Duration,
    timeout: Duration,
    /// As the server announced them after login.
    capabilities: Vec<String>,
    /// Messages in the folder at the last SELECT, for the health check.
    exists: u32,
}

impl fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSession")
            .field("server", &self.settings.server())
            .field("username", &self.settings.username)
            .field("folder", &self.settings.folder)
            .field("connected", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// Runs one command on the live session under the step timeout; a timeout or a lost
/// connection marks the session broken.
macro_rules! step {
    ($this:expr, $stage:expr, $limit:expr, $s:ident => $call:expr) => {{
        let limit = $limit;
        let result = match $this.session.as_mut() {
            None => None,
            Some($s) => Some(timeout(limit, $call).await),
        };
        $this.settle($stage, limit, result)
    }};
    ($this:expr, $stage:expr, $s:ident => $call:expr) => {
        step!($this, $stage, $this.timeout, $s => $call)
    };
}

impl ImapSession {
    /// Connects, secures and logs in. For `auth = "xoauth2"` a fresh token is fetched first.
    pub async fn connect(mb: &Mailbox) -> Result<ImapSession, MailboxError> {
        let MailboxSource::Imap(settings) = &mb.source else {
            return Err(MailboxError::Settings(format!(
                "mailbox {} is not an IMAP mailbox",
                mb.name
            )));
        };
        let s = settings.as_ref();
        let server = s.server();
        let limit = mb.timeout;
        let timed_out = |stage: &str| MailboxError::Timeout {
            server: server.clone(),
            stage: stage.to_owned(),
            timeout: limit,
        };

        // The password or token, read now (before connecting: without it a login is
        // pointless), so a changed password file is used at the next connection.
        let secret = match &s.auth {
            ImapAuth::Password(source) => source
                .read()
                .map_err(|e| MailboxError::Settings(format!("the IMAP password: {e}")))?,
            ImapAuth::Xoauth2(source) => fresh_token(source, limit).await?,
        };

        let tcp = timeout(limit, TcpStream::connect((s.host.as_str(), s.port)))
            .await
            .map_err(|_| timed_out("connect"))?
            .map_err(|e| MailboxError::Connect {
                server: server.clone(),
                detail: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        let conn = match s.security {
            Security::Tls => Conn::Tls(Box::new(tls_handshake(s, tcp, limit).await?)),
            Security::Starttls | Security::None => Conn::Plain(tcp),
        };
        let mut client = Client::new(conn);
        let greeting = timeout(limit, client.read_response())
            .await
            .map_err(|_| timed_out("greeting"))?;
        match greeting {
            Ok(Some(response)) => match response.parsed() {
                Response::Data {
                    status: Status::Ok | Status::PreAuth,
                    ..
                } => {}
                other => {
                    return Err(MailboxError::Connect {
                        server,
                        detail: format!("unexpected greeting: {other:?}"),
                    });
                }
            },
            Ok(None) => {
                return Err(MailboxError::Connect {
                    server,
                    detail: "the server closed the connection before greeting".to_owned(),
                });
            }
            Err(e) => {
                return Err(tls_or_connect(s.security, &server, e));
            }
        }

        if s.security == Security::Starttls {
            match timeout(limit, client.run_command_and_check_ok("STARTTLS", None)).await {
                Err(_) => return Err(timed_out("STARTTLS")),
                Ok(Err(ImapError::No(reply) | ImapError::Bad(reply))) => {
                    return Err(MailboxError::StartTlsRefused { server, reply });
                }
                Ok(Err(e)) => {
                    return Err(MailboxError::Protocol {
                        server,
                        stage: "STARTTLS".to_owned(),
                        detail: e.to_string(),
                    });
                }
                Ok(Ok(())) => {}
            }
            // Anything the server sent after its OK is dropped with the old client: an
            // attacker cannot slip clear-text responses into the TLS session.
            let Conn::Plain(tcp) = client.into_inner() else {
                unreachable!("STARTTLS starts from a plain connection")
            };
            let tls = tls_handshake(s, tcp, limit).await?;
            client = Client::new(Conn::Tls(Box::new(tls)));
        }

        let session = login(client, s, &secret, limit, &server).await?;
        let mut this = ImapSession {
            session: Some(session),
            settings: s.clone(),
            after: mb.after,
            processed_folder: mb.processed_folder.clone(),
            failed_folder: mb.failed_folder.clone(),
            poll_interval: mb.poll_interval,
            timeout: limit,
            capabilities: Vec::new(),
            exists: 0,
        };
        let caps = step!(this, "CAPABILITY", s => s.capabilities())?;
        let mut names: Vec<String> = caps
            .iter()
            .map(|c| match c {
                Capability::Imap4rev1 => "IMAP4rev1".to_owned(),
                Capability::Auth(a) => format!("AUTH={a}"),
                Capability::Atom(a) => a.clone(),
            })
            .collect();
        names.sort();
        this.capabilities = names;
        tracing::debug!(
            server = %this.settings.server(),
            username = %this.settings.username,
            "IMAP session open"
        );
        Ok(this)
    }

    /// Selects the configured folder and returns its UIDVALIDITY; with `after = "move"` creates
    /// the processed and failed folders if they are missing. With `after = "flag"` the folder
    /// must keep new keywords (`\*` in PERMANENTFLAGS), or clerk could not mark what it did.
    pub async fn select(&mut self) -> Result<u32, MailboxError> {
        if self.after == After::Move {
            for folder in [self.processed_folder.clone(), self.failed_folder.clone()] {
                self.ensure_folder(&folder).await?;
            }
        }
        let name = mutf7(&self.settings.folder);
        let mailbox = step!(self, "SELECT", s => s.select(&name))
            .map_err(|e| self.folder_error(&self.settings.folder, e))?;
        self.exists = mailbox.exists;
        let keywords_allowed = mailbox.permanent_flags.iter().any(|f| {
            matches!(f, Flag::MayCreate)
                || matches!(f, Flag::Custom(k) if k == PROCESSED_KEYWORD || k == FAILED_KEYWORD)
        });
        if self.after == After::Flag && !keywords_allowed {
            return Err(MailboxError::Folder {
                server: self.settings.server(),
                folder: self.settings.folder.clone(),
                reply: format!(
                    "the server does not keep new keywords here (no \\* in PERMANENTFLAGS), so \
                     after = \"flag\" cannot mark messages {PROCESSED_KEYWORD}; use after = \"move\""
                ),
            });
        }
        mailbox.uid_validity.ok_or_else(|| MailboxError::Protocol {
            server: self.settings.server(),
            stage: "SELECT".to_owned(),
            detail: "the server sent no UIDVALIDITY".to_owned(),
        })
    }

    /// The UIDs greater than `uid`, ascending, of messages not flagged by clerk. (`UID n:*`
    /// always matches the last message, even when its UID is below `n`: it is filtered out.)
    pub async fn uids_after(&mut self, uid: u32) -> Result<Vec<u32>, MailboxError> {
        let Some(first) = uid.checked_add(1) else {
            return Ok(Vec::new());
        };
        let query =
            format!("UID {first}:* UNKEYWORD {PROCESSED_KEYWORD} UNKEYWORD {FAILED_KEYWORD}");
        // This search sees every message announced so far.
        self.heard_of_new_mail();
        let found: HashSet<u32> = step!(self, "UID SEARCH", s => s.uid_search(&query))?;
        if found.is_empty() {
            self.confirm_alive("UID SEARCH").await?;
        }
        let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > uid).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The raw message, fetched with `BODY.PEEK[]` (so `\Seen` is not set). `None` if no
    /// message has this UID any more. A message whose announced size (RFC822.SIZE) is over
    /// `max_bytes` is refused ([`MailboxError::TooLarge`]) without being downloaded.
    pub async fn fetch(
        &mut self,
        uid: u32,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, MailboxError> {
        let set = uid.to_string();
        let meta: Vec<Fetch> = step!(self, "UID FETCH RFC822.SIZE", s => async {
            s.uid_fetch(&set, "(UID RFC822.SIZE)").await?.try_collect().await
        })?;
        let Some(size) = meta.iter().find(|f| f.uid == Some(uid)).map(|f| f.size) else {
            self.confirm_alive("UID FETCH RFC822.SIZE").await?;
            return Ok(None);
        };
        let size = u64::from(size.unwrap_or(0));
        if size > max_bytes {
            return Err(MailboxError::TooLarge {
                uid,
                size,
                max: max_bytes,
            });
        }
        let limit = self.timeout + Duration::from_secs(size / FETCH_BYTES_PER_SECOND);
        let bodies: Vec<Fetch> = step!(self, "UID FETCH BODY.PEEK[]", limit, s => async {
            s.uid_fetch(&set, "(UID BODY.PEEK[])").await?.try_collect().await
        })?;
        let Some(body) = bodies
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
        else {
            return Ok(None);
        };
        if body.len() as u64 > max_bytes {
            return Err(MailboxError::TooLarge {
                uid,
                size: body.len() as u64,
                max: max_bytes,
            });
        }
        Ok(Some(body.to_vec()))
    }

    /// Puts a finished message away: with `after = "move"` into the processed or failed folder
    /// (MOVE; without it COPY, `\Deleted` and UID EXPUNGE), with `after = "flag"` by adding
    /// `$ClerkProcessed` or `$ClerkFailed`. A message already gone is not an error.
    ///
    /// Without MOVE and UIDPLUS the original is flagged `\Deleted` but not expunged: a plain
    /// EXPUNGE would also remove what others marked deleted.
    pub async fn finish(&mut self, uid: u32, outcome: Finish) -> Result<(), MailboxError> {
        let set = uid.to_string();
        match self.after {
            After::Flag => {
                let keyword = match outcome {
                    Finish::Processed => PROCESSED_KEYWORD,
                    Finish::Failed => FAILED_KEYWORD,
                };
                let query = format!("+FLAGS.SILENT ({keyword})");
                step!(self, "UID STORE", s => async {
                    s.uid_store(&set, &query).await?.try_collect::<Vec<_>>().await
                })?;
                self.confirm_alive("UID STORE").await?;
            }
            After::Move => {
                let folder = match outcome {
                    Finish::Processed => mutf7(&self.processed_folder),
                    Finish::Failed => mutf7(&self.failed_folder),
                };
                if self.has_capability("MOVE") {
                    step!(self, "UID MOVE", s => s.uid_mv(&set, &folder))?;
                } else {
                    step!(self, "UID COPY", s => s.uid_copy(&set, &folder))?;
                    step!(self, "UID STORE", s => async {
                        s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect::<Vec<_>>().await
                    })?;
                    self.confirm_alive("UID STORE").await?;
                    if self.has_capability("UIDPLUS") {
                        step!(self, "UID EXPUNGE", s => async {
                            s.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
                        })?;
                        self.confirm_alive("UID EXPUNGE").await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits for new mail, at most `max`: with IDLE when the server offers it and `idle` is on
    /// (re-issued every 28 minutes), else by sleeping `poll_interval` (at most `max`) and a
    /// NOOP. Returns early on any change the server reports (new mail, a flag changed, a
    /// message removed); the caller looks with [`ImapSession::uids_after`].
    pub async fn wait(&mut self, max: Duration) -> Result<(), MailboxError> {
        if self.heard_of_new_mail() {
            return Ok(());
        }
        if !(self.settings.idle && self.has_capability("IDLE")) {
            tokio::time::sleep(self.poll_interval.min(max)).await;
            self.confirm_alive("the poll interval").await?;
            return Ok(());
        }
        let end = Instant::now() + max;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            let slice = left.min(IDLE_REISSUE);
            let session = self.session.take().ok_or_else(|| self.lost("IDLE"))?;
            let mut handle = session.idle();
            match timeout(self.timeout, handle.init()).await {
                Err(_) => return Err(self.timed_out("IDLE", self.timeout)),
                Ok(Err(e)) => return Err(self.classify("IDLE", e)),
                Ok(Ok(())) => {}
            }
            let outcome = {
                let (wait, stop) = handle.wait_with_timeout(slice);
                let outcome = wait.await;
                drop(stop);
                outcome
            };
            let session = match timeout(self.timeout, handle.done()).await {
                Err(_) => return Err(self.timed_out("IDLE DONE", self.timeout)),
                Ok(Err(e)) => return Err(self.classify("IDLE DONE", e)),
                Ok(Ok(session)) => session,
            };
            self.session = Some(session);
            // What arrived during the IDLE is reported by returning now.
            self.heard_of_new_mail();
            use async_imap::extensions::idle::IdleResponse;
            match outcome {
                Ok(IdleResponse::NewData(_)) => return Ok(()),
                // Stopped by the slice: re-issue, or return at `max`.
                Ok(IdleResponse::Timeout) => continue,
                Ok(IdleResponse::ManualInterrupt) => return Ok(()),
                Err(e) => return Err(self.classify("IDLE", e)),
            }
        }
    }

    /// The server's capabilities after login (`IMAP4rev1`, `IDLE`, `MOVE`, `AUTH=PLAIN`, ...).
    pub fn capabilities(&self) -> Vec<String> {
        self.capabilities.clone()
    }

    /// Says goodbye (LOGOUT, briefly) and closes the connection.
    pub async fn logout(mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = timeout(LOGOUT_GRACE.min(self.timeout), s.logout()).await;
        }
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Whether the server announced new messages (EXISTS) during earlier commands; empties the
    /// queue of such announcements.
    fn heard_of_new_mail(&mut self) -> bool {
        let Some(s) = self.session.as_mut() else {
            return false;
        };
        let mut new = false;
        while let Ok(r) = s.unsolicited_responses.try_recv() {
            if matches!(
                r,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            ) {
                new = true;
            }
        }
        new
    }

    /// A NOOP, to tell an empty answer from a lost connection: async-imap ends the responses
    /// of FETCH, SEARCH, STORE, EXPUNGE (and its own `noop()`) quietly when the connection
    /// drops, as if the server had found nothing; `run_command_and_check_ok` insists on the
    /// tagged reply and keeps what the server announces meanwhile.
    async fn confirm_alive(&mut self, after: &str) -> Result<(), MailboxError> {
        step!(self, &format!("NOOP after {after}"), s => s.run_command_and_check_ok("NOOP"))
    }

    /// Creates `folder` unless it exists, and subscribes to it so mail clients show it.
    async fn ensure_folder(&mut self, folder: &str) -> Result<(), MailboxError> {
        let name = mutf7(folder);
        let status = step!(self, "STATUS", s => s.status(&name, "(MESSAGES)"));
        match status {
            Ok(_) => return Ok(()),
            Err(MailboxError::Refused { .. }) => {}
            Err(e) => return Err(e),
        }
        match step!(self, "CREATE", s => s.create(&name)) {
            Ok(()) => {
                let _ = step!(self, "SUBSCRIBE", s => s.subscribe(&name));
                tracing::info!(server = %self.settings.server(), folder, "IMAP folder created");
                Ok(())
            }
            // Created meanwhile by another clerk or a person.
            Err(MailboxError::Refused { reply, .. })
                if reply.to_ascii_uppercase().contains("ALREADYEXISTS") =>
            {
                Ok(())
            }
            Err(e) => Err(self.folder_error(folder, e)),
        }
    }

    fn folder_error(&self, folder: &str, e: MailboxError) -> MailboxError {
        match e {
            MailboxError::Refused { reply, .. } => MailboxError::Folder {
                server: self.settings.server(),
                folder: folder.to_owned(),
                reply,
            },
            other => other,
        }
    }

    /// Turns the outcome of one step into a result; breaks the session on a timeout or a
    /// connection error.
    fn settle<T>(
        &mut self,
        stage: &str,
        limit: Duration,
        result: Option<Result<Result<T, ImapError>, tokio::time::error::Elapsed>>,
    ) -> Result<T, MailboxError> {
        match result {
            None => Err(self.lost(stage)),
            Some(Err(_)) => {
                self.session = None;
                Err(self.timed_out(stage, limit))
            }
            Some(Ok(Err(e))) => Err(self.classify(stage, e)),
            Some(Ok(Ok(value))) => Ok(value),
        }
    }

    fn classify(&mut self, stage: &str, e: ImapError) -> MailboxError {
        let server = self.settings.server();
        match e {
            ImapError::No(reply) | ImapError::Bad(reply) => MailboxError::Refused {
                server,
                stage: stage.to_owned(),
                reply,
            },
            ImapError::Validate(v) => MailboxError::Settings(format!("{stage}: {v}")),
            other => {
                self.session = None;
                let detail = match other {
                    ImapError::ConnectionLost => "the server closed the connection".to_owned(),
                    other => other.to_string(),
                };
                MailboxError::Protocol {
                    server,
                    stage: stage.to_owned(),
                    detail,
                }
            }
        }
    }

    fn timed_out(&mut self, stage: &str, limit: Duration) -> MailboxError {
        self.session = None;
        MailboxError::Timeout {
            server: self.settings.server(),
            stage: stage.to_owned(),
            timeout: limit,
        }
    }

    fn lost(&self, stage: &str) -> MailboxError {
        MailboxError::Protocol {
            server: self.settings.server(),
            stage: stage.to_owned(),
            detail: "the connection broke earlier; connect again".to_owned(),
        }
    }
}

/// For `clerk check`: an IMAP mailbox answers, TLS and login work and the folder can be
/// selected ("INBOX: 3 messages, UIDVALIDITY 1700000"); a Maildir exists or can be created
/// and can be listed.
pub async fn health_check(mb: &Mailbox) -> Result<String, MailboxError> {
    match &mb.source {
        MailboxSource::Imap(s) => {
            let mut session = ImapSession::connect(mb).await?;
            let validity = session.select().await?;
            let text = format!(
                "{}: {} messages, UIDVALIDITY {validity}",
                s.folder, session.exists
            );
            session.logout().await;
            Ok(text)
        }
        MailboxSource::Maildir(_) => {
            let mb = mb.clone();
            tokio::task::spawn_blocking(move || {
                MaildirBox::open(&mb)?
                    .describe_pending()
                    .map_err(MailboxError::Io)
            })
            .await
            .map_err(|e| MailboxError::Io(io::Error::other(e.to_string())))?
        }
    }
}

async fn tls_handshake(
    s: &ImapSettings,
    tcp: TcpStream,
    limit: Duration,
) -> Result<TlsStream<TcpStream>, MailboxError> {
    let server = s.server();
    let config: Arc<rustls::ClientConfig> = s.tls.clone().ok_or_else(|| {
        MailboxError::Settings(
            "TLS is required but the settings hold no TLS configuration".to_owned(),
        )
    })?;
    let name = ServerName::try_from(s.host.clone()).map_err(|e| {
        MailboxError::Settings(format!("{:?} is not a name TLS can check: {e}", s.host))
    })?;
    match timeout(limit, TlsConnector::from(config).connect(name, tcp)).await {
        Err(_) => Err(MailboxError::Timeout {
            server,
            stage: "TLS handshake".to_owned(),
            timeout: limit,
        }),
        Ok(Err(e)) => Err(MailboxError::Tls {
            server,
            detail: e.to_string(),
        }),
        Ok(Ok(tls)) => Ok(tls),
    }
}

/// A failed read of the greeting: over TLS, rustls's verdicts arrive as `InvalidData`.
fn tls_or_connect(security: Security, server: &str, e: io::Error) -> MailboxError {
    if security == Security::Tls && e.kind() == io::ErrorKind::InvalidData {
        MailboxError::Tls {
            server: server.to_owned(),
            detail: e.to_string(),
        }
    } else {
        MailboxError::Connect {
            server: server.to_owned(),
            detail: e.to_string(),
        }
    }
}

/// LOGIN with the password, or AUTHENTICATE XOAUTH2 with the token; logging is off meanwhile.
async fn login(
    client: Client<Conn>,
    s: &ImapSettings,
    secret: &Secret,
    limit: Duration,
    server: &str,
) -> Result<Session<Conn>, MailboxError> {
    let result = match &s.auth {
        ImapAuth::Password(_) => {
            timeout(
                limit,
                without_logs(client.login(&s.username, secret.expose())),
            )
            .await
        }
        ImapAuth::Xoauth2(_) => {
            let mut auth = XOAuth2 {
                user: &s.username,
                token: secret,
                sent: false,
            };
            timeout(
                limit,
                without_logs(client.authenticate("XOAUTH2", &mut auth)),
            )
            .await
        }
    };
    match result {
        Err(_) => Err(MailboxError::Timeout {
            server: server.to_owned(),
            stage: "login".to_owned(),
            timeout: limit,
        }),
        Ok(Ok(session)) => Ok(session),
        Ok(Err((ImapError::No(reply) | ImapError::Bad(reply), _))) => Err(MailboxError::Auth {
            server: server.to_owned(),
            username: s.username.clone(),
            reply,
        }),
        Ok(Err((ImapError::Validate(_), _))) => Err(MailboxError::Settings(
            "the username or password holds a line break".to_owned(),
        )),
        Ok(Err((e, _))) => Err(MailboxError::Protocol {
            server: server.to_owned(),
            stage: "login".to_owned(),
            detail: e.to_string(),
        }),
    }
}

/// The SASL XOAUTH2 exchange: the initial response carries user and token; if the server
/// answers with a challenge (its error, as JSON), the reply is empty, after which the server
/// sends its NO.
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a Secret,
    sent: bool,
}

impl Authenticator for &mut XOAuth2<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if self.sent {
            return Vec::new();
        }
        self.sent = true;
        xoauth2_initial_response(self.user, self.token.expose()).into_bytes()
    }
}

/// `user={user}^Aauth=Bearer {token}^A^A`, before base64 (Google's and Microsoft's
/// XOAUTH2).
pub(crate) fn xoauth2_initial_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// Runs `token_command` (no shell, under `limit`, killed when late) or reads `token_file`.
async fn fresh_token(source: &TokenSource, limit: Duration) -> Result<Secret, MailboxError> {
    let text = match source {
        TokenSource::File(path) => tokio::fs::read_to_string(path).await.map_err(|e| {
            MailboxError::Token(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?,
        TokenSource::Command(argv) => {
            let program = argv.first().map(String::as_str).unwrap_or_default();
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(&argv[1..])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            let output = match timeout(limit, cmd.output()).await {
                Err(_) => {
                    return Err(MailboxError::Token(format!(
                        "{program} did not finish within {limit:?}"
                    )));
                }
                Ok(Err(e)) => {
                    return Err(MailboxError::Token(format!("cannot run {program}: {e}")));
                }
                Ok(Ok(o)) => o,
            };
            // Its error output may hold secrets of its own: not repeated here.
            if !output.status.success() {
                return Err(MailboxError::Token(format!(
                    "{program} failed ({}); run it by hand to see why",
                    output.status
                )));
            }
            String::from_utf8(output.stdout).map_err(|_| {
                MailboxError::Token(format!("{program} printed something not UTF-8"))
            })?
        }
    };
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(MailboxError::Token("the token is empty".to_owned()));
    }
    if token.contains(|c: char| c.is_control() || c.is_whitespace()) {
        return Err(MailboxError::Token(
            "the token holds spaces or control characters".to_owned(),
        ));
    }
    Ok(Secret::new(token))
}

/// Runs `fut` with tracing switched off (and with it the `log` records that clerk's subscriber
/// bridges in): async-imap logs each command it writes at TRACE.
async fn without_logs<F: Future>(fut: F) -> F::Output {
    use tracing::instrument::WithSubscriber;
    fut.with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await
}

/// A folder name as IMAP wants it on the wire: modified UTF-7 (RFC 3501 5.1.3), so
/// `Entwürfe` becomes `Entw&APw-rfe` and `&` becomes `&-`.
pub(crate) fn mutf7(name: &str) -> String {
    fn flush(out: &mut String, pending: &mut Vec<u16>) {
        if pending.is_empty() {
            return;
        }
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    }
    let mut out = String::new();
    let mut pending = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_in_modified_utf7() {
        assert_eq!(mutf7("INBOX"), "INBOX");
        assert_eq!(mutf7("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(mutf7("R&D"), "R&-D");
        assert_eq!(mutf7("日本語"), "&ZeVnLIqe-");
        assert_eq!(
            mutf7("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
    }

    #[test]
    fn xoauth2_encoding() {
        // Google's documented example: the base64 of the initial response.
        let raw = xoauth2_initial_response(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        );
        let expected = mail_parser::decoders::base64::base64_decode(
            b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==",
        )
        .unwrap();
        assert_eq!(raw.as_bytes(), expected.as_slice());
        // Second round (the server's error challenge) is answered with nothing.
        let token = Secret::new("t");
        let mut auth = XOAuth2 {
            user: "u",
            token: &token,
            sent: false,
        };
        let mut a = &mut auth;
        assert_eq!(a.process(b""), b"user=u\x01auth=Bearer t\x01\x01");
        assert_eq!(a.process(b"{\"status\":\"401\"}"), b"");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tokens_from_files_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc.def\n").unwrap();
        let t = fresh_token(&TokenSource::File(file.clone()), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(t.expose(), "abc.def");
        std::fs::write(&file, "\n").unwrap();
        assert!(
            fresh_token(&TokenSource::File(file), Duration::from_secs(5))
                .await
                .is_err()
        );
        let cmd =
            |args: &[&str]| TokenSource::Command(args.iter().map(|s| s.to_string()).collect());
        let t = fresh_token(&cmd(&["/bin/echo", "tok-123"]), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(t.expose(), "tok-123");
        // No shell: the semicolon is an argument, not a second command.
        let t = fresh_token(
            &cmd(&["/bin/echo", "x;", "rm", "-rf"]),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(t.to_string().contains("spaces"), "{t}");
        let e = fresh_token(&cmd(&["/bin/false"]), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.is_transient());
        assert!(e.to_string().contains("/bin/false failed"), "{e}");
        let e = fresh_token(&cmd(&["/bin/sleep", "5"]), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
    }

    #[test]
    fn transient_or_not() {
        let refused = |reply: &str| MailboxError::Refused {
            server: "s".to_owned(),
            stage: "x".to_owned(),
            reply: reply.to_owned(),
        };
        assert!(refused("[UNAVAILABLE] try later").is_transient());
        assert!(!refused("[NONEXISTENT] no such folder").is_transient());
        assert!(
            !MailboxError::TooLarge {
                uid: 1,
                size: 2,
                max: 1
            }
            .is_transient()
        );
        assert!(
            MailboxError::Protocol {
                server: "s".to_owned(),
                stage: "x".to_owned(),
                detail: "lost".to_owned()
            }
            .is_transient()
        );
        assert!(
            !MailboxError::Auth {
                server: "s".to_owned(),
                username: "u".to_owned(),
                reply: "[AUTHENTICATIONFAILED] Authentication failed.".to_owned()
            }
            .is_transient()
        );
    }
}
