//! The exports read by the real tools: the entries a real daemon posted from the README's "Try
//! it" files, written as hledger, beancount and DATEV files, then `hledger check` and `hledger
//! balance`, `bean-check` and beancount's own loader, and DATEV's published format description
//! (a table here, field by field) say the files are what clerk's trial balance is.
//!
//! The tools are needed, not optional: a missing `hledger` or `bean-check` fails these tests
//! (tests/run installs them).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use clerk::config::exports::ExportTarget;
use clerk::export::{Batch, datev};
use clerk::model::journal::PostedEntry;
use clerk::store::journal::JournalQuery;
use rust_decimal::Decimal;

use crate::support::books::trial_balance;
use crate::support::install::{Install, wait_until};

/// clerk's account and currency → balance.
type Balances = BTreeMap<(String, String), Decimal>;

const EXPORTS: &str = r#"
[[exports]]
name = "hledger"
format = "hledger"
folder = "var/exports/hledger"

[[exports]]
name = "beancount"
format = "beancount"
folder = "var/exports/beancount"

[[exports]]
name = "datev"
format = "datev"
folder = "var/exports/datev"
[exports.options]
consultant_number = 29098
client_number = 55003
"#;

/// The entries a real daemon posted from the README's "Try it" ledger and statement, the
/// trial balance clerk prints, and the install (with the export targets added once the daemon
/// stopped).
fn posted() -> (Install, Vec<PostedEntry>, Balances) {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gen_cash");
    i.drop_file(
        "var/inbox/ledger",
        "ledger.csv",
        &fs::read(fixtures.join("ledger.csv")).unwrap(),
    );
    i.drop_file(
        "var/inbox/bank",
        "statement.csv",
        &fs::read(fixtures.join("statement.csv")).unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(120), || i.files_processed() == 2),
        "{}",
        d.log()
    );
    assert!(d.stop().success());
    let mut config = fs::read_to_string(i.config()).unwrap();
    config.push_str(EXPORTS);
    fs::write(i.config(), config).unwrap();

    let mut store = clerk::store::open_for_reading(&i.path("var/clerk.db")).unwrap();
    let entries =
        clerk::store::in_read(store.as_mut(), |u| u.journal(&JournalQuery::default())).unwrap();
    assert!(entries.len() > 100, "{} entries", entries.len());
    let balances: Balances = trial_balance(&i);
    assert!(
        balances.keys().any(|(_, c)| c != "EUR"),
        "the sample has more than one currency"
    );
    (i, entries, balances)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s.trim()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// The target `name` as the configuration loads it (format, options, the accounts' classes).
fn target(i: &Install, name: &str) -> ExportTarget {
    let config = clerk::config::load(&i.config()).unwrap_or_else(|e| panic!("{e}"));
    config.exports.into_iter().find(|t| t.name == name).unwrap()
}

/// Writes `entries` as `target`'s format into a file in its folder; returns its path.
fn write(target: &ExportTarget, entries: &[PostedEntry]) -> PathBuf {
    let batch = Batch {
        target: &target.name,
        number: 1,
        created_at: chrono::DateTime::parse_from_rfc3339("2026-12-06T18:00:00Z")
            .unwrap()
            .into(),
        first_date: entries.iter().map(|e| e.posting_date).min().unwrap(),
        last_date: entries.iter().map(|e| e.posting_date).max().unwrap(),
        reexport: false,
    };
    let mut format = target.format();
    let mut out = Vec::new();
    format.begin(&mut out, &batch).unwrap();
    for e in entries {
        format.entry(&mut out, e, &target.accounts).unwrap();
    }
    format.finish(&mut out).unwrap();
    fs::create_dir_all(&target.folder).unwrap();
    let path = target
        .folder
        .join(format!("{}-000001.{}", target.name, format.extension()));
    fs::write(&path, out).unwrap();
    path
}

