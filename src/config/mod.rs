//! Configuration, in two steps: serde structs that mirror the files (unknown keys refused), then
//! checked types with parsed time zones, schedules, patterns and resolved paths. Nothing runs
//! on a configuration that has not passed [`load`].
//!
//! Relative paths resolve against the install root: the parent of the folder holding
//! `clerk.toml` (so `config/clerk.toml` with `state = "var"` means `<root>/var`).

mod daemon;
mod error;
mod job;
pub mod limits;
mod payables;
mod securities;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use daemon::{Config, DEFAULT_BREAK_GRACE, DEFAULT_MAX_FILE_SIZE_MB, MailSettings, Settings};
pub use error::{ConfigError, ConfigErrors, Locator};
pub use job::{Job, JobKind, Watch, is_temporary_name};

/// Loads `clerk.toml` and every job file, and checks them together. All problems are
/// reported, not just the first. Reads no secret: the passwords it names are read where they
/// are used (see [`crate::secret`]), so a read command works for someone who may not read them.
pub fn load(config_file: &Path) -> Result<Config, ConfigErrors> {
    daemon::load(config_file)
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

/// Parses durations as sysadmins write them: `500ms`, `2s`, `5m`, `1h`, `1h30m`. A duration
/// too long to represent is an error, never a wrap or a panic; whether it is sensible is for
/// the setting's range ([`limits`]).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("expected a duration such as 2s, 500ms, 5m or 1h, found nothing".into());
    }
    let too_long = || format!("the duration {t:?} is too long");
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "expected a duration such as 2s, 500ms, 5m or 1h, found {t:?}"
            ));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = |per: u64| n.checked_mul(per).map(Duration::from_secs);
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" | "min" => seconds(60),
            "h" => seconds(3600),
            "d" => seconds(86_400),
            _ => {
                return Err(format!(
                    "unknown unit {unit:?} in duration {t:?}; use ms, s, m, h or d"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(too_long)?;
    }
    Ok(total)
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

/// Resolves a configured path against the install root.
pub fn resolve(root: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("2 sec").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("3w").is_err());
    }

    #[test]
    fn durations_too_long_to_represent_are_errors_not_panics() {
        for text in [
            "18446744073709551615s1s",
            "18446744073709551615s",
            "307445734561825861m",
            "18446744073709551615d",
            "99999999999999999999999s",
            "18446744073709551615s18446744073709551615ms",
        ] {
            let r = parse_duration(text);
            if text == "18446744073709551615s" {
                // Representable; its setting's range refuses it.
                assert!(r.is_ok(), "{text}");
                continue;
            }
            let e = r.unwrap_err();
            assert!(e.contains("too long"), "{text}: {e}");
        }
    }

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
