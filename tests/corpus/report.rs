//! One row of the agreement table: what clerk read from one source (a folder of samples from
//! one other project) and how it compares with that project's parsed output.

use std::process::ExitCode;

#[derive(Debug, Default)]
pub struct SourceReport {
    /// The corpus folder, e.g. `mt940/wolph-mt940`.
    pub source: String,
    /// Sample files of the formats clerk reads.
    pub files: usize,
    /// Files clerk read without error.
    pub read: usize,
    /// Files the other project says must fail, and clerk refused with a clear error.
    pub refused_as_expected: usize,
    /// Files with an oracle that were compared.
    pub compared: usize,
    /// Fields compared (counts, amounts with sign, dates, currencies, references) and how
    /// many agreed.
    pub fields: usize,
    pub agreed: usize,
    /// Disagreements explained in the family's list (file: why).
    pub explained: Vec<String>,
    /// Disagreements nobody has explained: each fails the check.
    pub unexplained: Vec<String>,
}

pub fn print_and_judge(reports: &[SourceReport]) -> ExitCode {
    println!(
        "{:<36} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>11}",
        "source",
        "files",
        "read",
        "refused",
        "compared",
        "fields",
        "agreed",
        "explained",
        "unexplained"
    );
    let mut failed = false;
    for r in reports {
        println!(
            "{:<36} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>11}",
            r.source,
            r.files,
            r.read,
            r.refused_as_expected,
            r.compared,
            r.fields,
            r.agreed,
            r.explained.len(),
            r.unexplained.len()
        );
        failed |= !r.unexplained.is_empty();
    }
    for r in reports {
        for e in &r.explained {
            println!("  explained  {}: {e}", r.source);
        }
    }
    for r in reports {
        for e in &r.unexplained {
            println!("  DISAGREES  {}: {e}", r.source);
        }
    }
    if failed {
        println!("corpus check: FAILED (unexplained disagreements above)");
        ExitCode::FAILURE
    } else {
        println!("corpus check: ok");
        ExitCode::SUCCESS
    }
}