/// Runs a tool that must be installed, and returns its standard output; fails the test,
/// saying so, when the tool is missing or fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}); tests/run installs it"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// clerk's balances under the names a format gives the accounts (`name`), zero balances left
/// out; two clerk accounts may not share one name.
fn renamed(balances: &Balances, name: impl Fn(&str) -> String) -> Balances {
    let mut out = Balances::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for ((account, currency), balance) in balances {
        let n = name(account);
        let first = seen.entry(n.clone()).or_insert_with(|| account.clone());
        assert_eq!(first, account, "two accounts named {n}");
        if !balance.is_zero() {
            out.insert((n, currency.clone()), *balance);
        }
    }
    out
}

/// `hledger check` (plain and strict) passes `file`; its balances per account and currency
/// as `hledger balance` shows them, zero balances left out.
fn hledger_balances(file: &Path) -> Balances {
    let file = file.to_str().unwrap();
    run("hledger", &["-f", file, "check"]);
    run("hledger", &["-f", file, "check", "-s"]);
    let csv = run(
        "hledger",
        &[
            "-f",
            file,
            "balance",
            "--flat",
            "--no-total",
            "--layout=bare",
            "-O",
            "csv",
        ],
    );
    let mut shown = Balances::new();
    for row in csv.lines().skip(1) {
        let cells: Vec<&str> = row.split("\",\"").map(|c| c.trim_matches('"')).collect();
        assert_eq!(cells.len(), 3, "{row}");
        let balance = dec(cells[2]);
        if !balance.is_zero() {
            shown.insert((cells[0].to_string(), cells[1].to_string()), balance);
        }
    }
    shown
}

#[test]
fn hledger_checks_the_export_and_its_balances_are_clerks() {
    let (i, entries, balances) = posted();
    let t = target(&i, "hledger");
    let shown = hledger_balances(&write(&t, &entries));
    let expected = renamed(&balances, |a| {
        clerk::export::hledger::account_name(a, &t.accounts).unwrap()
    });
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);
    // Derived names are the class then clerk's account (these accounts need no replacing).
    for (account, _) in balances.keys() {
        let name = clerk::export::hledger::account_name(account, &t.accounts).unwrap();
        assert!(
            name.ends_with(&format!(":{account}"))
                && ["assets:", "liabilities:", "equity:", "income:", "expenses:"]
                    .iter()
                    .any(|p| name.starts_with(p)),
            "{account} → {name}"
        );
    }
}

/// Sums every posting of a beancount file per account and currency, with beancount's own
/// loader (which fails on anything bean-check would report).
const BEANCOUNT_BALANCES: &str = r#"
import sys
from collections import defaultdict
from beancount import loader
from beancount.core import data
entries, errors, _ = loader.load_file(sys.argv[1])
if errors:
    for e in errors:
        print(e, file=sys.stderr)
    sys.exit(1)
sums = defaultdict(lambda: 0)
for e in entries:
    if isinstance(e, data.Transaction):
        for p in e.postings:
            sums[(p.account, p.units.currency)] += p.units.number
for (account, currency), number in sorted(sums.items()):
    print(f"{account}\t{currency}\t{number}")
"#;

/// `bean-check` passes `file`; its balances per account and currency as beancount's loader
/// sums them, zero balances left out.
fn beancount_balances(file: &Path) -> Balances {
    let file = file.to_str().unwrap();
    run("bean-check", &[file]);
    let out = run("python3", &["-c", BEANCOUNT_BALANCES, file]);
    let mut shown = Balances::new();
    for row in out.lines() {
        let cells: Vec<&str> = row.split('\t').collect();
        let balance = dec(cells[2]);
        if !balance.is_zero() {
            shown.insert((cells[0].to_string(), cells[1].to_string()), balance);
        }
    }
    shown
}

#[test]
fn bean_check_passes_the_export_and_its_balances_are_clerks() {
    let (i, entries, balances) = posted();
    let t = target(&i, "beancount");
    let file = write(&t, &entries);
    let shown = beancount_balances(&file);
    let expected = renamed(&balances, |a| {
        clerk::export::beancount::account_name(a, &t.accounts).unwrap()
    });
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);
    // Every entry is there, with its id.
    let text = fs::read_to_string(file).unwrap();
    assert_eq!(text.matches("\n  entry: \"").count(), entries.len());
}

