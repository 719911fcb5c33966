//! Job files: `jobs/<name>.toml`, one job each. The job's name is the file's name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::daemon::Settings;
use super::error::{ConfigError, Locator};
use super::looks_like_address;
use super::payables::{PurchasingFiles, RawPayables, check_payables};
use super::securities::{CsvSide, RawPositions, RawSettlement, check_positions, check_settlement};
use crate::extract::{ExtractSpec, Layout};
use crate::ingest::Watch;
use crate::ingest::mail::{MailRule, MailRuleSpec, Mailbox};
use crate::model::{Currency, Side};
use crate::post::payables::ApAccounts;
use crate::post::{PostingSpec, PostingTemplate};
use crate::reconcile::CashRules;
use crate::reconcile::engine::MatchSpec;
use crate::reconcile::payables::ApRules;
use crate::reconcile::positions::PositionRules;
use crate::reconcile::settlement::SettlementRules;
use crate::schedule::{Calendar, Schedule};
use crate::settings::{limits, resolve};

/// A checked job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// The job file, for messages.
    pub file: PathBuf,
    pub description: Option<String>,
    /// Who works this job's breaks (an address or a team name).
    pub owner: Option<String>,
    pub kind: JobKind,
    /// Folder to take files from, if the job is triggered by files.
    pub watch: Option<Watch>,
    /// When the job fires, if it is triggered by time.
    pub schedule: Option<Schedule>,
    /// Which mails of which mailbox bring this job its files, if any.
    pub mail: Option<MailRule>,
    /// Bank accounts (IBAN or account id) whose statements this job reads, whichever job's
    /// folder they reach: offered to it from the start. A job also reads every account it
    /// has received a statement of ([`crate::jobs::statements`]).
    pub statement_accounts: Vec<String>,
    /// `[[expect]]`: what must have arrived by when; a deadline passed without it opens a
    /// `file_missing` break.
    pub expect: Vec<super::expect::Expect>,
    /// `[escalation]`: when its breaks are mailed to someone who can act, once.
    pub escalation: Option<super::Escalation>,
}

// A handful of jobs per daemon: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum JobKind {
    /// Loads ledger items (the book side) into a book.
    LedgerImport { book: String, layout: Arc<Layout> },
    /// Reconciles bank statement lines against the open items of a book, and posts matches.
    CashReconciliation {
        book: String,
        /// Only ledger items of this account take part, when set.
        account: Option<String>,
        layout: Arc<Layout>,
        rules: CashRules,
        posting: PostingTemplate,
        /// For ageing this job's breaks.
        calendar: Calendar,
        /// How long an unmatched statement line or due ledger item waits, from when its
        /// record came, for its counterpart before it is a break (`break_grace`, else the
        /// daemon's). Until then it is pending: no break, not in the KPIs.
        break_grace: Duration,
    },
    /// Takes custodians' statements of holdings (MT535, semt.002) and of transactions
    /// (MT536, MT537) into a book.
    CustodyImport { book: String, layout: Arc<Layout> },
    /// Takes supplier invoices (UBL, CII, Factur-X) into a book.
    InvoiceImport { book: String, layout: Arc<Layout> },
    /// Compares the books' positions (CSV from the portfolio system) with the custodian's
    /// holdings (MT535, semt.002, or CSV) per safekeeping account and ISIN.
    PositionReconciliation {
        /// For the custodian's structured statements, recognised by content.
        layout: Arc<Layout>,
        /// Which CSV files are the books' positions; other CSV files are the custodian's.
        book: CsvSide,
        rules: PositionRules,
        calendar: Calendar,
    },
    /// Checks that every trade of the blotter (CSV) settles by its settlement date, against
    /// the custodian's settlement confirmations (MT536, MT537).
    TradeSettlement {
        layout: Arc<Layout>,
        /// Which CSV files are the trade blotter.
        blotter: CsvSide,
        rules: SettlementRules,
        /// Where trades and their settlements are booked (`[settlement.accounts]`); `None`
        /// books nothing.
        accounts: Option<crate::post::securities::SecuritiesAccounts>,
    },
    /// Accounts payable: supplier invoices (UBL, CII, Factur-X) matched three ways against
    /// purchase orders and goods receipts (CSV), posted when they agree; outgoing payments on
    /// the bank statement (MT940, camt) matched against the open payables and posted.
    AccountsPayable {
        layout: Arc<Layout>,
        purchasing: PurchasingFiles,
        rules: ApRules,
        accounts: ApAccounts,
    },
    /// Mails the exception summary.
    Summary {
        to: Vec<String>,
        /// How many of the oldest breaks to list in the mail body.
        oldest: usize,
        /// How many of the largest breaks to list.
        largest: usize,
        /// Rates into one base currency, for a converted grand total; `None` shows totals per
        /// currency only.
        rates: Option<crate::model::rates::BaseRates>,
        calendar: Calendar,
    },
}

