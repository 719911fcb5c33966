//! The crash loop: the real daemon, a real SMTP server, a stream of ledgers, statements, bad
//! files and mailed statements, and SIGKILL at random (seeded) moments with a restart each
//! time. At the end every input is recorded exactly once, the ledger holds exactly the
//! expected entries, nothing is left in processing, every alert went out once, and the csv
//! export target's files together hold each posted entry exactly once.
//!
//! CI runs 20 kills (issue 17: exactly once under at least 20). The full run: `CLERK_CRASH_KILLS=50 cargo test --test it crash`; repeat a
//! run with the seed it printed: `CLERK_CRASH_SEED=<seed>`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::{Duration, SystemTime};

use crate::mailflow::mail;
use crate::support::install::{Install, wait_until};
use crate::support::smtp::SmtpServer;

/// splitmix64: a small seeded generator, so a failing run can be repeated exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// One input of the stream.
enum Input {
    /// A file dropped into an inbox folder.
    File {
        folder: &'static str,
        name: String,
        bytes: Vec<u8>,
    },
    /// A mail delivered into the back-office Maildir, with one statement attachment.
    Mail {
        n: usize,
        attachment: String,
        bytes: Vec<u8>,
    },
}

const LEDGER_HEAD: &str = "id,account,value_date,amount,currency,reference,counterparty\n";
const STATEMENT_HEAD: &str =
    "booking_date,value_date,amount,currency,bank_reference,remittance_info\n";

/// Amounts are unique and between 1000 and 2000, so no two items add up to a third: every
/// statement line matches its own ledger item by reference and nothing else.
fn amount(n: usize) -> String {
    format!("{}.{:02}", 1000 + n / 100, n % 100)
}

fn day(n: usize) -> String {
    format!("2026-03-{:02}", 2 + n % 4)
}

/// Ledger file `p` and its statement: `k` items each, matching one to one.
fn pair(p: usize, k: usize) -> (String, String) {
    let mut ledger = String::from(LEDGER_HEAD);
    let mut statement = String::from(STATEMENT_HEAD);
    for j in 0..k {
        let n = p * k + j;
        let (a, d) = (amount(n), day(n));
        ledger.push_str(&format!(
            "L{p}-{j},CASH-EUR-01,{d},{a},EUR,INV-{p:04}{j:05},CPTY {n}\n"
        ));
        statement.push_str(&format!(
            "{d},{d},{a},EUR,BK{p:04}{j:05},PAYMENT INV-{p:04}{j:05}\n"
        ));
    }
    (ledger, statement)
}

struct Stream {
    inputs: Vec<Input>,
    /// The names the files table must hold once each: (job, name).
    names: BTreeSet<(String, String)>,
    records: u64,
    entries: u64,
    processed: u64,
    failed: u64,
    duplicate: u64,
}

