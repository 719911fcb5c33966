//! `clerk extract FILE`: what the daemon would take from a file, without taking it. For trying
//! a new bank's or supplier's file before dropping it into a folder.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::load_config;
use crate::daemon::pipeline::sha256_hex;
use crate::extract::{self, ExtractSpec, Extracted, Input};
use crate::model::Side;

pub fn extract(
    config_path: &Path,
    file: &Path,
    format: Option<&str>,
    job: Option<&str>,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
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
        Err(e) => return refused(&name, &e, json_out),
    };
    // The JSON document only when asked for: it takes several times the file in memory.
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&document(&x))?);
    } else {
        print_summary(&name, &x)?;
    }
    Ok(ExitCode::SUCCESS)
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
                        "booking_date": e.booking_date,
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
                    "tax": i.tax,
                    "lines": i.lines,
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
}
