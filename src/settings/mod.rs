//! What a setting's text means, for every module that is configured: durations as sysadmins
//! write them, paths against the install root, and the range of every setting ([`limits`]).
//! Pure helpers that use nothing of clerk's, so `config` and the stages it configures
//! (`ingest`'s mailboxes, `extract`'s layouts, `reconcile`'s rules) share them without
//! depending on each other.

pub mod limits;

use std::path::{Path, PathBuf};
use std::time::Duration;

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
}
