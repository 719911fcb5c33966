//! Moving files through their life: inbox → processing → archive or failed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Utc};

use super::Seen;
use crate::config::Watch;
use crate::fsx;
use crate::model::MailOrigin;

/// A file taken from an inbox, now in the processing folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Where it is now.
    pub path: PathBuf,
    /// Its name as staff dropped it.
    pub name: String,
    /// When it was first seen in the inbox.
    pub arrived_at: DateTime<Utc>,
    /// The mail it came from, for an attachment.
    pub origin: Option<MailOrigin>,
}

/// Staged attachments are named `mail~<mailbox>~<key>~<part>~<name>` (mailbox and key in
/// hex), so that one found in a processing folder after a crash still says where it came from.
const MAIL_PREFIX: &str = "mail~";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn staged_name(o: &MailOrigin) -> String {
    format!(
        "{MAIL_PREFIX}{}~{}~{}~{}",
        hex(&o.mailbox),
        hex(&o.key),
        o.part,
        o.name
    )
}

fn origin_of(file_name: &str) -> Option<MailOrigin> {
    let rest = file_name.strip_prefix(MAIL_PREFIX)?;
    let mut it = rest.splitn(4, '~');
    Some(MailOrigin {
        mailbox: unhex(it.next()?)?,
        key: unhex(it.next()?)?,
        part: it.next()?.parse().ok()?,
        name: it.next()?.to_string(),
    })
}

/// Writes an attachment into a processing folder, durably, named so that recovery after a
/// crash knows its origin. Writing it again (a retry after a crash) replaces it whole.
pub fn stage_attachment(
    processing_dir: &Path,
    origin: &MailOrigin,
    bytes: &[u8],
) -> io::Result<Claimed> {
    fs::create_dir_all(processing_dir)?;
    let path = processing_dir.join(staged_name(origin));
    fsx::write_atomic(&path, bytes)?;
    Ok(Claimed {
        path,
        name: origin.name.clone(),
        arrived_at: Utc::now(),
        origin: Some(origin.clone()),
    })
}

