//! SQLite: mailbox cursors, messages, tries and attachments.

use super::*;

impl Mailboxes for SqliteUnit<'_, '_> {
    fn mail_cursor(&mut self, mailbox: &str) -> Result<Option<(u32, u32)>> {
        self.tx
            .prepare_cached("SELECT uidvalidity, last_uid FROM mail_cursors WHERE mailbox = ?")
            .and_then(|mut s| {
                s.query_row([mailbox], |r| {
                    Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u32))
                })
                .optional()
            })
            .map_err(map_err)
    }

    fn set_mail_cursor(&mut self, mailbox: &str, uidvalidity: u32, last_uid: u32) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
                 ON CONFLICT (mailbox) DO UPDATE SET
                    last_uid = CASE WHEN uidvalidity = ?2 THEN MAX(last_uid, ?3) ELSE ?3 END,
                    uidvalidity = ?2",
                params![mailbox, uidvalidity as i64, last_uid as i64],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn mail_message_outcome(&mut self, mailbox: &str, key: &str) -> Result<Option<String>> {
        self.tx
            .prepare_cached(
                "SELECT outcome FROM mail_messages WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| s.query_row([mailbox, key], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn mail_processed_with(&mut self, message_id: &str, sha256s: &[String]) -> Result<bool> {
        let keys: Vec<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT mailbox, message_key FROM mail_messages
                 WHERE message_id = ? AND outcome = 'processed'",
            )
            .and_then(|mut s| {
                s.query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(map_err)?;
        let mut wanted = sha256s.to_vec();
        wanted.sort();
        for (mailbox, key) in keys {
            let had: Vec<String> = self
                .tx
                .prepare_cached(
                    "SELECT sha256 FROM mail_attachments WHERE mailbox = ? AND message_key = ?
                     ORDER BY sha256",
                )
                .and_then(|mut s| {
                    s.query_map([&mailbox, &key], |r| r.get(0))?
                        .collect::<std::result::Result<Vec<_>, _>>()
                })
                .map_err(map_err)?;
            if had == wanted {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn add_mail_message(&mut self, m: &NewMailMessage<'_>) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO mail_messages (mailbox, message_key, message_id, sender, subject,
                    sent_at, handled_at, outcome, attachments, detail)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (mailbox, message_key) DO UPDATE SET
                    message_id = excluded.message_id, sender = excluded.sender,
                    subject = excluded.subject, sent_at = excluded.sent_at,
                    handled_at = excluded.handled_at, outcome = excluded.outcome,
                    attachments = excluded.attachments, detail = excluded.detail
                 WHERE mail_messages.outcome = 'refused'",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.mailbox,
                    m.key,
                    m.message_id,
                    m.sender,
                    m.subject,
                    m.sent_at.map(ts),
                    ts(m.at),
                    m.outcome,
                    m.attachments as i64,
                    m.detail
                ])
            })
            .map_err(map_err)?;
        self.tx
            .prepare_cached("DELETE FROM mail_tries WHERE mailbox = ? AND message_key = ?")
            .and_then(|mut s| s.execute([m.mailbox, m.key]))
            .map_err(map_err)?;
        Ok(n == 1)
    }

    fn add_mail_try(&mut self, mailbox: &str, key: &str) -> Result<u32> {
        self.tx
            .prepare_cached(
                "INSERT INTO mail_tries (mailbox, message_key, tries) VALUES (?, ?, 1)
                 ON CONFLICT (mailbox, message_key) DO UPDATE SET tries = tries + 1
                 RETURNING tries",
            )
            .and_then(|mut s| s.query_row([mailbox, key], |r| r.get::<_, i64>(0)))
            .map(|n| n.clamp(0, u32::MAX as i64) as u32)
            .map_err(map_err)
    }

    fn take_back_mail_try(&mut self, mailbox: &str, key: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE mail_tries SET tries = MAX(tries - 1, 0)
                 WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| s.execute([mailbox, key]))
            .map_err(map_err)?;
        Ok(())
    }

    fn note_mail_try_error(&mut self, mailbox: &str, key: &str, error: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE mail_tries SET last_error = ? WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| s.execute([error, mailbox, key]))
            .map_err(map_err)?;
        Ok(())
    }

    fn mail_tries(&mut self, mailbox: &str, key: &str) -> Result<(u32, Option<String>)> {
        self.tx
            .prepare_cached(
                "SELECT tries, last_error FROM mail_tries WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| {
                s.query_row([mailbox, key], |r| {
                    Ok((
                        r.get::<_, i64>(0)?.clamp(0, u32::MAX as i64) as u32,
                        r.get(1)?,
                    ))
                })
                .optional()
            })
            .map(|found| found.unwrap_or((0, None)))
            .map_err(map_err)
    }

    fn mail_attachment_done(&mut self, mailbox: &str, key: &str, part: u32) -> Result<bool> {
        self.tx
            .prepare_cached(
                "SELECT 1 FROM mail_attachments WHERE mailbox = ? AND message_key = ? AND part = ?",
            )
            .and_then(|mut s| s.exists(params![mailbox, key, part as i64]))
            .map_err(map_err)
    }

    fn add_mail_attachment(
        &mut self,
        origin: &MailOrigin,
        sha256: &str,
        job: &str,
        file_id: Option<i64>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO mail_attachments (mailbox, message_key, part, name, sha256, job, file_id)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (mailbox, message_key, part) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    origin.mailbox,
                    origin.key,
                    origin.part as i64,
                    origin.name,
                    sha256,
                    job,
                    file_id
                ])
            })
            .map_err(map_err)?;
        Ok(())
    }
}
