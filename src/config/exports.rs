//! `[[exports]]` in `clerk.toml`: where posted entries go, in which format, when.
//!
//! ```toml
//! [[exports]]
//! name = "erp"                  # file-safe, unique; names the files: erp-000001.csv
//! format = "csv"                # csv, hledger, beancount, datev (export::FORMATS)
//! folder = "exports/erp"        # relative to the install; created at start-up
//! schedule = "30 6 * * 1-5"     # optional crontab; without it, after every unit that posted
//! timezone = "Europe/Berlin"    # optional, for the schedule; default clerk.toml's
//! [exports.accounts]            # optional: clerk's account → the target's
//! "1200 Bank" = "1200"
//! [exports.options]             # optional: the format's own settings
//! delimiter = ";"
//! ```
//!
//! **Invariant:** a target that loads has a format that was built from its options once
//! already (so building it again in the daemon cannot fail), a name safe in a file name and
//! unique among the targets, and a folder that resolves inside no other target's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use super::{Config, JobKind};
use crate::export::{AccountClass, Accounts, Format, format_for};
use crate::schedule::Schedule;
use crate::settings::resolve;

/// One `[[exports]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExport {
    name: String,
    format: String,
    folder: String,
    schedule: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    accounts: BTreeMap<String, String>,
    #[serde(default)]
    options: toml::Table,
}

/// One export target, checked.
#[derive(Debug, Clone)]
pub struct ExportTarget {
    pub name: String,
    /// The format's name (one of `export::FORMATS`).
    pub format: String,
    /// Where its files go (absolute).
    pub folder: PathBuf,
    /// When it runs; `None`: after every unit of work that posted entries.
    pub schedule: Option<Schedule>,
    /// The account map and the accounts' classes (from the charts the jobs post to).
    pub accounts: Accounts,
    /// `[exports.options]`, as written (the format reads it).
    pub options: toml::Table,
    /// The format's file extension, without the dot.
    pub extension: &'static str,
}

impl ExportTarget {
    /// The format, set up with the target's options. Checked at load, so it is there.
    pub fn format(&self) -> Box<dyn Format> {
        format_for(&self.format, &self.options)
            .expect("the format and its options were checked when the configuration loaded")
    }

    /// When it runs, in words, for `clerk check`.
    pub fn when(&self) -> String {
        match &self.schedule {
            Some(s) => format!("on schedule {s}"),
            None => "after every unit of work that posted".to_string(),
        }
    }
}

/// A name that can stand in a file name on every file system clerk writes to (an SMB share
/// too): letters, digits, `-`, `_`, `.`; not starting with a dot (hidden, and clerk's own
/// temporary files start with one).
fn file_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks each `[[exports]]` table; problems go to `errors`, naming the line. Account
/// classes are filled in later by [`classify`], once the jobs (and their charts) are loaded.
pub(super) fn check_exports(
    raw: &[RawExport],
    root: &Path,
    timezone: chrono_tz::Tz,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<ExportTarget> {
    let mut names = BTreeSet::new();
    let mut folders: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = |k: &str| format!("exports[{i}].{k}");
        let mut ok = true;
        if !file_safe(&r.name) {
            errors.push(loc.error(
                &key("name"),
                format!(
                    "export name {:?} must be 1 to 64 letters, digits, '-', '_' or '.' (not starting \
                     with '.'): it names the export's files",
                    r.name
                ),
            ));
            ok = false;
        } else if !names.insert(r.name.clone()) {
            errors.push(loc.error(
                &key("name"),
                format!(
                    "a second export named {:?}; each needs its own name",
                    r.name
                ),
            ));
            ok = false;
        }
        let format = match format_for(&r.format, &r.options) {
            Ok(f) => Some(f),
            Err(m) => {
                let at = if r.format.is_empty() || m.starts_with("unknown export format") {
                    key("format")
                } else {
                    key("options")
                };
                errors.push(loc.error(&at, m));
                None
            }
        };
        let folder = resolve(root, &r.folder);
        if r.folder.trim().is_empty() {
            errors.push(loc.error(&key("folder"), "the export's folder is empty"));
            ok = false;
        } else if let Some(other) = folders.insert(folder.clone(), r.name.clone()) {
            errors.push(loc.error(
                &key("folder"),
                format!(
                    "export {:?} writes to the folder of export {other:?} ({}); give each its own",
                    r.name,
                    folder.display()
                ),
            ));
            ok = false;
        }
        let tz = match r.timezone.as_deref() {
            None => timezone,
            Some(t) => match t.parse() {
                Ok(tz) => tz,
                Err(_) => {
                    errors.push(loc.error(
                        &key("timezone"),
                        format!("unknown time zone {t:?}; use an IANA name such as Europe/Berlin"),
                    ));
                    ok = false;
                    timezone
                }
            },
        };
        if r.timezone.is_some() && r.schedule.is_none() {
            errors.push(loc.error(
                &key("timezone"),
                "a time zone without a schedule: the export runs after every unit of work",
            ));
            ok = false;
        }
        let schedule = match r.schedule.as_deref() {
            None => None,
            Some(expr) => match Schedule::parse(expr, tz) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(loc.error(&key("schedule"), e.to_string()));
                    ok = false;
                    None
                }
            },
        };
        for (clerks, theirs) in &r.accounts {
            if theirs.trim().is_empty() {
                errors.push(loc.error(
                    &format!("{}.{clerks}", key("accounts")),
                    format!("clerk's account {clerks:?} maps to an empty name"),
                ));
                ok = false;
            }
        }
        if let (true, Some(format)) = (ok, format) {
            out.push(ExportTarget {
                name: r.name.clone(),
                format: r.format.clone(),
                folder,
                schedule,
                accounts: Accounts {
                    map: r.accounts.clone(),
                    classes: BTreeMap::new(),
                },
                options: r.options.clone(),
                extension: format.extension(),
            });
        }
    }
    out
}