fn stream(pairs: usize, k: usize, bad: usize, mails: usize) -> Stream {
    let mut inputs = Vec::new();
    let mut names = BTreeSet::new();
    let mut name = |job: &str, n: &str| assert!(names.insert((job.to_string(), n.to_string())));
    for p in 0..pairs {
        let (ledger, statement) = pair(p, k);
        name("ledger-import", &format!("ledger-{p}.csv"));
        name("bank-reconciliation", &format!("statement-{p}.csv"));
        if p == 0 {
            // Staff drop the first ledger again under another name: a duplicate, posted once.
            name("ledger-import", "ledger-0 (copy).csv");
            inputs.push(Input::File {
                folder: "var/inbox/ledger",
                name: "ledger-0 (copy).csv".into(),
                bytes: ledger.clone().into_bytes(),
            });
        }
        inputs.push(Input::File {
            folder: "var/inbox/ledger",
            name: format!("ledger-{p}.csv"),
            bytes: ledger.into_bytes(),
        });
        inputs.push(Input::File {
            folder: "var/inbox/bank",
            name: format!("statement-{p}.csv"),
            bytes: statement.into_bytes(),
        });
    }
    for b in 0..bad {
        let (ledger, _) = pair(1000 + b, 3);
        let broken = ledger.replacen(".", "O", 2).replacen("O", ".", 1);
        name("ledger-import", &format!("bad-{b}.csv"));
        inputs.push(Input::File {
            folder: "var/inbox/ledger",
            name: format!("bad-{b}.csv"),
            bytes: broken.into_bytes(),
        });
    }
    // Mailed statements, each paying one item of their own ledger file.
    let mut mail_ledger = String::from(LEDGER_HEAD);
    for m in 0..mails {
        let n = 90_000 + m;
        let (a, d) = (amount(n), day(n));
        mail_ledger.push_str(&format!(
            "M{m},CASH-EUR-01,{d},{a},EUR,INV-9999{m:05},MAILED {m}\n"
        ));
        let statement = format!("{STATEMENT_HEAD}{d},{d},{a},EUR,MAIL{m:05},INV-9999{m:05}\n");
        let attachment = format!("mailed-{m}.csv");
        name("bank-reconciliation", &attachment);
        inputs.push(Input::Mail {
            n: m,
            attachment,
            bytes: statement.into_bytes(),
        });
    }
    if mails > 0 {
        name("ledger-import", "mail-ledger.csv");
        inputs.push(Input::File {
            folder: "var/inbox/ledger",
            name: "mail-ledger.csv".into(),
            bytes: mail_ledger.into_bytes(),
        });
    }
    let has_mail_ledger = u64::from(mails > 0);
    Stream {
        inputs,
        names,
        records: (2 * pairs * k + 2 * mails) as u64,
        entries: (pairs * k + mails) as u64,
        processed: (2 * pairs + mails) as u64 + has_mail_ledger,
        failed: bad as u64,
        duplicate: 1,
    }
}

fn deliver(i: &Install, input: &Input) {
    match input {
        Input::File {
            folder,
            name,
            bytes,
        } => i.drop_file(folder, name, bytes),
        Input::Mail {
            n,
            attachment,
            bytes,
        } => {
            let root = i.path("var/mail/back-office");
            for sub in ["tmp", "new", "cur"] {
                fs::create_dir_all(root.join(sub)).unwrap();
            }
            let raw = mail(
                "statements@bank.example.com",
                "Statement",
                &format!("crash-{n}@bank.example.com"),
                &[(attachment, bytes)],
            );
            let file = format!("1764180000.M{n}P1.crashloop");
            fs::write(root.join("tmp").join(&file), raw).unwrap();
            fs::rename(root.join("tmp").join(&file), root.join("new").join(&file)).unwrap();
        }
    }
}

/// An export target the kills land on too: every entry must reach its files exactly once.
const EXPORT: &str =
    "[[exports]]\nname = \"books\"\nformat = \"csv\"\nfolder = \"var/exports/books\"\n";

fn message_id(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| panic!("a message without Message-ID:\n{text}"))
}

