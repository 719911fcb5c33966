//! `clerk.toml`: where things live, the time zone, the store, mail, calendars.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use super::Config;
use super::error::{ConfigError, ConfigErrors, Locator};
use crate::ingest::mail::MailboxSpec;
use crate::model::costs::CostModel;
use crate::notify::{Delivery, SmtpSecurity, SmtpSettings};
use crate::schedule::{Calendar, CalendarSpec};
use crate::secret::SecretSource;
use crate::settings::limits::{self, DurationRange};
use crate::settings::resolve;
use rust_decimal::Decimal;

/// The file size limit when the configuration gives none: with the peak memory of a file
/// (`daemon::pipeline::MEMORY_PER_FILE`) it fits the shipped unit's `MemoryMax=4G`.
pub const DEFAULT_MAX_FILE_SIZE_MB: u64 = 1024;

#[derive(Debug, Clone)]
pub struct Settings {
    pub jobs_dir: PathBuf,
    pub state_dir: PathBuf,
    pub store_path: PathBuf,
    pub archive_dir: PathBuf,
    pub failed_dir: PathBuf,
    pub timezone: Tz,
    /// How often every watched folder is scanned, events or not (network shares send none).
    pub rescan_interval: Duration,
    /// How long a file's size and modification time must stay unchanged before it is taken.
    pub settle_time: Duration,
    /// Files larger than this are refused unread.
    pub max_file_bytes: u64,
    /// How long shutdown waits for the current unit of work.
    pub drain_timeout: Duration,
    /// How long an unmatched item of a cash reconciliation waits for its counterpart before
    /// it is a break, unless the job sets its own (`break_grace`).
    pub break_grace: Duration,
}

/// The grace period when the configuration gives none: a ledger export and the statement
/// that pays it come minutes apart at most when they come together.
pub const DEFAULT_BREAK_GRACE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub from: String,
    /// Who gets an alert when a job fails.
    pub alerts_to: Vec<String>,
    pub delivery: Delivery,
    /// The outbox folder (`[mail] outbox`, default `<state>/outbox`), also with SMTP: an alert
    /// that cannot be mailed at once is written there rather than only logged.
    pub outbox_dir: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    mail: RawMail,
    #[serde(default)]
    calendars: BTreeMap<String, CalendarSpec>,
    /// IMAP folders and Maildirs to take statements and invoices from.
    #[serde(default)]
    mailboxes: BTreeMap<String, MailboxSpec>,
    costs: Option<RawCosts>,
    /// The chart of accounts every posting job posts to, and which account each bank account is.
    chart: Option<super::chart::RawChart>,
    /// The operations console and monitoring endpoints.
    http: Option<super::http::RawHttp>,
    /// Where posted entries are exported (`[[exports]]`).
    #[serde(default)]
    exports: Vec<super::exports::RawExport>,
}

/// `[costs]`: money as quoted decimals ("0.60"), so nothing passes through a float.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCosts {
    currency: String,
    machine_per_hour: toml::Value,
    staff_per_hour: toml::Value,
    minutes_per_exception: toml::Value,
    #[serde(default)]
    minutes_per_failed_file: Option<toml::Value>,
}

