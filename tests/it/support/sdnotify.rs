//! The service manager's side of the sd_notify protocol, for tests: a unix datagram socket the
//! test binds and hands to the daemon as `NOTIFY_SOCKET`, as systemd does. Every datagram the
//! daemon sends (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, ...) is kept with the time it came.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct NotifySocket {
    _dir: TempDir,
    path: PathBuf,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    pub fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        // Ends with the test process; a daemon that is gone sends nothing more.
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                for line in text.lines() {
                    keep.lock()
                        .unwrap()
                        .push((Instant::now(), line.to_string()));
                }
            }
        });
        NotifySocket {
            _dir: dir,
            path,
            received,
        }
    }

    /// What to put into the daemon's environment as `NOTIFY_SOCKET`.
    pub fn path(&self) -> &str {
        self.path.to_str().expect("a temp path is UTF-8")
    }

    /// Every line received so far, with when it came.
    pub fn received(&self) -> Vec<(Instant, String)> {
        self.received.lock().unwrap().clone()
    }

    /// When `line` (e.g. `READY=1`) first came, waiting up to `timeout` for it.
    pub fn wait_for(&self, line: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((at, _)) = self.received().into_iter().find(|(_, l)| l == line) {
                return Some(at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The times `line` came, in order.
    pub fn times_of(&self, line: &str) -> Vec<Instant> {
        self.received()
            .into_iter()
            .filter(|(_, l)| l == line)
            .map(|(at, _)| at)
            .collect()
    }
}
