//! The morning exception summary and the job-failure alert, rendered from plain data.
//!
//! Pure: no I/O and no clock. The caller computes ages in business days and passes the time the
//! summary is generated, so every rendering can be tested byte for byte.
//!
//! **Invariant:** every value taken from data is HTML-escaped in the HTML body, flattened to one
//! line where a line break would change the layout (subject, plain-text tables), and passed
//! through [`csv_cell`] in the CSV attachment.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::one_line;

mod audit;
mod bank;
mod escalation;
mod exports;
mod grir;
pub use exports::ExportStatus;
mod links;
use crate::model::rates::BaseRates;
use crate::model::{Break, BreakReason, Currency, break_label};
pub use audit::AuditHead;
pub use bank::BankLine;
pub use escalation::render_escalation;
pub use grir::GrirLine;
pub use links::{AlertLinks, Links};

/// Everything the morning summary shows. Assembled by the caller from the store.
#[derive(Clone, Debug)]
pub struct SummaryInput {
    /// The day the summary is for (in the subject and the attachment's name).
    pub business_date: NaiveDate,
    /// When the summary was rendered; shown in `timezone`.
    pub generated_at: DateTime<Utc>,
    /// Managers read local times.
    pub timezone: Tz,
    /// One per job: its KPIs since the previous summary.
    pub jobs: Vec<JobDigest>,
    /// Every break that is still open, whatever its age.
    pub breaks: Vec<BreakLine>,
    /// How many of the largest breaks the bodies list one by one.
    pub largest: usize,
    /// Rates into one base currency for a converted grand total, when configured.
    pub rates: Option<BaseRates>,
    /// Each bank account's book balance against its statement.
    pub bank: Vec<BankLine>,
    /// Goods received and not yet invoiced, per currency (the open GR/IR).
    pub grir: Vec<GrirLine>,
    /// Which accounting periods are closed ("closed: 2026-01 to 2026-10; every other period is
    /// open"), or that every one is open.
    pub periods: Option<String>,
    /// The console's pages, when `[http] public_url` is set: each break, file and job listed
    /// links to its page.
    pub links: Option<Links>,
    /// The audit chain's head when the summary was composed, which the mail pins.
    pub audit_head: Option<AuditHead>,
    /// Each `[[exports]]` target: up to date, or how many entries wait.
    pub exports: Vec<ExportStatus>,
}

/// One job's KPIs since the previous summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobDigest {
    pub job: String,
    pub files_processed: u64,
    /// Files that could not be read (moved to `failed/`).
    pub files_failed: u64,
    /// Files skipped because their content had been processed before.
    pub files_duplicate: u64,
    /// Records read from the processed files.
    pub records: u64,
    /// Records matched and posted with no human touch.
    pub auto_matched: u64,
    /// Breaks opened: the records that need a human.
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    /// Total of the runs' durations.
    pub processing_time: Duration,
    pub runs: u64,
    /// Average time from a file's arrival in its folder to its entries being posted.
    pub arrival_to_posting: Option<Duration>,
    /// From the `[costs]` model, when there is one.
    pub costs: Option<crate::model::costs::Costs>,
    /// Ledger rows that arrived again with other content (corrected bookings), and of them
    /// those whose earlier, open version was replaced; the rest changed after their match.
    pub records_changed: u64,
    pub records_withdrawn: u64,
}

impl JobDigest {
    /// Straight-through-processing rate (see [`crate::model::stp_rate`]). Rates are shown
    /// rounded to a tenth of a percent: a float is fine here, unlike money.
    pub fn stp_rate(&self) -> Option<f64> {
        crate::model::stp_rate(self.auto_matched, self.breaks_opened)
    }

    /// Error rate (see [`crate::model::error_rate`]).
    pub fn error_rate(&self) -> Option<f64> {
        crate::model::error_rate(self.auto_matched, self.breaks_opened)
    }

    /// Whether the job has anything to report: a run, a file, a break opened or closed.
    pub fn did_something(&self) -> bool {
        self.runs > 0
            || self.files_processed > 0
            || self.files_failed > 0
            || self.files_duplicate > 0
            || self.breaks_opened > 0
            || self.breaks_closed > 0
            || self.records_changed > 0
    }
}

/// An open break with its age, which the caller counts in business days with the job's
/// calendar.
#[derive(Clone, Debug)]
pub struct BreakLine {
    pub brk: Break,
    pub age_days: i64,
    /// The reference and counterparty of the break's record, for the attachment: what people
    /// search the bank portal and the books by.
    pub reference: Option<String>,
    pub counterparty: Option<String>,
    /// The file the break came from (its record's, or the file that failed), for a link.
    pub file_id: Option<i64>,
    /// Open longer than its job's `[escalation]` allows: listed under "Escalated".
    pub escalated: bool,
}

impl BreakLine {
    pub fn new(brk: Break, age_days: i64) -> Self {
        BreakLine {
            brk,
            age_days,
            reference: None,
            counterparty: None,
            file_id: None,
            escalated: false,
        }
    }
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// A MIME type, e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A message's content, ready for [`crate::notify::build_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line: never contains CR or LF.
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
}

/// The header of the CSV attachment.
pub const CSV_HEADER: [&str; 15] = [
    "id",
    "job",
    "reason",
    "status",
    "age_days",
    "since",
    "amount",
    "currency",
    "difference",
    "reference",
    "counterparty",
    "record_ids",
    "owner",
    "detail",
    "source",
];

/// The plain-text body fits this many columns: what a mail client shows without wrapping
/// tables into nonsense.
pub const TEXT_WIDTH: usize = 100;

/// At most this many unreadable files are listed in the bodies; the attachment has them all.
const FAILED_FILES_LISTED: usize = 50;

/// Neutralises a CSV cell that a spreadsheet would run as a formula: a cell starting with
/// `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, which spreadsheets read as
/// "this is text" (OWASP's advice for CSV injection).
///
/// Only free-text cells go through here. Amounts do not: they are written from a `Decimal`,
/// whose text is only digits, one point and an optional leading minus, so it can never be a
/// formula, and `-12.50` must stay a number a spreadsheet can sum.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// Renders the morning summary: subject, plain text, HTML, and all open breaks as a CSV
/// attachment (none when nothing is open). `oldest` is how many of the oldest breaks the bodies
/// list one by one.
pub fn render_summary(input: &SummaryInput, oldest: usize) -> Rendered {
    let facts = Facts::gather(input, oldest);
    let subject = subject(input, &facts);
    let text = summary_text(input, &facts);
    let html = summary_html(input, &facts, &subject);
    let attachments = if input.breaks.is_empty() {
        Vec::new()
    } else {
        vec![Attachment {
            filename: csv_name(input.business_date),
            content_type: "text/csv; charset=utf-8".to_owned(),
            bytes: breaks_csv(&facts.by_age),
        }]
    };
    Rendered {
        subject,
        text,
        html,
        attachments,
    }
}

/// Renders the alert sent at once when a job run fails. `what` is the error, naming file and
/// line; it may span lines.
pub fn render_alert(
    job: &str,
    run: Option<i64>,
    what: &str,
    at: DateTime<Utc>,
    tz: Tz,
) -> Rendered {
    render_alert_linked(job, run, what, at, tz, &AlertLinks::default())
}

/// [`render_alert`] with links to the console's pages of the job, file and break (each when
/// known); no links, no change.
pub fn render_alert_linked(
    job: &str,
    run: Option<i64>,
    what: &str,
    at: DateTime<Utc>,
    tz: Tz,
    links: &AlertLinks,
) -> Rendered {
    let when = local_time(at, tz);
    let run_text = run.map(|r| format!(" (run {r})")).unwrap_or_default();
    let job_line = one_line(job);
    let subject = one_line(&format!(
        "clerk ALERT: job {} failed{run_text} — {when}",
        truncate(&job_line, 80)
    ));
    let what = keep_lines(what);

    let mut text = String::new();
    let _ = writeln!(text, "Job {job_line} failed{run_text} at {when} ({tz}).");
    text.push_str("\nWhat failed:\n\n");
    for line in what.lines() {
        let _ = writeln!(text, "    {line}");
    }
    let _ = write!(
        text,
        "\nclerk's log has the details under job={job_line}{}.\n",
        run.map(|r| format!(" run={r}")).unwrap_or_default()
    );
    let listed = links.listed();
    if !listed.is_empty() {
        text.push_str("\nIn the console:\n");
        for (what, url) in &listed {
            let _ = writeln!(text, "  {what}: {}", one_line(url));
        }
    }

    let mut html = html_head(&subject);
    let _ = write!(
        html,
        "<h2 style=\"{H2}color:#b00020\">Job {} failed{}</h2>\
         <p style=\"color:#555\">{} ({})</p>\
         <p><strong>What failed:</strong></p>\
         <pre style=\"background:#f6f6f6;border:1px solid #ddd;padding:8px;\
         white-space:pre-wrap;font-size:13px\">{}</pre>",
        esc(&job_line),
        esc(&run_text),
        esc(&when),
        esc(tz.name()),
        esc(&what),
    );
    if !listed.is_empty() {
        html.push_str("<p>In the console: ");
        for (i, (what, url)) in listed.iter().enumerate() {
            if i > 0 {
                html.push_str(" · ");
            }
            let _ = write!(html, "<a href=\"{}\">{what}</a>", esc(url));
        }
        html.push_str("</p>");
    }
    html.push_str(HTML_TAIL);

    Rendered {
        subject,
        text,
        html,
        attachments: Vec::new(),
    }
}

