//! Monitoring through the real daemon over real HTTP: `/metrics` in the Prometheus text format,
//! counting what `clerk status --json` counts; its bearer token; `/readyz`.

use std::fs;
use std::time::Duration;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::http::{Web, console_url};
use crate::support::install::{Install, wait_until};
use crate::support::prom::{self, Scrape};

const CONSOLE: &str = "[http]\nlisten = \"127.0.0.1:0\"\n";

/// Where the scrape and `clerk status --json` disagree, one line each (empty: they agree).
fn disagreements(m: &Scrape, st: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut same = |what: &str, metric: f64, status: &serde_json::Value| {
        if Some(metric) != status.as_f64() {
            out.push(format!("{what}: /metrics {metric}, clerk status {status}"));
        }
    };
    for (status, key) in [
        ("processed", "files_processed"),
        ("failed", "files_failed"),
        ("duplicate", "files_duplicate"),
    ] {
        same(
            key,
            m.sum("clerk_files_total", &[("status", status)]),
            &st[key],
        );
    }
    same("records", m.sum("clerk_records", &[]), &st["records"]);
    same(
        "records_open",
        m.sum("clerk_records_open", &[]),
        &st["records_open"],
    );
    same(
        "entries_posted",
        m.sum("clerk_entries_posted_total", &[]),
        &st["entries_posted"],
    );
    same(
        "open_exceptions",
        m.sum("clerk_breaks_open", &[]),
        &st["open_exceptions"],
    );
    same(
        "mail_queued",
        m.sum("clerk_mail_queued", &[]),
        &st["mail_queued"],
    );
    for job in st["jobs"].as_array().unwrap() {
        let name = job["job"].as_str().unwrap();
        same(
            &format!("{name} records"),
            m.sum("clerk_records_read_total", &[("job", name)]),
            &job["records"],
        );
        for (pass, n) in job["matched_by_pass"].as_object().unwrap() {
            same(
                &format!("{name} matched by {pass}"),
                m.sum("clerk_matches_total", &[("job", name), ("pass", pass)]),
                n,
            );
        }
        if let Some(stp) = job["stp_rate"].as_f64() {
            let served = m.sum("clerk_stp_ratio", &[("job", name)]);
            if (served - stp).abs() > 1e-6 {
                same(&format!("{name} STP"), served, &job["stp_rate"]);
            }
        }
    }
    out
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_what_clerk_status_counts() {
    let i = Install::with_shipped_chart(CONSOLE);
    let d = i.start_daemon();
    let web = Web::new(&console_url(&d));
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    // The same ledger again (a duplicate) and one that cannot be read (failed).
    i.drop_file("var/inbox/ledger", "again.csv", LEDGER.as_bytes());
    i.drop_file(
        "var/inbox/ledger",
        "bad.csv",
        LEDGER.replace("250.50", "25O.50").as_bytes(),
    );
    // And one the job never takes as it is (ignored).
    i.drop_file("var/inbox/ledger", "notes.txt", b"not a ledger");
    assert!(
        wait_until(Duration::from_secs(20), || {
            let st = i.status();
            st["files_duplicate"] == 1
                && st["files_failed"] == 1
                && i.json(&["exceptions"])
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["reason"] == "ignored_file")
        }),
        "{}",
        d.log()
    );

    // The mail the failure queued may be delivered between two reads: compare until both
    // reads see the same store.
    let mut last = (String::new(), Vec::new());
    let agreed = wait_until(Duration::from_secs(20), || {
        let page = web.get("/metrics");
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            page.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let scrape = prom::parse(&page.body);
        let diff = disagreements(&scrape, &i.status());
        let agreed = diff.is_empty();
        last = (page.body, diff);
        agreed
    });
    assert!(agreed, "{:?}\n{}", last.1, last.0);

    let m = prom::parse(&last.0);
    assert_eq!(m.types["clerk_files_total"], "counter");
    assert_eq!(m.types["clerk_run_duration_seconds"], "histogram");
    assert_eq!(m.value("clerk_store_up", &[]), Some(1.0));
    assert_eq!(m.value("clerk_ready", &[]), Some(1.0));
    assert_eq!(m.value("clerk_tasks_alive", &[]), Some(1.0));
    assert!(m.sum("clerk_entries_posted_total", &[]) > 0.0, "{}", last.0);
    assert_eq!(
        m.value(
            "clerk_files_total",
            &[("job", "ledger-import"), ("status", "ignored")]
        ),
        Some(1.0),
        "{}",
        last.0
    );
    assert!(m.sum("clerk_breaks_open", &[]) > 0.0, "{}", last.0);
    // Each run is in the histograms, and the job's last success is a time of today.
    let runs = m.sum(
        "clerk_run_duration_seconds_count",
        &[("job", "ledger-import")],
    );
    assert!(runs >= 2.0, "{}", last.0);
    let arrivals = m.sum(
        "clerk_arrival_to_posting_seconds_count",
        &[("job", "ledger-import")],
    );
    assert!(arrivals >= 1.0, "{}", last.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let success = m
        .value(
            "clerk_last_success_timestamp_seconds",
            &[("job", "ledger-import")],
        )
        .expect("the ledger's last success");
    assert!((now - success).abs() < 600.0, "{success} vs {now}");
    let scanned = m
        .value("clerk_scanner_last_beat_timestamp_seconds", &[])
        .expect("the scanner's beat");
    assert!((now - scanned).abs() < 60.0);
    let polled = m
        .value(
            "clerk_mailbox_last_poll_timestamp_seconds",
            &[("mailbox", "back-office")],
        )
        .expect("the mailbox's beat");
    assert!((now - polled).abs() < 60.0);

    // What the shipped alert rules and dashboard ask for is what clerk serves.
    for name in shipped_metric_names() {
        assert!(
            m.types.contains_key(&name),
            "{name} is in config/prometheus or config/grafana but clerk does not serve it"
        );
    }
    // Prometheus's own linter, when installed, finds nothing either.
    if let Some(lint) = promtool(&["check", "metrics"], Some(&last.0)) {
        assert!(lint.status.success(), "{lint:?}");
    }

    // Counted from the store, so a restart changes nothing.
    d.stop();
    let d = i.start_daemon();
    let web = Web::new(&console_url(&d));
    let again = prom::parse(&web.get("/metrics").body);
    assert!(
        disagreements(&again, &i.status()).is_empty(),
        "after a restart"
    );
    d.stop();
}

#[test]
fn metrics_ask_for_the_bearer_token_when_one_is_configured() {
    let i = Install::with_config("");
    let token_file = i.path("config/metrics-token");
    fs::write(&token_file, "s3cret-token\n").unwrap();
    let config = i.config();
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}\n[http]\nlisten = \"127.0.0.1:0\"\nmetrics_token_file = \"{}\"\n",
            token_file.display()
        ),
    )
    .unwrap();
    let d = i.start_daemon();
    let web = Web::new(&console_url(&d));

    let none = web.get("/metrics");
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")),
        "{:?}",
        none.headers
    );
    assert!(!none.body.contains("clerk_"), "{}", none.body);
    let wrong = web.get_with("/metrics", &[("Authorization", "Bearer s3cret-tokem")]);
    assert_eq!(wrong.status, 401);
    let right = web.get_with("/metrics", &[("Authorization", "Bearer s3cret-token")]);
    assert_eq!(right.status, 200, "{}", right.body);
    prom::parse(&right.body);
    // Read at each scrape: a new token holds at once, the old one no longer.
    fs::write(&token_file, "rotated\n").unwrap();
    let old = web.get_with("/metrics", &[("Authorization", "Bearer s3cret-token")]);
    assert_eq!(old.status, 401);
    let new = web.get_with("/metrics", &[("Authorization", "Bearer rotated")]);
    assert_eq!(new.status, 200);
    // Health checks stay open.
    assert_eq!(web.get("/healthz").status, 200);
    d.stop();
}

