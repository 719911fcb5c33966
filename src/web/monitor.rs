//! For monitoring: `/healthz` (the process answers), `/readyz` (the store can be read and the
//! daemon's tasks are alive) and `/metrics` (Prometheus text, drawn by `metrics.rs`). None of
//! them needs a login; `/metrics` asks for a bearer token when `[http] metrics_token_file` is
//! set.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tracing::{error, warn};

use super::metrics::{self, Figures};
use super::{AppState, Beats};
use crate::config::Config;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 "ready" when the store answers a read and every task shows life; else 503 with one line
/// per part that is not ready, so the person paged knows where to look.
async fn readyz(State(console): State<AppState>) -> Response {
    let mut problems = Vec::new();
    let config = console.daemon.config();
    // A connection of its own, opened afresh: a kept one could go on answering from its cache
    // of a file that has since been damaged or replaced.
    let path = config.settings.store_path.clone();
    let read = tokio::task::spawn_blocking(move || {
        // A probe never creates a store where the file has gone.
        if !path.exists() {
            return Err(crate::store::StoreError::Other(format!(
                "{} is missing",
                path.display()
            )));
        }
        let mut store = crate::store::open_for_reading(&path)?;
        crate::store::in_read(store.as_mut(), |u| u.recent_runs(1))
    })
    .await;
    match read {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => problems.push(format!("store: cannot be read: {e}")),
        Err(e) => problems.push(format!("store: the read panicked: {e}")),
    }
    problems.extend(not_ready(
        &config,
        &console.daemon.beats(),
        Utc::now().timestamp_millis(),
    ));
    if problems.is_empty() {
        return (StatusCode::OK, text(), "ready\n").into_response();
    }
    let mut body = String::from("not ready\n");
    for p in &problems {
        body.push_str(p);
        body.push('\n');
    }
    (StatusCode::SERVICE_UNAVAILABLE, text(), body).into_response()
}

fn text() -> [(header::HeaderName, HeaderValue); 1] {
    [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    )]
}

/// How long a task may go without a sign of life before it counts as stuck: the scanner turns
/// every rescan interval, the scheduler at least every 30 s, a mailbox reader every poll.
fn scanner_stale_after(config: &Config) -> Duration {
    config
        .settings
        .rescan_interval
        .saturating_mul(10)
        .max(Duration::from_secs(60))
}
const SCHEDULER_STALE_AFTER: Duration = Duration::from_secs(120);
fn mailbox_stale_after(poll: Duration) -> Duration {
    poll.saturating_mul(3) + Duration::from_secs(60)
}

/// The daemon's parts that are not ready, one line each (the store aside: it is read apart).
pub(super) fn not_ready(config: &Config, beats: &Beats, now_ms: i64) -> Vec<String> {
    let mut out = Vec::new();
    for task in &beats.tasks_ended {
        out.push(format!("{task}: the task has ended; see clerk's log"));
    }
    // A beat is late when it is older than `stale`; before the first one, the daemon's start
    // stands in for it (a task just started is not late).
    let late = |beat: Option<i64>, stale: Duration| -> Option<Duration> {
        let since = beat.or(beats.started_at)?;
        let age = Duration::from_millis(now_ms.saturating_sub(since).max(0) as u64);
        (age > stale).then_some(age)
    };
    let watches = config.jobs.iter().any(|j| j.watch.is_some());
    if watches
        && beats.scanner != Some(i64::MAX)
        && let Some(age) = late(beats.scanner, scanner_stale_after(config))
    {
        out.push(format!(
            "scanner: no pass over the folders for {}s (every {}ms expected)",
            age.as_secs(),
            config.settings.rescan_interval.as_millis()
        ));
    }
    if config.jobs.iter().any(|j| j.schedule.is_some())
        && let Some(age) = late(beats.scheduler, SCHEDULER_STALE_AFTER)
    {
        out.push(format!(
            "scheduler: no tick for {}s (at least every 30s expected)",
            age.as_secs()
        ));
    }
    for (name, beat) in &beats.mailboxes {
        let Some(mb) = config.mailboxes.get(name) else {
            continue;
        };
        if let Some(age) = late(*beat, mailbox_stale_after(mb.poll_interval)) {
            out.push(format!(
                "mailbox {name}: no completed poll for {}s (every {}s expected)",
                age.as_secs(),
                mb.poll_interval.as_secs().max(1)
            ));
        }
    }
    out
}