/// One field of DATEV's format description: its number, heading, whether it must be given, and
/// what it holds (`Text(n)`: quoted, at most n characters; `Number(n)`: digits, at most n;
/// `Amount`: digits, a comma, two decimals; `Fixed(s)`: exactly `s` as written).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text(usize),
    Number(usize),
    Amount,
    Fixed(&'static str),
}

/// The header record of a Buchungsstapel (DATEV, "Formatbeschreibung DATEV-Format, Header",
/// version 700): number, name, required, kind.
const HEADER: [(usize, &str, bool, Kind); 31] = [
    (1, "Kennzeichen", true, Kind::Fixed("\"EXTF\"")),
    (2, "Versionsnummer", true, Kind::Fixed("700")),
    (3, "Formatkategorie", true, Kind::Fixed("21")),
    (4, "Formatname", true, Kind::Fixed("\"Buchungsstapel\"")),
    (5, "Formatversion", true, Kind::Fixed("13")),
    (6, "Erzeugt am", true, Kind::Number(17)),
    (7, "Importiert", false, Kind::Number(17)),
    (8, "Herkunft", false, Kind::Text(2)),
    (9, "Exportiert von", false, Kind::Text(25)),
    (10, "Importiert von", false, Kind::Text(25)),
    (11, "Beraternummer", true, Kind::Number(7)),
    (12, "Mandantennummer", true, Kind::Number(5)),
    (13, "WJ-Beginn", true, Kind::Number(8)),
    (14, "Sachkontenlänge", true, Kind::Number(1)),
    (15, "Datum vom", true, Kind::Number(8)),
    (16, "Datum bis", true, Kind::Number(8)),
    (17, "Bezeichnung", false, Kind::Text(30)),
    (18, "Diktatkürzel", false, Kind::Text(2)),
    (19, "Buchungstyp", false, Kind::Number(1)),
    (20, "Rechnungslegungszweck", false, Kind::Number(2)),
    (21, "Festschreibung", false, Kind::Number(1)),
    (22, "WKZ", false, Kind::Text(3)),
    (23, "reserviert", false, Kind::Number(0)),
    (24, "Derivatskennzeichen", false, Kind::Text(0)),
    (25, "reserviert", false, Kind::Number(0)),
    (26, "reserviert", false, Kind::Number(0)),
    (27, "Sachkontenrahmen", false, Kind::Text(2)),
    (28, "ID der Branchenlösung", false, Kind::Number(4)),
    (29, "reserviert", false, Kind::Number(0)),
    (30, "reserviert", false, Kind::Text(0)),
    (31, "Anwendungsinformation", false, Kind::Text(16)),
];

/// The booking fields of a Buchungsstapel (format version 13) that clerk fills or that bound
/// what it may write, by number: name, required, kind. Every other of the 125 fields must stay
/// empty.
const BOOKING: [(usize, &str, bool, Kind); 20] = [
    (1, "Umsatz (ohne Soll/Haben-Kz)", true, Kind::Amount),
    (2, "Soll/Haben-Kennzeichen", true, Kind::Text(1)),
    (3, "WKZ Umsatz", false, Kind::Text(3)),
    (4, "Kurs", false, Kind::Number(0)),
    (5, "Basis-Umsatz", false, Kind::Number(0)),
    (6, "WKZ Basis-Umsatz", false, Kind::Text(0)),
    (7, "Konto", true, Kind::Number(9)),
    (8, "Gegenkonto (ohne BU-Schlüssel)", true, Kind::Number(9)),
    (10, "Belegdatum", true, Kind::Number(4)),
    (11, "Belegfeld 1", false, Kind::Text(36)),
    (14, "Buchungstext", false, Kind::Text(60)),
    (21, "Beleginfo - Art 1", false, Kind::Text(20)),
    (22, "Beleginfo - Inhalt 1", false, Kind::Text(210)),
    (23, "Beleginfo - Art 2", false, Kind::Text(20)),
    (24, "Beleginfo - Inhalt 2", false, Kind::Text(210)),
    (25, "Beleginfo - Art 3", false, Kind::Text(20)),
    (26, "Beleginfo - Inhalt 3", false, Kind::Text(210)),
    (27, "Beleginfo - Art 4", false, Kind::Text(20)),
    (28, "Beleginfo - Inhalt 4", false, Kind::Text(210)),
    (114, "Festschreibung", false, Kind::Number(1)),
];