#[test]
fn readyz_is_ready_while_clerk_runs_and_names_the_store_when_it_cannot_be_read() {
    let i = Install::with_config(CONSOLE);
    let d = i.start_daemon();
    let web = Web::new(&console_url(&d));
    let ready = web.get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body, "ready\n");

    // The database replaced by something that is not a database, its journal gone (a restore
    // gone wrong): a real fault, whoever the tests run as. The daemon's open connections keep
    // the old file; whoever opens the store now cannot read it.
    let db = i.path("var/clerk.db");
    let junk = i.path("var/clerk.db.restored");
    fs::write(&junk, "this is not a clerk database\n".repeat(400)).unwrap();
    fs::rename(&junk, &db).unwrap();
    for side in ["var/clerk.db-wal", "var/clerk.db-shm"] {
        let _ = fs::remove_file(i.path(side));
    }
    let page = web.get("/readyz");
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.starts_with("not ready\n"), "{}", page.body);
    assert!(
        page.body.lines().any(|l| l.starts_with("store: ")),
        "{}",
        page.body
    );
    // The process is alive all the same.
    assert_eq!(web.get("/healthz").body, "ok\n");
    let metrics = prom::parse(&web.get("/metrics").body);
    assert_eq!(metrics.value("clerk_store_up", &[]), Some(0.0));
    assert_eq!(metrics.value("clerk_ready", &[]), Some(0.0));
}

/// The metric families the shipped alert rules and Grafana dashboard name (`clerk_...`, the
/// histograms by their family name).
fn shipped_metric_names() -> std::collections::BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = fs::read_to_string(root.join("config/prometheus/clerk-alerts.yml")).unwrap();
    let dashboard = fs::read_to_string(root.join("config/grafana/clerk-dashboard.json")).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for text in [rules, dashboard] {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("clerk_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let family = name.strip_suffix("_bucket").unwrap_or(&name).to_string();
            names.insert(family);
        }
    }
    assert!(names.len() > 5, "{names:?}");
    names
}

/// Runs Prometheus's `promtool` with `input` on its standard input; `None` when it is not
/// installed (Debian's `prometheus` package has it).
fn promtool(args: &[&str], input: Option<&str>) -> Option<std::process::Output> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = input {
        stdin.write_all(text.as_bytes()).unwrap();
    }
    drop(stdin);
    Some(child.wait_with_output().unwrap())
}

#[test]
fn the_shipped_alert_rules_pass_promtool_when_it_is_installed() {
    match promtool(
        &["check", "rules", "config/prometheus/clerk-alerts.yml"],
        None,
    ) {
        Some(out) => assert!(out.status.success(), "{out:?}"),
        None => eprintln!("promtool is not installed; the rules were not checked"),
    }
}

#[test]
fn the_shipped_grafana_dashboard_is_json_with_a_query_in_every_panel() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/grafana/clerk-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).expect("valid JSON");
    assert_eq!(dashboard["uid"], "clerk-operations");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut ids = std::collections::BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel ids repeat");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().unwrap().contains("clerk_"),
                "{}",
                p["title"]
            );
        }
    }
}
