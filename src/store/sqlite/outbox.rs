//! SQLite: the outgoing mail queue.

use super::*;

impl Outbox for SqliteUnit<'_, '_> {
    fn enqueue_mail(&mut self, m: &NewMail<'_>) -> Result<bool> {
        let recipients = serde_json::to_string(m.recipients)
            .map_err(|e| StoreError::Other(format!("recipients: {e}")))?;
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO outbox (message_id, purpose, sender, recipients, subject, raw,
                    created_at, next_attempt_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (message_id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.message_id,
                    m.purpose,
                    m.from,
                    recipients,
                    m.subject,
                    m.raw,
                    ts(m.at),
                    ts(m.at)
                ])
            })
            .map_err(map_err)?;
        Ok(n == 1)
    }

    fn lease_mail(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT id, message_id, purpose, sender, recipients, subject, raw, attempts
                 FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?
                 ORDER BY next_attempt_at, id LIMIT ?",
            )
            .map_err(map_err)?;
        // id, message_id, purpose, sender, recipients (JSON), subject, raw, attempts
        type OutboxRow = (i64, String, String, String, String, String, Vec<u8>, i64);
        let rows: Vec<OutboxRow> = stmt
            .query_map(params![ts(now), limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(map_err)?;
        let mut lease = self
            .tx
            .prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?1, leased_until = ?1 WHERE id = ?2",
            )
            .map_err(map_err)?;
        for row in &rows {
            lease
                .execute(params![ts(lease_until), row.0])
                .map_err(map_err)?;
        }
        rows.into_iter()
            .map(
                |(id, message_id, purpose, from, recipients, subject, raw, attempts)| {
                    Ok(QueuedMail {
                        id,
                        message_id,
                        purpose,
                        from,
                        recipients: serde_json::from_str(&recipients)
                            .map_err(|e| StoreError::Corrupt(format!("outbox recipients: {e}")))?,
                        subject,
                        raw,
                        attempts: attempts.max(0) as u32,
                    })
                },
            )
            .collect()
    }

    fn mail_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL,
                    leased_until = NULL
                 WHERE id = ? AND sent_at IS NULL",
                params![ts(at), id],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn mail_failed(&mut self, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
                    leased_until = NULL
                 WHERE id = ?",
                params![error, ts(retry_at), id],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn release_mail_leases(&mut self, now: DateTime<Utc>) -> Result<usize> {
        self.tx
            .execute(
                "UPDATE outbox SET next_attempt_at = ?1, leased_until = NULL
                 WHERE sent_at IS NULL AND leased_until IS NOT NULL",
                params![ts(now)],
            )
            .map_err(map_err)
    }

    fn next_mail_due(&mut self) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = self
            .tx
            .query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        t.as_deref().map(parse_ts).transpose()
    }
}