/// What the bodies show, computed once.
struct Facts<'a> {
    /// All open breaks, oldest first (age, then date, then id).
    by_age: Vec<&'a BreakLine>,
    /// How many of `by_age` the bodies list.
    oldest: usize,
    /// The breaks with an amount, largest first, as many as the bodies list.
    largest: Vec<&'a BreakLine>,
    /// Open breaks per job and reason.
    groups: BTreeMap<(&'a str, BreakReason), Totals>,
    /// Open breaks per reason and ageing bucket (see [`AGEING`]).
    ageing: BTreeMap<BreakReason, [u64; 4]>,
    all: Totals,
    /// Breaks for files that could not be read, oldest first.
    failed_files: Vec<&'a BreakLine>,
    /// Breaks opened since the previous summary, over all jobs.
    new: u64,
    /// The KPIs of the jobs that did something, by job name.
    jobs: Vec<&'a JobDigest>,
    /// The jobs that did nothing since the previous summary: one line, not a row each.
    idle: Vec<&'a str>,
    rates: Option<&'a BaseRates>,
}

impl<'a> Facts<'a> {
    fn gather(input: &'a SummaryInput, oldest: usize) -> Self {
        let mut by_age: Vec<&BreakLine> = input.breaks.iter().collect();
        by_age.sort_by_key(|b| (Reverse(b.age_days), b.brk.since, b.brk.id));
        let mut groups: BTreeMap<(&str, BreakReason), Totals> = BTreeMap::new();
        let mut all = Totals::default();
        let mut ageing: BTreeMap<BreakReason, [u64; 4]> = BTreeMap::new();
        for b in &input.breaks {
            ageing.entry(b.brk.reason).or_default()[bucket(b.age_days)] += 1;
            groups
                .entry((b.brk.job.as_str(), b.brk.reason))
                .or_default()
                .add(&b.brk);
            all.add(&b.brk);
        }
        let failed_files = by_age
            .iter()
            .copied()
            .filter(|b| b.brk.reason == BreakReason::Unreadable)
            .collect();
        let rates = input.rates.as_ref();
        let mut largest: Vec<&BreakLine> = input
            .breaks
            .iter()
            .filter(|b| b.brk.amount.is_some())
            .collect();
        largest.sort_by_key(|b| (Reverse(size(&b.brk, rates)), b.brk.id));
        largest.truncate(input.largest);
        let (mut jobs, mut idle): (Vec<&JobDigest>, Vec<&JobDigest>) =
            input.jobs.iter().partition(|j| j.did_something());
        jobs.sort_by(|a, b| a.job.cmp(&b.job));
        idle.sort_by(|a, b| a.job.cmp(&b.job));
        Facts {
            oldest: oldest.min(by_age.len()),
            by_age,
            largest,
            groups,
            ageing,
            all,
            failed_files,
            new: input.jobs.iter().map(|j| j.breaks_opened).sum(),
            jobs,
            idle: idle.iter().map(|j| j.job.as_str()).collect(),
            rates,
        }
    }
}

/// How large a break is for the "largest" list: its amount in the base currency where a rate
/// is configured, else the amount as it stands (without its sign: a missing payment is as
/// large as a missing receipt).
fn size(b: &Break, rates: Option<&BaseRates>) -> Decimal {
    let amount = b.amount.unwrap_or_default().abs();
    match (rates, b.currency) {
        (Some(r), Some(c)) => r.to_base(amount, c).unwrap_or(amount),
        _ => amount,
    }
}

/// Ageing buckets in business days, as managers read them.
const AGEING: [&str; 4] = ["0-1 days", "2-5 days", "6-20 days", "over 20 days"];

fn bucket(age_days: i64) -> usize {
    match age_days {
        ..=1 => 0,
        2..=5 => 1,
        6..=20 => 2,
        _ => 3,
    }
}