/// The 125 column headings of format version 13, in order, as DATEV's description lists them.
fn headings() -> Vec<String> {
    let named = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut h = named(&[
        "Umsatz (ohne Soll/Haben-Kz)",
        "Soll/Haben-Kennzeichen",
        "WKZ Umsatz",
        "Kurs",
        "Basis-Umsatz",
        "WKZ Basis-Umsatz",
        "Konto",
        "Gegenkonto (ohne BU-Schlüssel)",
        "BU-Schlüssel",
        "Belegdatum",
        "Belegfeld 1",
        "Belegfeld 2",
        "Skonto",
        "Buchungstext",
        "Postensperre",
        "Diverse Adressnummer",
        "Geschäftspartnerbank",
        "Sachverhalt",
        "Zinssperre",
        "Beleglink",
    ]);
    for n in 1..=8 {
        h.extend([
            format!("Beleginfo - Art {n}"),
            format!("Beleginfo - Inhalt {n}"),
        ]);
    }
    h.extend(named(&[
        "KOST1 - Kostenstelle",
        "KOST2 - Kostenstelle",
        "Kost-Menge",
        "EU-Land u. UStID (Bestimmung)",
        "EU-Steuersatz (Bestimmung)",
        "Abw. Versteuerungsart",
        "Sachverhalt L+L",
        "Funktionsergänzung L+L",
        "BU 49 Hauptfunktionstyp",
        "BU 49 Hauptfunktionsnummer",
        "BU 49 Funktionsergänzung",
    ]));
    for n in 1..=20 {
        h.extend([
            format!("Zusatzinformation - Art {n}"),
            format!("Zusatzinformation- Inhalt {n}"),
        ]);
    }
    h.extend(named(&[
        "Stück",
        "Gewicht",
        "Zahlweise",
        "Forderungsart",
        "Veranlagungsjahr",
        "Zugeordnete Fälligkeit",
        "Skontotyp",
        "Auftragsnummer",
        "Buchungstyp",
        "USt-Schlüssel (Anzahlungen)",
        "EU-Land (Anzahlungen)",
        "Sachverhalt L+L (Anzahlungen)",
        "EU-Steuersatz (Anzahlungen)",
        "Erlöskonto (Anzahlungen)",
        "Herkunft-Kz",
        "Buchungs GUID",
        "KOST-Datum",
        "SEPA-Mandatsreferenz",
        "Skontosperre",
        "Gesellschaftername",
        "Beteiligtennummer",
        "Identifikationsnummer",
        "Zeichnernummer",
        "Postensperre bis",
        "Bezeichnung SoBil-Sachverhalt",
        "Kennzeichen SoBil-Buchung",
        "Festschreibung",
        "Leistungsdatum",
        "Datum Zuord. Steuerperiode",
        "Fälligkeit",
        "Generalumkehr (GU)",
        "Steuersatz",
        "Land",
        "Abrechnungsreferenz",
        "BVV-Position",
        "EU-Land u. UStID (Ursprung)",
        "EU-Steuersatz (Ursprung)",
        "Abw. Skontokonto",
    ]));
    h
}

/// The fields of one DATEV line, quotes kept (a `;` inside quotes is text).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.last_mut().unwrap().push(c);
            }
            ';' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Whether `value` is what `kind` allows (empty is checked by the caller).
fn fits(value: &str, kind: Kind) -> bool {
    match kind {
        Kind::Fixed(s) => value == s,
        Kind::Number(n) => value.len() <= n && value.bytes().all(|b| b.is_ascii_digit()),
        Kind::Amount => value.split_once(',').is_some_and(|(int, frac)| {
            (1..=10).contains(&int.len())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.len() == 2
                && frac.bytes().all(|b| b.is_ascii_digit())
        }),
        Kind::Text(n) => {
            value.len() >= 2
                && value.starts_with('"')
                && value.ends_with('"')
                && value[1..value.len() - 1]
                    .replace("\"\"", "")
                    .chars()
                    .count()
                    <= n
                && !value[1..value.len() - 1].replace("\"\"", "").contains('"')
        }
    }
}