/// Lists the regular files of a watched folder that the job wants.
pub fn list_candidates(watch: &Watch) -> io::Result<Vec<Seen>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(&watch.folder)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            // Not valid UTF-8: cannot be matched against patterns; leave it for a human.
            continue;
        };
        if !watch.wants(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(Seen {
            name,
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    Ok(out)
}

/// `name` with control characters (newlines, escape sequences) and bidirectional-text
/// overrides replaced by `_`, so that it prints as what it is.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Takes a settled file out of the inbox by renaming it into the processing folder. Returns
/// `None` if it is gone (taken by another clerk, or removed by staff).
pub fn claim(watch: &Watch, name: &str, arrived: SystemTime) -> io::Result<Option<Claimed>> {
    let dir = watch.processing_dir();
    fs::create_dir_all(&dir)?;
    let from = watch.folder.join(name);
    // From here on the file goes by a name without control characters: it is printed in logs,
    // notes and mail, and a newline in it would forge a log line.
    let name = &safe_name(name);
    let to = fsx::free_name(&dir, name);
    match fs::rename(&from, &to) {
        Ok(()) => {
            fsx::sync_dir(&dir)?;
            fsx::sync_dir(&watch.folder)?;
            Ok(Some(Claimed {
                path: to,
                name: name.to_string(),
                arrived_at: arrived.into(),
                origin: None,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Files left in the processing folder by a previous run that stopped before finishing them.
/// Temp files of a write that run did not finish are removed.
pub fn leftovers(watch: &Watch) -> io::Result<Vec<Claimed>> {
    let dir = watch.processing_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if fsx::is_stale_temp(&name) {
            // Half a copy or an attachment being staged when the last run was killed; the
            // original is still in the mailbox or the processing folder.
            let _ = fs::remove_file(entry.path());
            continue;
        }
        if name.starts_with('.') || !entry.metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let arrived = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let origin = origin_of(&name);
        out.push(Claimed {
            path: entry.path(),
            name: origin.as_ref().map(|o| o.name.clone()).unwrap_or(name),
            arrived_at: arrived.into(),
            origin,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Moves a processed file to `archive/YYYY/MM/DD/<job>/`; returns where it went.
pub fn archive(
    claimed: &Claimed,
    archive_dir: &Path,
    job: &str,
    day: DateTime<Utc>,
) -> io::Result<PathBuf> {
    let dir = archive_dir
        .join(format!("{:04}", day.year()))
        .join(format!("{:02}", day.month()))
        .join(format!("{:02}", day.day()))
        .join(job);
    fs::create_dir_all(&dir)?;
    let to = fsx::free_name(&dir, &claimed.name);
    fsx::move_file(&claimed.path, &to)?;
    // A copy across file systems killed midway left a temp here.
    fsx::remove_stale_temps(&dir);
    Ok(to)
}

/// What the note beside a failed file adds to its name.
const NOTE_SUFFIX: &str = ".error.txt";

/// Moves a file that could not be processed to `failed/<job>/` and writes beside it
/// `<name>.error.txt` saying what was wrong and where. Returns the file's new path.
pub fn fail(claimed: &Claimed, failed_dir: &Path, job: &str, error: &str) -> io::Result<PathBuf> {
    let dir = failed_dir.join(job);
    fs::create_dir_all(&dir)?;
    // Room for the note's name beside it: `<name>.error.txt`.
    let to = fsx::free_name_within(&dir, &claimed.name, fsx::NAME_MAX - NOTE_SUFFIX.len());
    let note_name = format!(
        "{}{NOTE_SUFFIX}",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let note = format!(
        "clerk could not process this file.\n\nFile:   {}\nJob:    {job}\nArrived: {}\n\nWhat was wrong:\n{error}\n\nFix the file and drop it into the job's folder again.\n",
        claimed.name,
        claimed.arrived_at.to_rfc3339(),
    );
    // The note first: if we stop between the two steps, the file is still in processing and
    // will be failed again (with the same note) on restart.
    fsx::write_atomic(&dir.join(note_name), note.as_bytes())?;
    fsx::move_file(&claimed.path, &to)?;
    // A note (or a copy) being written when the last run was killed left a temp here.
    fsx::remove_stale_temps(&dir);
    Ok(to)
}

/// Copies a file named on the command line into a processing folder (the original stays
/// where it is), durably, as if it had been dropped and taken.
pub fn stage_copy(source: &Path, processing_dir: &Path) -> io::Result<Claimed> {
    let name = source
        .file_name()
        .map(|n| safe_name(&n.to_string_lossy()))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    fs::create_dir_all(processing_dir)?;
    let to = fsx::free_name(processing_dir, &name);
    fsx::copy_atomic(source, &to)?;
    Ok(Claimed {
        path: to,
        name,
        arrived_at: Utc::now(),
        origin: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_file_goes_by_a_name_that_prints_as_itself() {
        assert_eq!(safe_name("a\nb\r\u{1b}[2J\u{202e}c.csv"), "a_b__[2J_c.csv");
        assert_eq!(safe_name("Kontoauszug März.csv"), "Kontoauszug März.csv");
    }

    #[test]
    fn a_staged_attachment_found_after_a_crash_still_knows_its_mail() {
        let dir = tempfile::tempdir().unwrap();
        let origin = MailOrigin {
            mailbox: "bank-mail".into(),
            key: "1700000/42".into(),
            part: 2,
            name: "statement~may.sta".into(),
        };
        let staged = stage_attachment(dir.path(), &origin, b":20:X").unwrap();
        assert_eq!(staged.name, "statement~may.sta");
        // Written again after a crash: the same file, replaced whole.
        stage_attachment(dir.path(), &origin, b":20:X").unwrap();
        let watch_dir = dir.path();
        let found: Vec<_> = std::fs::read_dir(watch_dir).unwrap().collect();
        assert_eq!(found.len(), 1);
        let name = found[0]
            .as_ref()
            .unwrap()
            .file_name()
            .into_string()
            .unwrap();
        assert_eq!(origin_of(&name), Some(origin));
        assert_eq!(origin_of("statement.sta"), None);
        assert_eq!(origin_of("mail~zz~00~1~x"), None);
    }
}
