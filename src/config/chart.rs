//! The chart of accounts a configuration posts to: `[chart]` in `clerk.toml` for every job,
//! `chart = "..."` in a job file for that job alone.
//!
//! ```toml
//! [chart]
//! file = "config/charts/skr03.csv"     # number,name,type[,currency]
//! [chart.bank_accounts]                # which chart account each bank account is
//! "DE89370400440532013000" = "1200"
//! ```
//!
//! The file is parsed by [`crate::post::chart::Chart`]; its problems name the chart file and
//! line, those of the bank accounts the key in `clerk.toml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use crate::post::chart::Chart;
use crate::settings::resolve;

/// `[chart]` of `clerk.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChart {
    /// The chart file, relative to the install root.
    pub file: String,
    /// IBAN or the bank's account id → chart account number.
    #[serde(default)]
    pub bank_accounts: BTreeMap<String, String>,
}

/// What the jobs post to: the daemon-wide chart, and the bank accounts a job's own chart maps.
#[derive(Debug, Clone, Default)]
pub struct ChartSettings {
    /// The chart of `[chart]`, when there is one.
    pub chart: Option<Arc<Chart>>,
    /// `[chart.bank_accounts]`, as written.
    pub bank_accounts: BTreeMap<String, String>,
}

/// Reads the chart file `file` (relative to `root`, named by `loc`'s `key`) and maps
/// `bank_accounts` to it. A problem in the file names it and its line; one in the map is
/// worded by `map_error` (bank account id, message).
pub(super) fn load_chart(
    root: &Path,
    file: &str,
    bank_accounts: &BTreeMap<String, String>,
    loc: &Locator<'_>,
    key: &str,
    map_error: &dyn Fn(&str, String) -> ConfigError,
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<Chart>> {
    let path = resolve(root, file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(loc.error(
                key,
                format!("cannot read the chart of accounts {}: {e}", path.display()),
            ));
            return None;
        }
    };
    let mut chart = match Chart::parse(&path.display().to_string(), &text) {
        Ok(c) => c,
        Err(e) => {
            errors.push(ConfigError {
                file: path,
                line: usize::try_from(e.line).ok(),
                key: None,
                message: e.message,
            });
            return None;
        }
    };
    let before = errors.len();
    for (id, number) in bank_accounts {
        if let Err(m) = chart.map_bank(id, number) {
            errors.push(map_error(id, m));
        }
    }
    (errors.len() == before).then(|| Arc::new(chart))
}

/// `[chart]` of `clerk.toml`, checked.
pub(super) fn check_chart(
    raw: Option<&RawChart>,
    root: &Path,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> ChartSettings {
    let Some(raw) = raw else {
        return ChartSettings::default();
    };
    ChartSettings {
        chart: load_chart(
            root,
            &raw.file,
            &raw.bank_accounts,
            loc,
            "chart.file",
            &|id, m| loc.error(&format!("chart.bank_accounts.{id}"), m),
            errors,
        ),
        bank_accounts: raw.bank_accounts.clone(),
    }
}
