//! The operations console: the breaks, files, runs and jobs as web pages for the people who work
//! them, and `/healthz`, `/readyz` and `/metrics` for monitoring. Served by `clerk run` when
//! `[http] listen` is set.
//!
//! **Invariants:**
//! - Pages are drawn on the server (maud, checked at compile time; every text is escaped) and
//!   need no script. Every page but the monitoring endpoints needs a login; every change is a
//!   POST with the session's CSRF token.
//! - The console reads the store through its own read-only connections and acts through
//!   `jobs::workflow`, the same calls the command line makes, on its own connection: a long unit
//!   of work in the daemon never holds a page up, and a page never holds the work up.
//! - It knows the daemon only through [`Daemon`]: the configuration in use and the tasks' signs
//!   of life.
//! - Every answer carries the security headers, refusals included (a 404, a 413, a path that
//!   does not read); a client has [`HEADER_READ_TIMEOUT`] to send a request's headers and
//!   [`REQUEST_TIMEOUT`] to be answered; a body is at most [`MAX_FORM`] bytes.
//!
//! One file per part: `db.rs` (the connections), `auth.rs` (users, sessions, CSRF),
//! `page.rs` (the frame every page shares), `pages/` (one file per page), `monitor.rs`
//! (health and metrics; `metrics.rs` draws the Prometheus text), `error.rs`.

mod auth;
mod db;
mod error;
mod metrics;
mod monitor;
mod page;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderValue, header};
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::{error, info};

use crate::config::{Config, HttpSettings};
pub use auth::{Posted, User, hash_password};
pub use db::Db;
pub use error::WebError;

/// What the console needs of the running daemon.
pub trait Daemon: Send + Sync + 'static {
    /// The configuration in use (a reload swaps it).
    fn config(&self) -> Arc<Config>;
    /// The tasks' last signs of life.
    fn beats(&self) -> Beats;
}

/// When each task last showed it works, in Unix milliseconds (`None`: not running, or not yet).
#[derive(Debug, Clone, Default)]
pub struct Beats {
    /// The scanner's last completed pass over the folders.
    pub scanner: Option<i64>,
    /// The scheduler's last tick.
    pub scheduler: Option<i64>,
    /// The worker's last finished unit of work.
    pub worker: Option<i64>,
    /// Each mailbox reader's last completed poll, by mailbox name.
    pub mailboxes: Vec<(String, Option<i64>)>,
    /// Whether every long-lived task is still running.
    pub tasks_alive: bool,
    /// The tasks that ended while the daemon runs (empty when `tasks_alive`).
    pub tasks_ended: Vec<String>,
    /// When the daemon started: before a task's first beat is due, it is not yet late.
    pub started_at: Option<i64>,
}

/// What every request handler shares.
pub struct Console {
    pub daemon: Arc<dyn Daemon>,
    pub db: Arc<Db>,
    /// Failed logins and single sign-on users' tokens, kept in memory.
    pub auth: auth::Guard,
}

/// The state handlers take (cheap to clone).
pub type AppState = Arc<Console>;

/// The console's socket, bound before the daemon says it is ready, so a port in use stops
/// `clerk run` at once with a clear message rather than leaving a daemon without its console.
pub struct Listener {
    socket: std::net::TcpListener,
    addr: SocketAddr,
}

pub fn bind(http: &HttpSettings) -> anyhow::Result<Option<Listener>> {
    let Some(addr) = http.listen else {
        return Ok(None);
    };
    let socket = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} ([http] listen in clerk.toml)"))?;
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    Ok(Some(Listener { socket, addr }))
}

impl Listener {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Serves the console until `stop` turns true; open requests get a few seconds to finish.
pub async fn serve(listener: Listener, daemon: Arc<dyn Daemon>, mut stop: watch::Receiver<bool>) {
    let config = daemon.config();
    let console = Arc::new(Console {
        db: Arc::new(Db::new(config.settings.store_path.clone())),
        daemon,
        auth: auth::Guard::default(),
    });
    let tls = match &config.http.tls {
        Some(files) => match tls_config(files).await {
            Ok(tls) => Some(tls),
            Err(e) => {
                error!(error = %format!("{e:#}"), "the console's TLS certificate or key does not load; the console is off");
                return;
            }
        },
        None => None,
    };
    let app = router(console).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::<SocketAddr>::new();
    let on_stop = handle.clone();
    tokio::spawn(async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        on_stop.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(address = %listener.addr, "console at {scheme}://{}/", listener.addr);
    let served = match tls {
        Some(tls) => match axum_server::from_tcp_rustls(listener.socket, tls) {
            Ok(server) => {
                let mut server = server.first_request_timeout(HEADER_READ_TIMEOUT);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                server.handle(handle).serve(app).await
            }
            Err(e) => Err(e),
        },
        None => match axum_server::from_tcp(listener.socket) {
            Ok(server) => {
                let mut server = server.first_request_timeout(HEADER_READ_TIMEOUT);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                server.handle(handle).serve(app).await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        error!(error = %e, "the console stopped");
    }
}

/// How long a new connection may take to send its first request, and any request its headers,
/// before it is closed. Without it (axum-server turns hyper's off) a client that opens
/// connections and never finishes a request holds each open for ever, until the daemon runs
/// out of file descriptors, for the console and for the folders and the store alike.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request may take, from its headers to the answer's headers (a download's bytes
/// are sent after, without this limit).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request body taken, in bytes.
pub const MAX_FORM: usize = 64 * 1024;

/// Every route, with the headers every response carries.
fn router(console: AppState) -> Router {
    Router::new()
        .merge(monitor::routes())
        .merge(auth::routes())
        .merge(pages::routes())
        // Forms are small; nothing a person types needs more. Innermost, so its 413 passes
        // through the header layers below like every other answer (outermost, it answered
        // without the Content-Security-Policy and nosniff).
        // A request is answered within this, its body read included: a client that sends a
        // form's body a byte now and then must not hold its connection (and a task) for ever.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_FORM))
        .layer(axum::middleware::map_response(error::plain_refusals))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(console)
}

/// The certificate chain and key of `[http] tls`, with the ring provider the rest of clerk
/// uses (a second provider in the process would make rustls panic).
async fn tls_config(
    files: &crate::config::TlsFiles,
) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading the certificate {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading the certificate {}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the key {}", files.key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(
        Arc::new(config),
    ))
}
