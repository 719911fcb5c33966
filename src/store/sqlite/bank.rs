//! SQLite: the bank accounts' books.

use super::*;
use crate::store::bank::{BankBooks, PendingLine, StatementBalances, UnpostedLine};

impl BankBooks for SqliteUnit<'_, '_> {
    fn bank_balances(&mut self, job: &str) -> Result<Vec<StatementBalances>> {
        // Per account and currency: the earliest and the latest end-of-day statement with
        // balances (by closing date, then as stored), of the accounts the job took statements
        // or lines of (a statement kept once may have come through another job).
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
        );
        let rows: Vec<Row> = self
            .tx
            .prepare_cached(
                "WITH s AS (
                    SELECT account, currency, opening_amount, opening_date, closing_amount,
                        closing_date, number,
                        ROW_NUMBER() OVER (PARTITION BY account, currency
                                           ORDER BY closing_date, id) AS first_n,
                        ROW_NUMBER() OVER (PARTITION BY account, currency
                                           ORDER BY closing_date DESC, id DESC) AS last_n
                    FROM statements
                    WHERE kind = 'end_of_day' AND currency IS NOT NULL
                      AND (job = ?1 OR account IN (SELECT account FROM records
                                                   WHERE scope = ?1 AND side = 'statement'))
                      AND opening_amount IS NOT NULL AND closing_amount IS NOT NULL)
                 SELECT f.account, f.currency, f.opening_amount, f.opening_date,
                    l.closing_amount, l.closing_date, l.number
                 FROM s f JOIN s l ON l.account = f.account AND l.currency = f.currency
                 WHERE f.first_n = 1 AND l.last_n = 1
                 ORDER BY f.account, f.currency",
            )
            .and_then(|mut s| {
                s.query_map([job], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(
                |(account, currency, open, open_date, close, close_date, number)| {
                    Ok(StatementBalances {
                        account,
                        currency,
                        opening: parse_decimal(&open)?,
                        opening_date: parse_date(&open_date)?,
                        closing: parse_decimal(&close)?,
                        closing_date: parse_date(&close_date)?,
                        number,
                    })
                },
            )
            .collect()
    }

    fn booked_on(
        &mut self,
        job: &str,
        account: &str,
        currency: &str,
        ledger_accounts: &[String],
    ) -> Result<Decimal> {
        let amounts: Vec<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT l.account, l.amount FROM entry_lines l
                 JOIN entries e ON e.id = l.entry_id
                 WHERE l.currency = ?3
                   AND e.match_id IN (SELECT match_id FROM records
                                      WHERE scope = ?1 AND side = 'statement' AND account = ?2
                                        AND match_id IS NOT NULL)",
            )
            .and_then(|mut s| {
                s.query_map(params![job, account, currency], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .map_err(map_err)?;
        let mut sum = Decimal::ZERO;
        for (ledger_account, amount) in amounts {
            if ledger_accounts.contains(&ledger_account) {
                sum += parse_decimal(&amount)?;
            }
        }
        Ok(sum)
    }

    fn unposted_lines(
        &mut self,
        job: &str,
        account: &str,
        currency: &str,
        until: NaiveDate,
    ) -> Result<Vec<UnpostedLine>> {
        type Row = (
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = self
            .tx
            .prepare_cached(
                "SELECT r.id, r.external_id, r.value_date, r.amount, r.remittance, b.id, b.reason
                 FROM records r
                 LEFT JOIN breaks b ON b.record_id = r.id AND b.status = 'open'
                 WHERE r.scope = ?1 AND r.side = 'statement' AND r.account = ?2
                   AND r.currency = ?3 AND r.match_id IS NULL AND r.value_date <= ?4
                   AND r.out_of_matching IS NULL
                 ORDER BY r.value_date, r.id",
            )
            .and_then(|mut s| {
                s.query_map(params![job, account, currency, until.to_string()], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(id, reference, day, amount, text, break_id, reason)| {
                Ok(UnpostedLine {
                    record_id: id,
                    bank_reference: reference,
                    value_date: parse_date(&day)?,
                    amount: parse_decimal(&amount)?,
                    text,
                    break_id,
                    reason,
                })
            })
            .collect()
    }

    fn pending_lines(
        &mut self,
        account: &str,
        currency: &str,
        after: NaiveDate,
    ) -> Result<Vec<PendingLine>> {
        type Row = (Option<String>, String, String, String);
        let rows: Vec<Row> = self
            .tx
            .prepare_cached(
                "SELECT DISTINCT u.bank_reference, u.value_date, u.amount, u.remittance
                 FROM unbooked_lines u JOIN statements s ON s.id = u.statement_id
                 WHERE s.account = ?1 AND u.currency = ?2 AND u.status = 'pending'
                   AND u.value_date > ?3
                 ORDER BY u.value_date, u.amount",
            )
            .and_then(|mut s| {
                s.query_map(params![account, currency, after.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(bank_reference, day, amount, text)| {
                Ok(PendingLine {
                    bank_reference,
                    value_date: parse_date(&day)?,
                    amount: parse_decimal(&amount)?,
                    text,
                })
            })
            .collect()
    }
}
