//! Memory for one large file: the real `clerk` binary on a temp install, a ledger CSV in the
//! shape of the cash benchmark's generator (`shared/bench/gen_cash.py`: id, account,
//! value_date, amount, currency, reference, counterparty; about 85 bytes a row) at 100 MB and
//! 500 MB, generated into the temp dir.
//!
//! For each size it reports the peak resident memory (VmHWM) of
//! 1. **the daemon** (`clerk run`) taking the file into `ledger-import` (read, checked,
//!    stored in one unit of work, archived), with the memory it keeps after;
//! 2. **`clerk extract --job ledger-import FILE --json`** printing every record (to
//!    /dev/null), measured by `/usr/bin/time` (the kernel's maximum resident set of the child)
//!    or, where that is missing, by sampling `/proc/<pid>/status`.
//!
//! The install's jobs are the shipped ones without `bank-reconciliation`: a ledger import
//! then runs no reconciliation, and the figures are the file's own cost. With
//! `CLERK_MEMORY_REMATCH=1` the shipped jobs are all kept, and a run also shows what the
//! reconciliation after a ledger import costs (it reads every open item of the book).
//!
//! `CLERK_MEMORY_SIZES_MB=100,500` sets the sizes. `cargo test --benches` runs 4 MB as a check.

#[allow(dead_code)]
#[path = "../tests/it/support/install.rs"]
mod install;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use install::{Install, wait_until};

const MB: u64 = 1024 * 1024;

/// splitmix64, so every run writes the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "CHF", "SEK"];
const NAME_A: [&str; 8] = [
    "NORTHWIND",
    "CONTOSO",
    "FABRIKAM",
    "ADVENTURE",
    "TAILSPIN",
    "LITWARE",
    "PROSEWARE",
    "WINGTIP",
];
const NAME_B: [&str; 6] = [
    "TRADING",
    "LOGISTICS",
    "CAPITAL",
    "HOLDINGS",
    "SUPPLIES",
    "TEXTILES",
];
const NAME_SUFFIX: [&str; 4] = ["LTD", "GMBH", "SA", "INC"];

/// Writes a valid ledger of at least `bytes` bytes; returns its rows.
fn generate_ledger(path: &Path, bytes: u64) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path).unwrap());
    let head = "id,account,value_date,amount,currency,reference,counterparty\n";
    out.write_all(head.as_bytes()).unwrap();
    let mut written = head.len() as u64;
    let mut rng = Rng(20_260_302);
    let mut rows = 0u64;
    let mut line = String::with_capacity(128);
    while written < bytes {
        rows += 1;
        let ccy = CURRENCIES[rng.below(5) as usize];
        let day = 1 + rng.below(28);
        let month = 1 + rng.below(12);
        // Log-uniform-ish cents from 10.00 to 100,000.00, signed 70/30.
        let cents = 1_000 * 10u64.pow(rng.below(4) as u32) + rng.below(1_000_000);
        let sign = if rng.below(10) < 7 { "" } else { "-" };
        let cpty = rng.below(1_000_000);
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "{rows},CASH-{ccy}-0{},2025-{month:02}-{day:02},{sign}{}.{:02},{ccy},INV-{:09},{} {} {} {cpty:06}",
            1 + rng.below(3),
            cents / 100,
            cents % 100,
            (rows * 387_420_489 + 123_456_789) % 1_000_000_000,
            NAME_A[(cpty % 8) as usize],
            NAME_B[(cpty / 8 % 6) as usize],
            NAME_SUFFIX[(cpty / 48 % 4) as usize],
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
    }
    out.flush().unwrap();
    rows
}

