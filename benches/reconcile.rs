//! Cash reconciliation at volume, side by side with the anchor benchmark's tools.
//!
//! `cargo bench --bench reconcile` generates `gen_cash.py` data (N = 100k, 1M, 5M, or the
//! comma-separated `CLERK_BENCH_SIZES`), runs `clerk-bench` (the benchmark contract's matcher
//! over the engine) under `/usr/bin/time -f '%e %M'`, scores it with `score.py` and prints a
//! markdown table: median wall time, median peak RSS, precision, recall. With
//! `CLERK_BENCH_OTHERS=duckdb,polars,pandas` the Python matchers run too, from the venv
//! `CLERK_BENCH_VENV` (default `/tmp/clerk-bench-venv`). `CLERK_BENCH_RUNS` counted runs
//! (default 3) follow one warm-up, as in `bench.py`. `clerk-bench-floor` runs too: the first
//! pass alone as a bare hash join written for these files, a lower bound for any matcher on
//! the machine (its recall is below 1.0 by design).
//!
//! Without the shared benchmark folder (`../shared/bench` beside the repository, or
//! `CLERK_BENCH_SHARED`) or its Python, it says so and exits 0: CI machines need not have it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

fn shared_bench() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("CLERK_BENCH_SHARED").map(PathBuf::from),
        Some(manifest.join("../shared/bench")),
        Some(manifest.join("../../shared/bench")),
        Some(PathBuf::from("/work/shared/bench")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("gen_cash.py").is_file() && p.join("score.py").is_file())
}

/// One timed run: (wall seconds, peak RSS in KiB), or the failure.
fn timed(cmd: &[String]) -> Result<(f64, u64), String> {
    let out = std::env::temp_dir().join(format!("clerk-bench-time-{}", std::process::id()));
    let started = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&out)
        .args(cmd)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", cmd[0]))?;
    // Finer than %e's 10 ms.
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{} failed: {status}", cmd.join(" ")));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let kib = text
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| format!("unexpected output of time: {text:?}"))?;
    Ok((wall, kib))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    n: u64,
    tool: String,
    wall: f64,
    rss_mib: f64,
    precision: String,
    recall: String,
}

fn main() {
    let Some(shared) = shared_bench() else {
        println!("reconcile bench: no shared/bench folder (gen_cash.py, score.py); nothing to do");
        return;
    };
    let venv = PathBuf::from(env_or("CLERK_BENCH_VENV", "/tmp/clerk-bench-venv"));
    let python = venv.join("bin/python");
    if !python.is_file() {
        println!(
            "reconcile bench: no Python venv at {} (see {}/README.md); nothing to do",
            venv.display(),
            shared.display()
        );
        return;
    }
    let python = python.display().to_string();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this too (a debug build),
    // and then one small size is enough to check that the bench works and scores 1.0.
    let testing = !std::env::args().any(|a| a == "--bench");
    let (default_sizes, default_runs) = if testing {
        ("20000", "1")
    } else {
        ("100000,1000000,5000000", "3")
    };
    let sizes: Vec<u64> = env_or("CLERK_BENCH_SIZES", default_sizes)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = env_or("CLERK_BENCH_RUNS", default_runs)
        .parse()
        .unwrap_or(3)
        .max(1);
    let others: Vec<String> = if testing {
        Vec::new()
    } else {
        env_or("CLERK_BENCH_OTHERS", "")
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let work = PathBuf::from(env_or("CLERK_BENCH_WORK", "/tmp/clerk-bench"));
    let clerk = env!("CARGO_BIN_EXE_clerk-bench").to_owned();
    let floor = env!("CARGO_BIN_EXE_clerk-bench-floor").to_owned();

    let mut rows = Vec::new();
    for &n in &sizes {
        let data = work.join(format!("data/n{n}"));
        if !data.join("truth.csv").is_file() {
            eprintln!("generating {n} rows into {}", data.display());
            let ok = Command::new(&python)
                .arg(shared.join("gen_cash.py"))
                .arg(n.to_string())
                .arg("42")
                .arg(&data)
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                println!("reconcile bench: gen_cash.py failed for N = {n}; skipped");
                continue;
            }
        }
        let (ledger, statement, truth) = (
            data.join("ledger.csv").display().to_string(),
            data.join("statement.csv").display().to_string(),
            data.join("truth.csv").display().to_string(),
        );
        let mut tools: Vec<(String, Vec<String>)> = vec![
            ("clerk".into(), vec![clerk.clone()]),
            // A lower bound, not a matcher: the first pass only, as a bare hash join.
            ("floor (reference pass only)".into(), vec![floor.clone()]),
        ];
        for o in &others {
            tools.push((
                o.clone(),
                vec![
                    python.clone(),
                    shared.join(format!("match_{o}.py")).display().to_string(),
                ],
            ));
        }
        for (tool, base) in tools {
            let name = tool.split(' ').next().unwrap_or("tool");
            let out = work.join(format!("out/{name}-n{n}.csv"));
            let _ = std::fs::create_dir_all(out.parent().expect("a folder"));
            let mut cmd = base.clone();
            cmd.extend([ledger.clone(), statement.clone(), out.display().to_string()]);
            let mut walls = Vec::new();
            let mut rss = Vec::new();
            let mut failed = None;
            for i in 0..=runs {
                match timed(&cmd) {
                    Ok((w, k)) if i > 0 => {
                        walls.push(w);
                        rss.push(k as f64 / 1024.0);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                println!("reconcile bench: {tool} at N = {n}: {e}");
                continue;
            }
            let score = Command::new(&python)
                .arg(shared.join("score.py"))
                .arg(&truth)
                .arg(&out)
                .arg("--json")
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
            let field = |k: &str| {
                score
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), |s| s[k].to_string())
            };
            let row = Row {
                n,
                tool,
                wall: median(walls),
                rss_mib: median(rss),
                precision: field("precision"),
                recall: field("recall"),
            };
            eprintln!(
                "N = {}: {} {:.2} s, {:.0} MiB",
                row.n, row.tool, row.wall, row.rss_mib
            );
            rows.push(row);
        }
    }
    println!(
        "\n| N | tool | wall (median of {runs}) | peak RSS | precision | recall |\n| --- | --- | --- | --- | --- | --- |"
    );
    for r in &rows {
        println!(
            "| {} | {} | {:.2} s | {:.0} MiB | {} | {} |",
            r.n, r.tool, r.wall, r.rss_mib, r.precision, r.recall
        );
    }
    if testing {
        for r in rows.iter().filter(|r| r.tool == "clerk") {
            assert!(
                r.precision == "1.0" && r.recall == "1.0",
                "clerk at N = {}: precision {}, recall {}",
                r.n,
                r.precision,
                r.recall
            );
        }
    }
}
