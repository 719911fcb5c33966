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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::config::{Config, ConfigErrors, JobKind, load};
    use crate::post::chart::Chart;

    fn shipped(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// The `[chart]` tables of the shipped clerk.toml.
    fn shipped_chart_tables() -> String {
        let text = std::fs::read_to_string(shipped("config/clerk.toml")).unwrap();
        let mut out = String::new();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with('[') {
                inside = line.starts_with("[chart]") || line.starts_with("[chart.");
            }
            if inside {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// An install with the shipped charts, bank reconciliation, accounts payable and ledger
    /// import, `config` appended to its clerk.toml and each `(job, from, to)` edit made.
    fn load_install(config: &str, edits: &[(&str, &str, &str)]) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("config/charts")).unwrap();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        for chart in ["skr03.csv", "skr04.csv", "ifrs.csv"] {
            std::fs::copy(
                shipped(&format!("config/charts/{chart}")),
                root.join(format!("config/charts/{chart}")),
            )
            .unwrap();
        }
        std::fs::write(
            root.join("config/clerk.toml"),
            format!(
                "[daemon]\njobs = \"jobs\"\nstate = \"var\"\n\
                 [mailboxes.back-office]\nkind = \"maildir\"\npath = \"var/mail\"\n{config}"
            ),
        )
        .unwrap();
        for job in ["bank-reconciliation", "accounts-payable", "ledger-import"] {
            let mut text = std::fs::read_to_string(shipped(&format!("jobs/{job}.toml"))).unwrap();
            for (which, from, to) in edits {
                if *which == job {
                    assert!(text.contains(from), "{from:?} is not in {job}");
                    text = text.replacen(from, to, 1);
                }
            }
            std::fs::write(root.join(format!("jobs/{job}.toml")), text).unwrap();
        }
        load(&root.join("config/clerk.toml"))
    }

    fn problems(r: Result<Config, ConfigErrors>) -> Vec<String> {
        r.expect_err("the configuration is refused")
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_shipped_charts_have_their_standards_numbers() {
        let read = |name: &str| {
            let path = shipped(&format!("config/charts/{name}"));
            Chart::parse(name, &std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let name = |c: &Chart, n: &str| c.account(n).map(|a| (a.name.clone(), a.kind.clone()));
        let skr03 = read("skr03.csv");
        for (number, account, kind) in [
            ("1200", "Bank", "bank"),
            (
                "1400",
                "Forderungen aus Lieferungen und Leistungen",
                "receivable",
            ),
            ("1571", "Abziehbare Vorsteuer 7 %", "tax"),
            ("1576", "Abziehbare Vorsteuer 19 %", "tax"),
            (
                "1600",
                "Verbindlichkeiten aus Lieferungen und Leistungen",
                "payable",
            ),
            ("1771", "Umsatzsteuer 7 %", "tax"),
            ("1776", "Umsatzsteuer 19 %", "tax"),
            ("4930", "Bürobedarf", "expense"),
        ] {
            assert_eq!(
                name(&skr03, number),
                Some((account.to_string(), kind.to_string())),
                "SKR03 {number}"
            );
        }
        let skr04 = read("skr04.csv");
        for (number, account, kind) in [
            (
                "1200",
                "Forderungen aus Lieferungen und Leistungen",
                "receivable",
            ),
            ("1401", "Abziehbare Vorsteuer 7 %", "tax"),
            ("1406", "Abziehbare Vorsteuer 19 %", "tax"),
            ("1800", "Bank", "bank"),
            (
                "3300",
                "Verbindlichkeiten aus Lieferungen und Leistungen",
                "payable",
            ),
            ("3801", "Umsatzsteuer 7 %", "tax"),
            ("3806", "Umsatzsteuer 19 %", "tax"),
            ("6000", "Löhne und Gehälter", "expense"),
            ("6815", "Bürobedarf", "expense"),
        ] {
            assert_eq!(
                name(&skr04, number),
                Some((account.to_string(), kind.to_string())),
                "SKR04 {number}"
            );
        }
        let ifrs = read("ifrs.csv");
        assert_eq!(ifrs.account("1000").unwrap().kind, "bank");
    }

    #[test]
    fn the_shipped_jobs_and_their_examples_post_to_the_shipped_chart() {
        let bank = std::fs::read_to_string(shipped("jobs/bank-reconciliation.toml")).unwrap();
        let from = bank.find("# A pass that books differently").unwrap();
        // The per-pass example alone: the others need tables of their own ([match.rates]).
        let example: String = bank[from..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with("#   "))
            .filter_map(|l| l.strip_prefix("#   "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            example.contains("[posting.pass.batch.receipt]"),
            "{example}"
        );
        let last = bank.lines().last().unwrap();
        let config = load_install(
            &shipped_chart_tables(),
            &[("bank-reconciliation", last, &format!("{last}\n{example}"))],
        )
        .unwrap();
        let JobKind::CashReconciliation { posting, .. } =
            &config.job("bank-reconciliation").unwrap().kind
        else {
            panic!("the bank reconciliation")
        };
        assert!(posting.chart().unwrap().file.ends_with("skr03.csv"));
        let JobKind::AccountsPayable { accounts, .. } =
            &config.job("accounts-payable").unwrap().kind
        else {
            panic!("accounts payable")
        };
        assert_eq!(
            accounts.input_vat_rates["7"],
            "1571 Abziehbare Vorsteuer 7 %"
        );
        assert!(accounts.chart.is_some());

        // Every account number a commented example names is the shipped chart's: an example
        // switched on posts where it says.
        let chart = Chart::parse(
            "skr03.csv",
            &std::fs::read_to_string(shipped("config/charts/skr03.csv")).unwrap(),
        )
        .unwrap();
        let number =
            regex::Regex::new(r#"(?:account|difference_accounts?) = \[?"(\d{4})\b"#).unwrap();
        let mut seen = 0;
        for line in bank.lines().filter(|l| l.starts_with('#')) {
            for c in number.captures_iter(line) {
                seen += 1;
                assert!(
                    chart.check_template(&c[1]).is_ok(),
                    "{line}: account {} is not in the shipped SKR03 chart",
                    &c[1]
                );
            }
        }
        assert!(seen >= 5, "the examples name accounts: {seen}");
    }

    #[test]
    fn grir_needs_a_price_variance_account_and_both_must_be_in_the_chart() {
        let chart = shipped_chart_tables();
        let e = problems(load_install(
            &chart,
            &[(
                "accounts-payable",
                "price_variance = \"3250 Preisdifferenzen Wareneingang\"",
                "",
            )],
        ));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("accounts-payable.toml")
                && e[0].contains("payables.accounts.price_variance")
                && e[0].contains("grir"),
            "{e:#?}"
        );
        let e = problems(load_install(
            &chart,
            &[(
                "accounts-payable",
                "grir = \"1605 WE/RE-Verrechnungskonto\"",
                "grir = \"1699 GR/IR\"",
            )],
        ));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("key `payables.accounts.grir`") && e[0].contains("no account 1699"),
            "{e:#?}"
        );
    }

    #[test]
    fn an_account_the_chart_lacks_is_refused_when_the_job_loads() {
        let chart = shipped_chart_tables();
        let e = problems(load_install(
            &chart,
            &[
                (
                    "bank-reconciliation",
                    "1400 Forderungen aus Lieferungen und Leistungen",
                    "1290 Receivables clearing",
                ),
                (
                    "accounts-payable",
                    "\"7\" = \"1571 Abziehbare Vorsteuer 7 %\"",
                    "\"7\" = \"1576 Abziehbare Vorsteuer 7 %\"",
                ),
            ],
        ));
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(
            e[0].contains("accounts-payable.toml:")
                && e[0].contains("key `payables.accounts.input_vat_rates.7`")
                && e[0].contains("1576 is \"Abziehbare Vorsteuer 19 %\" in the chart")
                && e[0].contains("skr03.csv"),
            "{e:#?}"
        );
        assert!(
            e[1].contains("bank-reconciliation.toml:")
                && e[1].contains("key `posting.receipt.lines[1].account`")
                && e[1].contains("no account 1290 in the chart")
                && e[1].contains("skr03.csv"),
            "{e:#?}"
        );
    }

    #[test]
    fn chart_problems_name_the_file_and_line_or_the_key() {
        let e = problems(load_install(
            "[chart]\nfile = \"config/charts/skr05.csv\"\n",
            &[],
        ));
        assert!(
            e[0].contains("clerk.toml:") && e[0].contains("key `chart.file`"),
            "{e:#?}"
        );
        assert!(e[0].contains("cannot read the chart of accounts"), "{e:#?}");
        let e = problems(load_install(
            "[chart]\nfile = \"config/charts/skr03.csv\"\n\
             [chart.bank_accounts]\nDE89370400440532013000 = \"1600\"\n",
            &[],
        ));
        assert!(
            e[0].contains("key `chart.bank_accounts.DE89370400440532013000`")
                && e[0].contains("type payable"),
            "{e:#?}"
        );
        // A bad line of the chart file is named by the file and its line.
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("chart.csv");
        std::fs::write(&bad, "number,name,type\n1200,Bank,bank\n1200,Bank 2,bank\n").unwrap();
        let e = problems(load_install(
            &format!("[chart]\nfile = {:?}\n", bad.display().to_string()),
            &[],
        ));
        assert_eq!(
            e,
            [format!(
                "{}:3: account 1200 is already on line 2",
                bad.display()
            )]
        );
    }

    #[test]
    fn a_job_may_post_to_a_chart_of_its_own() {
        let chart = shipped_chart_tables();
        let top = "kind = \"cash_reconciliation\"";
        let skr04 = "chart = \"config/charts/skr04.csv\"\nkind = \"cash_reconciliation\"";
        // SKR03's numbers and bank accounts do not fit SKR04.
        let e = problems(load_install(&chart, &[("bank-reconciliation", top, skr04)]));
        assert!(
            e.iter().any(|p| p.contains("key `chart`")
                && p.contains("\"DE89370400440532013000\"")
                && p.contains("type receivable")),
            "{e:#?}"
        );
        // With its numbers and bank accounts, it loads.
        let own = "[bank_accounts]\n\"DE89370400440532013000\" = \"1800\"\n";
        let text = std::fs::read_to_string(shipped("jobs/bank-reconciliation.toml")).unwrap();
        let first_table = text.lines().find(|l| l.starts_with('[')).unwrap();
        let config = load_install(
            &chart,
            &[
                ("bank-reconciliation", top, skr04),
                (
                    "bank-reconciliation",
                    first_table,
                    &format!("{own}{first_table}"),
                ),
                (
                    "bank-reconciliation",
                    "1400 Forderungen",
                    "1200 Forderungen",
                ),
                (
                    "bank-reconciliation",
                    "1600 Verbindlichkeiten",
                    "3300 Verbindlichkeiten",
                ),
            ],
        )
        .unwrap();
        let JobKind::CashReconciliation { posting, .. } =
            &config.job("bank-reconciliation").unwrap().kind
        else {
            panic!("the bank reconciliation")
        };
        assert!(posting.chart().unwrap().file.ends_with("skr04.csv"));
        // A job that posts nothing takes no chart.
        let e = problems(load_install(
            &chart,
            &[(
                "ledger-import",
                "kind = \"ledger_import\"",
                "chart = \"config/charts/skr04.csv\"\nkind = \"ledger_import\"",
            )],
        ));
        assert!(
            e[0].contains("`chart` is not used by a ledger_import job"),
            "{e:#?}"
        );
    }

    #[test]
    fn tax_codes_load_with_the_shipped_job_and_their_errors_name_file_line_and_key() {
        let config = load_install(&shipped_chart_tables(), &[]).unwrap();
        let JobKind::AccountsPayable { accounts, .. } =
            &config.job("accounts-payable").unwrap().kind
        else {
            panic!("accounts payable")
        };
        assert_eq!(accounts.vat.codes.len(), 2);
        assert_eq!(accounts.vat.codes[0].category, "AE");
        assert_eq!(accounts.vat.home_country.as_deref(), Some("DE"));
        assert_eq!(
            accounts.vat.cash_discount.as_deref(),
            Some("3730 Erhaltene Skonti")
        );
        let e = problems(load_install(
            &shipped_chart_tables(),
            &[
                ("accounts-payable", "category = \"AE\"", "category = \"XX\""),
                (
                    "accounts-payable",
                    "supplier = \"eu\"",
                    "supplier = \"abroad\"",
                ),
                (
                    "accounts-payable",
                    "output_vat = \"1774 Umsatzsteuer aus innergemeinschaftlichem Erwerb 19 %\"",
                    "output_vat = \"1788 Umsatzsteuer\"",
                ),
                (
                    "accounts-payable",
                    "home_country = \"DE\"",
                    "home_country = \"Germany\"",
                ),
            ],
        ));
        let has = |key: &str, what: &str| {
            e.iter().any(|m| {
                m.contains("accounts-payable.toml:") && m.contains(key) && m.contains(what)
            })
        };
        assert!(has("payables.tax_codes[0].category", "UNCL 5305"), "{e:#?}");
        assert!(
            has("payables.tax_codes[1].output_vat", "no account 1788"),
            "{e:#?}"
        );
        assert!(
            has("payables.tax_codes[1].supplier", "\"third_country\""),
            "{e:#?}"
        );
        assert!(has("payables.home_country", "two letters"), "{e:#?}");
        // A reverse charge without its output VAT account.
        let e = problems(load_install(
            &shipped_chart_tables(),
            &[(
                "accounts-payable",
                "output_vat = \"1787 Umsatzsteuer nach § 13b UStG 19 %\"",
                "",
            )],
        ));
        assert!(
            e.iter()
                .any(|m| m.contains("payables.tax_codes[0]") && m.contains("name output_vat")),
            "{e:#?}"
        );
    }
}