impl Job {
    /// How long the job's unmatched items wait for their counterpart before they are breaks
    /// (see [`JobKind::CashReconciliation`]); nothing waits in the other kinds of job.
    pub fn break_grace(&self) -> Duration {
        match &self.kind {
            JobKind::CashReconciliation { break_grace, .. } => *break_grace,
            _ => Duration::ZERO,
        }
    }
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::LedgerImport { .. } => "ledger_import",
            JobKind::CashReconciliation { .. } => "cash_reconciliation",
            JobKind::CustodyImport { .. } => "custody_import",
            JobKind::InvoiceImport { .. } => "invoice_import",
            JobKind::PositionReconciliation { .. } => "position_reconciliation",
            JobKind::TradeSettlement { .. } => "trade_settlement",
            JobKind::AccountsPayable { .. } => "accounts_payable",
            JobKind::Summary { .. } => "summary",
        }
    }

    /// The extraction layout of jobs that read files.
    pub fn layout(&self) -> Option<&Layout> {
        match self {
            JobKind::LedgerImport { layout, .. }
            | JobKind::CashReconciliation { layout, .. }
            | JobKind::CustodyImport { layout, .. }
            | JobKind::InvoiceImport { layout, .. }
            | JobKind::PositionReconciliation { layout, .. }
            | JobKind::TradeSettlement { layout, .. }
            | JobKind::AccountsPayable { layout, .. } => Some(layout),
            JobKind::Summary { .. } => None,
        }
    }
}

pub(super) struct JobContext<'a> {
    pub root: &'a Path,
    pub settings: &'a Settings,
    pub calendars: &'a BTreeMap<String, Calendar>,
    pub mailboxes: &'a BTreeMap<String, Mailbox>,
    pub chart: &'a super::ChartSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    /// `ledger_import`, `cash_reconciliation`, `custody_import`, `invoice_import` or `summary`.
    kind: String,
    description: Option<String>,
    owner: Option<String>,
    /// The book ledger items go into (import) or are matched from (reconciliation).
    book: Option<String>,
    /// Reconciliation: only ledger items of this account.
    account: Option<String>,
    /// Cash reconciliation: how long an unmatched item waits for its counterpart before it
    /// is a break. Default: the daemon's `break_grace`.
    break_grace: Option<String>,
    /// Bank accounts whose statements the job reads, whichever job receives them.
    #[serde(default)]
    statement_accounts: Vec<String>,
    watch: Option<RawWatch>,
    /// Files mailed to a mailbox: which senders, subjects and attachments are for this job.
    mail: Option<MailRuleSpec>,
    schedule: Option<RawSchedule>,
    extract: Option<ExtractSpec>,
    #[serde(rename = "match")]
    matching: Option<MatchSpec>,
    posting: Option<PostingSpec>,
    summary: Option<RawSummary>,
    positions: Option<RawPositions>,
    settlement: Option<RawSettlement>,
    payables: Option<RawPayables>,
    /// The chart of accounts this job posts to, instead of clerk.toml's `[chart]`.
    chart: Option<String>,
    /// With `chart`: the bank accounts in it, instead of clerk.toml's `[chart.bank_accounts]`.
    bank_accounts: Option<BTreeMap<String, String>>,
    /// What must have arrived by when.
    #[serde(default)]
    expect: Vec<super::expect::RawExpect>,
    /// Breaks left open too long, mailed once to someone who can act.
    escalation: Option<super::escalation::RawEscalation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    folder: String,
    /// File name patterns, case-insensitive. Default: every file.
    #[serde(default)]
    patterns: Vec<String>,
    /// Overrides the daemon's settle time for this folder.
    settle_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    /// Five-field crontab: minute hour day-of-month month day-of-week.
    cron: String,
    /// Skip fire times on days this calendar says are not business days.
    calendar: Option<String>,
    /// Overrides the daemon's time zone for this schedule.
    timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    to: Vec<String>,
    /// How many of the oldest breaks the mail lists. Default 10.
    oldest: Option<i64>,
    /// How many of the largest breaks the mail lists. Default 10.
    largest: Option<i64>,
    /// The currency of the one converted grand total; needs `rates`.
    base_currency: Option<String>,
    /// What one unit of each currency is worth in `base_currency`.
    #[serde(default)]
    rates: BTreeMap<String, toml::Value>,
}

/// `summary.base_currency` and `[summary.rates]`: both or neither, every key a currency code,
/// every rate a positive number (a string keeps its exact decimal digits).
fn summary_rates(
    loc: &Locator<'_>,
    s: &RawSummary,
    errors: &mut Vec<ConfigError>,
) -> Option<crate::model::rates::BaseRates> {
    let Some(base) = &s.base_currency else {
        if !s.rates.is_empty() {
            errors.push(loc.error(
                "summary.rates",
                "rates need summary.base_currency: the currency they convert into, e.g. \"EUR\"",
            ));
        }
        return None;
    };
    let base: Currency = match base.parse() {
        Ok(c) => c,
        Err(e) => {
            errors.push(loc.error("summary.base_currency", e));
            return None;
        }
    };
    let mut per_unit = BTreeMap::new();
    for (code, value) in &s.rates {
        let key = format!("summary.rates.{code}");
        let currency: Currency = match code.parse() {
            Ok(c) => c,
            Err(e) => {
                errors.push(loc.error(&key, e));
                continue;
            }
        };
        match super::non_negative_decimal(loc, &key, value) {
            Ok(rate) if rate.is_zero() => errors.push(loc.error(
                &key,
                format!("a rate of 0 would make every {code} amount vanish from the total"),
            )),
            Ok(rate) => {
                per_unit.insert(currency, rate);
            }
            Err(e) => errors.push(e),
        }
    }
    Some(crate::model::rates::BaseRates { base, per_unit })
}