/// The Prometheus text exposition, counted at scrape time from one read of the store.
async fn metrics_page(State(console): State<AppState>, headers: HeaderMap) -> Response {
    let config = console.daemon.config();
    if let Some(file) = &config.http.metrics_token_file {
        match allowed(file, &headers).await {
            Ok(true) => {}
            Ok(false) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer realm=\"clerk metrics\"")],
                    "a bearer token is needed for /metrics\n",
                )
                    .into_response();
            }
            Err(e) => {
                // Refuse rather than serve openly: the token was meant to guard it.
                error!(file = %file.display(), error = %e, "cannot read [http] metrics_token_file; /metrics refused");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the metrics token file cannot be read; see clerk's log\n",
                )
                    .into_response();
            }
        }
    }
    let counting = crate::jobs::summary::break_counting(&config, Utc::now());
    let figures = console
        .db
        .read(move |u| {
            Ok(Figures {
                totals: u.totals()?,
                activity: u.activity_since(chrono::DateTime::<Utc>::UNIX_EPOCH, &counting)?,
                store: u.monitoring()?,
                store_ok: true,
            })
        })
        .await;
    let figures = match figures {
        Ok(f) => f,
        Err(e) => {
            // The daemon's beats are still worth a scrape: `clerk_store_up 0` is the news.
            warn!(error = %e, "/metrics: the store cannot be read");
            Figures::default()
        }
    };
    let now = Utc::now();
    let beats = console.daemon.beats();
    let tasks_ready = not_ready(&config, &beats, now.timestamp_millis()).is_empty();
    let body = metrics::render(&config, &figures, &beats, tasks_ready, now);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Whether the request carries the token of `file` (read at each scrape, so a rotated token
/// takes effect without a restart). Compared in constant time on the two digests.
async fn allowed(file: &std::path::Path, headers: &HeaderMap) -> std::io::Result<bool> {
    let token = tokio::fs::read_to_string(file).await?;
    let token = token.trim();
    if token.is_empty() {
        return Err(std::io::Error::other("the file is empty"));
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    Ok(same_secret(given, token))
}

/// Equal without the time taken telling how much of the secret was right: both sides are
/// hashed first (same length), then every byte is compared.
fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let diff = a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The shipped ledger import and bank reconciliation (watched folders), and a mailbox
    /// polled every 10 s.
    fn config() -> Config {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(
            root.join("config/clerk.toml"),
            "[daemon]\njobs = \"jobs\"\nstate = \"var\"\nrescan_interval = \"2s\"\n\
             [mailboxes.back-office]\nkind = \"maildir\"\npath = \"var/mail\"\n\
             poll_interval = \"10s\"\n",
        )
        .unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
        for job in ["bank-reconciliation", "ledger-import"] {
            std::fs::copy(
                shipped.join(format!("{job}.toml")),
                root.join(format!("jobs/{job}.toml")),
            )
            .unwrap();
        }
        crate::config::load(&root.join("config/clerk.toml")).unwrap()
    }

    #[test]
    fn each_part_not_ready_is_named_on_a_line_of_its_own() {
        let c = config();
        let now = 1_800_000_000_000;
        let fresh = Beats {
            scanner: Some(now - 1_000),
            worker: None,
            scheduler: None,
            mailboxes: vec![("back-office".into(), Some(now - 5_000))],
            tasks_alive: true,
            tasks_ended: Vec::new(),
            started_at: Some(now - 3_600_000),
        };
        assert_eq!(not_ready(&c, &fresh, now), Vec::<String>::new());
        // Just started: no beat yet is not late.
        let starting = Beats {
            scanner: None,
            mailboxes: vec![("back-office".into(), None)],
            started_at: Some(now - 1_000),
            ..fresh.clone()
        };
        assert_eq!(not_ready(&c, &starting, now), Vec::<String>::new());
        // The scanner silent for 10 minutes (a hung share), the mailbox never polled in an
        // hour, the worker gone.
        let stuck = Beats {
            scanner: Some(now - 600_000),
            mailboxes: vec![("back-office".into(), None)],
            tasks_alive: false,
            tasks_ended: vec!["worker".into()],
            ..fresh
        };
        let lines = not_ready(&c, &stuck, now);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("worker: "), "{lines:?}");
        assert!(
            lines[1].starts_with("scanner: no pass over the folders for 600s"),
            "{lines:?}"
        );
        assert!(lines[2].starts_with("mailbox back-office: "), "{lines:?}");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("", "s3cret"));
    }
}