/// A `VmXxx:` figure of `/proc/<pid>/status`, in bytes; `None` once the process is gone.
fn vm(pid: u32, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

struct Figures {
    idle: u64,
    peak: u64,
    after: u64,
    took: Duration,
}

/// The daemon takes the file: peak and kept memory, from its own `/proc` (it stays up).
fn daemon_takes(i: &Install, file: &Path) -> Figures {
    let d = i.start_daemon();
    let pid = d.pid();
    let idle = vm(pid, "VmHWM").unwrap_or(0);
    let inbox = i.path("var/inbox/ledger");
    fs::create_dir_all(&inbox).unwrap();
    let started = Instant::now();
    fs::rename(file, inbox.join("ledger-big.csv")).unwrap();
    let done = wait_until(Duration::from_secs(3600), || {
        i.files_under("var/archive").len() + i.files_under("var/failed").len() > 0
    });
    let took = started.elapsed();
    assert!(done, "the file was not processed:\n{}", d.log());
    assert!(
        i.files_under("var/failed").is_empty(),
        "the file failed:\n{}",
        d.log()
    );
    let peak = vm(pid, "VmHWM").unwrap_or(0);
    let after = vm(pid, "VmRSS").unwrap_or(0);
    d.stop();
    // Back where it was, for `clerk extract`.
    let archived = i.files_under("var/archive");
    fs::rename(i.path("var/archive").join(&archived[0]), file).unwrap();
    Figures {
        idle,
        peak,
        after,
        took,
    }
}

/// `clerk extract --json` on the file, its output thrown away: the child's peak memory.
fn extract_json(i: &Install, file: &Path) -> (u64, Duration, &'static str) {
    let bin = env!("CARGO_BIN_EXE_clerk");
    let args: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        i.config().into_os_string(),
        "extract".into(),
        "--job".into(),
        "ledger-import".into(),
        file.as_os_str().to_owned(),
        "--json".into(),
    ];
    let started = Instant::now();
    let gnu_time = Path::new("/usr/bin/time");
    if gnu_time.exists() {
        let report = i.path("time.txt");
        let status = Command::new(gnu_time)
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&report)
            .arg(bin)
            .args(&args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "clerk extract failed");
        let kb: u64 = fs::read_to_string(&report)
            .unwrap()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("a figure from /usr/bin/time");
        return (kb * 1024, started.elapsed(), "getrusage");
    }
    let mut child = Command::new(bin)
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(vm(child.id(), "VmHWM").unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    (peak, started.elapsed(), "sampled")
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / MB as f64)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = std::env::var("CLERK_MEMORY_SIZES_MB")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| if full { vec![100, 500] } else { vec![4] });
    let rematch = std::env::var("CLERK_MEMORY_REMATCH").is_ok_and(|v| v == "1");
    println!(
        "clerk memory benchmark: one ledger CSV (gen_cash shape) into ledger-import, {}",
        if rematch {
            "with the shipped bank-reconciliation on its book (a rematch after the import)"
        } else {
            "no reconciliation on its book"
        }
    );
    println!(
        "{:>8} {:>10} | {:>10} {:>10} {:>7} {:>13} {:>10} {:>8} | {:>13} {:>7} {:>8}",
        "file",
        "rows",
        "daemon idle",
        "peak",
        "ratio",
        "(peak-idle)/f",
        "kept after",
        "took",
        "extract --json",
        "ratio",
        "took"
    );
    for size in sizes {
        let i = Install::new();
        if !rematch {
            fs::remove_file(i.path("jobs/bank-reconciliation.toml")).unwrap();
        }
        let file: PathBuf = i.path("ledger-big.csv");
        let rows = generate_ledger(&file, size * MB);
        let bytes = fs::metadata(&file).unwrap().len();
        let d = daemon_takes(&i, &file);
        let (x_peak, x_took, how) = extract_json(&i, &file);
        let ratio = |p: u64| p as f64 / bytes as f64;
        println!(
            "{:>8} {:>10} | {:>11} {:>10} {:>7.2} {:>13.2} {:>10} {:>7.1}s | {:>14} {:>7.2} {:>7.1}s",
            mb(bytes),
            rows,
            mb(d.idle),
            mb(d.peak),
            ratio(d.peak),
            ratio(d.peak.saturating_sub(d.idle)),
            mb(d.after),
            d.took.as_secs_f64(),
            mb(x_peak),
            ratio(x_peak),
            x_took.as_secs_f64(),
        );
        if !full {
            // The check: the file costs about its size, not many times it.
            assert!(
                d.peak.saturating_sub(d.idle) < 2 * bytes + 64 * MB,
                "daemon peak {} for a {} file",
                mb(d.peak),
                mb(bytes)
            );
        }
        println!("{:>8} (extract --json peak by {how})", "");
    }
}