pub(super) fn load(path: &Path, ctx: &JobContext<'_>) -> Result<Job, Vec<ConfigError>> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the job file: {e}"),
        }]
    })?;
    let loc = Locator::new(path, &source);
    let raw: RawJob = toml::from_str(&source).map_err(|e| vec![loc.from_toml(&e)])?;
    let file = JobFile {
        raw: &raw,
        ctx,
        loc: &loc,
    };
    let mut errors = Vec::new();

    let name = job_name(path, &mut errors);
    let watch = file.watch(&mut errors);
    let mail = file.mail(&mut errors);
    let schedule = file.schedule(&mut errors);
    let break_grace = file.break_grace(&mut errors);
    let escalation = raw
        .escalation
        .as_ref()
        .map(|e| super::escalation::check_escalation(e, &loc, &mut errors));
    if !matches!(
        raw.kind.as_str(),
        "cash_reconciliation" | "accounts_payable"
    ) {
        file.unused(raw.chart.is_some(), "chart", &raw.kind, &mut errors);
        file.unused(
            raw.bank_accounts.is_some(),
            "bank_accounts",
            &raw.kind,
            &mut errors,
        );
    }

    let kind = match raw.kind.as_str() {
        "ledger_import" => load_ledger_import(&file, &mut errors),
        "cash_reconciliation" => load_cash(&file, break_grace, &mut errors),
        kind @ ("custody_import" | "invoice_import") => {
            load_document_import(&file, kind, &mut errors)
        }
        "position_reconciliation" => load_positions(&file, &mut errors),
        "trade_settlement" => load_settlement(&file, &mut errors),
        "accounts_payable" => load_accounts_payable(&file, &mut errors),
        "summary" => load_summary(&file, &mut errors),
        other => {
            errors.push(loc.error(
                "kind",
                format!(
                    "unknown job kind {other:?}; expected ledger_import, cash_reconciliation, custody_import, invoice_import, position_reconciliation, trade_settlement, accounts_payable or summary"
                ),
            ));
            None
        }
    };

    if !raw.statement_accounts.is_empty()
        && kind.as_ref().is_some_and(|k| {
            !matches!(
                k,
                JobKind::CashReconciliation { .. } | JobKind::AccountsPayable { .. }
            )
        })
    {
        errors.push(loc.error(
            "statement_accounts",
            "only a cash_reconciliation or accounts_payable job reads bank statements",
        ));
    }
    let expect = super::expect::check_expect(
        &raw.expect,
        ctx.settings.timezone,
        ctx.calendars,
        &loc,
        &mut errors,
    );
    match kind {
        Some(kind) if errors.is_empty() => Ok(Job {
            name,
            file: path.to_path_buf(),
            description: raw.description,
            owner: raw.owner,
            kind,
            watch,
            schedule,
            mail,
            statement_accounts: raw.statement_accounts,
            expect,
            escalation,
        }),
        _ => Err(errors),
    }
}

/// The job's name: its file's name, which people type in commands and see in mails.
fn job_name(path: &Path, errors: &mut Vec<ConfigError>) -> String {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.push(ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!(
                "a job's file name is its name and may use only letters, digits, '-' and '_', found {name:?}"
            ),
        });
    }
    name
}

/// One job file being checked: what it says, what `clerk.toml` gives it, and where its keys
/// are for messages. The checks shared by every kind of job are its methods; each collects
/// its problems in `errors` so all of them are reported at once.
struct JobFile<'a> {
    raw: &'a RawJob,
    ctx: &'a JobContext<'a>,
    loc: &'a Locator<'a>,
}