/// What a DATEV file holds, checked against the tables: its header's fields, the sums of its
/// bookings per account number and currency (Konto debited, Gegenkonto credited; zero sums
/// left out), and the entry ids its bookings carry in Belegfeld 1.
struct DatevFile {
    header: Vec<String>,
    booked: Balances,
    ids: BTreeSet<i64>,
}

fn read_datev(file: &Path) -> DatevFile {
    let bytes = fs::read(file).unwrap();
    let (text, _, malformed) = encoding_rs::WINDOWS_1252.decode(&bytes);
    assert!(!malformed);
    assert!(text.ends_with("\r\n"));
    assert!(
        !text.replace("\r\n", "").contains(['\r', '\n']),
        "every line ends CRLF"
    );
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();

    // The header record, field by field.
    let header = fields(lines[0]);
    assert_eq!(header.len(), HEADER.len(), "{}", lines[0]);
    for (n, name, required, kind) in HEADER {
        let v = &header[n - 1];
        if v.is_empty() || v == "\"\"" {
            assert!(!required, "header field {n} {name} is required");
        } else {
            assert!(
                fits(v, kind),
                "header field {n} {name}: {v:?} is not {kind:?}"
            );
        }
    }

    // The column headings, as the description lists them.
    let want = headings();
    assert_eq!(want.len(), datev::FIELDS);
    assert_eq!(lines[1].split(';').collect::<Vec<_>>(), want);

    // Every booking: 125 fields, each as the table says, the rest empty; the sums per account.
    let mut booked = Balances::new();
    let mut ids = BTreeSet::new();
    for line in &lines[2..] {
        let f = fields(line);
        assert_eq!(f.len(), datev::FIELDS, "{line}");
        for (n, v) in f.iter().enumerate() {
            let n = n + 1;
            match BOOKING.iter().find(|(m, ..)| *m == n) {
                Some((_, name, required, kind)) => {
                    if v.is_empty() {
                        assert!(!required, "field {n} {name} is required: {line}");
                    } else {
                        assert!(fits(v, *kind), "field {n} {name}: {v:?} is not {kind:?}");
                    }
                }
                None => assert!(v.is_empty(), "field {n} should be empty: {line}"),
            }
        }
        assert_eq!(f[1], "\"S\"");
        let amount = dec(&f[0].replace(',', "."));
        let currency = f[2].trim_matches('"').to_string();
        *booked.entry((f[6].clone(), currency.clone())).or_default() += amount;
        *booked.entry((f[7].clone(), currency)).or_default() -= amount;
        ids.insert(f[10].trim_matches('"').parse().unwrap());
    }
    booked.retain(|_, b| !b.is_zero());
    DatevFile {
        header,
        booked,
        ids,
    }
}

/// clerk's balances by account number (the number its account starts with), zero sums left out.
fn by_number(balances: &Balances) -> Balances {
    let mut out = Balances::new();
    for ((account, currency), balance) in balances {
        let number: String = account.chars().take_while(char::is_ascii_digit).collect();
        *out.entry((number, currency.clone())).or_default() += balance;
    }
    out.retain(|_, b| !b.is_zero());
    out
}

#[test]
fn the_datev_file_has_datevs_layout_and_its_bookings_add_up_to_clerks_balances() {
    let (i, entries, balances) = posted();
    let t = target(&i, "datev");
    let file = write(&t, &entries);
    assert_eq!(
        file.file_name().unwrap().to_str().unwrap(),
        "datev-000001.csv"
    );
    let read = read_datev(&file);
    let header = &read.header;
    assert_eq!(header[10], "29098");
    assert_eq!(header[11], "55003");
    let first = entries.iter().map(|e| e.posting_date).min().unwrap();
    let last = entries.iter().map(|e| e.posting_date).max().unwrap();
    assert_eq!(header[14], first.format("%Y%m%d").to_string());
    assert_eq!(header[15], last.format("%Y%m%d").to_string());
    assert_eq!(header[12], format!("{}0101", first.format("%Y")));
    assert_eq!(header[13], "4");
    assert_eq!(header[21], "\"EUR\"");
    assert_eq!(
        read.ids.len(),
        entries.len(),
        "every entry has its bookings"
    );
    let expected = by_number(&balances);
    assert!(!expected.is_empty());
    assert_eq!(read.booked, expected);
}

