//! SQLite: statements and kept documents.

use super::*;

impl Documents for SqliteUnit<'_, '_> {
    fn statement_seen(&mut self, identity: &str) -> Result<bool> {
        self.tx
            .prepare_cached("SELECT 1 FROM statements WHERE identity = ? LIMIT 1")
            .and_then(|mut s| s.exists([identity]))
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
                    closing_date, entries, row, locator)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ])
            })
            .map_err(map_err)?;
        Ok(self.tx.last_insert_rowid())
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
            let n = stmt
                .execute(params![
                    scope,
                    d.kind.as_str(),
                    d.identity,
                    file_id,
                    d.account,
                    d.key,
                    d.as_of.map(|x| x.to_string()),
                    d.body
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
                    kind,
                    identity,
                    account,
                    key,
                    as_of: as_of.as_deref().map(parse_date).transpose()?,
                    body,
                })
            })
            .collect()
    }
}
