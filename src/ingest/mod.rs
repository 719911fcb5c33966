//! Ingest: finding files in watched folders and taking each exactly once.
//!
//! A folder is listed on every rescan tick and whenever `notify` reports a change; events are
//! only a hint to look sooner, because SMB/NFS shares never send them (the listing is the
//! truth). A file is taken once its size and modification time have stayed the same for the
//! settle time; taking it is a rename into the folder's hidden `.clerk-processing/` (same file
//! system, so atomic). After the store has recorded the outcome, the file moves to
//! `archive/YYYY/MM/DD/<job>/` or to `failed/<job>/` with an `.error.txt` beside it.
//!
//! **Invariant:** ingest knows folders and files, never formats, records or the store.

mod events;
mod files;
pub mod mail;
mod settle;
mod watch;

pub use events::FolderEvents;
pub use files::{
    Claimed, FailedCopy, Fingerprint, Ignored, IgnoredWhy, Listing, REPLACED_FOLDER, archive,
    claim, content_sha256, fail, failed_copies, failed_files, fingerprint, in_processing,
    leftovers, list_candidates, list_folder, printable_name, put_away_replaced, safe_name,
    stage_attachment, stage_copy,
};
pub use settle::{Ready, Seen, Settler};
pub use watch::{Watch, is_temporary_name};
