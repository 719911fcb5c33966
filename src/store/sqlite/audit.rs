//! The audit chain in SQLite: linking each unit's new entries and break actions before it
//! commits ([`chain_new_rows`]), and walking the chain against the live rows.
//!
//! The content hash is generic over the table's columns: every column by name, sorted, NULLs
//! left out, each value with its SQLite type. A column added later with NULL in the old rows
//! (an entry's `reverses`) is covered from then on and leaves the old rows' hashes as they
//! were.

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Row};

use super::*;
use crate::store::audit::{
    AuditTrail, ChainFinding, ChainHead, ChainKind, ChainProblem, ChainReport, FINDINGS_KEPT,
};

/// The previous hash of the first link.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const ENTRY: &str = "SELECT * FROM entries WHERE id = ?";
const ENTRIES_AFTER: &str = "SELECT * FROM entries WHERE id > ? ORDER BY id";
const LINES: &str = "SELECT * FROM entry_lines WHERE entry_id = ? ORDER BY line_no";
const ACTION: &str = "SELECT * FROM break_history WHERE id = ?";
const ACTIONS_AFTER: &str = "SELECT * FROM break_history WHERE id > ? ORDER BY id";

/// Chains every entry and break action above the last chained one of its kind, in id order,
/// entries first: called in the unit's transaction just before it commits (and once after
/// migrating, for the rows an older clerk wrote). A unit that wrote none costs four indexed
/// look-ups.
pub(super) fn chain_new_rows(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<()> {
    let (mut seq, mut prev) = tx
        .prepare_cached("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| {
            s.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .optional()
        })
        .map_err(map_err)?
        .unwrap_or((0, GENESIS.to_string()));
    let chained_at = ts(now);
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit_chain (seq, kind, row_id, content_hash, prev_hash, hash, chained_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .map_err(map_err)?;
    let mut link = |kind: ChainKind, row_id: i64, content: String| -> Result<()> {
        seq += 1;
        let hash = link_hash(&prev, &content, kind, row_id, seq);
        insert
            .execute(params![
                seq,
                kind.as_str(),
                row_id,
                content,
                prev,
                hash,
                chained_at
            ])
            .map_err(map_err)?;
        prev = hash;
        Ok(())
    };
    let mut lines = tx.prepare_cached(LINES).map_err(map_err)?;
    let line_order = sorted_columns(&lines);
    for (kind, after) in [
        (ChainKind::Entry, ENTRIES_AFTER),
        (ChainKind::BreakAction, ACTIONS_AFTER),
    ] {
        let last = last_chained(tx, kind)?;
        let mut rows = tx.prepare_cached(after).map_err(map_err)?;
        let order = sorted_columns(&rows);
        let mut found = rows.query([last]).map_err(map_err)?;
        while let Some(row) = found.next().map_err(map_err)? {
            let id: i64 = row.get("id").map_err(map_err)?;
            let mut bytes = Vec::with_capacity(256);
            encode_row(kind_table(kind), &order, row, &mut bytes).map_err(map_err)?;
            if kind == ChainKind::Entry {
                encode_lines(&mut lines, &line_order, id, &mut bytes).map_err(map_err)?;
            }
            link(kind, id, crate::digest::sha256_hex(&bytes))?;
        }
    }
    Ok(())
}

fn last_chained(tx: &Transaction<'_>, kind: ChainKind) -> Result<i64> {
    tx.prepare_cached("SELECT coalesce(max(row_id), 0) FROM audit_chain WHERE kind = ?")
        .and_then(|mut s| s.query_row([kind.as_str()], |r| r.get(0)))
        .map_err(map_err)
}

fn kind_table(kind: ChainKind) -> &'static str {
    match kind {
        ChainKind::Entry => "entries",
        ChainKind::BreakAction => "break_history",
    }
}

/// The link: the previous hash, this row's content hash, its kind, id and place, each on its
/// own line so that no two different links hash the same text.
fn link_hash(prev: &str, content: &str, kind: ChainKind, row_id: i64, seq: i64) -> String {
    crate::digest::sha256_hex(
        format!("{prev}\n{content}\n{}\n{row_id}\n{seq}", kind.as_str()).as_bytes(),
    )
}

/// A statement's columns as (name, index), sorted by name.
fn sorted_columns(stmt: &CachedStatement<'_>) -> Vec<(String, usize)> {
    let mut cols: Vec<(String, usize)> = stmt
        .column_names()
        .enumerate()
        .map(|(i, n)| (n.to_string(), i))
        .collect();
    cols.sort();
    cols
}