/// The ageing table: a row per reason, a column per bucket, and a total row.
fn ageing_rows(f: &Facts<'_>) -> Vec<Vec<String>> {
    let mut total = [0u64; 4];
    let mut rows: Vec<Vec<String>> = f
        .ageing
        .iter()
        .map(|(reason, counts)| {
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
            std::iter::once(reason.label().to_owned())
                .chain(counts.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect();
    rows.push(
        std::iter::once("Total".to_owned())
            .chain(total.iter().map(|c| c.to_string()))
            .collect(),
    );
    rows
}

const AGEING_HEAD: [&str; 5] = ["Reason", AGEING[0], AGEING[1], AGEING[2], AGEING[3]];

/// Count and amount totals of a set of breaks, one total per currency. Breaks without an
/// amount are counted but add to no total. The totals are gross (each amount without its
/// sign): a missing receipt of 1,000,000 and a missing payment of 1,000,000 are two million
/// to clear, not nothing.
#[derive(Default)]
struct Totals {
    count: u64,
    sums: BTreeMap<Option<Currency>, Decimal>,
}

impl Totals {
    fn add(&mut self, b: &Break) {
        self.count += 1;
        if let Some(amount) = b.amount {
            *self.sums.entry(b.currency).or_default() += amount.abs();
        }
    }

    /// One `(currency, amount)` pair per currency, amounts grouped for reading; a single
    /// `("", "—")` when no break has an amount.
    fn per_currency(&self) -> Vec<(String, String)> {
        if self.sums.is_empty() {
            return vec![(String::new(), "—".to_owned())];
        }
        self.sums
            .iter()
            .map(|(c, a)| {
                (
                    c.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    grouped(*a, *c),
                )
            })
            .collect()
    }

    /// The grand total in the base currency, or the currencies that have no rate (a total
    /// that silently left them out would understate what is open).
    fn in_base(&self, rates: &BaseRates) -> Result<Decimal, Vec<String>> {
        let mut total = Decimal::ZERO;
        let mut missing = Vec::new();
        for (c, a) in &self.sums {
            match c.and_then(|c| rates.to_base(*a, c)) {
                Some(v) => total += v,
                None => missing.push(c.map_or("no currency".to_owned(), |c| c.to_string())),
            }
        }
        if missing.is_empty() {
            Ok(total)
        } else {
            Err(missing)
        }
    }
}

const GROUP_HEAD: [&str; 5] = ["Job", "Reason", "Count", "Ccy", "Amount (gross)"];
const GROUP_RIGHT: [usize; 2] = [2, 4];

/// The table of open breaks by job and reason: a row per group and currency (the job, reason
/// and count on the first), then the totals per currency and, with rates, one converted total.
fn group_rows(f: &Facts<'_>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut push = |first: [String; 3], tot: &Totals| {
        for (i, (ccy, amount)) in tot.per_currency().into_iter().enumerate() {
            let lead = if i == 0 {
                first.clone()
            } else {
                Default::default()
            };
            let [a, b, c] = lead;
            rows.push(vec![a, b, c, ccy, amount]);
        }
    };
    for ((job, reason), tot) in &f.groups {
        push(
            [
                (*job).to_owned(),
                reason.label().to_owned(),
                tot.count.to_string(),
            ],
            tot,
        );
    }
    push(
        ["Total".to_owned(), String::new(), f.all.count.to_string()],
        &f.all,
    );
    if let Some(rates) = f.rates {
        let base = rates.base.as_str().to_owned();
        rows.push(match f.all.in_base(rates) {
            Ok(total) => vec![
                format!("Total in {base}"),
                "at the configured rates".to_owned(),
                String::new(),
                base,
                grouped(total, Some(rates.base)),
            ],
            Err(missing) => vec![
                format!("Total in {base}"),
                format!("no rate for {}", missing.join(", ")),
                String::new(),
                String::new(),
                "—".to_owned(),
            ],
        });
    }
    rows
}

const LARGEST_HEAD: [&str; 6] = ["ID", "Job", "Reason", "Ccy", "Amount", "Age"];
const LARGEST_RIGHT: [usize; 3] = [0, 4, 5];

fn largest_rows(f: &Facts<'_>) -> Vec<Vec<String>> {
    f.largest
        .iter()
        .map(|b| {
            let brk = &b.brk;
            vec![
                break_label(brk.id),
                brk.job.clone(),
                brk.reason.label().to_owned(),
                brk.currency.map(|c| c.to_string()).unwrap_or_default(),
                brk.amount
                    .map(|a| grouped(a, brk.currency))
                    .unwrap_or_default(),
                b.age_days.to_string(),
            ]
        })
        .collect()
}

fn subject(input: &SummaryInput, f: &Facts<'_>) -> String {
    let open = input.breaks.len();
    let mut s = if open == 0 {
        "clerk: no open exceptions".to_owned()
    } else {
        format!(
            "clerk: {open} open {} ({} new)",
            plural(open, "exception", "exceptions"),
            f.new
        )
    };
    if !f.failed_files.is_empty() {
        let n = f.failed_files.len();
        let _ = write!(s, ", {n} unreadable {}", plural(n, "file", "files"));
    }
    let _ = write!(s, " — {}", input.business_date.format("%Y-%m-%d"));
    one_line(&s)
}

fn headline(input: &SummaryInput, f: &Facts<'_>) -> String {
    let open = input.breaks.len();
    if open == 0 {
        "Nothing open: no exception is waiting for anyone.".to_owned()
    } else {
        format!(
            "{open} open {}, {} new since the previous summary.",
            plural(open, "exception", "exceptions"),
            f.new
        )
    }
}

fn summary_text(input: &SummaryInput, f: &Facts<'_>) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "clerk exception summary for {}",
        input.business_date.format("%A %-d %B %Y")
    );
    let _ = writeln!(
        t,
        "Generated {} ({})",
        local_time(input.generated_at, input.timezone),
        input.timezone.name()
    );
    let _ = writeln!(t, "\n{}", headline(input, f));

    if !f.failed_files.is_empty() {
        let n = f.failed_files.len();
        let _ = writeln!(
            t,
            "\n!! {n} {} COULD NOT BE READ and {} not processed:\n",
            plural(n, "FILE", "FILES"),
            plural(n, "was", "were")
        );
        for b in f.failed_files.iter().take(FAILED_FILES_LISTED) {
            let brk = &b.brk;
            push_fitted(
                &mut t,
                &format!("  - {} {}: {}", break_label(brk.id), brk.job, brk.detail),
            );
            push_fitted(
                &mut t,
                &format!(
                    "    {}since {}, {} {}",
                    brk.source
                        .as_deref()
                        .map(|s| format!("file {s}, "))
                        .unwrap_or_default(),
                    brk.since.format("%Y-%m-%d"),
                    b.age_days,
                    plural_days(b.age_days)
                ),
            );
            if let Some(l) = &input.links {
                push_link(&mut t, "    ", &l.exception(brk.id));
                if let Some(file) = b.file_id {
                    push_link(&mut t, "    file: ", &l.file(file));
                }
            }
        }
        if n > FAILED_FILES_LISTED {
            let _ = writeln!(
                t,
                "  ... and {} more in the attached CSV.",
                n - FAILED_FILES_LISTED
            );
        }
    }

    escalated_text(&mut t, input, f);

    if !input.breaks.is_empty() {
        t.push_str("\nOpen exceptions by job and reason\n\n");
        t.push_str(&text_table(&GROUP_HEAD, &group_rows(f), &GROUP_RIGHT));

        if !f.largest.is_empty() {
            let _ = writeln!(
                t,
                "\nThe {} largest open {} (age in business days)\n",
                f.largest.len(),
                plural(f.largest.len(), "exception", "exceptions")
            );
            t.push_str(&text_table(&LARGEST_HEAD, &largest_rows(f), &LARGEST_RIGHT));
        }

        t.push_str("\nOpen exceptions by age (business days)\n\n");
        t.push_str(&text_table(&AGEING_HEAD, &ageing_rows(f), &[1, 2, 3, 4]));

        if f.oldest > 0 {
            let _ = writeln!(
                t,
                "\nThe {} oldest open {} (age in business days)\n",
                f.oldest,
                plural(f.oldest, "exception", "exceptions")
            );
            for b in f.by_age.iter().take(f.oldest) {
                let brk = &b.brk;
                push_fitted(
                    &mut t,
                    &format!(
                        "  {}  {} {} (since {})  {}",
                        break_label(brk.id),
                        b.age_days,
                        plural_days(b.age_days),
                        brk.since.format("%Y-%m-%d"),
                        brk.job,
                    ),
                );
                push_fitted(
                    &mut t,
                    &format!(
                        "      {}{}",
                        brk.reason.label(),
                        brk.amount
                            .map(|a| format!(": {}", money(a, brk.currency)))
                            .unwrap_or_default()
                    ),
                );
                // The detail is what tells people what to do: wrapped, up to three lines.
                let detail = wrap(&one_line(&brk.detail), TEXT_WIDTH, "      ", "      ");
                for l in detail.lines().take(3) {
                    push_fitted(&mut t, l);
                }
                if let Some(source) = &brk.source {
                    push_fitted(&mut t, &format!("      source: {source}"));
                }
                if let Some(owner) = &brk.owner {
                    push_fitted(&mut t, &format!("      owner: {owner}"));
                }
                if let Some(l) = &input.links {
                    push_link(&mut t, "      ", &l.exception(brk.id));
                }
            }
        }
    }

    t.push_str(&bank::text(&input.bank));
    t.push_str(&grir::text(&input.grir));
    if let Some(p) = &input.periods {
        let _ = write!(t, "\nAccounting periods\n\n{p}\n");
    }
    t.push_str(&exports::text(&input.exports, input.timezone));

    t.push_str("\nJobs since the previous summary\n\n");
    if f.jobs.is_empty() {
        t.push_str("No job ran.\n");
    } else {
        t.push_str(&text_table(
            &VOLUME_HEAD,
            &volume_rows(&f.jobs),
            &VOLUME_RIGHT,
        ));
        t.push('\n');
        t.push_str(&text_table(&RATE_HEAD, &rate_rows(&f.jobs), &RATE_RIGHT));
        if let Some(l) = &input.links {
            t.push_str("\nEach job in the console:\n");
            for j in &f.jobs {
                push_link(
                    &mut t,
                    &format!("  {}: ", fit(&one_line(&j.job), 40)),
                    &l.job(&j.job),
                );
            }
        }
    }
    if !f.idle.is_empty() {
        t.push('\n');
        t.push_str(&wrap(&idle_line(f), TEXT_WIDTH, "", "  "));
    }
    for line in changed_rows(&f.jobs) {
        t.push('\n');
        t.push_str(&wrap(&line, TEXT_WIDTH, "", "  "));
    }

    if !input.breaks.is_empty() {
        let _ = writeln!(
            t,
            "\nEvery open exception is in the attached {}.",
            csv_name(input.business_date)
        );
    }
    t.push_str(&audit::text(input.audit_head.as_ref()));
    t
}

/// At most this many escalated breaks are listed in the bodies; the attachment has them all.
const ESCALATED_LISTED: usize = 50;

/// The breaks open longer than their job's `[escalation]` allows, oldest first.
fn escalated<'a>(f: &Facts<'a>) -> Vec<&'a BreakLine> {
    f.by_age.iter().copied().filter(|b| b.escalated).collect()
}

/// "Escalated": the breaks past their job's escalation limit, each with its age.
fn escalated_text(t: &mut String, input: &SummaryInput, f: &Facts<'_>) {
    let escalated = escalated(f);
    if escalated.is_empty() {
        return;
    }
    let n = escalated.len();
    let _ = writeln!(
        t,
        "\nEscalated: {n} open {} past {} job's escalation limit\n",
        plural(n, "exception", "exceptions"),
        plural(n, "its", "their")
    );
    for b in escalated.iter().take(ESCALATED_LISTED) {
        let brk = &b.brk;
        push_fitted(
            t,
            &format!(
                "  {}  {} {}  {}  {}",
                break_label(brk.id),
                b.age_days,
                plural_days(b.age_days),
                brk.job,
                brk.reason.label()
            ),
        );
        if let Some(l) = &input.links {
            push_link(t, "      ", &l.exception(brk.id));
        }
    }
    if n > ESCALATED_LISTED {
        let _ = writeln!(
            t,
            "  ... and {} more in the attached CSV.",
            n - ESCALATED_LISTED
        );
    }
}

