//! The watchdog task: tells systemd the daemon is alive while work progresses (the scanner
//! turns or the worker finishes units), and stops telling it when neither happens.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tracing::error;

use super::{Shared, now_millis, stopped};

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Some(interval) = sd_notify::watchdog_enabled().filter(|d| !d.is_zero()) else {
        return;
    };
    let usec = interval.as_micros() as u64;
    let period = interval / 2;
    // Work progresses while the scanner turns (every rescan interval, never waiting for the
    // worker) or the worker finishes units (a backlog, or a long file while a share hangs the
    // scanner). When neither has happened for a long while, something is stuck and systemd
    // should restart us.
    let stale_after = (shared.config().settings.rescan_interval.saturating_mul(10))
        .max(Duration::from_micros(usec));
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
        let progressed = shared
            .scanner_alive
            .load(Ordering::Relaxed)
            .max(shared.worker_done.load(Ordering::Relaxed));
        let age = Duration::from_millis(now_millis().saturating_sub(progressed).max(0) as u64);
        if progressed == i64::MAX || age < stale_after {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            error!(stalled_for = ?age, "neither the folder scanner nor the worker has made progress; withholding the watchdog ping");
        }
    }
}
