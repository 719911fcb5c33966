//! Configuration, in two steps: serde structs that mirror the files (unknown keys refused), then
//! checked types with parsed time zones, schedules, patterns and resolved paths. Nothing runs
//! on a configuration that has not passed [`load`].
//!
//! Relative paths resolve against the install root: the parent of the folder holding
//! `clerk.toml` (so `config/clerk.toml` with `state = "var"` means `<root>/var`).

mod chart;
mod daemon;
mod error;
mod escalation;
pub mod expect;
pub mod exports;
mod http;
mod job;
mod payables;
mod securities;
mod vat;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ingest::mail::Mailbox;
use crate::model::costs::CostModel;
use crate::notify::Delivery;
use crate::schedule::Calendar;
use crate::secret::SecretSource;

pub use chart::ChartSettings;
pub use daemon::{DEFAULT_BREAK_GRACE, DEFAULT_MAX_FILE_SIZE_MB, MailSettings, Settings};
pub use error::{ConfigError, ConfigErrors, Locator};
pub use escalation::Escalation;
pub use exports::ExportTarget;
pub use http::{ApprovalLimits, HttpSettings, TlsFiles};
pub use job::{Job, JobKind};
// A job's folder is ingest's type, checked here; `resolve` is how every configured path is read.
pub use crate::ingest::Watch;
pub use crate::settings::resolve;

/// The whole configuration, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `clerk.toml` it was loaded from.
    pub file: PathBuf,
    /// The install root that relative paths resolve against.
    pub root: PathBuf,
    pub settings: Settings,
    pub mail: MailSettings,
    /// Business-day calendars by name; `default` always exists.
    pub calendars: BTreeMap<String, Calendar>,
    /// Mailboxes clerk reads, by name.
    pub mailboxes: BTreeMap<String, Mailbox>,
    /// What machine and staff time cost, for the cost-per-transaction KPI; `None` without a
    /// `[costs]` table.
    pub costs: Option<CostModel>,
    /// The chart of accounts of `[chart]`, and its bank accounts.
    pub chart: ChartSettings,
    /// `[http]`: the console, monitoring, the four-eyes limit.
    pub http: HttpSettings,
    pub jobs: Vec<Job>,
    /// `[[exports]]`: where posted entries go, in which format.
    pub exports: Vec<ExportTarget>,
}

impl Config {
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// Every secret the configuration names (the SMTP password, each mailbox's password or
    /// token file), with the key that names it.
    pub fn secrets(&self) -> Vec<(String, SecretSource)> {
        let mut out = Vec::new();
        if let Delivery::Smtp(smtp) = &self.mail.delivery
            && let Some(source) = &smtp.password
        {
            let key = match source {
                SecretSource::Env(_) => "mail.smtp.password_env",
                _ => "mail.smtp.password_file",
            };
            out.push((key.to_string(), source.clone()));
        }
        for (name, mb) in &self.mailboxes {
            for (key, source) in mb.secrets() {
                out.push((format!("mailboxes.{name}.{key}"), source));
            }
        }
        out
    }

    /// Reads every secret now; one that cannot be read is a problem naming the file, line and
    /// key that name it (never the secret).
    pub fn unreadable_secrets(&self) -> Vec<ConfigError> {
        let source = std::fs::read_to_string(&self.file).unwrap_or_default();
        let loc = Locator::new(&self.file, &source);
        self.secrets()
            .into_iter()
            .filter_map(|(key, secret)| secret.read().err().map(|m| loc.error(&key, m)))
            .collect()
    }

    /// The calendar the daemon ages breaks with.
    pub fn default_calendar(&self) -> &Calendar {
        self.calendars
            .get("default")
            .expect("load() always defines the default calendar")
    }
}

