//! The `clerk` command: what the user typed (clap), then resolved objects, then the work.
//! `main` prints the error chain and picks the exit code; nothing below it exits the process.

/// `println!` that returns the error instead of panicking, so `clerk exceptions | head` ends
/// quietly when `head` has read enough.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?;
    }};
}

mod audit;
mod bank;
mod check;
mod correct;
mod dryrun;
mod exceptions;
mod explain;
mod extract;
mod held_invoice;
mod journal;
mod payables;
mod report;
mod reversal;
mod run;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "clerk",
    version,
    about = "Back-office automation: ingest statements, reconcile against the books, post entries, report breaks"
)]
struct Cli {
    /// The daemon's configuration file. Relative paths in it resolve against the parent of its
    /// folder (the install root).
    #[arg(
        long,
        global = true,
        default_value = "config/clerk.toml",
        env = "CLERK_CONFIG"
    )]
    config: PathBuf,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon in the foreground (what systemd starts).
    Run,
    /// Check the configuration and every job, and that the store, folders and mail server work.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// List the jobs, their triggers and when each fires next.
    Jobs {
        #[arg(long)]
        json: bool,
    },
    /// Run one job now.
    Job {
        #[command(subcommand)]
        action: JobAction,
    },
    /// Dry run of a reconciliation job on two files: posts nothing, writes the pairs it finds.
    Reconcile {
        /// The cash reconciliation job whose rules to use.
        job: String,
        /// Ledger export, read with the layout of the import job that feeds the job's book.
        #[arg(long)]
        ledger: PathBuf,
        /// Bank statement, read with the job's own layout.
        #[arg(long)]
        statement: PathBuf,
        /// Where to write the pairs: `ledger_id,bank_reference,match_pass`.
        #[arg(long, required_unless_present = "compare")]
        out: Option<PathBuf>,
        /// Replay: another version of the job file; shows what its [match] would change
        /// (new and lost matches, new breaks, STP rate before and after).
        #[arg(long)]
        compare: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Why a record is matched (the pass, the compared values, the candidates it beat) or why
    /// it is not; or the same for a match.
    Explain {
        #[command(subcommand)]
        what: ExplainWhat,
    },
    /// What clerk reads from a file (statements, holdings, invoices, or rows), without taking
    /// it: for trying a new bank's or supplier's file before dropping it.
    Extract {
        file: PathBuf,
        /// Read as this format instead of recognising it: mt940, mt942, mt950, mt535, mt536,
        /// mt537, camt.052, camt.053, camt.054, semt.002, ubl, cii, facturx, csv, xlsx, xls,
        /// ods.
        #[arg(long)]
        format: Option<String>,
        /// Read with this job's [extract] settings (needed for CSV and spreadsheets).
        #[arg(long)]
        job: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The entries posted, with their lines and where they came from (file, sheet, line).
    Journal {
        /// Only this job's entries.
        #[arg(long)]
        job: Option<String>,
        /// Posted on or after this date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Posted on or before this date.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Only entries with a line on this account.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
        /// `reverse ENTRY --reason R` (undo a posted entry by its reversal), `export` (a
        /// re-export on request), `exports` (what went where).
        #[command(subcommand)]
        what: Option<JournalCommand>,
    },
    /// Accounting periods (months): close one, reopen it (an administrator's act), list them.
    Period {
        #[command(subcommand)]
        what: PeriodCommand,
    },
    /// The books: the trial balance, or one account's movements.
    Ledger {
        #[command(subcommand)]
        what: LedgerCommand,
    },
    /// Tamper evidence: check the audit chain over entries and break actions, or print its head.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Accounts payable reports: `grir`, the goods received and not yet invoiced.
    Payables {
        #[command(subcommand)]
        what: PayablesCommand,
    },
    /// Per bank account and currency: the book balance against the latest statement's
    /// closing balance, and what makes up the difference.
    Bank {
        /// Only this bank account (IBAN as the statement names it) or ledger account.
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Files, records, entries and breaks so far; KPIs per job; the latest runs.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Exceptions (breaks) that still need someone, oldest first; filters narrow the list.
    Exceptions {
        /// Only this job's.
        #[arg(long)]
        job: Option<String>,
        /// Only this reason (missing_on_statement, amount_difference, unreadable, ...).
        #[arg(long)]
        reason: Option<String>,
        /// open, investigating, resolved, unresolved (default) or all.
        #[arg(long)]
        status: Option<String>,
        /// Only those owned by this person or team.
        #[arg(long)]
        owner: Option<String>,
        /// Only those older than this many business days.
        #[arg(long)]
        older_than: Option<i64>,
        /// Resolved ones too (same as --status all).
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Work one exception: show it with its history, assign, note, investigate, resolve, or
    /// match several by hand.
    Exception {
        #[command(subcommand)]
        action: ExceptionAction,
    },
    /// The console's users: add, list, disable, enable, change a password or a role.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Add a user. The password is asked for (twice, not shown), or read from the first line
    /// of --password-file; at least 12 characters.
    Add {
        name: String,
        /// viewer, operator, approver or admin.
        #[arg(long, value_parser = parse_role)]
        role: crate::model::people::Role,
        #[arg(long, conflicts_with = "sso")]
        password_file: Option<PathBuf>,
        /// No password: the user comes in only through the trusted single sign-on proxy
        /// ([http] trusted_proxies, user_header).
        #[arg(long)]
        sso: bool,
    },
    /// Every user with role, login kind and state (never a password hash).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a user from logging in; their open sessions end at once.
    Disable { name: String },
    /// Let a disabled user log in again.
    Enable { name: String },
    /// Set a new password (asked for, or from --password-file); open sessions end.
    Passwd {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Give a user another role.
    Role {
        name: String,
        #[arg(value_parser = parse_role)]
        role: crate::model::people::Role,
    },
}

fn parse_role(s: &str) -> Result<crate::model::people::Role, String> {
    s.parse()
}

#[derive(Subcommand, Debug)]
enum ExplainWhat {
    /// A record by its id (as `clerk exception show` lists it).
    Record {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// A match by its id.
    Match {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ExceptionAction {
    /// The exception with everything that happened to it.
    Show {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Give it to a person or team.
    Assign {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        owner: String,
        /// Who is acting (default: the login running the command).
        #[arg(long)]
        by: Option<String>,
    },
    /// Add a note.
    Note {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        text: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Mark it as being looked into.
    Investigate {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Back to open, also a resolved one (its resolution stays in the history); not a break
    /// its record's match closed, nor one about an item with another break open.
    Reopen {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Close it, saying why (nothing is posted).
    Resolve {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Match the records of these exceptions with each other by hand: posts what the job's
    /// rule would have posted and resolves them, with your reason.
    Match {
        #[arg(required = true, num_args = 2.., value_parser = crate::model::parse_break_label)]
        ids: Vec<i64>,
        #[arg(long)]
        reason: String,
        /// Account to book a difference to when the amounts do not agree exactly.
        #[arg(long)]
        difference_account: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Correct a position difference with an entry (debit, credit, amount), saying why:
    /// posted once and the exception resolved; above the approval limit only proposed.
    Correct {
        #[arg(value_parser = crate::model::parse_break_label)]
        id: i64,
        /// The account debited, e.g. 1510.
        #[arg(long)]
        debit: String,
        /// The account credited.
        #[arg(long)]
        credit: String,
        /// Positive; --debit and --credit say which way.
        #[arg(long)]
        amount: rust_decimal::Decimal,
        /// Where the exception has none (a quantity difference).
        #[arg(long)]
        currency: Option<crate::model::Currency>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Approve another person's proposal (A-3, four eyes): it is done now, posted once. Or
    /// approve a held invoice (E-7, with --reason): posted as it stands.
    Approve {
        #[arg(value_parser = held_invoice::parse_decided)]
        id: held_invoice::Decided,
        /// Why a held invoice is approved (E-7).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Reject another person's proposal, saying why: nothing is posted. Or reject a
    /// held invoice (E-7): nothing posted, never held again.
    Reject {
        #[arg(value_parser = held_invoice::parse_decided)]
        id: held_invoice::Decided,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Take back one's own proposal.
    Withdraw {
        #[arg(value_parser = crate::store::parse_approval_label)]
        id: i64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Undo a match (by its id, or an exception E-12 it closed): reverses its entry, opens
    /// its records again (held for a person) and reopens its exceptions.
    Unmatch {
        #[arg(value_parser = reversal::parse_unmatch)]
        what: reversal::Unmatch,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Forced matches and write-offs waiting for a second person.
    Proposals {
        #[arg(long)]
        json: bool,
    },
}

/// `clerk journal ...`
#[derive(Subcommand, Debug)]
enum JournalCommand {
    /// Reverse a posted entry (never edited): posts every line negated, undoes its match (its
    /// records open again, held for a person), reopens the breaks it closed. Four eyes above
    /// [http.approval].
    Reverse {
        entry: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Writes the entries posted within --from..--to (all without them) again, into a
    /// re-export file of the target (`<name>-reexport-<from>-<to>-<n>.<ext>`); the target's
    /// next regular batch is not affected. Prints the file's path.
    Export {
        /// The `[[exports]]` target's name.
        #[arg(long)]
        target: String,
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
    },
    /// What went where: each export file with its entries, checksum and when it was written.
    Exports {
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// `clerk period ...`
#[derive(Subcommand, Debug)]
enum PeriodCommand {
    /// Close a period (YYYY-MM): entries dated in it are posted on the first day of the next
    /// open period, their own date kept as value date.
    Close {
        period: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Reopen a closed period, saying why.
    Reopen {
        period: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Every period ever closed, with who, when and its history.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum JobAction {
    /// Run a job now: a file job on the given files (or on what waits in its folder), a
    /// scheduled job (the summary) as if its time had come.
    Run { name: String, files: Vec<PathBuf> },
}

/// `clerk payables ...`
#[derive(Subcommand, Debug)]
enum PayablesCommand {
    /// The open GR/IR per order line (goods received, not yet invoiced, at the order's
    /// price), with totals per currency.
    Grir {
        #[arg(long)]
        json: bool,
    },
}

/// `clerk audit ...`
#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Walk the chain against the live rows; exit 1 naming the first row that does not fit.
    Verify {
        /// A head from an earlier morning summary, `SEQ:HASH` (the short hash or the full
        /// one): the chain must still hold it, else the database was rewritten since.
        #[arg(long, value_name = "SEQ:HASH")]
        mailed: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The chain's head (seq and hash), as the morning summary carries it.
    Head {
        #[arg(long)]
        json: bool,
    },
}

/// `clerk ledger ...`
#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Every account's balance per currency; each currency must add up to zero.
    Balance {
        /// Entries posted up to and including this date (YYYY-MM-DD); default all.
        #[arg(long)]
        at: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// One account's movements with a running balance.
    Account {
        account: String,
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only the daemon logs progress by default; the other commands print their results.
    let quiet = !matches!(cli.command, Command::Run);
    init_logging(cli.log_format, quiet);
    match dispatch(cli) {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run => run::daemon(&cli.config),
        Command::Check { json } => check::check(&cli.config, json),
        Command::Jobs { json } => report::jobs(&cli.config, json),
        Command::Job {
            action: JobAction::Run { name, files },
        } => run::job(&cli.config, &name, &files),
        Command::Reconcile {
            job,
            ledger,
            statement,
            out,
            compare,
            json,
        } => dryrun::reconcile(
            &cli.config,
            &dryrun::Args {
                job: &job,
                ledger: &ledger,
                statement: &statement,
                out: out.as_deref(),
                compare: compare.as_deref(),
                json,
            },
        ),
        Command::Explain { what } => match what {
            ExplainWhat::Record { id, json } => explain::record(&cli.config, id, json),
            ExplainWhat::Match { id, json } => explain::matched(&cli.config, id, json),
        },
        Command::Extract {
            file,
            format,
            job,
            json,
        } => extract::extract(&cli.config, &file, format.as_deref(), job.as_deref(), json),
        Command::Status { json } => report::status(&cli.config, json),
        Command::Journal {
            what: Some(JournalCommand::Reverse { entry, reason, by }),
            ..
        } => reversal::reverse(&cli.config, entry, &reason, by.as_deref()),
        Command::Journal {
            what: Some(JournalCommand::Export { target, from, to }),
            ..
        } => journal::reexport(&cli.config, &target, from, to),
        Command::Journal {
            what: Some(JournalCommand::Exports { target, json }),
            ..
        } => journal::exports(&cli.config, target.as_deref(), json),
        Command::Period { what } => match what {
            PeriodCommand::Close { period, by } => {
                reversal::close(&cli.config, &period, by.as_deref())
            }
            PeriodCommand::Reopen { period, reason, by } => {
                reversal::reopen(&cli.config, &period, &reason, by.as_deref())
            }
            PeriodCommand::List { json } => reversal::list(&cli.config, json),
        },
        Command::Journal {
            job,
            from,
            to,
            account,
            json,
            what: None,
        } => journal::journal(
            &cli.config,
            &journal::JournalArgs {
                job: job.as_deref(),
                from,
                to,
                account: account.as_deref(),
                json,
            },
        ),
        Command::Ledger { what } => match what {
            LedgerCommand::Balance { at, json } => journal::balance(&cli.config, at, json),
            LedgerCommand::Account {
                account,
                from,
                to,
                json,
            } => journal::account(&cli.config, &account, from, to, json),
        },
        Command::Audit { what } => match what {
            AuditCommand::Verify { mailed, json } => audit::verify(&cli.config, &mailed, json),
            AuditCommand::Head { json } => audit::head(&cli.config, json),
        },
        Command::Payables {
            what: PayablesCommand::Grir { json },
        } => payables::grir(&cli.config, json),
        Command::Bank { account, json } => bank::bank(&cli.config, account.as_deref(), json),
        Command::Exceptions {
            job,
            reason,
            status,
            owner,
            older_than,
            all,
            json,
        } => exceptions::list(
            &cli.config,
            &exceptions::ListArgs {
                job: job.as_deref(),
                reason: reason.as_deref(),
                status: status.as_deref(),
                owner: owner.as_deref(),
                older_than,
                all,
                json,
            },
        ),
        Command::Exception { action } => match action {
            ExceptionAction::Show { id, json } => exceptions::show(&cli.config, id, json),
            ExceptionAction::Assign { id, owner, by } => exceptions::act(
                &cli.config,
                id,
                exceptions::Act::Assign(&owner),
                by.as_deref(),
            ),
            ExceptionAction::Note { id, text, by } => {
                exceptions::act(&cli.config, id, exceptions::Act::Note(&text), by.as_deref())
            }
            ExceptionAction::Investigate { id, by } => {
                exceptions::act(&cli.config, id, exceptions::Act::Investigate, by.as_deref())
            }
            ExceptionAction::Reopen { id, by } => {
                exceptions::act(&cli.config, id, exceptions::Act::Reopen, by.as_deref())
            }
            ExceptionAction::Resolve { id, reason, by } => exceptions::act(
                &cli.config,
                id,
                exceptions::Act::Resolve(&reason),
                by.as_deref(),
            ),
            ExceptionAction::Match {
                ids,
                reason,
                difference_account,
                by,
            } => exceptions::force_match(
                &cli.config,
                &ids,
                &reason,
                difference_account.as_deref(),
                by.as_deref(),
            ),
            ExceptionAction::Correct {
                id,
                debit,
                credit,
                amount,
                currency,
                reason,
                by,
            } => correct::correct(
                &cli.config,
                id,
                &crate::jobs::workflow::correction::Correction {
                    debit,
                    credit,
                    amount,
                    currency,
                },
                &reason,
                by.as_deref(),
            ),
            ExceptionAction::Approve { id, reason, by } => {
                held_invoice::approve(&cli.config, id, reason.as_deref(), by.as_deref())
            }
            ExceptionAction::Reject { id, reason, by } => {
                held_invoice::reject(&cli.config, id, &reason, by.as_deref())
            }
            ExceptionAction::Withdraw { id, by } => {
                exceptions::decide(&cli.config, id, exceptions::Decide::Withdraw, by.as_deref())
            }
            ExceptionAction::Unmatch { what, reason, by } => {
                reversal::unmatch(&cli.config, what, &reason, by.as_deref())
            }
            ExceptionAction::Proposals { json } => exceptions::proposals(&cli.config, json),
        },
        Command::User { action } => user(&cli.config, action),
    }
}

fn user(config: &std::path::Path, action: UserAction) -> anyhow::Result<ExitCode> {
    fn from(file: &Option<PathBuf>) -> users::PasswordFrom<'_> {
        match file {
            Some(f) => users::PasswordFrom::File(f.as_path()),
            None => users::PasswordFrom::Prompt,
        }
    }
    match &action {
        UserAction::Add {
            name,
            role,
            password_file,
            sso,
        } => users::add(config, name, *role, (!sso).then(|| from(password_file))),
        UserAction::List { json } => users::list(config, *json),
        UserAction::Disable { name } => users::set_disabled(config, name, true),
        UserAction::Enable { name } => users::set_disabled(config, name, false),
        UserAction::Passwd {
            name,
            password_file,
        } => users::passwd(config, name, from(password_file)),
        UserAction::Role { name, role } => users::role(config, name, *role),
    }
}

fn init_logging(format: LogFormat, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("CLERK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Loads the configuration or says, line by line, what is wrong with it.
fn load_config(path: &std::path::Path) -> anyhow::Result<crate::config::Config> {
    crate::config::load(path).map_err(|errors| {
        anyhow::anyhow!(
            "the configuration has {} problem(s):\n{errors}",
            errors.0.len()
        )
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