/// Gives every target the classes of the accounts in the charts entries post to:
/// clerk.toml's `[chart]` and each posting job's own. Entries name an account by its label
/// (`1200 Bank`), so both the label and the bare number are classified.
pub(super) fn classify(config: &mut Config) {
    let mut classes = BTreeMap::new();
    let charts =
        config
            .chart
            .chart
            .iter()
            .map(|c| c.as_ref())
            .chain(config.jobs.iter().filter_map(|j| match &j.kind {
                JobKind::CashReconciliation { posting, .. } => posting.chart(),
                _ => None,
            }));
    for chart in charts {
        for account in chart.accounts() {
            if let Some(class) = AccountClass::from_chart_type(&account.kind) {
                classes.insert(account.label(), class);
                classes.insert(account.number.clone(), class);
            }
        }
    }
    for target in &mut config.exports {
        target.accounts.classes = classes.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Vec<ExportTarget>, Vec<ConfigError>) {
        #[derive(Deserialize)]
        struct Top {
            exports: Vec<RawExport>,
        }
        let file = Path::new("/etc/clerk/clerk.toml");
        let loc = Locator::new(file, text);
        let top: Top = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let out = check_exports(
            &top.exports,
            Path::new("/srv/clerk"),
            chrono_tz::UTC,
            &loc,
            &mut errors,
        );
        (out, errors)
    }

    #[test]
    fn a_name_a_format_and_a_folder_are_a_working_export() {
        let (out, errors) =
            check("[[exports]]\nname = \"erp\"\nformat = \"csv\"\nfolder = \"exports/erp\"\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].folder, Path::new("/srv/clerk/exports/erp"));
        assert!(out[0].schedule.is_none());
        assert_eq!(out[0].extension, "csv");
        assert_eq!(out[0].when(), "after every unit of work that posted");
    }

    #[test]
    fn bad_targets_are_refused_naming_the_line() {
        let text = "[[exports]]\nname = \"erp\"\nformat = \"csv\"\nfolder = \"a\"\n\
                    [[exports]]\nname = \"erp\"\nformat = \"qif\"\nfolder = \"a\"\n\
                    [[exports]]\nname = \"../x\"\nformat = \"csv\"\nfolder = \"b\"\nschedule = \"61 * * * *\"\n\
                    [exports.options]\ndelimiter = \"|\"\n";
        let (out, errors) = check(text);
        assert_eq!(out.len(), 1, "{errors:?}");
        let said: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let has = |line: &str, words: &str| {
            assert!(
                said.iter().any(|s| s.contains(line) && s.contains(words)),
                "{line} {words}: {said:#?}"
            )
        };
        has("clerk.toml:6:", "a second export named \"erp\"");
        has("clerk.toml:7:", "unknown export format \"qif\"");
        has("clerk.toml:8:", "of export \"erp\"");
        has("clerk.toml:10:", "\"../x\"");
        has("clerk.toml:13:", "schedule");
        has("delimiter", "delimiter");
    }
}