/// Loads `clerk.toml` and every job file, and checks them together. All problems are
/// reported, not just the first. Reads no secret: the passwords it names are read where they
/// are used (see [`crate::secret`]), so a read command works for someone who may not read them.
pub fn load(config_file: &Path) -> Result<Config, ConfigErrors> {
    let (mut config, mut errors) = daemon::load(config_file)?;
    let ctx = job::JobContext {
        root: &config.root,
        settings: &config.settings,
        calendars: &config.calendars,
        mailboxes: &config.mailboxes,
        chart: &config.chart,
    };
    let jobs = job::load_all(&ctx, &mut errors);
    if errors.is_empty() {
        config.jobs = jobs;
        exports::classify(&mut config);
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// What the daemon starts and reloads with: [`load`], and every secret the configuration
/// names read once, so a password file that is missing or unreadable stops the start (naming
/// the key) instead of the first delivery hours later.
pub fn load_for_daemon(config_file: &Path) -> Result<Config, ConfigErrors> {
    let config = load(config_file)?;
    let problems = config.unreadable_secrets();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// A money or quantity setting: a decimal in quotes (`"0.60"`, so it never passes through a
/// float) or a whole number, not negative. The error names the key and what was found.
pub(crate) fn non_negative_decimal(
    loc: &Locator<'_>,
    key: &str,
    v: &toml::Value,
) -> Result<rust_decimal::Decimal, ConfigError> {
    let parsed = match v {
        toml::Value::String(s) => s.trim().parse::<rust_decimal::Decimal>().ok(),
        toml::Value::Integer(i) => Some(rust_decimal::Decimal::from(*i)),
        _ => None,
    };
    match parsed {
        Some(d) if !d.is_sign_negative() => {
            crate::model::checked_magnitude(d).map_err(|m| loc.error(key, m))
        }
        _ => Err(loc.error(
            key,
            format!(
                "expected a non-negative decimal in quotes (e.g. \"0.01\") or a whole number, found {v}"
            ),
        )),
    }
}

/// A cheap shape check; the mail library does the real parsing when a message is built.
pub(crate) fn looks_like_address(a: &str) -> bool {
    let a = a.trim();
    match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !a.contains(char::is_whitespace)
                && !a.contains(['<', '>', ',', '\r', '\n'])
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An install with the shipped ledger import and bank reconciliation, `daemon` added to
    /// `[daemon]` and `bank` to the top of the reconciliation's job file (`ledger` to the
    /// import's); what loading it gives.
    fn load_with(daemon: &str, bank: &str, ledger: &str) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::write(
            root.join("config/clerk.toml"),
            format!(
                "[daemon]\njobs = \"jobs\"\nstate = \"var\"\n{daemon}\n\
                 [mailboxes.back-office]\nkind = \"maildir\"\npath = \"var/mail\"\n"
            ),
        )
        .unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
        for (job, extra) in [("bank-reconciliation", bank), ("ledger-import", ledger)] {
            let text = std::fs::read_to_string(shipped.join(format!("{job}.toml"))).unwrap();
            std::fs::write(
                root.join(format!("jobs/{job}.toml")),
                format!("{extra}\n{text}"),
            )
            .unwrap();
        }
        load(&root.join("config/clerk.toml"))
    }

    #[test]
    fn the_grace_period_is_the_daemons_unless_a_cash_reconciliation_sets_its_own() {
        let grace = |c: &Config, job: &str| c.job(job).unwrap().break_grace();
        let c = load_with("", "", "").unwrap();
        assert_eq!(grace(&c, "bank-reconciliation"), DEFAULT_BREAK_GRACE);
        // An import holds nothing back.
        assert_eq!(grace(&c, "ledger-import"), Duration::ZERO);
        let c = load_with("break_grace = \"2m\"", "", "").unwrap();
        assert_eq!(grace(&c, "bank-reconciliation"), Duration::from_secs(120));
        let c = load_with("break_grace = \"2m\"", "break_grace = \"0s\"", "").unwrap();
        assert_eq!(grace(&c, "bank-reconciliation"), Duration::ZERO);

        let e = load_with("", "break_grace = \"2d\"", "")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bank-reconciliation.toml:1")
                && e.contains("break_grace")
                && e.contains("expected 0s to 1d, found \"2d\""),
            "{e}"
        );
        let e = load_with("break_grace = \"soon\"", "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("daemon.break_grace"), "{e}");
        let e = load_with("", "", "break_grace = \"1m\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`break_grace` is not used by a ledger_import job"),
            "{e}"
        );
    }

    #[test]
    fn tolerances_are_non_negative_and_within_what_clerk_computes_with() {
        let text = "price_tolerance = \"0.05\"\n";
        let loc = Locator::new(Path::new("jobs/ap.toml"), text);
        let value = |s: &str| toml::Value::String(s.into());
        let ok = non_negative_decimal(&loc, "payables.price_tolerance", &value("0.05"));
        assert_eq!(ok.unwrap().to_string(), "0.05");
        assert_eq!(
            non_negative_decimal(&loc, "k", &toml::Value::Integer(3)).unwrap(),
            rust_decimal::Decimal::from(3)
        );
        let e = non_negative_decimal(&loc, "k", &value("-1")).unwrap_err();
        assert!(
            e.to_string().contains("expected a non-negative decimal"),
            "{e}"
        );
        let e = non_negative_decimal(&loc, "k", &value("1e30")).unwrap_err();
        assert!(
            e.to_string().contains("expected a non-negative decimal"),
            "{e}"
        );
        let e = non_negative_decimal(&loc, "k", &value("10000000000000000000")).unwrap_err();
        assert!(e.to_string().contains("is too large"), "{e}");
    }
}