fn escalated_html(h: &mut String, input: &SummaryInput, f: &Facts<'_>) {
    let escalated = escalated(f);
    if escalated.is_empty() {
        return;
    }
    let n = escalated.len();
    let _ = writeln!(
        h,
        "<h3 style=\"{H3}color:#b00020\">Escalated: {n} open {} past {} job's escalation limit</h3>",
        plural(n, "exception", "exceptions"),
        plural(n, "its", "their")
    );
    let shown: Vec<&BreakLine> = escalated.into_iter().take(ESCALATED_LISTED).collect();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|b| {
            vec![
                break_label(b.brk.id),
                b.age_days.to_string(),
                b.brk.job.clone(),
                b.brk.reason.label().to_owned(),
                b.brk.owner.clone().unwrap_or_default(),
            ]
        })
        .collect();
    html_table_linked(
        h,
        &["ID", "Age (business days)", "Job", "Reason", "Owner"],
        &rows,
        &[0, 1],
        |row, col| {
            let (l, b) = (input.links.as_ref()?, shown.get(row)?);
            match col {
                0 => Some(l.exception(b.brk.id)),
                2 => Some(l.job(&b.brk.job)),
                _ => None,
            }
        },
    );
    if n > ESCALATED_LISTED {
        let _ = writeln!(
            h,
            "<p>... and {} more in the attached CSV.</p>",
            n - ESCALATED_LISTED
        );
    }
}

/// A link on a line of its own after `lead`, never cut (a cut address leads nowhere).
fn push_link(t: &mut String, lead: &str, url: &str) {
    t.push_str(lead);
    t.push_str(&one_line(url));
    t.push('\n');
}

/// One line, flattened, cut to [`TEXT_WIDTH`] with an ellipsis: the whole text is in the
/// HTML body and the attachment.
fn push_fitted(t: &mut String, line: &str) {
    t.push_str(&fit(&one_line(line), TEXT_WIDTH));
    t.push('\n');
}

/// `s` if it has at most `width` characters, else its first `width - 1` and an ellipsis.
fn fit(s: &str, width: usize) -> Cow<'_, str> {
    if s.chars().count() <= width {
        Cow::Borrowed(s)
    } else {
        truncate(s, width - 1)
    }
}

fn idle_line(f: &Facts<'_>) -> String {
    format!(
        "Nothing to report from {}: {}.",
        plural(f.idle.len(), "this job", "these jobs"),
        f.idle
            .iter()
            .map(|j| one_line(j))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `text` wrapped at spaces into lines of at most `width` characters, the first line indented
/// by `first`, the others by `rest`; a word longer than a line is cut.
fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > rest.len() && len + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        line = fit(&line, width).into_owned();
    }
    out.push_str(&line);
    out.push('\n');
    out
}

const VOLUME_HEAD: [&str; 8] = [
    "Job",
    "Runs",
    "Files",
    "Failed",
    "Duplicate",
    "Records",
    "New exceptions",
    "Resolved",
];
const VOLUME_RIGHT: [usize; 7] = [1, 2, 3, 4, 5, 6, 7];

fn volume_rows(jobs: &[&JobDigest]) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|j| {
            vec![
                j.job.clone(),
                j.runs.to_string(),
                j.files_processed.to_string(),
                j.files_failed.to_string(),
                j.files_duplicate.to_string(),
                j.records.to_string(),
                j.breaks_opened.to_string(),
                j.breaks_closed.to_string(),
            ]
        })
        .collect()
}

const RATE_HEAD: [&str; 6] = [
    "Job",
    "STP rate",
    "Error rate",
    "Processing",
    "File to posting",
    "Cost / transaction",
];
const RATE_RIGHT: [usize; 5] = [1, 2, 3, 4, 5];

fn rate_rows(jobs: &[&JobDigest]) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|j| {
            vec![
                j.job.clone(),
                percent(j.stp_rate()),
                percent(j.error_rate()),
                duration(j.processing_time),
                j.arrival_to_posting.map(duration).unwrap_or("-".into()),
                j.costs
                    .as_ref()
                    .map(|c| c.per_transaction_text())
                    .unwrap_or("-".into()),
            ]
        })
        .collect()
}

/// The HTML body has room for one KPI table.
const KPI_HEAD: [&str; 13] = [
    "Job",
    "Runs",
    "Files",
    "Failed",
    "Duplicate",
    "Records",
    "STP rate",
    "Error rate",
    "New exceptions",
    "Resolved",
    "Processing time",
    "File to posting",
    "Cost / transaction",
];
const KPI_RIGHT: [usize; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

fn kpi_rows(jobs: &[&JobDigest]) -> Vec<Vec<String>> {
    volume_rows(jobs)
        .into_iter()
        .zip(rate_rows(jobs))
        .map(|(v, r)| {
            let mut row = v[..6].to_vec();
            row.extend_from_slice(&r[1..3]);
            row.extend_from_slice(&v[6..]);
            row.extend_from_slice(&r[3..]);
            row
        })
        .collect()
}

/// One line per job that read ledger rows again with other content: how many, and what became
/// of them (`3 ledger rows changed (2 replaced, 1 after its match: see the exceptions)`).
fn changed_rows(jobs: &[&JobDigest]) -> Vec<String> {
    jobs.iter()
        .filter(|j| j.records_changed > 0)
        .map(|j| {
            let n = j.records_changed;
            let after = n.saturating_sub(j.records_withdrawn);
            let mut what = Vec::new();
            if j.records_withdrawn > 0 {
                what.push(format!("{} replaced", j.records_withdrawn));
            }
            if after > 0 {
                what.push(format!(
                    "{after} after {} match: see the exceptions",
                    plural(after as usize, "its", "their")
                ));
            }
            format!(
                "{}: {n} ledger {} changed ({})",
                one_line(&j.job),
                plural(n as usize, "row", "rows"),
                what.join(", ")
            )
        })
        .collect()
}

const H2: &str = "font-size:18px;margin:0 0 4px 0;";
const H3: &str = "font-size:15px;margin:20px 0 6px 0;";
const HTML_TAIL: &str = "</body></html>\n";

fn html_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222\">\n",
        esc(title)
    )
}