/// The canonical encoding of one row: the table's name, then each non-NULL column as its
/// name, its SQLite type and its value, every piece length-prefixed.
fn encode_row(
    table: &str,
    order: &[(String, usize)],
    row: &Row<'_>,
    out: &mut Vec<u8>,
) -> rusqlite::Result<()> {
    piece(out, b"table", table.as_bytes());
    for (name, i) in order {
        let (tag, value): (&[u8], std::borrow::Cow<'_, [u8]>) = match row.get_ref(*i)? {
            ValueRef::Null => continue,
            ValueRef::Integer(v) => (b"i", v.to_string().into_bytes().into()),
            // Bits, not text: the same float always encodes the same.
            ValueRef::Real(v) => (b"r", format!("{:016x}", v.to_bits()).into_bytes().into()),
            ValueRef::Text(t) => (b"t", t.into()),
            ValueRef::Blob(b) => (b"b", b.into()),
        };
        piece(out, tag, name.as_bytes());
        out.extend_from_slice(&value.len().to_le_bytes());
        out.extend_from_slice(&value);
    }
    Ok(())
}

fn piece(out: &mut Vec<u8>, tag: &[u8], bytes: &[u8]) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&bytes.len().to_le_bytes());
    out.extend_from_slice(bytes);
}

/// An entry's lines, in line order, appended to its encoding.
fn encode_lines(
    lines: &mut CachedStatement<'_>,
    order: &[(String, usize)],
    entry_id: i64,
    out: &mut Vec<u8>,
) -> rusqlite::Result<()> {
    let mut rows = lines.query([entry_id])?;
    while let Some(row) = rows.next()? {
        encode_row("entry_lines", order, row, out)?;
    }
    Ok(())
}

