//! The corpus check: reads every public sample in `../shared/corpus/` for the formats clerk
//! reads and compares what clerk reads with the other projects' parsed output where it
//! exists. Prints an agreement table per source. Fails on any disagreement that is not in the
//! explained list of its family module. Without `../shared` (a user's machine) it says so and
//! passes: the corpus is not part of the repository.
//!
//! Run: `cargo test --test corpus` (CI runs it after the other tests).

mod invoice;
mod iso20022;
mod report;
mod swift;

use std::path::PathBuf;
use std::process::ExitCode;

use report::SourceReport;

fn main() -> ExitCode {
    let corpus = std::env::var_os("CLERK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !corpus.is_dir() {
        println!(
            "corpus check: {} not found; skipped (the corpus lives beside the project, not in it)",
            corpus.display()
        );
        return ExitCode::SUCCESS;
    }
    let mut reports: Vec<SourceReport> = Vec::new();
    // Each format family adds its sources here.
    reports.extend(swift::check(&corpus));
    reports.extend(invoice::check(&corpus));
    reports.extend(iso20022::check(&corpus));
    report::print_and_judge(&reports)
}