/// The files the daemon wrote into an export folder, in their order (not its temp files).
fn exported(i: &Install, folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(i.path(folder))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'));
    files.sort();
    files
}

/// How many hledger transactions the files hold (a transaction's first line: date, `*`, code).
fn hledger_transactions(files: &[PathBuf]) -> usize {
    files
        .iter()
        .map(|f| {
            fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter(|l| {
                    l.as_bytes().get(4) == Some(&b'-')
                        && l.get(10..).is_some_and(|r| r.starts_with(" * ("))
                })
                .count()
        })
        .sum()
}

#[test]
fn the_daemons_own_export_files_pass_the_tools_and_hold_each_entry_once() {
    let i = Install::with_shipped_chart(EXPORTS);
    let d = i.start_daemon();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gen_cash");
    i.drop_until_processed(
        &d,
        "var/inbox/ledger/ledger.csv",
        fs::read(fixtures.join("ledger.csv")).unwrap(),
        1,
    );
    i.drop_until_processed(
        &d,
        "var/inbox/bank/statement.csv",
        fs::read(fixtures.join("statement.csv")).unwrap(),
        2,
    );
    let posted = i.status()["entries_posted"].as_u64().unwrap() as usize;
    assert!(posted > 100, "{posted} entries");
    // The exports run after the unit that posted: wait for the last target to have them all.
    assert!(
        wait_until(Duration::from_secs(60), || {
            hledger_transactions(&exported(&i, "var/exports/hledger")) == posted
                && exported(&i, "var/exports/datev")
                    .iter()
                    .map(|f| read_datev(f).ids.len())
                    .sum::<usize>()
                    == posted
                && exported(&i, "var/exports/beancount")
                    .iter()
                    .map(|f| {
                        fs::read_to_string(f)
                            .unwrap()
                            .matches("\n  entry: \"")
                            .count()
                    })
                    .sum::<usize>()
                    == posted
        }),
        "{}",
        d.log()
    );
    assert!(d.stop().success());
    let balances: Balances = trial_balance(&i);
    let add = |sum: &mut Balances, part: Balances| {
        for (k, v) in part {
            *sum.entry(k).or_default() += v;
        }
        sum.retain(|_, b| !b.is_zero());
    };

    // Each file passes the tool on its own; together they are clerk's trial balance.
    let t = target(&i, "hledger");
    let mut sum = Balances::new();
    for f in exported(&i, "var/exports/hledger") {
        add(&mut sum, hledger_balances(&f));
    }
    let expected = renamed(&balances, |a| {
        clerk::export::hledger::account_name(a, &t.accounts).unwrap()
    });
    assert_eq!(sum, expected);

    let t = target(&i, "beancount");
    let mut sum = Balances::new();
    for f in exported(&i, "var/exports/beancount") {
        add(&mut sum, beancount_balances(&f));
    }
    let expected = renamed(&balances, |a| {
        clerk::export::beancount::account_name(a, &t.accounts).unwrap()
    });
    assert_eq!(sum, expected);

    let mut sum = Balances::new();
    let mut ids = BTreeSet::new();
    for f in exported(&i, "var/exports/datev") {
        let read = read_datev(&f);
        for id in read.ids {
            assert!(ids.insert(id), "entry {id} is in two DATEV batches");
        }
        add(&mut sum, read.booked);
    }
    assert_eq!(ids.len(), posted);
    assert_eq!(sum, by_number(&balances));
}

/// A bank reconciliation whose receipt of a USD invoice paid in EUR posts four lines in EUR,
/// each with its foreign amount and rate: bank, receivable (USD at 0.90), the charge the bank
/// kept, the exchange difference.
const FX_JOB: &str = r#"
kind = "cash_reconciliation"
book = "main"
owner = "cash-ops@example.com"

[watch]
folder = "var/inbox/bank"
patterns = ["*.csv"]

[extract]
date_formats = ["%Y-%m-%d"]

