//! What the daemon's long-lived tasks share in how they wait: for the stop signal, with back-off
//! after a failure, and, at shutdown, for each other within the drain deadline.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use super::attempts;

/// Returns once the daemon is stopping (or the supervisor is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// The wait before trying again after a failure: 1 s, doubled after each failed try up to
/// `max`, back to 1 s after a success.
pub(super) struct Backoff {
    delay: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);

    pub(super) fn up_to(max: Duration) -> Backoff {
        Backoff {
            delay: Backoff::FIRST,
            max,
        }
    }

    /// How long the next wait is, for the log line announcing it.
    pub(super) fn delay(&self) -> Duration {
        self.delay
    }

    /// The thing worked: the next failure waits the shortest again.
    pub(super) fn reset(&mut self) {
        self.delay = Backoff::FIRST;
    }

    /// Waits before the next try, and makes the wait after it longer. `false` when the daemon
    /// stopped meanwhile.
    pub(super) async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = stopped(stop) => return false,
            _ = tokio::time::sleep(self.delay) => {}
        }
        self.delay = (self.delay * 2).min(self.max);
        true
    }
}

/// Waits for the tasks, told to stop, to end; each is waited for only until `drain_timeout`
/// from now. One still running then is left behind: its unit of work rolls back.
pub(super) async fn drain(
    tasks: impl IntoIterator<Item = (&str, JoinHandle<()>)>,
    drain_timeout: Duration,
) {
    // The configured range keeps this far from overflow; a wrap would panic mid-shutdown.
    let now = tokio::time::Instant::now();
    let deadline = now.checked_add(drain_timeout).unwrap_or(now);
    for (name, handle) in tasks {
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(task = name, error = %e, "task ended abnormally"),
            Err(_) => {
                warn!(
                    task = name,
                    "did not stop within the drain timeout; its unit of work rolls back"
                );
                // Stopped on purpose: the file's try does not count towards setting it aside.
                attempts::abandoned();
            }
        }
    }
}
