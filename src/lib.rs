//! clerk: a back-office automation daemon.
//!
//! A file dropped into a watched folder travels through one stage per module:
//!
//! ```text
//!  ingest ──► extract ──► reconcile ──► post ──► store ──► notify
//!  (folder)   (records)   (matches,     (journal  (SQLite)  (summary,
//!                          breaks)       entries)            alerts)
//! ```
//!
//! - [`ingest`]: watches folders (events *and* rescans), waits for files to settle, claims them
//!   atomically, archives or fails them afterwards.
//! - [`extract`]: turns a file's bytes into [`model::Record`]s (CSV, XLSX/XLS/ODS). No I/O.
//! - [`reconcile`]: pairs ledger items with statement lines under a job's rules. No I/O.
//! - [`post`]: turns a match into a balanced [`model::JournalEntry`]. No I/O.
//! - [`store`]: the only module that knows SQL; runs, files, records, entries, breaks, outbox.
//! - [`notify`]: renders the exception summary and alerts, delivers mail (SMTP or outbox folder).
//! - [`schedule`]: cron schedules in a time zone, business-day calendars.
//! - [`daemon`]: wires the stages together, owns every long-lived task and the shutdown.
//! - [`web`]: the operations console (pages, actions through `jobs::workflow`) and `/metrics`.
//! - [`jobs`]: one module per kind of job: what each takes from a file.
//! - [`config`]: the daemon's `clerk.toml` and the job files, checked before anything runs.
//! - [`cli`]: the `clerk` command.
//!
//! See `ARCHITECTURE.md` for the invariants between them.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod export;
pub mod extract;
pub mod fsx;
pub mod ingest;
pub mod jobs;
pub mod model;
pub mod notify;
pub mod post;
pub mod reconcile;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod store;
pub mod web;