impl JobFile<'_> {
    /// The calendar `name` of `clerk.toml` (`default` when unnamed); an unknown one is an
    /// error at `key`, and weekends only stand in so the other checks go on.
    fn calendar(&self, key: &str, name: Option<&str>, errors: &mut Vec<ConfigError>) -> Calendar {
        let name = name.unwrap_or("default");
        match self.ctx.calendars.get(name) {
            Some(c) => c.clone(),
            None => {
                errors.push(self.loc.error(
                    key,
                    format!(
                        "no calendar {name:?} in clerk.toml; known: {}",
                        self.ctx.calendars.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
                Calendar::weekends_only()
            }
        }
    }

    /// A key or table that this kind of job does not read: refused, so a setting that would
    /// do nothing is not left in the file believed to work.
    fn unused(&self, present: bool, key: &str, kind: &str, errors: &mut Vec<ConfigError>) {
        if present {
            errors.push(
                self.loc
                    .error(key, format!("`{key}` is not used by a {kind} job")),
            );
        }
    }

    /// As [`JobFile::unused`], for several keys of one kind in the order they are reported.
    fn unused_all(&self, keys: &[(bool, &str)], kind: &str, errors: &mut Vec<ConfigError>) {
        for &(present, key) in keys {
            self.unused(present, key, kind, errors);
        }
    }

    fn watch(&self, errors: &mut Vec<ConfigError>) -> Option<Watch> {
        let w = self.raw.watch.as_ref()?;
        check_watch(w, self.ctx, self.loc)
            .map_err(|e| errors.push(e))
            .ok()
    }

    fn mail(&self, errors: &mut Vec<ConfigError>) -> Option<MailRule> {
        let mailboxes = self.ctx.mailboxes;
        match self.raw.mail.as_ref()?.check() {
            Ok(rule) => {
                if !mailboxes.contains_key(rule.mailbox()) {
                    errors.push(self.loc.error(
                        "mail.mailbox",
                        format!(
                            "no mailbox {:?} in clerk.toml; known: {}",
                            rule.mailbox(),
                            if mailboxes.is_empty() {
                                "none".to_string()
                            } else {
                                mailboxes.keys().cloned().collect::<Vec<_>>().join(", ")
                            }
                        ),
                    ));
                }
                Some(rule)
            }
            Err((key, message)) => {
                errors.push(self.loc.error(&key, message));
                None
            }
        }
    }

    fn schedule(&self, errors: &mut Vec<ConfigError>) -> Option<Schedule> {
        let s = self.raw.schedule.as_ref()?;
        let tz = match s.timezone.as_deref() {
            None => self.ctx.settings.timezone,
            Some(t) => match t.parse() {
                Ok(tz) => tz,
                Err(_) => {
                    errors.push(self.loc.error(
                        "schedule.timezone",
                        format!("unknown time zone {t:?}; use an IANA name such as Europe/Berlin"),
                    ));
                    return None;
                }
            },
        };
        match Schedule::parse(&s.cron, tz) {
            Ok(sch) => Some(match &s.calendar {
                Some(c) => sch.skipping(self.calendar("schedule.calendar", Some(c), errors)),
                None => sch,
            }),
            Err(e) => {
                errors.push(self.loc.error("schedule.cron", e.to_string()));
                None
            }
        }
    }

    /// `break_grace`, else the daemon's. Only a cash reconciliation holds unmatched items
    /// back; other kinds refuse the key (and a bad value is still reported).
    fn break_grace(&self, errors: &mut Vec<ConfigError>) -> Duration {
        let raw = self.raw;
        if raw.break_grace.is_some() && raw.kind != "cash_reconciliation" {
            self.unused(true, "break_grace", &raw.kind, errors);
        }
        match &raw.break_grace {
            None => self.ctx.settings.break_grace,
            Some(text) => limits::JOB_BREAK_GRACE.parse(text).unwrap_or_else(|m| {
                errors.push(self.loc.error(limits::JOB_BREAK_GRACE.key, m));
                self.ctx.settings.break_grace
            }),
        }
    }

    /// The `[extract]` layout for files read as `side`. Without `[extract]` a job reads only
    /// documents with their own structure (MT940, camt.053, MT535, invoices), recognised by
    /// content.
    fn layout(&self, side: Side, errors: &mut Vec<ConfigError>) -> Option<Arc<Layout>> {
        let default = ExtractSpec::default();
        match self.raw.extract.as_ref().unwrap_or(&default).check(side) {
            Ok(l) => Some(Arc::new(
                l.with_default_timezone(self.ctx.settings.timezone),
            )),
            Err(e) => {
                errors.push(self.loc.error(&e.key, e.message));
                None
            }
        }
    }

    /// The chart of accounts the job posts to: its own `chart`, else clerk.toml's `[chart]`;
    /// `None` without either (accounts are then the templates' text).
    fn chart(&self, errors: &mut Vec<ConfigError>) -> Option<Arc<crate::post::chart::Chart>> {
        let loc = self.loc;
        let Some(file) = &self.raw.chart else {
            if self.raw.bank_accounts.is_some() {
                errors.push(loc.error(
                    "bank_accounts",
                    "[bank_accounts] maps into the job's own chart: name it with `chart`, or \
                     map bank accounts in clerk.toml's [chart.bank_accounts]",
                ));
            }
            return self.ctx.chart.chart.clone();
        };
        match &self.raw.bank_accounts {
            Some(own) => super::chart::load_chart(
                self.ctx.root,
                file,
                own,
                loc,
                "chart",
                &|id, m| loc.error(&format!("bank_accounts.{id}"), m),
                errors,
            ),
            None => super::chart::load_chart(
                self.ctx.root,
                file,
                &self.ctx.chart.bank_accounts,
                loc,
                "chart",
                &|id, m| {
                    loc.error(
                        "chart",
                        format!(
                            "clerk.toml's [chart.bank_accounts] {id:?} in this job's chart \
                             (give the job its own [bank_accounts]): {m}"
                        ),
                    )
                },
                errors,
            ),
        }
    }

    fn book(&self, errors: &mut Vec<ConfigError>) -> Option<String> {
        match self.raw.book.as_deref().map(str::trim) {
            Some(b) if !b.is_empty() => Some(b.to_string()),
            _ => {
                errors.push(
                    self.loc
                        .error("book", "missing `book`: the name of the ledger"),
                );
                None
            }
        }
    }
}

fn load_ledger_import(file: &JobFile<'_>, errors: &mut Vec<ConfigError>) -> Option<JobKind> {
    let raw = file.raw;
    file.unused_all(
        &[
            (raw.matching.is_some(), "match"),
            (raw.posting.is_some(), "posting"),
            (raw.summary.is_some(), "summary"),
            (raw.account.is_some(), "account"),
        ],
        "ledger_import",
        errors,
    );
    let book = file.book(errors);
    let layout = file.layout(Side::Ledger, errors);
    book.zip(layout)
        .map(|(book, layout)| JobKind::LedgerImport { book, layout })
}

fn load_cash(
    file: &JobFile<'_>,
    break_grace: Duration,
    errors: &mut Vec<ConfigError>,
) -> Option<JobKind> {
    let raw = file.raw;
    file.unused(
        raw.summary.is_some(),
        "summary",
        "cash_reconciliation",
        errors,
    );
    let book = file.book(errors);
    let layout = file.layout(Side::Statement, errors);
    let rules = cash_rules(file, errors);
    let posting = match &raw.posting {
        None => {
            errors.push(file.loc.error(
                "posting",
                "missing [posting]: the journal entry a match posts",
            ));
            None
        }
        Some(p) => p
            .check()
            .map_err(|e| errors.push(file.loc.error(&e.key, e.message)))
            .ok(),
    };
    if let Some(p) = &posting {
        posting_passes_exist(file, p, errors);
    }
    let posting = match (posting, file.chart(errors)) {
        (Some(p), Some(chart)) => p
            .with_chart(chart)
            .map_err(|e| errors.push(file.loc.error(&e.key, e.message)))
            .ok(),
        (posting, _) => posting,
    };
    let (book, layout, (rules, calendar), mut posting) = (book?, layout?, rules?, posting?);
    if let Some(name) = posting.fx_rates_name() {
        // `[posting.fx]` books at a table `[match.rates]` loads.
        match rules.rates.get(name) {
            Some(r) => posting.set_rates(Arc::new(r.clone())),
            None => {
                errors.push(file.loc.error(
                    "posting.fx.rates",
                    format!(
                        "no rates table {name:?} in [match.rates]; known: {}",
                        rules.rates.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
                return None;
            }
        }
    }
    Some(JobKind::CashReconciliation {
        book,
        account: raw.account.clone(),
        layout,
        rules,
        posting,
        calendar,
        break_grace,
    })
}

/// Each `[posting.pass.<name>]` names a pass of `[[match.passes]]` (or `manual`, a match made
/// by hand): a template for a pass that does not exist would never post, unnoticed.
fn posting_passes_exist(
    file: &JobFile<'_>,
    posting: &PostingTemplate,
    errors: &mut Vec<ConfigError>,
) {
    let passes: Vec<&str> = file
        .raw
        .matching
        .iter()
        .flat_map(|m| m.passes.iter().map(|p| p.name.as_str()))
        .collect();
    for name in posting.pass_names() {
        if name != "manual" && !passes.contains(&name) {
            errors.push(file.loc.error(
                &format!("posting.pass.{name}"),
                format!(
                    "no pass {name:?} in [[match.passes]]; known: {}",
                    passes.iter().chain(["manual"].iter()).copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
}

/// `[match]` of a cash reconciliation: the rules, and the calendar they count days by.
fn cash_rules(file: &JobFile<'_>, errors: &mut Vec<ConfigError>) -> Option<(CashRules, Calendar)> {
    let Some(m) = &file.raw.matching else {
        errors.push(
            file.loc
                .error("match", "missing [match]: the matching rules"),
        );
        return None;
    };
    let cal = file.calendar("match.calendar", m.calendar.as_deref(), errors);
    // Mapping and rates files, relative to the install root.
    let read = |f: &str| {
        std::fs::read_to_string(resolve(file.ctx.root, f)).map_err(|e| format!("cannot read: {e}"))
    };
    match CashRules::from_spec(m, cal.clone(), &read) {
        Ok(rules) => Some((rules, cal)),
        Err(es) => {
            for e in es {
                errors.push(file.loc.error(&e.key, e.message));
            }
            None
        }
    }
}

/// `custody_import` and `invoice_import`: documents recognised by content into a book.
fn load_document_import(
    file: &JobFile<'_>,
    kind: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<JobKind> {
    let raw = file.raw;
    file.unused_all(
        &[
            (raw.matching.is_some(), "match"),
            (raw.posting.is_some(), "posting"),
            (raw.summary.is_some(), "summary"),
            (raw.account.is_some(), "account"),
        ],
        kind,
        errors,
    );
    let book = file.book(errors);
    let layout = file.layout(Side::Statement, errors);
    book.zip(layout).map(|(book, layout)| {
        if kind == "custody_import" {
            JobKind::CustodyImport { book, layout }
        } else {
            JobKind::InvoiceImport { book, layout }
        }
    })
}

/// What a securities job (`position_reconciliation`, `trade_settlement`) does not read: the
/// cash tables and `book` (its books' side is a CSV file), and the other securities table.
fn unused_by_securities(file: &JobFile<'_>, kind: &str, errors: &mut Vec<ConfigError>) {
    let raw = file.raw;
    file.unused_all(
        &[
            (raw.matching.is_some(), "match"),
            (raw.posting.is_some(), "posting"),
            (raw.summary.is_some(), "summary"),
            (raw.account.is_some(), "account"),
            (raw.book.is_some(), "book"),
            (
                raw.positions.is_some() && kind != "position_reconciliation",
                "positions",
            ),
            (
                raw.settlement.is_some() && kind != "trade_settlement",
                "settlement",
            ),
        ],
        kind,
        errors,
    );
}

fn load_positions(file: &JobFile<'_>, errors: &mut Vec<ConfigError>) -> Option<JobKind> {
    unused_by_securities(file, "position_reconciliation", errors);
    let layout = file.layout(Side::Statement, errors);
    let Some(p) = &file.raw.positions else {
        errors.push(file.loc.error(
            "positions",
            "missing [positions]: which files are the books' positions",
        ));
        return None;
    };
    let (book, rules) = check_positions(p, file.loc, errors);
    let calendar = file.calendar("positions.calendar", None, errors);
    layout.map(|layout| JobKind::PositionReconciliation {
        layout,
        book,
        rules,
        calendar,
    })
}

fn load_settlement(file: &JobFile<'_>, errors: &mut Vec<ConfigError>) -> Option<JobKind> {
    unused_by_securities(file, "trade_settlement", errors);
    let layout = file.layout(Side::Statement, errors);
    let Some(p) = &file.raw.settlement else {
        errors.push(file.loc.error(
            "settlement",
            "missing [settlement]: which files are the trade blotter",
        ));
        return None;
    };
    let calendar = |key: &str, name: Option<&str>, errors: &mut Vec<ConfigError>| {
        file.calendar(key, name, errors)
    };
    let chart = |errors: &mut Vec<ConfigError>| file.chart(errors);
    let (blotter, rules, accounts) = check_settlement(p, file.loc, calendar, chart, errors);
    layout.map(|layout| JobKind::TradeSettlement {
        layout,
        blotter,
        rules,
        accounts,
    })
}

fn load_accounts_payable(file: &JobFile<'_>, errors: &mut Vec<ConfigError>) -> Option<JobKind> {
    let raw = file.raw;
    file.unused_all(
        &[
            (raw.matching.is_some(), "match"),
            (raw.posting.is_some(), "posting"),
            (raw.summary.is_some(), "summary"),
            (raw.account.is_some(), "account"),
            (raw.book.is_some(), "book"),
            (raw.positions.is_some(), "positions"),
            (raw.settlement.is_some(), "settlement"),
        ],
        "accounts_payable",
        errors,
    );
    let layout = file.layout(Side::Statement, errors);
    let Some(p) = &raw.payables else {
        errors.push(file.loc.error(
            "payables",
            "missing [payables]: purchase order and receipt files, tolerances, accounts",
        ));
        return None;
    };
    let chart = file.chart(errors);
    let (purchasing, rules, accounts) = check_payables(p, file.loc, chart, errors);
    layout.map(|layout| JobKind::AccountsPayable {
        layout,
        purchasing,
        rules,
        accounts,
    })
}

fn load_summary(file: &JobFile<'_>, errors: &mut Vec<ConfigError>) -> Option<JobKind> {
    let (raw, loc) = (file.raw, file.loc);
    file.unused_all(
        &[
            (raw.extract.is_some(), "extract"),
            (raw.matching.is_some(), "match"),
            (raw.posting.is_some(), "posting"),
            (raw.watch.is_some(), "watch"),
        ],
        "summary",
        errors,
    );
    if raw.schedule.is_none() {
        errors.push(loc.error("schedule", "missing [schedule]: when the summary is sent"));
    }
    let Some(s) = &raw.summary else {
        errors.push(loc.error("summary", "missing [summary]: who receives it"));
        return None;
    };
    if s.to.is_empty() {
        errors.push(loc.error("summary.to", "name at least one recipient"));
    }
    for (i, a) in s.to.iter().enumerate() {
        if !looks_like_address(a) {
            errors.push(loc.error(
                &format!("summary.to[{i}]"),
                format!("expected an address like manager@example.com, found {a:?}"),
            ));
        }
    }
    let calendar = file.calendar(
        "schedule.calendar",
        raw.schedule.as_ref().and_then(|s| s.calendar.as_deref()),
        errors,
    );
    let oldest = limits::SUMMARY_OLDEST
        .check_usize(s.oldest.unwrap_or(10))
        .unwrap_or_else(|m| {
            errors.push(loc.error(limits::SUMMARY_OLDEST.key, m));
            10
        });
    let largest = limits::SUMMARY_LARGEST
        .check_usize(s.largest.unwrap_or(10))
        .unwrap_or_else(|m| {
            errors.push(loc.error(limits::SUMMARY_LARGEST.key, m));
            10
        });
    Some(JobKind::Summary {
        to: s.to.clone(),
        oldest,
        largest,
        rates: summary_rates(loc, s, errors),
        calendar,
    })
}

fn check_watch(
    w: &RawWatch,
    ctx: &JobContext<'_>,
    loc: &Locator<'_>,
) -> Result<Watch, ConfigError> {
    let settle_time = match &w.settle_time {
        None => Ok(ctx.settings.settle_time),
        Some(s) => limits::WATCH_SETTLE_TIME
            .parse(s)
            .map_err(|m| loc.error(limits::WATCH_SETTLE_TIME.key, m)),
    };
    // A bad pattern is the one error reported when the settle time is bad too.
    let watch = Watch::new(
        resolve(ctx.root, &w.folder),
        w.patterns.clone(),
        *settle_time.as_ref().unwrap_or(&Duration::ZERO),
    )
    .map_err(|(key, message)| loc.error(&key, message))?;
    settle_time.map(|_| watch)
}

/// Checks that need every job: one job per folder, and reconciliations fed by an import.
pub(super) fn check_together(jobs: &[Job]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut folders: BTreeMap<&Path, &Job> = BTreeMap::new();
    for job in jobs {
        if let Some(w) = &job.watch
            && let Some(other) = folders.insert(&w.folder, job)
        {
            errors.push(ConfigError {
                file: job.file.clone(),
                line: None,
                key: Some("watch.folder".into()),
                message: format!(
                    "{} is already watched by job {:?}; one folder feeds one job",
                    w.folder.display(),
                    other.name
                ),
            });
        }
    }
    for job in jobs {
        if let JobKind::CashReconciliation { book, .. } = &job.kind {
            let fed = jobs
                .iter()
                .any(|j| matches!(&j.kind, JobKind::LedgerImport { book: b, .. } if b == book));
            if !fed {
                errors.push(ConfigError {
                    file: job.file.clone(),
                    line: None,
                    key: Some("book".into()),
                    message: format!(
                        "no ledger_import job loads book {book:?}, so there is nothing to reconcile against"
                    ),
                });
            }
        }
    }
    errors
}

/// Every job file in the jobs folder, then the checks across jobs.
pub(super) fn load_all(ctx: &JobContext<'_>, errors: &mut Vec<ConfigError>) -> Vec<Job> {
    let mut jobs = Vec::new();
    match job_files(&ctx.settings.jobs_dir) {
        Ok(files) => {
            for path in files {
                match load(&path, ctx) {
                    Ok(j) => jobs.push(j),
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        Err(e) => errors.push(ConfigError {
            file: ctx.settings.jobs_dir.clone(),
            line: None,
            key: None,
            message: format!("cannot read the jobs folder: {e}"),
        }),
    }
    errors.extend(check_together(&jobs));
    jobs
}

fn job_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Loads an install with the shipped ledger import and the shipped bank reconciliation
    /// whose `[posting]` is replaced by `posting`; the errors as `clerk check` prints them.
    fn check_posting(posting: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::write(
            root.join("config/clerk.toml"),
            "[daemon]\njobs = \"jobs\"\nstate = \"var\"\n\
             [mailboxes.back-office]\nkind = \"maildir\"\npath = \"var/mail\"\n",
        )
        .unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
        let read = |job: &str| std::fs::read_to_string(shipped.join(job)).unwrap();
        std::fs::write(
            root.join("jobs/ledger-import.toml"),
            read("ledger-import.toml"),
        )
        .unwrap();
        let bank = read("bank-reconciliation.toml");
        let matching = &bank[..bank.find("\n[posting").expect("the shipped job posts")];
        std::fs::write(
            root.join("jobs/bank-reconciliation.toml"),
            format!("{matching}\n{posting}"),
        )
        .unwrap();
        super::super::load(&root.join("config/clerk.toml"))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The line of `needle` in the job file that `posting` completes.
    fn line_of(posting: &str, needle: &str) -> usize {
        let bank = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/bank-reconciliation.toml"),
        )
        .unwrap();
        let before = bank[..bank.find("\n[posting").unwrap()].lines().count();
        before + 1 + posting.lines().position(|l| l.contains(needle)).unwrap()
    }

    const BY_DIRECTION: &str = r#"[posting.receipt]
lines = [
  { account = "1010 Bank {currency}", amount = "statement" },
  { account = "1290 Receivables clearing", amount = "-item" },
]
[posting.payment]
lines = [
  { account = "1690 Payables clearing", amount = "-item" },
  { account = "1010 Bank {currency}", amount = "statement" },
]
"#;

    #[test]
    fn receipt_payment_and_pass_templates_load_and_their_mistakes_name_file_line_and_key() {
        check_posting(BY_DIRECTION).unwrap();
        let per_pass = format!(
            "{BY_DIRECTION}[posting.pass.batch.receipt]\nlines = [\n  \
             {{ account = \"1010 Bank\", amount = \"statement\" }},\n  \
             {{ account = \"1291 Batch clearing\", amount = \"-item\" }},\n]\n"
        );
        check_posting(&per_pass).unwrap();

        // An unknown key in a template is refused at its line.
        let typo = BY_DIRECTION.replace(
            "[posting.payment]\n",
            "[posting.payment]\nnarative = \"x\"\n",
        );
        let e = check_posting(&typo).unwrap_err();
        let line = line_of(&typo, "narative");
        assert!(
            e.contains(&format!("bank-reconciliation.toml:{line}"))
                && e.contains("posting.payment.narative"),
            "{e}"
        );

        // A template for a pass the job does not have would never post.
        let ghost = format!(
            "{BY_DIRECTION}[posting.pass.instalments]\nlines = [\n  \
             {{ account = \"1010 Bank\", amount = \"statement\" }},\n  \
             {{ account = \"1291\", amount = \"-item\" }},\n]\n"
        );
        let e = check_posting(&ghost).unwrap_err();
        let line = line_of(&ghost, "[posting.pass.instalments]");
        assert!(
            e.contains(&format!("bank-reconciliation.toml:{line}"))
                && e.contains("key `posting.pass.instalments`")
                && e.contains("no pass \"instalments\" in [[match.passes]]"),
            "{e}"
        );

        // A receipt without a payment: what would money out post?
        let half = &BY_DIRECTION[..BY_DIRECTION.find("[posting.payment]").unwrap()];
        let e = check_posting(half).unwrap_err();
        assert!(
            e.contains("key `posting.payment`")
                && e.contains("a payment (money out) has no template"),
            "{e}"
        );
    }

    /// The shipped job's receipt and payment templates load, and so does its commented
    /// per-pass example, uncommented beside them.
    #[test]
    fn the_shipped_jobs_templates_and_its_commented_example_load() {
        let bank = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/bank-reconciliation.toml"),
        )
        .unwrap();
        let posting = &bank[bank.find("\n[posting").expect("the shipped job posts")..];
        assert!(
            posting.contains("[posting.receipt]") && posting.contains("[posting.payment]"),
            "{posting}"
        );
        check_posting(posting).unwrap();
        let example = shipped_example("[posting.pass.batch.receipt]");
        assert!(
            example.contains("[posting.pass.batch.receipt]"),
            "{example}"
        );
        check_posting(&format!("{posting}\n{example}")).unwrap();
    }

    /// The shipped job's commented example from the line `#   <first>` to the next line that
    /// is not a commented example, uncommented.
    fn shipped_example(first: &str) -> String {
        let bank = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/bank-reconciliation.toml"),
        )
        .unwrap();
        let start = bank
            .find(&format!("#   {first}"))
            .unwrap_or_else(|| panic!("no example {first} in the shipped job"));
        bank[start..]
            .lines()
            .take_while(|l| l.starts_with("#   "))
            .map(|l| format!("{}\n", &l[4..]))
            .collect()
    }

    #[test]
    fn difference_lines_fx_and_manual_limits_load_and_their_mistakes_name_the_key() {
        // The shipped examples, as an administrator would uncomment them.
        let receipt = shipped_example("[posting.receipt]");
        assert!(receipt.contains("amount = \"difference\""), "{receipt}");
        let payment = &BY_DIRECTION[BY_DIRECTION.find("[posting.payment]").unwrap()..];
        let manual = shipped_example("[posting.manual]");
        check_posting(&format!("{receipt}{payment}{manual}")).unwrap();

        // [posting.fx] converts at a table [match.rates] loads.
        let fx = shipped_example("[posting.fx]");
        let e = check_posting(&format!("{BY_DIRECTION}{fx}")).unwrap_err();
        assert!(
            e.contains("posting.fx.rates") && e.contains("no rates table \"ecb\""),
            "{e}"
        );
        let e = check_posting(&format!(
            "{BY_DIRECTION}{}",
            fx.replace("\"EUR\"", "\"euro\"")
        ))
        .unwrap_err();
        assert!(e.contains("posting.fx.functional_currency"), "{e}");

        let e = check_posting(&format!(
            "{BY_DIRECTION}{}",
            manual.replace("\"50.00\"", "\"-5\"")
        ))
        .unwrap_err();
        assert!(e.contains("posting.manual.max_difference"), "{e}");
        let twice = BY_DIRECTION.replace(
            "  { account = \"1290 Receivables clearing\", amount = \"-item\" },\n",
            "  { account = \"1290 Receivables clearing\", amount = \"-item\" },\n  \
             { account = \"6855\", amount = \"difference\" },\n  \
             { account = \"6856\", amount = \"difference\" },\n",
        );
        let e = check_posting(&twice).unwrap_err();
        assert!(e.contains("posting.receipt.lines[3].amount"), "{e}");
    }

    /// The commented posting rules load as written; a rule's mistake names file, line and key.
    #[test]
    fn the_shipped_posting_rules_example_loads_and_a_wrong_rule_names_its_key() {
        let bank = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/bank-reconciliation.toml"),
        )
        .unwrap();
        let posting = &bank[bank.find("\n[posting").expect("the shipped job posts")..];
        let from = bank
            .find("#   [[posting.rules]]")
            .expect("the example is there");
        let rules: String = bank[from..]
            .lines()
            .take_while(|l| l.starts_with("#"))
            .filter_map(|l| l.strip_prefix("#   "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(rules.matches("[[posting.rules]]").count(), 2, "{rules}");
        check_posting(&format!("{posting}\n{rules}")).unwrap();

        let wrong = rules.replacen("direction = \"payment\"", "direction = \"debit\"", 1);
        let e = check_posting(&format!("{posting}\n{wrong}")).unwrap_err();
        // The file as written: the job's matching, then the posting tables given.
        let written = format!(
            "{}\n{posting}\n{wrong}",
            &bank[..bank.find("\n[posting").unwrap()]
        );
        let line = 1 + written
            .lines()
            .position(|l| l.contains("= \"debit\""))
            .unwrap();
        assert!(
            e.contains(&format!("bank-reconciliation.toml:{line}"))
                && e.contains("posting.rules[0].direction")
                && e.contains("expected \"receipt\", \"payment\" or \"any\""),
            "{e}"
        );
    }
}