#[test]
fn crash_loop_loses_and_doubles_nothing() {
    let kills = env_u64("CLERK_CRASH_KILLS").unwrap_or(20).max(1) as usize;
    let seed = env_u64("CLERK_CRASH_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("crash loop: {kills} kills, seed {seed} (repeat with CLERK_CRASH_SEED={seed})");
    let mut rng = Rng::new(seed);

    let smtp = SmtpServer::start();
    let i = Install::with_mail(&format!(
        "[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"5s\"\n{EXPORT}",
        smtp.port()
    ));
    let s = stream(kills / 2 + 3, 300, 3, 4);
    let mut pending: Vec<Input> = s.inputs;
    // A random order, so a statement often comes before its ledger.
    for n in (1..pending.len()).rev() {
        pending.swap(n, rng.below(n as u64 + 1) as usize);
    }
    let total_inputs = pending.len();

    let mut kill_times: Vec<SystemTime> = Vec::new();
    let mut d = i.start_daemon();
    for k in 0..kills {
        // Feed a few inputs, let the daemon work a random while, kill it mid-whatever.
        let feed = (total_inputs / kills + 1).min(pending.len());
        let feed = if k + 1 == kills {
            pending.len()
        } else {
            rng.below(feed as u64 + 1) as usize + 1
        }
        .min(pending.len());
        for input in pending.drain(..feed) {
            deliver(&i, &input);
        }
        std::thread::sleep(Duration::from_millis(rng.below(900)));
        kill_times.push(SystemTime::now());
        d.kill9();
        let restarted = SystemTime::now();
        d = i.start_daemon();
        // A second death on the same file sets it aside (memory.rs tests that).
        crate::memory::wait_until_no_second_try(&i, restarted);
    }
    for input in pending.drain(..) {
        deliver(&i, &input);
    }

    let rows = s.processed + s.failed + s.duplicate;
    let done = wait_until(Duration::from_secs(90), || {
        i.count("SELECT COUNT(*) FROM files") as u64 >= rows
            && i.files_under("var/inbox").is_empty()
            && i.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == 0
            && fs::read_dir(i.path("var/mail/back-office/new"))
                .map(|d| d.count() == 0)
                .unwrap_or(true)
            && i.count(
                "SELECT COALESCE(SUM(entries), 0) FROM export_batches
                 WHERE reexport = 0 AND written_at IS NOT NULL",
            ) == i.count("SELECT COUNT(*) FROM entries")
    });
    if !done {
        let names: BTreeSet<(String, String)> = {
            let db = i.db();
            let mut stmt = db.prepare("SELECT job, name FROM files").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        panic!(
            "seed {seed}: not everything was done: files {} of {rows} (missing {:?}), inbox {:?}, \
             archive {:?}, mail {:?}, unsent mail {}\n{}",
            names.len(),
            s.names.difference(&names).collect::<Vec<_>>(),
            i.files_under("var/inbox"),
            i.files_under("var/archive"),
            i.files_under("var/mail"),
            i.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"),
            d.log()
        );
    }
    // Anything that would arrive twice has arrived once the daemon has stopped cleanly: its
    // scanner, worker, mailbox reader and mail sender have all ended.
    d.stop();

    // Every input recorded once under its name, with the right outcome.
    let db = i.db();
    let mut stmt = db
        .prepare("SELECT job, name, COUNT(*) FROM files GROUP BY job, name")
        .unwrap();
    let recorded: BTreeMap<(String, String), i64> = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let twice: Vec<_> = recorded.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: recorded twice: {twice:?}\n{}",
        logs_about(&i, twice.iter().map(|((_, name), _)| name.as_str()))
    );
    let names: BTreeSet<(String, String)> = recorded.into_keys().collect();
    assert_eq!(
        names, s.names,
        "seed {seed}: every input recorded, no other"
    );
    let status = i.status();
    assert_eq!(
        status["files_processed"], s.processed,
        "seed {seed}: {status}"
    );
    assert_eq!(status["files_failed"], s.failed, "seed {seed}: {status}");
    assert_eq!(
        status["files_duplicate"], s.duplicate,
        "seed {seed}: {status}"
    );
    assert_eq!(status["records"], s.records, "seed {seed}: {status}");
    assert_eq!(status["entries_posted"], s.entries, "seed {seed}: {status}");
    assert_eq!(
        status["open_exceptions"], s.failed,
        "seed {seed}: only the bad files' breaks stay open: {status}"
    );
    assert_eq!(
        i.count("SELECT COUNT(DISTINCT idempotency_key) FROM entries") as u64,
        s.entries
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM runs WHERE status = 'running'"),
        0,
        "seed {seed}: no run left half-done"
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM mail_messages"),
        4,
        "seed {seed}: each mail once"
    );
    // Archived (mailed attachments too) and failed, each file once.
    let archived = i.files_under("var/archive");
    assert_eq!(
        archived.len() as u64,
        s.processed + s.duplicate,
        "seed {seed}: {archived:?}"
    );
    let failed = i.files_under("var/failed");
    assert_eq!(
        failed.len() as u64,
        2 * s.failed,
        "seed {seed}: each bad file and its note: {failed:?}"
    );

    // The export's files together hold each posted entry exactly once (a kill between the
    // batch's record and its rename wrote the same batch again under the same name, never a
    // second batch with the same entries), each as the journal has it.
    let exported = crate::exports::read_csv_exports(&crate::exports::batch_files(
        &i.path("var/exports/books"),
        "books",
    ));
    let ids: BTreeSet<i64> = {
        let mut stmt = db.prepare("SELECT id FROM entries").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        exported.keys().copied().collect::<BTreeSet<i64>>(),
        ids,
        "seed {seed}: every entry exported, once"
    );
    assert_eq!(ids.len() as u64, s.entries);
    assert_eq!(
        i.count("SELECT COUNT(*) FROM export_batches WHERE written_at IS NULL"),
        0,
        "seed {seed}: no batch left unwritten"
    );

    // No half-written file anywhere: temp files of writes a kill interrupted are cleaned up.
    let temps: Vec<String> = i
        .files_under("var")
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "seed {seed}: left behind: {temps:?}");

    // Every alert (one per bad file) reached the SMTP server, under its own Message-ID, once.
    let queued: BTreeSet<String> = {
        let mut stmt = db.prepare("SELECT message_id FROM outbox").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        queued.len() as u64,
        s.failed,
        "seed {seed}: one alert per bad file"
    );
    let received = smtp.messages_with_times();
    let mut seen: BTreeMap<String, Vec<SystemTime>> = BTreeMap::new();
    for (t, raw) in &received {
        seen.entry(message_id(raw)).or_default().push(*t);
    }
    let ids: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(ids, queued, "seed {seed}: what arrived is what was queued");
    // Another copy can only come from a kill after the message was handed to the server and
    // before the daemon wrote the delivery down (no protocol closes that window): the same
    // Message-ID, sent again by the next daemon. So: one daemon process never sends a message
    // twice, a copy needs a kill before it, and there are no more extra copies than kills.
    let logs: Vec<String> = {
        let mut paths: Vec<_> = fs::read_dir(&i.root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains("daemon-"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| fs::read_to_string(p).unwrap_or_default())
            .collect()
    };
    let mut extra = 0;
    for (id, times) in &seen {
        if times.len() == 1 {
            continue;
        }
        extra += times.len() - 1;
        let short = id.trim_matches(|c| c == '<' || c == '>');
        // The daemon's own line (the transport logs another, without `purpose`).
        let sent_by_one = logs
            .iter()
            .map(|l| {
                l.lines()
                    .filter(|l| {
                        l.contains("mail delivered") && l.contains("purpose=") && l.contains(short)
                    })
                    .count()
            })
            .max()
            .unwrap_or(0);
        let killed_before = kill_times.iter().any(|k| *k <= times[times.len() - 1]);
        if sent_by_one > 1 || !killed_before {
            let said: String = logs
                .iter()
                .flat_map(|l| l.lines())
                .filter(|l| l.contains(short) || l.contains("clerk running"))
                .map(|l| format!("{l}\n"))
                .collect();
            panic!(
                "seed {seed}: {id} arrived {} times ({times:?}), sent {sent_by_one} times by one \
                 daemon (kills {kill_times:?}):\n{said}",
                times.len()
            );
        }
        eprintln!(
            "crash loop: {id} arrived {} times: handed over again after a kill mid-delivery",
            times.len()
        );
    }
    assert!(
        extra <= kills,
        "seed {seed}: {extra} extra copies for {kills} kills"
    );
}

/// Every daemon's log lines (one log per start) that name one of `names`, in start order: what
/// a failure needs to be understood, as the runs between kills are otherwise lost.
fn logs_about<'a>(i: &Install, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let mut logs: Vec<_> = std::fs::read_dir(&i.root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("daemon-"))
        })
        .collect();
    logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let mut out = String::new();
    for log in logs {
        out.push_str(&format!("== {}\n", log.display()));
        for line in std::fs::read_to_string(&log).unwrap_or_default().lines() {
            if names.iter().any(|n| line.contains(n)) || line.contains("clerk running") {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
