//! SQLite: statements and kept documents.

use super::*;
use crate::model::statement::EntryStatus;

impl Documents for SqliteUnit<'_, '_> {
    fn statement_seen(&mut self, job: &str, identity: &str) -> Result<StatementSeen> {
        let offered: Option<bool> = self
            .tx
            .prepare_cached(
                "SELECT MIN(offered_from IS NOT NULL) FROM statements
                 WHERE job = ? AND identity = ? GROUP BY job",
            )
            .and_then(|mut s| s.query_row([job, identity], |r| r.get(0)).optional())
            .map_err(map_err)?;
        Ok(match offered {
            None => StatementSeen::No,
            Some(true) => StatementSeen::Offered,
            Some(false) => StatementSeen::Received,
        })
    }

    fn jobs_reading_account(&mut self, account: &str, currency: &str) -> Result<Vec<String>> {
        self.tx
            .prepare_cached(
                "SELECT DISTINCT job FROM statements WHERE account = ? AND currency = ?
                 ORDER BY job",
            )
            .and_then(|mut s| {
                s.query_map([account, currency], |r| r.get(0))
                    .and_then(|rows| rows.collect())
            })
            .map_err(map_err)
    }

    fn previous_statement(
        &mut self,
        account: &str,
        currency: &str,
        on_or_before: NaiveDate,
    ) -> Result<Option<StoredStatement>> {
        let row: Option<(Option<String>, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT number, closing_amount, closing_date FROM statements
                 WHERE account = ? AND currency = ? AND kind = 'end_of_day'
                   AND closing_amount IS NOT NULL AND closing_date <= ?
                 ORDER BY closing_date DESC, id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![account, currency, on_or_before.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(map_err)?;
        row.map(|(number, amount, date)| {
            Ok(StoredStatement {
                number,
                closing_amount: parse_decimal(&amount)?,
                closing_date: parse_date(&date)?,
            })
        })
        .transpose()
    }

    fn overlapping_statement(
        &mut self,
        p: &StatementPeriod<'_>,
    ) -> Result<Option<OverlappedStatement>> {
        let (from, to) = (p.opening_date.to_string(), p.closing_date.to_string());
        let row: Option<(Option<String>, String, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT s.number, s.opening_date, s.closing_date, f.name
                 FROM statements s JOIN files f ON f.id = s.file_id
                 WHERE s.account = ?1 AND s.currency = ?2 AND s.kind = 'end_of_day' AND s.job = ?6
                   AND s.opening_date IS NOT NULL AND s.closing_date IS NOT NULL
                   AND ((s.opening_date < ?4 AND ?3 < s.closing_date)
                        OR (s.number = ?5 AND s.opening_date = ?3 AND s.closing_date = ?4))
                 ORDER BY s.id LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![p.account, p.currency, from, to, p.number, p.job],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
            })
            .map_err(map_err)?;
        row.map(|(number, opening, closing, file)| {
            Ok(OverlappedStatement {
                number,
                opening_date: parse_date(&opening)?,
                closing_date: parse_date(&closing)?,
                file,
            })
        })
        .transpose()
    }

    fn add_statement(&mut self, n: &NewStatement<'_>) -> Result<i64> {
        let s = n.statement;
        let kind = match s.kind {
            crate::model::statement::StatementKind::EndOfDay => "end_of_day",
            crate::model::statement::StatementKind::Intraday => "intraday",
            crate::model::statement::StatementKind::Notification => "notification",
        };
        self.tx
            .prepare_cached(
                "INSERT INTO statements (job, file_id, identity, format, kind, account, currency,
                    number, statement_id, opening_amount, opening_date, closing_amount,
                    closing_date, entries, row, locator, offered_from)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    n.job,
                    n.file_id,
                    n.identity,
                    n.format,
                    kind,
                    s.account,
                    s.currency.map(|c| c.as_str().to_string()),
                    s.number,
                    s.statement_id,
                    s.opening.as_ref().map(|b| b.amount.to_string()),
                    s.opening.as_ref().map(|b| b.date.to_string()),
                    s.closing.as_ref().map(|b| b.amount.to_string()),
                    s.closing.as_ref().map(|b| b.date.to_string()),
                    s.entries.len() as i64,
                    s.source.row,
                    s.source.locator.as_deref(),
                    n.offered.then_some(n.file_id),
                ])
            })
            .map_err(map_err)?;
        let statement_id = self.tx.last_insert_rowid();
        if n.offered {
            // Its pending lines are the receiving job's copy's to show.
            return Ok(statement_id);
        }
        for e in &s.entries {
            let status = match e.status {
                EntryStatus::Booked => continue,
                EntryStatus::Pending => "pending",
                EntryStatus::Info => "info",
            };
            self.tx
                .prepare_cached(
                    "INSERT INTO unbooked_lines (statement_id, status, value_date, amount,
                        currency, reference, bank_reference, remittance, row, locator)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        statement_id,
                        status,
                        e.value_date.to_string(),
                        e.amount.to_string(),
                        e.currency.as_str(),
                        e.reference,
                        e.bank_reference,
                        e.remittance,
                        e.source.row,
                        e.source.locator.as_deref(),
                    ])
                })
                .map_err(map_err)?;
        }
        Ok(statement_id)
    }

    fn add_documents(
        &mut self,
        scope: &str,
        file_id: i64,
        docs: &[NewDocument],
    ) -> Result<AddedRecords> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO documents (scope, kind, identity, file_id, account, key, as_of, body)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (scope, kind, identity) DO NOTHING",
            )
            .map_err(map_err)?;
        let mut added = AddedRecords::default();
        for d in docs {
            let body = d.body.to_json()?;
            let n = stmt
                .execute(params![
                    scope,
                    d.kind().as_str(),
                    d.identity,
                    file_id,
                    d.account,
                    d.key,
                    d.as_of.map(|x| x.to_string()),
                    body
                ])
                .map_err(map_err)?;
            if n == 1 {
                added.inserted += 1;
            } else {
                added.known += 1;
            }
        }
        Ok(added)
    }

    fn documents(&mut self, scope: &str, kind: DocumentKind) -> Result<Vec<NewDocument>> {
        // identity, account, key, as_of, body
        type DocumentRow = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<DocumentRow> = self
            .tx
            .prepare_cached(
                "SELECT identity, account, key, as_of, body FROM documents
                 WHERE scope = ? AND kind = ? ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![scope, kind.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(identity, account, key, as_of, body)| {
                Ok(NewDocument {
                    body: Document::from_json(kind, &identity, body)?,
                    identity,
                    account,
                    key,
                    as_of: as_of.as_deref().map(parse_date).transpose()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod stored_bodies {
    use super::*;
    use crate::store::{in_read, in_unit};

    /// Bodies as clerk kept them when the daemon and the jobs wrote the JSON themselves; the
    /// invoice as written before clerk read credit notes' references and document-level
    /// allowances and charges.
    const KEPT: &[(DocumentKind, &str)] = &[
        (
            DocumentKind::Position,
            r#"{"account":"SAFE-1","isin":"DE0001102580","security_id":null,"security_name":"Bund 22/32","quantity":"1000000","quantity_kind":"face_amount","available":null,"price":{"value":"98.125","currency":null,"percentage":true},"market_value":{"amount":"981250.00","currency":"EUR"},"as_of":"2026-03-02","source":{"file":"ab12","sheet":null,"row":0,"locator":"message 1, :93B: 2"}}"#,
        ),
        (
            DocumentKind::SecuritiesTransaction,
            r#"{"account":"SAFE-1","isin":"DE0001102580","security_id":null,"security_name":null,"direction":"receive","quantity":"500","quantity_kind":"units","settlement_amount":{"amount":"-49062.50","currency":"EUR"},"trade_date":"2026-02-27","settlement_date":"2026-03-03","reference":"T-77","custodian_reference":"C-9","status":null,"counterparty":"BROKER","source":{"file":"cd34","sheet":null,"row":12,"locator":null}}"#,
        ),
        (
            DocumentKind::Trade,
            r#"{"trade_id":"T-77","account":"SAFE-1","isin":"DE0001102580","side":"buy","quantity":"500","price":"98.125","net_amount":"49062.50","currency":"EUR","trade_date":"2026-02-27","settlement_date":"2026-03-03","counterparty":null,"source":{"file":"ef56","sheet":"Blotter","row":4,"locator":null}}"#,
        ),
        (
            DocumentKind::PurchaseOrderLine,
            r#"{"po_number":"PO-1","line":"10","supplier":"DE123","item":"Toner","quantity":"4","unit_price":"25.00","currency":"EUR","expense_account":null,"source":{"file":"aa11","sheet":null,"row":2,"locator":null}}"#,
        ),
        (
            DocumentKind::GoodsReceipt,
            r#"{"receipt_id":"GR-1","po_number":"PO-1","line":"10","item":null,"quantity_received":"-1","received_on":"2026-03-01","source":{"file":"bb22","sheet":null,"row":3,"locator":null}}"#,
        ),
        (
            DocumentKind::ApprovedInvoice,
            r#"[{"po_number":"PO-1","line":"10","item":null,"quantity":"3"},{"po_number":"PO-1","line":null,"item":"Paper","quantity":"-1.5"}]"#,
        ),
        (
            DocumentKind::PaidInvoice,
            r#"{"invoice":"INV-1","rule":"payment","statement_line":"L-3"}"#,
        ),
    ];

    const OLD_INVOICE: &str = r#"{"kind":"invoice","number":"INV-1","issue_date":"2026-03-02","due_date":null,"currency":"EUR","supplier":{"name":"Supplies Ltd","vat_id":"DE123","id":null,"iban":null,"country":"DE"},"customer":{"name":"Us","vat_id":null,"id":null,"iban":null,"country":null},"order_reference":"PO-1","payment_reference":null,"lines":[],"tax":[],"line_total":"100.00","allowance_total":null,"charge_total":null,"tax_exclusive":"100.00","tax_total":"19.00","tax_inclusive":"119.00","prepaid":null,"rounding":null,"payable":"119.00","source":{"file":"cc33","sheet":null,"row":0,"locator":null}}"#;

    fn keep_raw(store: &mut SqliteStore, file: i64, scope: &str, kind: DocumentKind, body: &str) {
        store
            .conn
            .execute(
                "INSERT INTO documents (scope, kind, identity, file_id, body)
                 VALUES (?, ?, 'kept', ?, ?)",
                params![scope, kind.as_str(), file, body],
            )
            .unwrap();
    }

    #[test]
    fn bodies_kept_before_read_back_typed_and_are_written_again_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
        let file = in_unit(&mut store, |u| {
            u.add_file(&NewFile {
                job: "main",
                sha256: "ab12",
                name: "kept.txt",
                size: 1,
                arrived_at: Utc::now(),
                status: FileStatus::Processed,
                error: None,
                duplicate_of: None,
            })
        })
        .unwrap();
        for (n, &(kind, body)) in KEPT.iter().enumerate() {
            let (old, new) = (format!("old-{n}"), format!("new-{n}"));
            keep_raw(&mut store, file, &old, kind, body);
            let docs = in_read(&mut store, |u| u.documents(&old, kind)).unwrap();
            assert_eq!(docs.len(), 1, "{kind:?}");
            assert_eq!(docs[0].kind(), kind);
            in_unit(&mut store, |u| u.add_documents(&new, file, &docs)).unwrap();
            let (stored_kind, stored_body): (String, String) = store
                .conn
                .query_row(
                    "SELECT kind, body FROM documents WHERE scope = ?",
                    [&new],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(stored_kind, kind.as_str());
            assert_eq!(stored_body, body, "{kind:?}");
        }
        // The firm's trades and the custodian's transactions share the stored kind.
        assert_eq!(
            DocumentKind::Trade.as_str(),
            DocumentKind::SecuritiesTransaction.as_str()
        );

        keep_raw(
            &mut store,
            file,
            "invoices",
            DocumentKind::Invoice,
            OLD_INVOICE,
        );
        let docs = in_read(&mut store, |u| {
            u.documents("invoices", DocumentKind::Invoice)
        })
        .unwrap();
        let Document::Invoice(invoice) = &docs[0].body else {
            panic!("{docs:?}");
        };
        assert_eq!(invoice.number, "INV-1");
        assert!(invoice.preceding_invoice.is_none() && invoice.allowances.is_empty());
        // A body that is not what its kind says is refused, not guessed at.
        keep_raw(&mut store, file, "wrong", DocumentKind::Invoice, KEPT[0].1);
        assert!(in_read(&mut store, |u| u.documents("wrong", DocumentKind::Invoice)).is_err());
    }
}