[extract.columns]
id = "bank_reference"
booking_date = "booking_date"
value_date = "value_date"
amount = "amount"
currency = "currency"
remittance = "remittance_info"

[match]
rates = { ecb = "config/rates.csv" }

[[match.passes]]
name = "fx"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{9}' }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date" }
fx = { rates = "ecb", tolerance_relative = "0.005" }

[posting.receipt]
narrative = "Receipt {bank_reference}: {references}"
lines = [
  { account = "1010 Bank {currency}", amount = "statement" },
  { account = "1290 Receivables clearing", amount = "-item" },
  { account = "6855 Bank charges", amount = "difference" },
]

[posting.payment]
narrative = "Payment {bank_reference}: {references}"
lines = [
  { account = "1690 Payables clearing", amount = "-item" },
  { account = "1010 Bank {currency}", amount = "statement" },
]

[posting.fx]
functional_currency = "EUR"
rates = "ecb"
difference_account = "2660 Exchange differences"
"#;

#[test]
fn an_entry_of_four_lines_in_foreign_currency_passes_the_tools_and_datev_splits_it_exactly() {
    let i = Install::with_config(EXPORTS);
    fs::write(i.path("jobs/bank-reconciliation.toml"), FX_JOB).unwrap();
    fs::write(
        i.path("config/rates.csv"),
        "date,from,to,rate\n2026-03-02,USD,EUR,0.90\n2026-03-10,USD,EUR,0.92\n",
    )
    .unwrap();
    for (job, name, text) in [
        (
            "ledger-import",
            "ledger.csv",
            "id,account,value_date,amount,currency,reference,counterparty\n\
             9,CASH-USD-01,2026-03-02,1000.00,USD,INV-000000009,ACME US INC\n",
        ),
        (
            "bank-reconciliation",
            "statement.csv",
            "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
             2026-03-10,2026-03-10,918.50,EUR,BK9,PAYMENT INV-000000009 ACME US\n",
        ),
    ] {
        let f = i.path(name);
        fs::write(&f, text).unwrap();
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut store = clerk::store::open_for_reading(&i.path("var/clerk.db")).unwrap();
    let entries =
        clerk::store::in_read(store.as_mut(), |u| u.journal(&JournalQuery::default())).unwrap();
    let receipt = entries
        .iter()
        .find(|e| e.narrative.starts_with("Receipt BK9"))
        .expect("the receipt posted");
    assert_eq!(receipt.lines.len(), 4, "{receipt:?}");
    assert!(receipt.lines.iter().all(|l| l.fx.is_some()), "{receipt:?}");
    let balances: Balances = trial_balance(&i);

    let t = target(&i, "hledger");
    let file = write(&t, &entries);
    assert_eq!(
        hledger_balances(&file),
        renamed(&balances, |a| {
            clerk::export::hledger::account_name(a, &t.accounts).unwrap()
        })
    );
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("; fx: -1000.00 USD @ 0.90"), "{text}");

    let t = target(&i, "beancount");
    let file = write(&t, &entries);
    assert_eq!(
        beancount_balances(&file),
        renamed(&balances, |a| {
            clerk::export::beancount::account_name(a, &t.accounts).unwrap()
        })
    );

    // Debits 918.50 (bank) and 1.50 (charges) against credits 900.00 (receivable) and 20.00
    // (exchange gain): three bookings that add up to the four lines.
    let t = target(&i, "datev");
    let read = read_datev(&write(&t, &entries));
    assert_eq!(read.booked, by_number(&balances));
    let text = encoding_rs::WINDOWS_1252
        .decode(&fs::read(t.folder.join("datev-000001.csv")).unwrap())
        .0
        .into_owned();
    let bookings: Vec<(String, String, String)> = text
        .split_terminator("\r\n")
        .skip(2)
        .map(fields)
        .map(|f| (f[0].clone(), f[6].clone(), f[7].clone()))
        .collect();
    assert_eq!(
        bookings,
        [
            ("900,00".to_string(), "1010".to_string(), "1290".to_string()),
            ("18,50".to_string(), "1010".to_string(), "2660".to_string()),
            ("1,50".to_string(), "6855".to_string(), "2660".to_string()),
        ]
    );
}
