//! One long-lived thread for the units of work (a file, a mail, a scheduled run).
//!
//! They used to run on tokio's blocking pool, where each unit could land on another thread.
//! glibc's malloc gives every thread its own arena and keeps what a large run freed in that
//! arena, so after a backlog of thousands of open items had been loaded on a dozen threads
//! the daemon held 110 MB it no longer used (29 MB with one arena). Every unit runs on this
//! one thread instead: memory follows the largest unit, not the largest unit times the
//! threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

pub struct StoreThread {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl StoreThread {
    pub fn start() -> std::io::Result<StoreThread> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("clerk-work".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })?;
        Ok(StoreThread {
            jobs: Mutex::new(tx),
        })
    }

    /// Runs `f` on the work thread; a panic in it comes back as an error naming it, as a
    /// panicked blocking task would.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string())
            });
            let _ = tx.send(result);
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| "the work thread has stopped".to_string())?;
        rx.await
            .map_err(|_| "the work thread has stopped".to_string())?
            .map_err(|why| format!("panicked: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_one_thread_and_a_panic_comes_back_as_an_error() {
        let t = StoreThread::start().unwrap();
        let a = t.run(|| std::thread::current().id()).await.unwrap();
        let b = t.run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(a, b);
        assert_ne!(a, std::thread::current().id());
        let err = t.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert!(err.contains("boom"), "{err}");
        // The thread survives a panic.
        assert_eq!(t.run(|| 7).await.unwrap(), 7);
    }
}
