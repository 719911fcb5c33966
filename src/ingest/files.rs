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

/// Staged attachments are named `mail2~<mailbox>~<key>~<part>~<name>`, mailbox and key
/// escaped ([`escape`]), so that one found in a processing folder after a crash still says
/// where it came from. The whole fits one file name ([`fsx::NAME_MAX`] bytes): the attachment's
/// name is shortened ([`fsx::fit_name`]: its extension and a hash of the whole kept) to the room
/// mailbox and key leave, at least [`MIN_NAME_ROOM`] bytes. Keys are short (an IMAP key is
/// `UIDVALIDITY/UID`; Dovecot's Maildir names, `1764190000.M1P2.host,S=2345,W=2400`, pass
/// escaping unchanged). Where mailbox and key would leave less room they become a hash
/// (`mail2~#<hash>~<part>~<name>`) and the name no longer tells the origin: after a crash such
/// a file is processed as a plain file, and when its mail is handled again the attachment is
/// found to be a duplicate by content, so nothing is posted twice.
const MAIL_PREFIX: &str = "mail2~";
/// Files staged by an older clerk: mailbox and key in hex (`mail~<hex>~<hex>~<part>~<name>`).
/// Still read, so that an upgrade over a crash loses no origin.
const OLD_MAIL_PREFIX: &str = "mail~";
/// The least room left for the attachment's own name in a staged name.
const MIN_NAME_ROOM: usize = 64;

/// Letters, digits and `.,=+-_@` as they are; any other byte as `%XX`: no `/` or `~`, nothing
/// a file system or a shell minds, and a Maildir key stays its own length.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b".,=+-_@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else if b.is_ascii_alphanumeric() || b".,=+-_@".contains(&b) {
            out.push(b);
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
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

/// The staged file's name, and the attachment's name as it stands in it (shortened to fit).
fn staged_name(o: &MailOrigin) -> (String, String) {
    let part = o.part.to_string();
    let mut origin = format!("{}~{}", escape(&o.mailbox), escape(&o.key));
    if MAIL_PREFIX.len() + origin.len() + part.len() + 2 + MIN_NAME_ROOM > fsx::NAME_MAX {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{}\0{}", o.mailbox, o.key).as_bytes());
        origin = format!(
            "#{}",
            digest[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
    }
    let head = format!("{MAIL_PREFIX}{origin}~{part}~");
    let name = fsx::fit_name(&o.name, fsx::NAME_MAX - head.len());
    (format!("{head}{name}"), name)
}

fn origin_of(file_name: &str) -> Option<MailOrigin> {
    let (fields, decode): (&str, fn(&str) -> Option<String>) =
        if let Some(rest) = file_name.strip_prefix(MAIL_PREFIX) {
            (rest, unescape)
        } else {
            (file_name.strip_prefix(OLD_MAIL_PREFIX)?, unhex)
        };
    let mut it = fields.splitn(4, '~');
    Some(MailOrigin {
        mailbox: decode(it.next()?)?,
        key: decode(it.next()?)?,
        part: it.next()?.parse().ok()?,
        name: it.next()?.to_string(),
        about: String::new(),
    })
}

/// Writes an attachment into a processing folder, durably, named so that recovery after a
/// crash knows its origin. Writing it again (a retry after a crash) replaces it whole. The
/// file goes by the attachment's name as it fits in the staged name (see [`staged_name`]),
/// before and after a crash alike.
pub fn stage_attachment(
    processing_dir: &Path,
    origin: &MailOrigin,
    bytes: &[u8],
) -> io::Result<Claimed> {
    fs::create_dir_all(processing_dir)?;
    let (file_name, name) = staged_name(origin);
    let path = processing_dir.join(file_name);
    fsx::write_atomic(&path, bytes)?;
    Ok(Claimed {
        path,
        name: name.clone(),
        arrived_at: Utc::now(),
        origin: Some(MailOrigin {
            name,
            ..origin.clone()
        }),
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
            about: "mail from ops@bank.example".into(),
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
        assert_eq!(name, "mail2~bank-mail~1700000%2F42~2~statement~may.sta");
        // All but what people know the mail by, which the name does not hold.
        let about = String::new();
        assert_eq!(origin_of(&name), Some(MailOrigin { about, ..origin }));
        assert_eq!(origin_of("statement.sta"), None);
        assert_eq!(origin_of("mail~zz~00~1~x"), None);
        assert_eq!(origin_of("mail2~a/b~1~1~x"), None);
        // Staged by an older clerk, in hex.
        assert_eq!(
            origin_of("mail~626f78~312f32~3~may.sta"),
            Some(MailOrigin {
                mailbox: "box".into(),
                key: "1/2".into(),
                part: 3,
                name: "may.sta".into(),
                about: String::new(),
            })
        );
    }

    #[test]
    fn long_names_under_long_maildir_keys_fit_one_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let origin = |key: &str, name: &str| MailOrigin {
            mailbox: "back-office".into(),
            key: key.into(),
            part: 7,
            name: name.into(),
            about: String::new(),
        };
        let dovecot =
            "1764190070.M123456P7890.mail-server-01.back-office.example.com,S=2345,W=2400";
        for name in [
            format!("{}.csv", "Kontoauszug-".repeat(12)),
            format!("{}.xml", "Überweisung-".repeat(12)),
            "short.sta".to_owned(),
        ] {
            let o = origin(dovecot, &name);
            let staged = stage_attachment(dir.path(), &o, b"x").unwrap();
            let file = staged
                .path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert!(file.len() <= fsx::NAME_MAX, "{} bytes", file.len());
            assert!(
                staged.name.ends_with(name.rsplit_once('.').unwrap().1),
                "{}",
                staged.name
            );
            // The origin comes back whole after a crash, with the name as staged.
            let back = origin_of(&file).unwrap();
            assert_eq!(
                (back.mailbox.as_str(), back.key.as_str(), back.part),
                ("back-office", dovecot, 7)
            );
            assert_eq!(back.name, staged.name);
            assert_eq!(staged.origin.unwrap().name, staged.name);
        }
        // A key that leaves no room: hashed; the file still fits, its origin is not claimed.
        let o = origin(&"k\u{e9}y".repeat(100), &format!("{}.csv", "n".repeat(200)));
        let staged = stage_attachment(dir.path(), &o, b"x").unwrap();
        let file = staged
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            file.len() <= fsx::NAME_MAX && file.starts_with("mail2~#"),
            "{file}"
        );
        assert_eq!(origin_of(&file), None);
    }
}
