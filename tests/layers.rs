//! The layering of ARCHITECTURE.md, checked on the source: which top-level module may use
//! which, and no cycle between modules at any depth. clerk is one crate (see ARCHITECTURE.md,
//! "One crate, not a workspace"), so the compiler does not stop `extract` from importing
//! `store` or `jobs` from importing `daemon`; this test does, and names the file that did.
//!
//! It reads `use` paths and qualified paths (`crate::a::b`, `super::x`) in code, not in
//! comments or test modules (tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules any other may use: the nouns and small helpers that use nothing of clerk's.
const UTILITIES: &[&str] = &["model", "settings", "fsx", "digest", "secret"];

/// What each top-level module may use besides itself and the utilities (which may use
/// nothing: they are listed with none).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("settings", &[]),
    ("fsx", &[]),
    ("digest", &[]),
    ("secret", &[]),
    // The stages know only the utilities; matching takes a calendar as data.
    ("schedule", &[]),
    ("extract", &[]),
    ("reconcile", &["schedule"]),
    ("post", &[]),
    ("notify", &[]),
    ("ingest", &[]),
    ("export", &[]),
    // The last guard against an unbalanced entry is `post::check_balanced`.
    ("store", &["post"]),
    // Configuration checks each stage's own settings type.
    (
        "config",
        &[
            "export",
            "extract",
            "reconcile",
            "post",
            "schedule",
            "notify",
            "ingest",
        ],
    ),
    (
        "jobs",
        &[
            "export",
            "extract",
            "reconcile",
            "post",
            "schedule",
            "notify",
            "ingest",
            "config",
            "store",
        ],
    ),
    // The console serves what the jobs and the store hold; the daemon runs it.
    (
        "web",
        &[
            "export",
            "reconcile",
            "post",
            "schedule",
            "notify",
            "config",
            "store",
            "jobs",
        ],
    ),
    (
        "daemon",
        &[
            "export",
            "extract",
            "reconcile",
            "post",
            "schedule",
            "notify",
            "ingest",
            "config",
            "store",
            "jobs",
            "web",
        ],
    ),
    (
        "cli",
        &[
            "export",
            "extract",
            "reconcile",
            "post",
            "schedule",
            "notify",
            "ingest",
            "config",
            "store",
            "jobs",
            "web",
            "daemon",
        ],
    ),
];

/// A module's path from the crate root (`["daemon", "pipeline", "file"]`) for a source file.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string contents and its test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_string && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && !(prev == '\'' && chars.get(i + 1) == Some(&'\'')) {
                in_string = !in_string;
            }
            if !in_string {
                kept.push(c);
            }
            prev = c;
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module paths a piece of code names: `crate::a::b…` and `super::x` (resolved against
/// `here`), and the members of `crate::{a, b::c}` groups.
fn named_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `super` of `jobs/cash/apply.rs` and of `jobs/cash/words/mod.rs` alike is one up.
    let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
    let read_path = |rest: &str| -> Vec<String> {
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
            if end == 0 {
                break;
            }
            segs.push(s[..end].to_string());
            s = &s[end..];
            if let Some(next) = s.strip_prefix("::") {
                s = next;
            } else {
                break;
            }
        }
        segs
    };
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && is_ident(code[..at].chars().last().unwrap()) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for member in group[..end].split(',') {
                let p = read_path(member.trim());
                if !p.is_empty() {
                    out.push(p);
                }
            }
        } else {
            out.push(read_path(rest));
        }
    }
    for (at, _) in code.match_indices("super::") {
        if at > 0 && is_ident(code[..at].chars().last().unwrap()) {
            continue;
        }
        let mut p = parent.clone();
        p.extend(read_path(&code[at + "super::".len()..]));
        out.push(p);
    }
    out
}

struct Crate {
    /// Every module of the crate.
    modules: BTreeSet<Vec<String>>,
    /// Module → the modules its code names, with a file that names each.
    uses: BTreeMap<Vec<String>, BTreeMap<Vec<String>, PathBuf>>,
}

