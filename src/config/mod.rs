//! Configuration, in two steps: serde structs that mirror the files (unknown keys refused), then
//! checked types with parsed time zones, schedules, patterns and resolved paths. Nothing runs
//! on a configuration that has not passed [`load`].
//!
//! Relative paths resolve against the install root: the parent of the folder holding
//! `clerk.toml` (so `config/clerk.toml` with `state = "var"` means `<root>/var`).

mod daemon;
mod error;
mod job;
mod payables;
mod securities;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use daemon::{Config, DEFAULT_MAX_FILE_SIZE_MB, MailSettings, Settings};
pub use error::{ConfigError, ConfigErrors, Locator};
pub use job::{Job, JobKind, Watch, is_temporary_name};

/// Loads `clerk.toml` and every job file, and checks them together. All problems are
/// reported, not just the first.
pub fn load(config_file: &Path) -> Result<Config, ConfigErrors> {
    daemon::load(config_file)
}

/// Parses durations as sysadmins write them: `500ms`, `2s`, `5m`, `1h`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("expected a duration such as 2s, 500ms, 5m or 1h, found nothing".into());
    }
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
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large in duration {t:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => {
                return Err(format!(
                    "unknown unit {unit:?} in duration {t:?}; use ms, s, m, h or d"
                ));
            }
        };
        total += part;
    }
    Ok(total)
}

/// Resolves a configured path against the install root.
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
