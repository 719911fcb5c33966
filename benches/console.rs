//! The console under a large exception queue: the real daemon with `N` open breaks (one ledger
//! file of `N` items no statement explains; default 100,000, `CLERK_CONSOLE_BREAKS` changes
//! it), a viewer logged in over real HTTP, and the time each page takes to come back: the
//! queue's first page, a page deep in the queue (following "Next" links, so keyset paging),
//! filters by text and by amount, the order by amount, a break's page, the overview and
//! `/metrics`. Median and worst of `CLERK_CONSOLE_RUNS` (default 5) requests each.
//! `cargo test --benches` runs it with 300 breaks as a check.

#[path = "../tests/it/support/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/support/install.rs"]
mod install;

use std::time::{Duration, Instant};

use install::{Install, wait_until};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `href` of the page's "Next" link, if it has one.
fn next_link(body: &str) -> Option<String> {
    let at = body.find("rel=\"next\"")?;
    let start = body[..at].rfind("href=\"")? + 6;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&"))
}

fn timed(web: &http::Web, path: &str, runs: usize) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let page = web.get(path);
        times.push(t.elapsed());
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        size = page.body.len();
    }
    times.sort();
    (times[times.len() / 2], *times.last().unwrap(), size)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = env_count("CLERK_CONSOLE_BREAKS", if full { 100_000 } else { 300 });
    let runs = env_count("CLERK_CONSOLE_RUNS", if full { 5 } else { 1 });
    let i = Install::with_config("[http]\nlisten = \"127.0.0.1:0\"\n");
    // Half ledger items, half bank lines, none of which explain each other: every one a break.
    let half = n / 2;
    let mut ledger = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    let mut statement =
        String::from("booking_date,value_date,amount,currency,bank_reference,remittance_info\n");
    for k in 0..half {
        let (euros, cents) = (10 + k % 5000, k % 100);
        ledger.push_str(&format!(
            "L{k},CASH-EUR-01,2026-03-02,{euros}.{cents:02},EUR,INV-{k:09},Customer {}\n",
            k % 977
        ));
        statement.push_str(&format!(
            "2026-03-20,2026-03-20,{}.{cents:02},EUR,BK{k},Payment from customer {}\n",
            euros + 7000,
            k % 977
        ));
    }
    let d = i.start_daemon();
    let loaded = Instant::now();
    i.drop_file("var/inbox/ledger", "ledger.csv", ledger.as_bytes());
    assert!(wait_until(Duration::from_secs(1800), || i
        .files_processed()
        >= 1));
    i.drop_file("var/inbox/bank", "statement.csv", statement.as_bytes());
    let open = || i.count("SELECT COUNT(*) FROM breaks WHERE status = 'open'") as usize;
    assert!(
        wait_until(Duration::from_secs(1800), || i.files_processed() >= 2
            && open() >= half),
        "{} open breaks, {} files:\n{}",
        open(),
        i.files_processed(),
        d.log()
    );
    // The run may still be opening the ledger's breaks: wait until the count holds still.
    let mut last = 0;
    wait_until(Duration::from_secs(600), || {
        let now = open();
        let settled = now == last;
        last = now;
        settled
    });
    let n = open();
    let took = loaded.elapsed();
    let password = i.path("bench-password");
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    let out = i.clerk(&[
        "user",
        "add",
        "viewer",
        "--role",
        "viewer",
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let mut web = http::Web::new(&http::console_url(&d));
    web.login("viewer", "correct horse battery staple");

    // The path to a page deep in the queue: follow "Next" 20 times.
    let mut deep = "/exceptions".to_string();
    for _ in 0..20 {
        match next_link(&web.get(&deep).body) {
            Some(next) => deep = next,
            None => break,
        }
    }
    let some_break: i64 = i.count("SELECT MAX(id) FROM breaks");
    println!(
        "clerk console benchmark: {n} open breaks (loaded in {took:.1?}), {runs} requests each"
    );
    println!("| page | median | worst | bytes |");
    println!("|---|---|---|---|");
    for (what, path) in [
        ("queue, first page", "/exceptions".to_string()),
        ("queue, 21st page (keyset)", deep),
        (
            "queue, text filter",
            "/exceptions?text=Customer+976".to_string(),
        ),
        (
            "queue, amount range",
            "/exceptions?min_amount=4000&max_amount=4001".to_string(),
        ),
        ("queue, by amount", "/exceptions?sort=amount".to_string()),
        ("a break", format!("/exceptions/{some_break}")),
        ("overview", "/".to_string()),
        ("/metrics", "/metrics".to_string()),
    ] {
        let (median, worst, bytes) = timed(&web, &path, runs);
        println!("| {what} | {median:.1?} | {worst:.1?} | {bytes} |");
    }
}