impl RawCosts {
    fn check(&self, loc: &Locator, errors: &mut Vec<ConfigError>) -> Option<CostModel> {
        let mut number = |key: &str, v: &toml::Value| {
            super::non_negative_decimal(loc, &format!("costs.{key}"), v)
                .map_err(|e| errors.push(e))
                .ok()
        };
        let machine_per_hour = number("machine_per_hour", &self.machine_per_hour);
        let staff_per_hour = number("staff_per_hour", &self.staff_per_hour);
        let minutes_per_exception = number("minutes_per_exception", &self.minutes_per_exception);
        let minutes_per_failed_file = match &self.minutes_per_failed_file {
            Some(v) => number("minutes_per_failed_file", v),
            None => Some(Decimal::ZERO),
        };
        let currency = match self.currency.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                errors.push(loc.error(
                    "costs.currency",
                    format!(
                        "expected an ISO 4217 code such as EUR, found {:?}",
                        self.currency
                    ),
                ));
                None
            }
        };
        Some(CostModel {
            currency: currency?,
            machine_per_hour: machine_per_hour?,
            staff_per_hour: staff_per_hour?,
            minutes_per_exception: minutes_per_exception?,
            minutes_per_failed_file: minutes_per_failed_file?,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    /// Folder of job files (`*.toml`). Default `jobs`.
    jobs: Option<String>,
    /// Folder for clerk's state: store, archive, failed files, outbox. Default `var`.
    state: Option<String>,
    /// IANA time zone for schedules and business dates. Default `UTC`.
    timezone: Option<String>,
    /// Default `2s`.
    rescan_interval: Option<String>,
    /// Default `2s`.
    settle_time: Option<String>,
    /// Default [`DEFAULT_MAX_FILE_SIZE_MB`].
    max_file_size_mb: Option<i64>,
    /// Default `30s`.
    drain_timeout: Option<String>,
    /// Default [`DEFAULT_BREAK_GRACE`].
    break_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    /// SQLite database file. Default `<state>/clerk.db`.
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    /// Sender address. Default `clerk@localhost`.
    from: Option<String>,
    #[serde(default)]
    alerts_to: Vec<String>,
    /// Where messages go when no SMTP server is configured, and alerts that cannot be mailed
    /// at once when one is. Default `<state>/outbox`.
    outbox: Option<String>,
    smtp: Option<RawSmtp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    /// Default 587 for STARTTLS, 465 for TLS, 25 for none.
    port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` (loopback only).
    security: Option<SmtpSecurity>,
    username: Option<String>,
    /// Name of the environment variable holding the password.
    password_env: Option<String>,
    /// File holding the password (first line).
    password_file: Option<String>,
    /// Extra CA certificate (PEM) to trust, for a private CA.
    ca_file: Option<String>,
    /// Default `30s`.
    timeout: Option<String>,
}

/// Reads and checks `clerk.toml` alone: the configuration without its jobs (which
/// [`super::load`] reads next, against these settings), and the problems found so far. Only a
/// file that cannot be read or parsed at all is an error here.
pub(super) fn load(config_file: &Path) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let fail = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: config_file.to_path_buf(),
            line: None,
            key: None,
            message,
        }])
    };
    let source = std::fs::read_to_string(config_file)
        .map_err(|e| fail(format!("cannot read the configuration: {e}")))?;
    let file = config_file.to_path_buf();
    let root = install_root(config_file);
    let loc = Locator::new(&file, &source);
    let raw: RawConfig =
        toml::from_str(&source).map_err(|e| ConfigErrors(vec![loc.from_toml(&e)]))?;

    let mut errors = Vec::new();
    let (settings, smtp_timeout) = check_settings(&raw, &root, &loc, &mut errors);
    let calendars = check_calendars(&raw.calendars, &loc, &mut errors);
    let mail = check_mail(
        &raw.mail,
        &root,
        &settings.state_dir,
        smtp_timeout,
        &loc,
        &mut errors,
    );
    let mut mailboxes = BTreeMap::new();
    for (name, spec) in &raw.mailboxes {
        match spec.check(name, &root) {
            Ok(m) => {
                mailboxes.insert(name.clone(), m);
            }
            Err((key, message)) => errors.push(loc.error(&key, message)),
        }
    }
    let costs = raw.costs.as_ref().and_then(|c| c.check(&loc, &mut errors));
    let chart = super::chart::check_chart(raw.chart.as_ref(), &root, &loc, &mut errors);
    let http = super::http::check_http(raw.http.as_ref(), &root, &loc, &mut errors);
    let exports =
        super::exports::check_exports(&raw.exports, &root, settings.timezone, &loc, &mut errors);
    Ok((
        Config {
            file,
            root,
            settings,
            mail,
            calendars,
            mailboxes,
            costs,
            chart,
            http,
            jobs: Vec::new(),
            exports,
        },
        errors,
    ))
}

/// The `[daemon]` and `[store]` settings, with the SMTP timeout (checked with the other
/// durations); a value out of range is an error and its default is used meanwhile.
fn check_settings(
    raw: &RawConfig,
    root: &Path,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> (Settings, Option<Duration>) {
    let mut duration =
        |range: &DurationRange, value: &Option<String>, default: Duration| match value {
            None => default,
            Some(v) => range.parse(v).unwrap_or_else(|m| {
                errors.push(loc.error(range.key, m));
                default
            }),
        };
    let rescan_interval = duration(
        &limits::RESCAN_INTERVAL,
        &raw.daemon.rescan_interval,
        Duration::from_secs(2),
    );
    let settle_time = duration(
        &limits::SETTLE_TIME,
        &raw.daemon.settle_time,
        Duration::from_secs(2),
    );
    let drain_timeout = duration(
        &limits::DRAIN_TIMEOUT,
        &raw.daemon.drain_timeout,
        Duration::from_secs(30),
    );
    let break_grace = duration(
        &limits::BREAK_GRACE,
        &raw.daemon.break_grace,
        DEFAULT_BREAK_GRACE,
    );
    let smtp_timeout = raw
        .mail
        .smtp
        .as_ref()
        .map(|s| duration(&limits::SMTP_TIMEOUT, &s.timeout, Duration::from_secs(30)));
    let max_file_mb = match raw.daemon.max_file_size_mb {
        None => DEFAULT_MAX_FILE_SIZE_MB,
        Some(mb) => limits::MAX_FILE_SIZE_MB
            .check(mb)
            .map(|mb| mb as u64)
            .unwrap_or_else(|m| {
                errors.push(loc.error(limits::MAX_FILE_SIZE_MB.key, m));
                DEFAULT_MAX_FILE_SIZE_MB
            }),
    };

    let timezone = match raw.daemon.timezone.as_deref() {
        None => Tz::UTC,
        Some(name) => name.parse::<Tz>().unwrap_or_else(|_| {
            errors.push(loc.error(
                "daemon.timezone",
                format!("unknown time zone {name:?}; use an IANA name such as Europe/Berlin"),
            ));
            Tz::UTC
        }),
    };

    let state_dir = resolve(root, raw.daemon.state.as_deref().unwrap_or("var"));
    let settings = Settings {
        jobs_dir: resolve(root, raw.daemon.jobs.as_deref().unwrap_or("jobs")),
        store_path: raw
            .store
            .path
            .as_deref()
            .map(|p| resolve(root, p))
            .unwrap_or_else(|| state_dir.join("clerk.db")),
        archive_dir: state_dir.join("archive"),
        failed_dir: state_dir.join("failed"),
        state_dir: state_dir.clone(),
        timezone,
        rescan_interval,
        settle_time,
        // In range, so at most 16 GiB: the product fits.
        max_file_bytes: max_file_mb * 1024 * 1024,
        drain_timeout,
        break_grace,
    };
    (settings, smtp_timeout)
}

/// The `[calendars]`, and the `default` one (weekends only) unless the file defines it.
fn check_calendars(
    specs: &BTreeMap<String, CalendarSpec>,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, Calendar> {
    let mut calendars = BTreeMap::new();
    for (name, spec) in specs {
        match spec.check() {
            Ok(c) => {
                calendars.insert(name.clone(), c);
            }
            Err(m) => errors.push(loc.error(&format!("calendars.{name}"), m)),
        }
    }
    calendars
        .entry("default".to_string())
        .or_insert_with(Calendar::weekends_only);
    calendars
}

fn check_mail(
    raw: &RawMail,
    root: &Path,
    state_dir: &Path,
    smtp_timeout: Option<Duration>,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> MailSettings {
    let from = raw
        .from
        .clone()
        .unwrap_or_else(|| "clerk@localhost".to_string());
    if !super::looks_like_address(&from) {
        errors.push(loc.error(
            "mail.from",
            format!("expected an address like clerk@example.com, found {from:?}"),
        ));
    }
    for (i, a) in raw.alerts_to.iter().enumerate() {
        if !super::looks_like_address(a) {
            errors.push(loc.error(
                &format!("mail.alerts_to[{i}]"),
                format!("expected an address like ops@example.com, found {a:?}"),
            ));
        }
    }
    let outbox_dir = raw
        .outbox
        .as_deref()
        .map(|p| resolve(root, p))
        .unwrap_or_else(|| state_dir.join("outbox"));
    let delivery = match &raw.smtp {
        None => Delivery::Outbox(outbox_dir.clone()),
        Some(s) => {
            let security = s.security.clone().unwrap_or(SmtpSecurity::Starttls);
            let port = s.port.unwrap_or(match security {
                SmtpSecurity::Starttls => 587,
                SmtpSecurity::Tls => 465,
                SmtpSecurity::None => 25,
            });
            // Where the password is, not the password: it is read at login (a read command
            // never needs it), and `clerk run` and `clerk check` read it up front.
            let password = match (&s.password_env, &s.password_file) {
                (Some(_), Some(_)) => {
                    errors.push(loc.error(
                        "mail.smtp.password_env",
                        "set either password_env or password_file, not both",
                    ));
                    None
                }
                (Some(var), None) => Some(SecretSource::Env(var.clone())),
                (None, Some(file)) => Some(SecretSource::File(resolve(root, file))),
                (None, None) => None,
            };
            if password.is_some() && s.username.is_none() {
                errors.push(loc.error("mail.smtp.username", "a password is set but no username"));
            }
            let settings = SmtpSettings {
                host: s.host.clone(),
                port,
                security,
                username: s.username.clone(),
                password,
                ca_file: s.ca_file.as_deref().map(|p| resolve(root, p)),
                timeout: smtp_timeout.unwrap_or(Duration::from_secs(30)),
            };
            if let Err(m) = settings.check() {
                errors.push(loc.error("mail.smtp", m));
            }
            Delivery::Smtp(settings)
        }
    };
    MailSettings {
        from,
        alerts_to: raw.alerts_to.clone(),
        delivery,
        outbox_dir,
    }
}

/// `config/clerk.toml` → the folder holding `config/`.
fn install_root(config_file: &Path) -> PathBuf {
    let abs = if config_file.is_absolute() {
        config_file.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(config_file))
            .unwrap_or_else(|_| config_file.to_path_buf())
    };
    abs.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(toml_text: &str) -> (Option<CostModel>, Vec<ConfigError>) {
        let raw: RawConfig = toml::from_str(toml_text).unwrap();
        let file = PathBuf::from("clerk.toml");
        let loc = Locator::new(&file, toml_text);
        let mut errors = Vec::new();
        let model = raw.costs.as_ref().and_then(|c| c.check(&loc, &mut errors));
        (model, errors)
    }

    #[test]
    fn costs_take_quoted_decimals_and_whole_numbers() {
        let (model, errors) = costs(
            "[costs]\ncurrency = \"chf\"\nmachine_per_hour = \"0.35\"\nstaff_per_hour = 72\nminutes_per_exception = \"12.5\"\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let m = model.unwrap();
        assert_eq!(m.currency.as_str(), "CHF");
        assert_eq!(m.machine_per_hour.to_string(), "0.35");
        assert_eq!(m.staff_per_hour, Decimal::from(72));
        assert_eq!(m.minutes_per_exception.to_string(), "12.5");
        assert_eq!(m.minutes_per_failed_file, Decimal::ZERO);
    }

    #[test]
    fn costs_refuse_floats_negatives_and_bad_currencies_naming_the_key() {
        let (model, errors) = costs(
            "[costs]\ncurrency = \"EURO\"\nmachine_per_hour = 0.35\nstaff_per_hour = \"-1\"\nminutes_per_exception = 10\n",
        );
        assert!(model.is_none());
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text.iter()
                .any(|e| e.contains("costs.machine_per_hour") && e.contains("in quotes")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("costs.staff_per_hour")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.contains("costs.currency") && e.contains("ISO 4217")),
            "{text:?}"
        );
    }
}