/// The live content hash of one chained row; `None` when the row is gone.
fn live_content(
    tx: &Transaction<'_>,
    kind: ChainKind,
    row_id: i64,
) -> rusqlite::Result<Option<String>> {
    let mut one = tx.prepare_cached(match kind {
        ChainKind::Entry => ENTRY,
        ChainKind::BreakAction => ACTION,
    })?;
    let order = sorted_columns(&one);
    let mut rows = one.query([row_id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(256);
    encode_row(kind_table(kind), &order, row, &mut bytes)?;
    if kind == ChainKind::Entry {
        let mut lines = tx.prepare_cached(LINES)?;
        let line_order = sorted_columns(&lines);
        encode_lines(&mut lines, &line_order, row_id, &mut bytes)?;
    }
    Ok(Some(crate::digest::sha256_hex(&bytes)))
}

/// How a person names the row: "entry 12 (job bank, posted 2026-11-30)", "break action 7
/// (break 3, resolved by alice at …)"; just the kind and id when the row is gone.
fn describe(tx: &Transaction<'_>, kind: ChainKind, row_id: i64) -> Result<String> {
    let found = match kind {
        ChainKind::Entry => tx
            .prepare_cached("SELECT job, posting_date FROM entries WHERE id = ?")
            .and_then(|mut s| {
                s.query_row([row_id], |r| {
                    Ok(format!(
                        "entry {row_id} (job {}, posted {})",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?
                    ))
                })
                .optional()
            }),
        ChainKind::BreakAction => tx
            .prepare_cached("SELECT break_id, action, actor, at FROM break_history WHERE id = ?")
            .and_then(|mut s| {
                s.query_row([row_id], |r| {
                    Ok(format!(
                        "break action {row_id} (break {}: {} by {} at {})",
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?
                    ))
                })
                .optional()
            }),
    }
    .map_err(map_err)?;
    Ok(found.unwrap_or_else(|| match kind {
        ChainKind::Entry => format!("entry {row_id}"),
        ChainKind::BreakAction => format!("break action {row_id}"),
    }))
}

fn parse_kind(s: &str) -> Result<ChainKind> {
    match s {
        "entry" => Ok(ChainKind::Entry),
        "break_action" => Ok(ChainKind::BreakAction),
        other => Err(StoreError::Corrupt(format!(
            "audit chain row of unknown kind {other:?}"
        ))),
    }
}

/// One chain row as stored.
struct Link {
    seq: i64,
    kind: String,
    row_id: i64,
    content_hash: String,
    prev_hash: String,
    hash: String,
    chained_at: String,
}

impl AuditTrail for SqliteUnit<'_, '_> {
    fn chain_head(&mut self) -> Result<Option<ChainHead>> {
        let head: Option<(i64, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT seq, hash, chained_at FROM audit_chain ORDER BY seq DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(map_err)?;
        head.map(|(seq, hash, at)| {
            Ok(ChainHead {
                seq,
                hash,
                chained_at: parse_ts(&at)?,
            })
        })
        .transpose()
    }

    fn chain_link(&mut self, seq: i64) -> Result<Option<ChainHead>> {
        let link: Option<(String, String)> = self
            .tx
            .prepare_cached("SELECT hash, chained_at FROM audit_chain WHERE seq = ?")
            .and_then(|mut s| {
                s.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(map_err)?;
        link.map(|(hash, at)| {
            Ok(ChainHead {
                seq,
                hash,
                chained_at: parse_ts(&at)?,
            })
        })
        .transpose()
    }

    fn verify_chain(&mut self) -> Result<ChainReport> {
        let tx = self.tx;
        let mut report = ChainReport {
            entries: 0,
            break_actions: 0,
            head: None,
            findings: Vec::new(),
        };
        let found = |report: &mut ChainReport, f: ChainFinding| {
            if report.findings.len() < FINDINGS_KEPT {
                report.findings.push(f);
            }
        };
        let mut walk = tx
            .prepare(
                "SELECT seq, kind, row_id, content_hash, prev_hash, hash, chained_at
                 FROM audit_chain ORDER BY seq",
            )
            .map_err(map_err)?;
        let mut rows = walk.query([]).map_err(map_err)?;
        let mut before: Option<(i64, String)> = None;
        while let Some(r) = rows.next().map_err(map_err)? {
            let l = Link {
                seq: r.get(0).map_err(map_err)?,
                kind: r.get(1).map_err(map_err)?,
                row_id: r.get(2).map_err(map_err)?,
                content_hash: r.get(3).map_err(map_err)?,
                prev_hash: r.get(4).map_err(map_err)?,
                hash: r.get(5).map_err(map_err)?,
                chained_at: r.get(6).map_err(map_err)?,
            };
            let kind = parse_kind(&l.kind)?;
            match kind {
                ChainKind::Entry => report.entries += 1,
                ChainKind::BreakAction => report.break_actions += 1,
            }
            let finding = |problem, text: String| ChainFinding {
                problem,
                seq: Some(l.seq),
                kind: Some(kind),
                row_id: Some(l.row_id),
                text,
            };
            let (expected_seq, expected_prev) = match &before {
                Some((s, h)) => (s + 1, h.as_str()),
                None => (1, GENESIS),
            };
            if l.seq != expected_seq {
                found(
                    &mut report,
                    finding(
                        ChainProblem::LinkMissing,
                        format!(
                            "the chain rows from seq {expected_seq} to seq {} are missing \
                             (deleted from the chain)",
                            l.seq - 1
                        ),
                    ),
                );
            } else if l.prev_hash != expected_prev {
                found(
                    &mut report,
                    finding(
                        ChainProblem::LinkBroken,
                        format!(
                            "the chain is broken at seq {}: its previous hash is not the hash \
                             of seq {} (a chain row was edited)",
                            l.seq,
                            l.seq - 1
                        ),
                    ),
                );
            }
            if link_hash(&l.prev_hash, &l.content_hash, kind, l.row_id, l.seq) != l.hash {
                found(
                    &mut report,
                    finding(
                        ChainProblem::LinkEdited,
                        format!(
                            "chain row seq {} ({} {}) was edited: its hash does not follow \
                             from its fields",
                            l.seq,
                            kind.as_str().replace('_', " "),
                            l.row_id
                        ),
                    ),
                );
            }
            match live_content(tx, kind, l.row_id).map_err(map_err)? {
                None => found(
                    &mut report,
                    finding(
                        ChainProblem::Deleted,
                        format!(
                            "{}: deleted after it was chained at seq {} ({})",
                            describe(tx, kind, l.row_id)?,
                            l.seq,
                            l.chained_at
                        ),
                    ),
                ),
                Some(live) if live != l.content_hash => {
                    let what = match kind {
                        ChainKind::Entry => "changed after it was posted (its lines or fields",
                        ChainKind::BreakAction => "changed after it was recorded (its fields",
                    };
                    found(
                        &mut report,
                        finding(
                            ChainProblem::Changed,
                            format!(
                                "{}: {what} differ from what was chained at seq {})",
                                describe(tx, kind, l.row_id)?,
                                l.seq
                            ),
                        ),
                    )
                }
                Some(_) => {}
            }
            before = Some((l.seq, l.hash));
        }
        drop(rows);
        drop(walk);
        for kind in [ChainKind::Entry, ChainKind::BreakAction] {
            let sql = match kind {
                ChainKind::Entry => {
                    "SELECT id FROM entries WHERE id NOT IN
                     (SELECT row_id FROM audit_chain WHERE kind = 'entry') ORDER BY id LIMIT ?"
                }
                ChainKind::BreakAction => {
                    "SELECT id FROM break_history WHERE id NOT IN
                     (SELECT row_id FROM audit_chain WHERE kind = 'break_action') ORDER BY id LIMIT ?"
                }
            };
            let ids: Vec<i64> = tx
                .prepare(sql)
                .and_then(|mut s| s.query_map([FINDINGS_KEPT as i64], |r| r.get(0))?.collect())
                .map_err(map_err)?;
            for id in ids {
                found(
                    &mut report,
                    ChainFinding {
                        problem: ChainProblem::Unchained,
                        seq: None,
                        kind: Some(kind),
                        row_id: Some(id),
                        text: format!(
                            "{}: not in the chain (written outside clerk: every row clerk \
                             writes is chained in the same transaction)",
                            describe(tx, kind, id)?
                        ),
                    },
                );
            }
        }
        report.head = self.chain_head()?;
        Ok(report)
    }
}