fn read_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // Test folders (`store/tests/`, `pipeline/by_key_tests/`) and the extra
                // binaries are not the library.
                if p.file_name().is_some_and(|n| {
                    n == "tests" || n == "bin" || n.to_string_lossy().ends_with("_tests")
                }) {
                    continue;
                }
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p
                    .file_name()
                    .is_some_and(|n| n == "tests.rs" || n.to_string_lossy().ends_with("_tests.rs"))
            {
                files.push(p);
            }
        }
    }
    let mut modules = BTreeSet::new();
    let mut sources = Vec::new();
    for f in files {
        let m = module_of(&src, &f);
        if m.is_empty() || m == ["lib"] || m == ["main"] {
            continue;
        }
        modules.insert(m.clone());
        sources.push((m, f));
    }
    let mut uses: BTreeMap<Vec<String>, BTreeMap<Vec<String>, PathBuf>> = BTreeMap::new();
    for (m, f) in sources {
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        for p in named_paths(&code, &m) {
            // The longest prefix of the path that is a module: `crate::store::Unit` names
            // `store`, `crate::jobs::cash::Hold` names `jobs::cash`.
            let Some(target) = (1..=p.len())
                .rev()
                .map(|n| p[..n].to_vec())
                .find(|q| modules.contains(q))
            else {
                continue;
            };
            uses.entry(m.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| f.clone());
        }
    }
    Crate { modules, uses }
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let krate = read_crate();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (from, targets) in &krate.uses {
        let Some(may) = allowed.get(from[0].as_str()) else {
            wrong.push(format!(
                "module {} is not in the layering (tests/layers.rs, ARCHITECTURE.md)",
                from[0]
            ));
            continue;
        };
        for (to, file) in targets {
            let utility =
                UTILITIES.contains(&to[0].as_str()) && !UTILITIES.contains(&from[0].as_str());
            if to[0] != from[0] && !utility && !may.contains(&to[0].as_str()) {
                wrong.push(format!(
                    "{} uses {} ({}): {} may use only {:?}",
                    from.join("::"),
                    to.join("::"),
                    file.display(),
                    from[0],
                    may
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Whether one module path is the other or inside it.
fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[test]
fn no_two_modules_use_each_other_at_any_depth() {
    let krate = read_crate();
    let deepest = krate.modules.iter().map(Vec::len).max().unwrap_or(1);
    let mut cycles = Vec::new();
    for depth in 1..=deepest {
        let cut = |m: &Vec<String>| m[..m.len().min(depth)].to_vec();
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (from, targets) in &krate.uses {
            for to in targets.keys() {
                let (a, b) = (cut(from), cut(to));
                // A module and its own parent or child are one unit at this depth.
                if !related(&a, &b) {
                    edges.entry(a).or_default().insert(b);
                }
            }
        }
        // A cycle is a module reachable from itself.
        for start in edges.keys() {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&Vec<String>> = edges[start].iter().collect();
            while let Some(m) = todo.pop() {
                if m == start {
                    cycles.push(format!("depth {depth}: {} is in a cycle", start.join("::")));
                    break;
                }
                if seen.insert(m.clone()) {
                    todo.extend(edges.get(m).into_iter().flatten());
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

/// The test's reader finds what it must: a known use and a known cycle-free edge.
#[test]
fn the_reader_sees_the_uses_it_checks() {
    let krate = read_crate();
    let daemon_uses_jobs = krate
        .uses
        .iter()
        .any(|(from, to)| from[0] == "daemon" && to.keys().any(|t| t[0] == "jobs"));
    assert!(
        daemon_uses_jobs,
        "{:?}",
        krate.uses.keys().collect::<Vec<_>>()
    );
    let code = code_of(
        "use crate::{model::Record, store::Unit}; // crate::daemon\nlet s = \"crate::cli\";\n",
    );
    let named = named_paths(&code, &["jobs".into(), "cash".into()]);
    assert!(named.contains(&vec!["model".to_string(), "Record".to_string()]));
    assert!(named.contains(&vec!["store".to_string(), "Unit".to_string()]));
    assert!(
        !named.iter().any(|p| p[0] == "daemon" || p[0] == "cli"),
        "{named:?}"
    );
    let sup = named_paths(
        "use super::words;",
        &["jobs".into(), "cash".into(), "apply".into()],
    );
    assert_eq!(
        sup,
        vec![vec!["jobs".to_string(), "cash".into(), "words".into()]]
    );
}