fn summary_html(input: &SummaryInput, f: &Facts<'_>, subject: &str) -> String {
    let mut h = html_head(subject);
    let _ = writeln!(
        h,
        "<h2 style=\"{H2}\">clerk exception summary for {}</h2>\
         <p style=\"color:#666;margin:0\">Generated {} ({})</p>\
         <p style=\"font-size:16px\"><strong>{}</strong></p>",
        esc(&input.business_date.format("%A %-d %B %Y").to_string()),
        esc(&local_time(input.generated_at, input.timezone)),
        esc(input.timezone.name()),
        esc(&headline(input, f)),
    );

    if !f.failed_files.is_empty() {
        let n = f.failed_files.len();
        let _ = write!(
            h,
            "<div style=\"border:2px solid #b00020;background:#fdecee;padding:8px 12px;\
             margin:12px 0\"><p style=\"margin:0 0 6px 0;color:#b00020\"><strong>{n} {} could \
             not be read and {} not processed</strong></p>",
            plural(n, "file", "files"),
            plural(n, "was", "were")
        );
        let rows: Vec<Vec<String>> = f
            .failed_files
            .iter()
            .take(FAILED_FILES_LISTED)
            .map(|b| {
                vec![
                    break_label(b.brk.id),
                    b.brk.job.clone(),
                    b.brk.source.clone().unwrap_or_default(),
                    b.brk.detail.clone(),
                    b.brk.since.format("%Y-%m-%d").to_string(),
                ]
            })
            .collect();
        let shown: Vec<&BreakLine> = f
            .failed_files
            .iter()
            .take(FAILED_FILES_LISTED)
            .copied()
            .collect();
        html_table_linked(
            &mut h,
            &["ID", "Job", "File", "Error", "Since"],
            &rows,
            &[],
            |row, col| {
                let (l, b) = (input.links.as_ref()?, shown.get(row)?);
                match col {
                    0 => Some(l.exception(b.brk.id)),
                    1 => Some(l.job(&b.brk.job)),
                    2 => b.file_id.map(|id| l.file(id)),
                    _ => None,
                }
            },
        );
        if n > FAILED_FILES_LISTED {
            let _ = write!(
                h,
                "<p style=\"margin:6px 0 0 0\">... and {} more in the attached CSV.</p>",
                n - FAILED_FILES_LISTED
            );
        }
        h.push_str("</div>\n");
    }

    escalated_html(&mut h, input, f);

    if !input.breaks.is_empty() {
        let _ = writeln!(
            h,
            "<h3 style=\"{H3}\">Open exceptions by job and reason</h3>"
        );
        html_table(&mut h, &GROUP_HEAD, &group_rows(f), &GROUP_RIGHT);
        if !f.largest.is_empty() {
            let _ = writeln!(
                h,
                "<h3 style=\"{H3}\">The {} largest open {}</h3>",
                f.largest.len(),
                plural(f.largest.len(), "exception", "exceptions")
            );
            html_table_linked(
                &mut h,
                &LARGEST_HEAD,
                &largest_rows(f),
                &LARGEST_RIGHT,
                |row, col| {
                    let (l, b) = (input.links.as_ref()?, f.largest.get(row)?);
                    match col {
                        0 => Some(l.exception(b.brk.id)),
                        1 => Some(l.job(&b.brk.job)),
                        _ => None,
                    }
                },
            );
        }
        let _ = writeln!(
            h,
            "<h3 style=\"{H3}\">Open exceptions by age (business days)</h3>"
        );
        html_table(&mut h, &AGEING_HEAD, &ageing_rows(f), &[1, 2, 3, 4]);

        if f.oldest > 0 {
            let _ = writeln!(
                h,
                "<h3 style=\"{H3}\">The {} oldest open {}</h3>",
                f.oldest,
                plural(f.oldest, "exception", "exceptions")
            );
            let rows: Vec<Vec<String>> = f
                .by_age
                .iter()
                .take(f.oldest)
                .map(|b| {
                    let brk = &b.brk;
                    vec![
                        break_label(brk.id),
                        b.age_days.to_string(),
                        brk.since.format("%Y-%m-%d").to_string(),
                        brk.job.clone(),
                        brk.reason.label().to_owned(),
                        brk.amount
                            .map(|a| money(a, brk.currency))
                            .unwrap_or_default(),
                        brk.detail.clone(),
                        brk.source.clone().unwrap_or_default(),
                        brk.owner.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            html_table_linked(
                &mut h,
                &[
                    "ID",
                    "Age (business days)",
                    "Since",
                    "Job",
                    "Reason",
                    "Amount",
                    "Detail",
                    "Source",
                    "Owner",
                ],
                &rows,
                &[0, 1, 5],
                |row, col| {
                    let (l, b) = (input.links.as_ref()?, f.by_age.get(row)?);
                    match col {
                        0 => Some(l.exception(b.brk.id)),
                        3 => Some(l.job(&b.brk.job)),
                        7 => b.file_id.map(|id| l.file(id)),
                        _ => None,
                    }
                },
            );
        }
    }

    bank::html(&mut h, &input.bank);
    grir::html(&mut h, &input.grir);
    if let Some(p) = &input.periods {
        let _ = writeln!(
            h,
            "<h3 style=\"{H3}\">Accounting periods</h3>\n<p>{}</p>",
            esc(p)
        );
    }
    exports::html(&mut h, &input.exports, input.timezone, H3);

    let _ = writeln!(h, "<h3 style=\"{H3}\">Jobs since the previous summary</h3>");
    if f.jobs.is_empty() {
        h.push_str("<p>No job ran.</p>\n");
    } else {
        html_table_linked(
            &mut h,
            &KPI_HEAD,
            &kpi_rows(&f.jobs),
            &KPI_RIGHT,
            |row, col| {
                let (l, j) = (input.links.as_ref()?, f.jobs.get(row)?);
                (col == 0).then(|| l.job(&j.job))
            },
        );
    }
    for line in changed_rows(&f.jobs) {
        let _ = writeln!(h, "<p>{}</p>", esc(&line));
    }
    if !f.idle.is_empty() {
        let _ = writeln!(h, "<p style=\"color:#666\">{}</p>", esc(&idle_line(f)));
    }
    if !input.breaks.is_empty() {
        let _ = writeln!(
            h,
            "<p style=\"color:#666\">Every open exception is in the attached {}.</p>",
            esc(&csv_name(input.business_date))
        );
    }
    audit::html(&mut h, input.audit_head.as_ref());
    h.push_str(HTML_TAIL);
    h
}

fn csv_name(date: NaiveDate) -> String {
    format!("open-exceptions-{}.csv", date.format("%Y-%m-%d"))
}

/// All open breaks as CSV (RFC 4180, CRLF line ends, UTF-8 with a byte order mark: without
/// it Excel on Windows reads the file as the local code page and garbles every accented name).
fn breaks_csv(breaks: &[&BreakLine]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(UTF8_BOM.to_vec());
    const IN_MEMORY: &str = "writing CSV to memory cannot fail";
    w.write_record(CSV_HEADER).expect(IN_MEMORY);
    for b in breaks {
        let brk = &b.brk;
        // Amounts are not passed through csv_cell: see its doc comment.
        let amount = |a: Option<Decimal>| {
            a.map(|a| plain_amount(a, brk.currency))
                .unwrap_or_default()
                .into()
        };
        let record: [Cow<'_, str>; 15] = [
            break_label(brk.id).into(),
            csv_cell(&brk.job),
            csv_cell(brk.reason.as_str()),
            csv_cell(brk.status.as_str()),
            b.age_days.to_string().into(),
            brk.since.format("%Y-%m-%d").to_string().into(),
            amount(brk.amount),
            brk.currency
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default()
                .into(),
            amount(brk.difference),
            csv_cell(b.reference.as_deref().unwrap_or("")),
            csv_cell(b.counterparty.as_deref().unwrap_or("")),
            brk.record_id
                .map(|r| r.to_string())
                .unwrap_or_default()
                .into(),
            csv_cell(brk.owner.as_deref().unwrap_or("")),
            csv_cell(&brk.detail),
            csv_cell(brk.source.as_deref().unwrap_or("")),
        ];
        w.write_record(record.iter().map(|c| c.as_bytes()))
            .expect(IN_MEMORY);
    }
    w.into_inner().expect(IN_MEMORY)
}

/// What starts a UTF-8 file that spreadsheets should read as UTF-8.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `amount` with at least its currency's minor-unit digits (12.5 EUR is 12.50), never rounded:
/// digits, one point, an optional leading minus. What a spreadsheet reads as a number.
fn plain_amount(amount: Decimal, currency: Option<Currency>) -> String {
    let minor = currency.map_or(2, Currency::minor_units);
    let mut a = amount;
    if a.scale() < minor {
        a.rescale(minor);
    }
    a.to_string()
}

/// `amount` as a person reads it: currency code in front, thousands grouped with commas.
fn money(amount: Decimal, currency: Option<Currency>) -> String {
    match currency {
        Some(c) => format!("{c} {}", grouped(amount, currency)),
        None => grouped(amount, None),
    }
}

/// `amount` with its currency's minor units and thousands grouped with commas, no code: for
/// a right-aligned column beside a currency column.
fn grouped(amount: Decimal, currency: Option<Currency>) -> String {
    let plain = plain_amount(amount, currency);
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", plain.as_str()),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(plain.len() + int.len() / 3 + 1);
    grouped.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if let Some(f) = frac {
        grouped.push('.');
        grouped.push_str(f);
    }
    grouped
}

fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.1} %", r * 100.0),
        None => "—".to_owned(),
    }
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{} h {:02} min", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else if secs >= 1 {
        format!("{}.{} s", secs, d.subsec_millis() / 100)
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

fn plural_days(n: i64) -> &'static str {
    if n == 1 {
        "business day"
    } else {
        "business days"
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

/// Multi-line text with its line breaks kept as `\n` and every other control character made a
/// space.
fn keep_lines(s: &str) -> String {
    s.replace("\r\n", "\n")
        .split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .map(one_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// HTML-escapes text for element content and quoted attribute values.
fn esc(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A plain-text table: columns padded to their widest cell, `right` columns right-aligned,
/// cells flattened to one line. When the table would be wider than [`TEXT_WIDTH`], the widest
/// text column is narrowed (its cells cut with an ellipsis) until it fits; numbers and
/// amounts (`right` columns) are never cut.
fn text_table(head: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| one_line(c)).collect())
        .collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // One leading space, then each cell with a space either side.
    let total = |width: &[usize]| 1 + width.iter().map(|w| w + 2).sum::<usize>();
    const NARROWEST: usize = 8;
    while total(&width) > TEXT_WIDTH {
        let Some(widest) = (0..width.len())
            .filter(|i| !right.contains(i) && width[*i] > NARROWEST)
            .max_by_key(|i| width[*i])
        else {
            break;
        };
        let over = total(&width) - TEXT_WIDTH;
        width[widest] = (width[widest] - over).max(NARROWEST);
    }
    for row in &mut rows {
        for (cell, w) in row.iter_mut().zip(&width) {
            if cell.chars().count() > *w {
                *cell = truncate(cell, w - 1).into_owned();
            }
        }
    }
    let head: Vec<String> = head
        .iter()
        .zip(&width)
        .map(|(h, w)| {
            if h.chars().count() > *w {
                truncate(h, w - 1).into_owned()
            } else {
                (*h).to_owned()
            }
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::from(" ");
        for (i, cell) in cells.enumerate() {
            let pad = width[i].saturating_sub(cell.chars().count());
            l.push(' ');
            if right.contains(&i) {
                l.extend(std::iter::repeat_n(' ', pad));
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.extend(std::iter::repeat_n(' ', pad));
            }
            l.push(' ');
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut head.iter().map(String::as_str));
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut rule.iter().map(String::as_str));
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// An HTML table with inline styles (mail clients drop style sheets). Every cell is escaped
/// here, so callers pass raw data.
fn html_table(out: &mut String, head: &[&str], rows: &[Vec<String>], right: &[usize]) {
    html_table_linked(out, head, rows, right, |_, _| None);
}

/// [`html_table`] whose cell at (row, column) links to `link(row, column)`, when it gives one.
fn html_table_linked(
    out: &mut String,
    head: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
    link: impl Fn(usize, usize) -> Option<String>,
) {
    const CELL: &str = "border:1px solid #ccc;padding:4px 8px;vertical-align:top;";
    out.push_str("<table style=\"border-collapse:collapse;font-size:13px;margin:4px 0\"><tr>");
    for h in head {
        let _ = write!(
            out,
            "<th style=\"{CELL}background:#f0f0f0;text-align:left\">{}</th>",
            esc(h)
        );
    }
    out.push_str("</tr>\n");
    for (r, row) in rows.iter().enumerate() {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let align = if right.contains(&i) { "right" } else { "left" };
            match link(r, i).filter(|_| !cell.is_empty()) {
                Some(url) => {
                    let _ = write!(
                        out,
                        "<td style=\"{CELL}text-align:{align}\"><a href=\"{}\">{}</a></td>",
                        esc(&url),
                        esc(cell)
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<td style=\"{CELL}text-align:{align}\">{}</td>",
                        esc(cell)
                    );
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;
    use crate::model::BreakStatus;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn brk(id: i64, job: &str, reason: BreakReason, amount: Option<(&str, &str)>) -> Break {
        Break {
            id,
            job: job.to_owned(),
            reason,
            status: BreakStatus::Open,
            detail: format!("detail of {id}"),
            amount: amount.map(|(a, _)| Decimal::from_str(a).unwrap()),
            currency: amount.map(|(_, c)| c.parse().unwrap()),
            difference: None,
            since: date("2026-11-20"),
            owner: None,
            opened_at: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap(),
            closed_at: None,
            resolution: None,
            record_id: None,
            source: Some(format!("ledger.csv line {id}")),
        }
    }

    fn line(b: Break, age_days: i64) -> BreakLine {
        BreakLine::new(b, age_days)
    }

    fn input(breaks: Vec<BreakLine>) -> SummaryInput {
        SummaryInput {
            business_date: date("2026-11-27"),
            generated_at: Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap(),
            timezone: chrono_tz::Europe::Berlin,
            jobs: vec![JobDigest {
                job: "bank-eur".to_owned(),
                files_processed: 3,
                files_failed: 1,
                files_duplicate: 1,
                records: 200,
                auto_matched: 190,
                breaks_opened: 3,
                breaks_closed: 2,
                processing_time: Duration::from_millis(83_400),
                runs: 4,
                arrival_to_posting: Some(Duration::from_millis(95_000)),
                costs: Some(
                    crate::model::costs::CostModel {
                        currency: "EUR".parse().unwrap(),
                        machine_per_hour: Decimal::ONE,
                        staff_per_hour: Decimal::from(60),
                        minutes_per_exception: Decimal::from(10),
                        minutes_per_failed_file: Decimal::from(20),
                    }
                    .costs(crate::model::costs::Workload {
                        records: 200,
                        processing_ms: 83_400,
                        breaks_opened: 3,
                        files_failed: 1,
                    }),
                ),
                records_changed: 0,
                records_withdrawn: 0,
            }],
            breaks,
            largest: 10,
            rates: None,
            bank: Vec::new(),
            periods: None,
            links: None,
            audit_head: None,
            exports: Vec::new(),
            grir: Vec::new(),
        }
    }

    fn csv_rows(r: &Rendered) -> Vec<Vec<String>> {
        let att = &r.attachments[0];
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(att.bytes.as_slice())
            .records()
            .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn csv_cell_neutralises_formula_starts_only() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for ok in ["", "abc", "1=1", "12.50", " =not at start", "'already"] {
            assert_eq!(csv_cell(ok), ok);
        }
    }

    #[test]
    fn html_escapes_every_value_from_data() {
        let mut b = brk(
            7,
            "<script>alert(1)</script>",
            BreakReason::Unreadable,
            None,
        );
        b.detail = "bad <img src=x onerror=alert(2)> & \"quoted\" 'single'".to_owned();
        b.source = Some("<b>evil</b>.csv".to_owned());
        b.owner = Some("<i>me</i>".to_owned());
        let mut inp = input(vec![line(b, 3)]);
        inp.jobs[0].job = "<svg onload=x>".to_owned();
        let r = render_summary(&inp, 10);

        for raw in ["<script", "<img", "<b>", "<i>", "<svg"] {
            assert!(!r.html.contains(raw), "{raw} unescaped in HTML");
        }
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.html.contains("&amp; &quot;quoted&quot; &#39;single&#39;"));
        assert!(r.html.contains("&lt;svg onload=x&gt;"));
        // No external resources: no tag that loads anything, no link.
        for tag in ["<img", "<link", "<a ", "url("] {
            assert!(!r.html.contains(tag), "{tag}");
        }
    }

    #[test]
    fn csv_attachment_neutralises_text_and_keeps_amounts_numeric() {
        let mut b = brk(
            1,
            "=cmd|' /C calc'!A0",
            BreakReason::MissingInLedger,
            Some(("-12.5", "EUR")),
        );
        b.detail = "=HYPERLINK(\"http://x\",\"click\")".to_owned();
        b.owner = Some("@owner".to_owned());
        b.source = Some("-statement.csv, line 3\nnext".to_owned());
        let r = render_summary(&input(vec![line(b, 2)]), 10);

        assert_eq!(r.attachments.len(), 1);
        let att = &r.attachments[0];
        assert_eq!(att.filename, "open-exceptions-2026-11-27.csv");
        assert!(att.content_type.starts_with("text/csv"));
        let raw = String::from_utf8(att.bytes.clone()).unwrap();
        // A byte order mark first, so Excel reads UTF-8.
        assert!(raw.starts_with(
            "\u{FEFF}id,job,reason,status,age_days,since,amount,currency,difference,reference,\
             counterparty,record_ids,owner,detail,source\r\n"
        ));
        // The amount is written bare, so a spreadsheet reads a number.
        assert!(raw.contains(",2026-11-20,-12.50,EUR,"), "{raw}");

        let rows = csv_rows(&r);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], CSV_HEADER);
        let row = &rows[1];
        assert_eq!(row[0], "E-1");
        assert_eq!(row[1], "'=cmd|' /C calc'!A0");
        assert_eq!(row[2], "missing_in_ledger");
        assert_eq!(row[3], "open");
        assert_eq!(row[4], "2");
        assert_eq!(row[5], "2026-11-20");
        assert_eq!(row[6], "-12.50");
        assert_eq!(row[7], "EUR");
        assert_eq!(row[8], "");
        assert_eq!(row[12], "'@owner");
        assert_eq!(row[13], "'=HYPERLINK(\"http://x\",\"click\")");
        assert_eq!(row[14], "'-statement.csv, line 3\nnext");
    }

    #[test]
    fn csv_attachment_names_difference_reference_counterparty_and_record() {
        let mut b = brk(
            7,
            "bank-eur",
            BreakReason::AmountDifference,
            Some(("1000.00", "EUR")),
        );
        b.difference = Some(Decimal::from_str("-0.5").unwrap());
        b.record_id = Some(4711);
        let mut l = line(b, 1);
        l.reference = Some("INV-2026-0042".to_owned());
        l.counterparty = Some("=Müller GmbH".to_owned());
        let rows = csv_rows(&render_summary(&input(vec![l]), 10));
        let row = &rows[1];
        assert_eq!(row[8], "-0.50");
        assert_eq!(row[9], "INV-2026-0042");
        // Free text from a file is still neutralised, and accents survive (UTF-8 with BOM).
        assert_eq!(row[10], "'=Müller GmbH");
        assert_eq!(row[11], "4711");
    }

    #[test]
    fn subjects_never_contain_line_breaks() {
        let b = brk(1, "job\r\nBcc: x@evil", BreakReason::Unreadable, None);
        let r = render_summary(&input(vec![line(b, 1)]), 5);
        assert_eq!(
            r.subject,
            "clerk: 1 open exception (3 new), 1 unreadable file — 2026-11-27"
        );

        let a = render_alert(
            "bank\r\nBcc: x@evil.example\n",
            Some(42),
            "statement.csv line 3:\r\nbad amount",
            Utc.with_ymd_and_hms(2026, 11, 27, 6, 3, 0).unwrap(),
            chrono_tz::Europe::Berlin,
        );
        assert!(!a.subject.contains(['\r', '\n']), "{:?}", a.subject);
        assert_eq!(
            a.subject,
            "clerk ALERT: job bank  Bcc: x@evil.example  failed (run 42) — 2026-11-27 07:03 CET"
        );
        assert!(
            a.text
                .contains("    statement.csv line 3:\n    bad amount\n")
        );
        assert!(a.html.contains("statement.csv line 3:\nbad amount"));
        assert!(a.attachments.is_empty());
    }

    #[test]
    fn totals_are_gross_so_opposite_breaks_do_not_cancel() {
        let both = |id, amount| {
            line(
                brk(
                    id,
                    "bank-eur",
                    BreakReason::MissingInLedger,
                    Some((amount, "EUR")),
                ),
                1,
            )
        };
        let r = render_summary(
            &input(vec![both(1, "1000000.00"), both(2, "-1000000.00")]),
            3,
        );
        assert!(r.text.contains(" 2,000,000.00\n"), "{}", r.text);
        assert!(!r.text.contains(" 0.00"), "{}", r.text);
    }

    #[test]
    fn totals_are_exact_decimals_per_currency() {
        let breaks = vec![
            line(
                brk(
                    1,
                    "bank-eur",
                    BreakReason::MissingInLedger,
                    Some(("0.1", "EUR")),
                ),
                1,
            ),
            line(
                brk(
                    2,
                    "bank-eur",
                    BreakReason::MissingInLedger,
                    Some(("0.2", "EUR")),
                ),
                1,
            ),
            line(
                brk(
                    3,
                    "bank-eur",
                    BreakReason::MissingInLedger,
                    Some(("1000000.05", "EUR")),
                ),
                1,
            ),
            line(
                brk(
                    4,
                    "bank-eur",
                    BreakReason::MissingInLedger,
                    Some(("-12.5", "USD")),
                ),
                1,
            ),
            line(brk(5, "bank-eur", BreakReason::MissingInLedger, None), 1),
            line(
                brk(
                    6,
                    "bank-jpy",
                    BreakReason::MissingOnStatement,
                    Some(("1500", "JPY")),
                ),
                1,
            ),
        ];
        let r = render_summary(&input(breaks), 3);
        // 0.1 + 0.2 + 1000000.05 in floats would not print as .35.
        assert!(r.html.contains("1,000,000.35"));
        assert!(r.text.contains("Amount (gross)"));
        // One total per currency, each on its own line.
        let totals: Vec<&str> = r
            .text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Total"))
            .take(3)
            .collect();
        assert!(totals[0].contains(" EUR "), "{totals:?}");
        assert!(totals[0].ends_with(" 1,000,000.35"), "{totals:?}");
        // Right-aligned: the amounts end in the same column.
        assert!(
            totals.iter().all(|l| l.len() == totals[0].len()),
            "{totals:?}"
        );
        assert!(totals[1].trim_start().starts_with("JPY"), "{totals:?}");
        assert!(totals[1].ends_with("1,500"), "{totals:?}");
        assert!(totals[2].trim_start().starts_with("USD"), "{totals:?}");
        assert!(totals[2].ends_with("12.50"), "{totals:?}");
        // Counted per job and reason.
        let group = r
            .text
            .lines()
            .find(|l| l.contains("On the bank statement, not in the books"))
            .unwrap();
        assert!(group.contains(" 5 "), "{group}");
    }

    /// What a manager reads at 7 am: fits 100 columns whatever the data, ids as `E-n`, a total
    /// per currency plus one converted total, the largest breaks, quiet jobs on one line.
    #[test]
    fn the_text_body_fits_100_columns_and_reads_like_a_report() {
        let long_job = "bank-reconciliation-deutsche-bank-frankfurt-eur-main-account";
        let mut breaks = Vec::new();
        for (id, amount, ccy) in [
            (11, "120.00", "EUR"),
            (12, "-98765432.10", "USD"),
            (13, "5000", "JPY"),
            (14, "4500.00", "EUR"),
        ] {
            let mut b = brk(
                id,
                long_job,
                BreakReason::MissingInLedger,
                Some((amount, ccy)),
            );
            b.detail = "statement line 17: counterparty ".repeat(8);
            b.source = Some(format!(
                "/srv/shares/back-office/{}/statement.sta",
                "x".repeat(80)
            ));
            breaks.push(line(b, 3));
        }
        breaks.push(line(brk(15, "ledger", BreakReason::FileChanged, None), 1));
        let mut inp = input(breaks);
        inp.jobs[0].job = long_job.to_owned();
        inp.jobs.push(JobDigest {
            job: "custody-positions".to_owned(),
            ..Default::default()
        });
        inp.jobs.push(JobDigest {
            job: "accounts-payable".to_owned(),
            ..Default::default()
        });
        inp.largest = 3;
        inp.rates = Some(BaseRates {
            base: "EUR".parse().unwrap(),
            per_unit: [
                ("USD".parse().unwrap(), Decimal::from_str("0.9").unwrap()),
                ("JPY".parse().unwrap(), Decimal::from_str("0.0062").unwrap()),
            ]
            .into(),
        });
        let r = render_summary(&inp, 10);

        for l in r.text.lines() {
            assert!(
                l.chars().count() <= TEXT_WIDTH,
                "{} columns: {l}",
                l.chars().count()
            );
        }
        assert!(
            !r.text.contains('#') && !r.html.contains(">#"),
            "{}",
            r.text
        );
        assert!(r.text.contains("E-12"), "{}", r.text);

        // Converted total: 4620 EUR + 88,888,888.89 (USD at 0.9) + 31.00 (JPY at 0.0062).
        let total = r.text.lines().find(|l| l.contains("Total in EUR")).unwrap();
        assert!(total.ends_with(" 88,893,539.89"), "{total}");
        assert!(r.html.contains("88,893,539.89"));
        // Without a rate for one currency, no converted figure pretends to be the total.
        let mut partial = inp.clone();
        partial
            .rates
            .as_mut()
            .unwrap()
            .per_unit
            .remove(&"JPY".parse().unwrap());
        let p = render_summary(&partial, 10);
        let total = p.text.lines().find(|l| l.contains("Total in EUR")).unwrap();
        assert!(total.contains("no rate for JPY"), "{total}");

        // The largest first, in the base currency: USD 98.7m, then EUR 4,500, then JPY 5,000
        // (31 EUR) after EUR 120.
        let at = |id: &str| r.text.find(&format!(" {id} ")).unwrap();
        let largest = r.text.find("The 3 largest open exceptions").unwrap();
        assert!(largest < at("E-12") && at("E-12") < at("E-14"));
        let table = &r.text[largest..r.text.find("Open exceptions by age").unwrap()];
        assert!(table.contains("E-11") && !table.contains("E-13"), "{table}");

        // Quiet jobs folded into one line.
        assert!(
            r.text.contains(
                "Nothing to report from these jobs: accounts-payable, custody-positions."
            )
        );
        assert_eq!(r.text.matches("custody-positions").count(), 1);
    }

    #[test]
    fn wrapped_text_uses_the_whole_width_and_cuts_only_what_cannot_fit() {
        let exactly = format!("      {}", "x".repeat(TEXT_WIDTH - 6));
        assert_eq!(
            wrap(exactly.trim(), TEXT_WIDTH, "      ", "      "),
            format!("{exactly}\n")
        );
        let two = wrap("aaaa bbbb cccc", 10, "", "  ");
        assert_eq!(two, "aaaa bbbb\n  cccc\n");
        let long = wrap(&"y".repeat(30), 10, "", "");
        assert_eq!(long, format!("{}…\n", "y".repeat(9)));
    }

    #[test]
    fn oldest_breaks_listed_oldest_first_and_limited() {
        let breaks = vec![
            line(brk(1, "j", BreakReason::MissingInLedger, None), 2),
            line(brk(2, "j", BreakReason::MissingInLedger, None), 9),
            line(brk(3, "j", BreakReason::MissingInLedger, None), 5),
        ];
        let r = render_summary(&input(breaks), 2);
        let a = r.text.find("E-2 ").unwrap();
        let b = r.text.find("E-3 ").unwrap();
        assert!(a < b);
        assert!(!r.text.contains("E-1 "));
        assert!(r.text.contains("The 2 oldest open exceptions"));
        // The CSV has every one, oldest first.
        let ids: Vec<String> = csv_rows(&r)[1..].iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids, ["E-2", "E-3", "E-1"]);
    }

    #[test]
    fn failed_files_come_first_with_their_error() {
        let mut f = brk(9, "bank-eur", BreakReason::Unreadable, None);
        f.detail = "statement.csv line 3: amount \"x\" is not a number".to_owned();
        let breaks = vec![
            line(brk(1, "bank-eur", BreakReason::MissingInLedger, None), 4),
            line(f, 1),
        ];
        let r = render_summary(&input(breaks), 10);
        let warn = r.text.find("1 FILE COULD NOT BE READ").unwrap();
        let err = r.text.find("amount \"x\" is not a number").unwrap();
        let table = r.text.find("Open exceptions by job and reason").unwrap();
        assert!(warn < err && err < table, "{}", r.text);
        let warn = r.html.find("1 file could not be read").unwrap();
        let table = r.html.find("Open exceptions by job and reason").unwrap();
        assert!(warn < table);
    }

    #[test]
    fn oldest_zero_lists_none_but_keeps_the_totals() {
        let breaks = vec![line(brk(1, "j", BreakReason::MissingInLedger, None), 2)];
        let r = render_summary(&input(breaks), 0);
        assert!(!r.text.contains("oldest"), "{}", r.text);
        assert!(!r.html.contains("oldest"));
        assert!(r.text.contains("Open exceptions by job and reason"));
        assert_eq!(csv_rows(&r).len(), 2);
    }

    #[test]
    fn nothing_open_still_reports_kpis() {
        let r = render_summary(&input(Vec::new()), 10);
        assert_eq!(r.subject, "clerk: no open exceptions — 2026-11-27");
        assert!(r.attachments.is_empty());
        for body in [&r.text, &r.html] {
            assert!(body.contains("Nothing open"), "{body}");
            assert!(body.contains("bank-eur"));
            assert!(body.contains("98.4 %")); // STP 190/(190+3)
            assert!(body.contains("1.6 %")); // error rate 3/(190+3)
            assert!(body.contains("1 min 23 s"));
            assert!(body.contains("1 min 35 s"), "file to posting"); // 95 s average
            // (83.4 s × 1/h + (3 × 10 + 1 × 20) min × 60/h) / 200 records.
            assert!(body.contains("0.2501 EUR"), "cost per transaction");
            assert!(!body.contains("oldest"));
        }
        assert!(
            r.text
                .contains("Generated 2026-11-27 07:00 CET (Europe/Berlin)")
        );
    }

    #[test]
    fn ledger_rows_that_changed_are_counted_with_what_became_of_them() {
        let mut i = input(Vec::new());
        i.jobs.push(JobDigest {
            job: "ledger-import".to_owned(),
            records_changed: 3,
            records_withdrawn: 2,
            ..JobDigest::default()
        });
        i.jobs.push(JobDigest {
            job: "fx-ledger".to_owned(),
            records_changed: 1,
            ..JobDigest::default()
        });
        let r = render_summary(&i, 10);
        let line = "ledger-import: 3 ledger rows changed (2 replaced, 1 after its match: see the exceptions)";
        assert!(r.text.contains(line), "{}", r.text);
        assert!(r.html.contains(line), "{}", r.html);
        assert!(
            r.text.contains(
                "fx-ledger: 1 ledger row changed (1 after its match: see the exceptions)"
            ),
            "{}",
            r.text
        );
        // A job whose rows did not change says nothing of it.
        assert!(!r.text.contains("bank-eur: 0"), "{}", r.text);
    }

    #[test]
    fn rates_are_none_without_records() {
        let j = JobDigest::default();
        assert_eq!(j.stp_rate(), None);
        assert_eq!(j.error_rate(), None);
        let j = JobDigest {
            records: 4,
            auto_matched: 3,
            breaks_opened: 1,
            ..JobDigest::default()
        };
        assert_eq!(j.stp_rate(), Some(0.75));
        assert_eq!(j.error_rate(), Some(0.25));
    }

    #[test]
    fn amounts_keep_minor_units_and_never_round() {
        let eur = Some("EUR".parse().unwrap());
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(money(d("1234.5"), eur), "EUR 1,234.50");
        assert_eq!(money(d("-1234567.891"), eur), "EUR -1,234,567.891");
        assert_eq!(money(d("999"), None), "999.00");
        assert_eq!(plain_amount(d("-0.5"), eur), "-0.50");
        assert_eq!(plain_amount(d("7"), Some("KWD".parse().unwrap())), "7.000");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(duration(Duration::from_millis(12_345)), "12.3 s");
        assert_eq!(duration(Duration::from_secs(192)), "3 min 12 s");
        assert_eq!(duration(Duration::from_secs(3720)), "1 h 02 min");
    }
}

#[cfg(test)]
mod ageing_tests {
    use super::*;

    #[test]
    fn breaks_are_counted_by_reason_and_ageing_bucket() {
        assert_eq!(
            [0, 1, 2, 5, 6, 20, 21, 400].map(bucket),
            [0, 0, 1, 1, 2, 2, 3, 3]
        );
        let mk = |id, reason, age| {
            BreakLine::new(
                Break {
                    id,
                    job: "bank".into(),
                    reason,
                    status: crate::model::BreakStatus::Open,
                    detail: "d".into(),
                    amount: None,
                    currency: None,
                    difference: None,
                    since: "2026-01-02".parse().unwrap(),
                    owner: None,
                    opened_at: Utc::now(),
                    closed_at: None,
                    resolution: None,
                    record_id: None,
                    source: None,
                },
                age,
            )
        };
        let input = SummaryInput {
            business_date: "2026-11-27".parse().unwrap(),
            generated_at: Utc::now(),
            timezone: chrono_tz::Europe::Berlin,
            jobs: Vec::new(),
            breaks: vec![
                mk(1, BreakReason::MissingInLedger, 0),
                mk(2, BreakReason::MissingInLedger, 3),
                mk(3, BreakReason::MissingInLedger, 30),
                mk(4, BreakReason::Unreadable, 7),
            ],
            largest: 10,
            rates: None,
            bank: Vec::new(),
            periods: None,
            links: None,
            audit_head: None,
            exports: Vec::new(),
            grir: Vec::new(),
        };
        let f = Facts::gather(&input, 10);
        let rows = ageing_rows(&f);
        assert_eq!(
            rows,
            vec![
                vec![
                    "On the bank statement, not in the books",
                    "1",
                    "1",
                    "0",
                    "1"
                ],
                vec!["File could not be read", "0", "0", "1", "0"],
                vec!["Total", "1", "1", "1", "1"],
            ]
        );
        let r = render_summary(&input, 10);
        for body in [&r.text, &r.html] {
            assert!(body.contains("Open exceptions by age"), "{body}");
            assert!(body.contains("over 20 days"), "{body}");
        }
    }
}
