//! `clerk extract FILE`: what the daemon would take from a file, without taking it. For trying
//! a new bank's or supplier's file before dropping it into a folder.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::load_config;
use crate::digest::sha256_hex;
use crate::extract::{self, ExtractSpec, Extracted, Input};
use crate::model::Side;

pub fn extract(
    config_path: &Path,
    file: &Path,
    format: Option<&str>,
    job: Option<&str>,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let mut job_file = None;
    let layout = match job {
        Some(name) => {
            let config = load_config(config_path)?;
            let Some(j) = config.job(name) else {
                bail!("no job {name:?}");
            };
            let Some(l) = j.kind.layout() else {
                bail!("job {name} reads no files");
            };
            if format.is_some() {
                bail!("give either --job (its [extract] settings) or --format, not both");
            }
            job_file = Some(j.file.clone());
            l.clone()
        }
        None => ExtractSpec {
            format: format.map(str::to_owned),
            ..Default::default()
        }
        .check(Side::Statement)
        .map_err(|e| anyhow::anyhow!("--format: {}", e.message))?,
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let input = Input {
        name: &name,
        bytes: &bytes,
        file_hash: Arc::from(sha256_hex(&bytes)),
    };
    if extract::reads_in_batches(&layout, &bytes) {
        return in_batches(&layout, &input, json_out);
    }
    let x = match extract::extract(&layout, &input) {
        Ok(x) => x,
        Err(_) if job.is_none() && extract::recognise(&bytes).is_some_and(|f| f.is_tabular()) => {
            return no_job_for_rows(config_path, &name, &bytes);
        }
        Err(mut e) => {
            if let Some(j) = job_file.as_ref()
                && e.header_not_found()
            {
                e.problems.push(extract::Problem::file(format!(
                    "the columns are named in {} under [extract.columns]: edit them to the \
                     headers the file has, or ask the sender for the layout agreed",
                    j.display()
                )));
            }
            return refused(&name, &e, json_out);
        }
    };
    // The JSON document only when asked for: it takes several times the file in memory.
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&document(&x))?);
    } else {
        print_summary(&name, &x)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV or spreadsheet without `--job`: rows mean nothing without a job's column mapping,
/// so say which jobs read rows rather than "this job maps no columns". Exit code 1.
fn no_job_for_rows(config_path: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let what = extract::recognise(bytes).map_or("rows", |f| f.describe());
    // The list of jobs is a help, not a condition: without a readable configuration the
    // advice still stands.
    let jobs: Vec<String> = load_config(config_path)
        .map(|c| {
            c.jobs
                .iter()
                .filter(|j| j.kind.layout().is_some_and(|l| l.tabular))
                .map(|j| match &j.watch {
                    Some(w) => format!("{} (folder {})", j.name, w.folder.display()),
                    None => j.name.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    outln!(
        "{name}: is {what}; no job is given: rows are read by a job's column mapping, so use \
         --job NAME or drop it into a job's folder{}",
        if jobs.is_empty() {
            String::new()
        } else {
            format!(" (jobs that read rows: {})", jobs.join(", "))
        }
    );
    Ok(ExitCode::from(1))
}

/// What is printed for a file that cannot be read; exit code 1.
fn refused(name: &str, e: &extract::ExtractError, json_out: bool) -> anyhow::Result<ExitCode> {
    if json_out {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": name,
                "error": e.to_string(),
                "problems": e.problems.iter().map(|p| json!({
                    "sheet": p.sheet, "row": p.row, "column": p.column, "message": p.message,
                })).collect::<Vec<_>>(),
            }))?
        );
    } else {
        outln!("{e}");
    }
    Ok(ExitCode::from(1))
}

/// A CSV file, in constant memory whatever its number of rows: read once to know it is
/// good (a bad file prints its problems and nothing else, as before), then again to print
/// its records as they are read. The output is the same as for a file read whole.
fn in_batches(layout: &extract::Layout, input: &Input, json_out: bool) -> anyhow::Result<ExitCode> {
    let checked = extract::read_in_batches(layout, input, &|_, _| {}, |_| {
        Ok::<(), std::convert::Infallible>(())
    });
    let read = match checked {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return refused(input.name, &e, json_out),
        Err(never) => match never {},
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if json_out {
        write_records_json(layout, input, read.format, read.records > 0, &mut out)?;
    } else {
        writeln!(out, "{}: {}", input.name, read.format.as_str())?;
        if read.records > 0 {
            writeln!(out, "  {} records", read.records)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `{"format": …, "records": […]}` as `serde_json::to_string_pretty` lays out the document
/// read whole, written record by record as the file is read.
fn write_records_json(
    layout: &extract::Layout,
    input: &Input,
    format: extract::Format,
    any: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    write!(
        out,
        "{{\n  \"format\": {}",
        serde_json::to_string(format.as_str())?
    )?;
    if any {
        write!(out, ",\n  \"records\": [")?;
        let mut first = true;
        let streamed = extract::read_in_batches(layout, input, &|_, _| {}, |batch| {
            for r in batch {
                let one = serde_json::to_string_pretty(&serde_json::to_value(r)?)?;
                out.write_all(if first { b"\n" } else { b",\n" })?;
                first = false;
                for (i, line) in one.lines().enumerate() {
                    if i > 0 {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(b"    ")?;
                    out.write_all(line.as_bytes())?;
                }
            }
            Ok::<(), anyhow::Error>(())
        })?;
        if let Err(e) = streamed {
            // The same bytes were found good a moment ago.
            bail!("{e}");
        }
        write!(out, "\n  ]")?;
    }
    writeln!(out, "\n}}")?;
    Ok(())
}

/// The JSON shapes documented in the README.
fn document(x: &Extracted) -> Value {
    let dec = |d: rust_decimal::Decimal| Value::String(d.to_string());
    let mut doc = json!({ "format": x.format.as_str() });
    if !x.statements.is_empty() {
        doc["statements"] = x
            .statements
            .iter()
            .map(|s| {
                json!({
                    "kind": s.kind,
                    "account": s.account,
                    "currency": s.currency,
                    "number": s.number,
                    "statement_id": s.statement_id,
                    "opening_balance": s.opening.as_ref().map(|b| dec(b.amount)),
                    "opening_date": s.opening.as_ref().map(|b| b.date),
                    "closing_balance": s.closing.as_ref().map(|b| dec(b.amount)),
                    "closing_date": s.closing.as_ref().map(|b| b.date),
                    "balance_difference": s.balance_difference().filter(|d| !d.is_zero()).map(dec),
                    "entries": s.entries.iter().map(|e| json!({
                        "amount": dec(e.amount),
                        "currency": e.currency,
                        "value_date": e.value_date,
                        "value_date_derived": e.value_date_derived,
                        "booking_date": e.booking_date,
                        "status": e.status,
                        "reference": e.reference,
                        "bank_reference": e.bank_reference,
                        "remittance": e.remittance,
                        "transaction_code": e.transaction_code,
                        "status": e.status,
                        "counterparty_name": e.details.counterparty_name,
                        "counterparty_iban": e.details.counterparty_iban,
                        "end_to_end_id": e.details.end_to_end_id,
                        "batch": e.batch,
                        "line": e.source.row,
                        "locator": e.source.locator,
                    })).collect::<Vec<_>>(),
                    "problems": s.problems,
                })
            })
            .collect();
    }
    if !x.holdings.is_empty() {
        doc["positions"] = x
            .holdings
            .iter()
            .flat_map(|h| &h.positions)
            .map(|p| {
                json!({
                    "account": p.account,
                    "isin": p.isin,
                    "security_id": p.security_id,
                    "security_name": p.security_name,
                    "quantity": dec(p.quantity),
                    "quantity_kind": p.quantity_kind,
                    "price": p.price,
                    "market_value": p.market_value,
                    "as_of": p.as_of,
                    "line": p.source.row,
                })
            })
            .collect();
    }
    if !x.transactions.is_empty() {
        doc["transactions"] = x
            .transactions
            .iter()
            .flat_map(|t| &t.transactions)
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .collect();
    }
    if !x.invoices.is_empty() {
        doc["invoices"] = x
            .invoices
            .iter()
            .map(|i| {
                json!({
                    "kind": i.kind,
                    "number": i.number,
                    "issue_date": i.issue_date,
                    "due_date": i.due_date,
                    "currency": i.currency,
                    "supplier": i.supplier,
                    "customer": i.customer,
                    "order_reference": i.order_reference,
                    "payable_amount": dec(i.payable),
                    "tax_total": i.tax_total.map(dec),
                    "tax_exclusive": i.tax_exclusive.map(dec),
                    "tax_inclusive": i.tax_inclusive.map(dec),
                    "line_total": i.line_total.map(dec),
                    "allowance_total": i.allowance_total.map(dec),
                    "charge_total": i.charge_total.map(dec),
                    "prepaid": i.prepaid.map(dec),
                    "rounding": i.rounding.map(dec),
                    "cash_discount": i.cash_discount,
                    "tax": i.tax,
                    "lines": i.lines,
                    "allowances": i.allowances,
                    "charges": i.charges,
                    "problems": i.arithmetic_problems(),
                })
            })
            .collect();
    }
    if !x.records.is_empty() {
        doc["records"] = x
            .records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect();
    }
    if !x.unread.is_empty() {
        doc["unread"] = x
            .unread
            .iter()
            .map(|p| json!({ "row": p.row, "column": p.column, "message": p.message }))
            .collect();
    }
    doc
}

fn print_summary(name: &str, x: &Extracted) -> anyhow::Result<()> {
    outln!("{name}: {}", x.format.as_str());
    for s in &x.statements {
        outln!(
            "  statement {} of account {} ({}): {} entries, opening {} closing {}{}",
            s.number.as_deref().unwrap_or("-"),
            s.account,
            s.currency.map(|c| c.to_string()).unwrap_or_default(),
            s.entries.len(),
            s.opening
                .as_ref()
                .map(|b| format!("{} on {}", b.amount, b.date))
                .unwrap_or("-".into()),
            s.closing
                .as_ref()
                .map(|b| format!("{} on {}", b.amount, b.date))
                .unwrap_or("-".into()),
            match s.balance_difference() {
                Some(d) if !d.is_zero() => format!(" — DOES NOT ADD UP by {d}"),
                _ => String::new(),
            }
        );
        for e in &s.entries {
            outln!(
                "    {} {:>14} {} {:<20} {}",
                e.value_date,
                e.amount,
                e.currency,
                e.reference.as_deref().unwrap_or(""),
                e.remittance.chars().take(60).collect::<String>()
            );
        }
    }
    for h in &x.holdings {
        outln!(
            "  holdings of account {} on {}: {} positions",
            h.account,
            h.statement_date,
            h.positions.len()
        );
        for p in &h.positions {
            outln!(
                "    {:<12} {:>18} {:?} {}",
                p.isin
                    .as_deref()
                    .or(p.security_id.as_deref())
                    .unwrap_or("-"),
                p.quantity,
                p.quantity_kind,
                p.security_name.as_deref().unwrap_or("")
            );
        }
    }
    for t in &x.transactions {
        outln!(
            "  transactions of account {}: {}",
            t.account,
            t.transactions.len()
        );
    }
    for i in &x.invoices {
        outln!(
            "  {:?} {} of {} from {}: {} {} payable, {} lines{}",
            i.kind,
            i.number,
            i.issue_date,
            i.supplier.name.as_deref().unwrap_or("-"),
            i.payable,
            i.currency,
            i.lines.len(),
            {
                let p = i.arithmetic_problems();
                if p.is_empty() {
                    String::new()
                } else {
                    format!(" — DOES NOT ADD UP: {}", p.join("; "))
                }
            }
        );
    }
    if !x.records.is_empty() {
        outln!("  {} records", x.records.len());
    }
    for p in &x.unread {
        outln!("  NOT READ: {p}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_as_read_are_the_document_read_whole() {
        let layout = toml::from_str::<ExtractSpec>(
            r#"
            [columns]
            id = "id"
            value_date = "value_date"
            amount = "amount"
            currency = "currency"
            reference = "reference"
            "#,
        )
        .unwrap()
        .check(Side::Ledger)
        .unwrap();
        let mut text = String::from("id,value_date,amount,currency,reference\n");
        for k in 0..(extract::RECORD_BATCH + 3) {
            text.push_str(&format!("{k},2026-03-02,{k}.5,EUR,\"INV \"\"{k}\"\"\"\n"));
        }
        let input = Input {
            name: "ledger.csv",
            bytes: text.as_bytes(),
            file_hash: Arc::from("cafe"),
        };
        let whole = extract::extract(&layout, &input).unwrap();
        let mut streamed = Vec::new();
        write_records_json(&layout, &input, whole.format, true, &mut streamed).unwrap();
        let expected = format!(
            "{}\n",
            serde_json::to_string_pretty(&document(&whole)).unwrap()
        );
        assert_eq!(String::from_utf8(streamed).unwrap(), expected);

        let mut none = Vec::new();
        let header_only = Input {
            bytes: b"id,value_date,amount,currency,reference\n",
            ..input
        };
        let empty = extract::extract(&layout, &header_only).unwrap();
        write_records_json(&layout, &header_only, empty.format, false, &mut none).unwrap();
        let expected = format!(
            "{}\n",
            serde_json::to_string_pretty(&document(&empty)).unwrap()
        );
        assert_eq!(String::from_utf8(none).unwrap(), expected);
    }

    #[test]
    fn invoice_json_has_what_recomputes_the_total_without_vat() {
        let layout = ExtractSpec::default().check(Side::Statement).unwrap();
        for name in ["ubl-twin.xml", "cii-twin.xml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/invoice/clerk")
                .join(name);
            let bytes = std::fs::read(&path).unwrap();
            let input = Input {
                name,
                bytes: &bytes,
                file_hash: Arc::from("cafe"),
            };
            let doc = document(&extract::extract(&layout, &input).unwrap());
            let inv = &doc["invoices"][0];
            let amount = |v: &Value| -> rust_decimal::Decimal {
                v.as_str()
                    .unwrap_or_else(|| panic!("{name}: not a decimal string: {v}"))
                    .parse()
                    .unwrap()
            };
            let sum = |list: &Value, field: &str| -> rust_decimal::Decimal {
                list.as_array()
                    .unwrap_or_else(|| panic!("{name}: not a list: {list}"))
                    .iter()
                    .map(|x| amount(&x[field]))
                    .sum()
            };
            // Sum of line net amounts - allowances + charges = total without VAT (BR-CO-13).
            let lines = sum(&inv["lines"], "net_amount");
            let allowances = sum(&inv["allowances"], "amount");
            let charges = sum(&inv["charges"], "amount");
            assert_eq!(lines, amount(&inv["line_total"]), "{name}");
            assert_eq!(allowances, amount(&inv["allowance_total"]), "{name}");
            assert_eq!(charges, amount(&inv["charge_total"]), "{name}");
            assert_eq!(
                lines - allowances + charges,
                amount(&inv["tax_exclusive"]),
                "{name}"
            );
            assert_eq!(
                amount(&inv["tax_exclusive"]) + amount(&inv["tax_total"]),
                amount(&inv["tax_inclusive"]),
                "{name}"
            );
            assert_eq!(inv["allowances"][0]["reason"], "Volume discount", "{name}");
            assert_eq!(inv["charges"][0]["reason_code"], "FC", "{name}");
            assert_eq!(
                inv["supplier"]["trading_name"], "Nordlicht Office",
                "{name}"
            );
            assert_eq!(inv["problems"], Value::Array(vec![]), "{name}");
        }
    }
}
