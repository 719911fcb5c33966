//! Moving files through their life: inbox → processing → archive or failed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Utc};

use super::{Seen, Watch, is_temporary_name};
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
    fsx::create_dir_all(processing_dir)?;
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

/// A watched folder as clerk sees it: the files its job may take, the ones it never will (and
/// why), and files still being written under a temporary name.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub candidates: Vec<Seen>,
    pub ignored: Vec<Ignored>,
    /// Names tools use while writing (`~$budget.xlsx`, `*.part`, `*.tmp`): not yet, taken
    /// once renamed to their final name.
    pub temporary: Vec<String>,
}

/// An entry of a watched folder that clerk will never take as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Its name as it prints: bytes that are not UTF-8 as `\xNN`, control characters as `_`.
    pub name: String,
    pub why: IgnoredWhy,
    /// Its size and when it was last modified (a link's own, never its target's): a new file
    /// dropped under the same name is a new thing to report, and one still being written is
    /// reported once it has settled.
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// Why an entry is never taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoredWhy {
    /// A name that is not UTF-8 cannot be matched against patterns or printed safely.
    NotUtf8,
    /// Links are never followed: the target could be anywhere.
    Symlink,
    /// Files are taken from the watched folder itself, not from folders inside it.
    Folder,
    /// A named pipe, socket or device: never opened (reading one can block or never end).
    Special(&'static str),
    /// No pattern of the folder's job matches the name.
    NoPattern,
}

impl Ignored {
    /// What is wrong, for a person: the name, why clerk leaves it, and what to do.
    pub fn explain(&self, watch: &Watch) -> String {
        format!(
            "{} in {} is ignored: {}. It stays there until someone moves, renames or removes \
             it.",
            self.name,
            watch.folder.display(),
            self.why_text(watch)
        )
    }

    /// Why clerk leaves it, and what to do.
    pub fn why_text(&self, watch: &Watch) -> String {
        match self.why {
            IgnoredWhy::NotUtf8 => {
                "its name is not valid UTF-8, so clerk cannot match it against the job's \
                 patterns or print it safely; rename it"
                    .to_string()
            }
            IgnoredWhy::Symlink => {
                "it is a symbolic link, and clerk never follows links; put the file itself \
                 into the folder"
                    .to_string()
            }
            IgnoredWhy::Folder => {
                "it is a folder; clerk takes files from the watched folder itself, not from \
                 folders inside it"
                    .to_string()
            }
            IgnoredWhy::Special(kind) => {
                format!("it is a {kind}, not a regular file; clerk never opens it")
            }
            IgnoredWhy::NoPattern => format!(
                "no pattern of this folder's job matches its name (patterns: {})",
                watch.patterns.join(" ")
            ),
        }
    }
}

/// Lists a watched folder (see [`Listing`]). Hidden entries (a leading `.`, such as the
/// processing folder) are not listed at all. Nothing is opened: entries are told apart by
/// `lstat`, so a link or a pipe is never followed or read.
pub fn list_folder(watch: &Watch) -> io::Result<Listing> {
    let mut out = Listing::default();
    for entry in fs::read_dir(&watch.folder)? {
        let entry = entry?;
        let os_name = entry.file_name();
        if os_name.to_string_lossy().starts_with('.') {
            continue;
        }
        // `DirEntry::metadata` does not follow links. Gone since the listing: nothing to say.
        let Ok(meta) = entry.metadata() else { continue };
        let ignored = |why| Ignored {
            name: printable_name(&os_name),
            why,
            size: meta.len(),
            modified: meta.modified().ok(),
        };
        let Some(name) = os_name.to_str() else {
            out.ignored.push(ignored(IgnoredWhy::NotUtf8));
            continue;
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            out.ignored.push(ignored(IgnoredWhy::Symlink));
        } else if kind.is_dir() {
            out.ignored.push(ignored(IgnoredWhy::Folder));
        } else if !kind.is_file() {
            out.ignored
                .push(ignored(IgnoredWhy::Special(special_kind(&kind))));
        } else if is_temporary_name(name) {
            out.temporary.push(safe_name(name));
        } else if !watch.wants(name) {
            out.ignored.push(ignored(IgnoredWhy::NoPattern));
        } else {
            out.candidates.push(Seen {
                name: name.to_string(),
                size: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    Ok(out)
}

/// Lists the regular files of a watched folder that the job wants.
pub fn list_candidates(watch: &Watch) -> io::Result<Vec<Seen>> {
    Ok(list_folder(watch)?.candidates)
}

#[cfg(unix)]
fn special_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_fifo() {
        "named pipe (FIFO)"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device file"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: &fs::FileType) -> &'static str {
    "special file"
}

/// A file name as it prints, whatever its bytes: what is not UTF-8 as `\xNN`, control
/// characters as `_` (see [`safe_name`]).
pub fn printable_name(name: &std::ffi::OsStr) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let mut rest = name.as_bytes();
        let mut out = String::new();
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    let n = e.error_len().unwrap_or(bad.len());
                    for b in &bad[..n] {
                        out.push_str(&format!("\\x{b:02X}"));
                    }
                    rest = &bad[n..];
                }
            }
        }
        safe_name(&out)
    }
    #[cfg(not(unix))]
    {
        safe_name(&name.to_string_lossy())
    }
}

/// The names of the files waiting in a watched folder's processing folder (taken, not yet
/// finished), without touching anything: for `clerk status`.
pub fn in_processing(watch: &Watch) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(watch.processing_dir()) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .map(|n| origin_of(&n).map(|o| o.name).unwrap_or(n))
        .collect();
    out.sort();
    Ok(out)
}

/// The files in a job's failed folder, without their notes (nor the folder of those replaced
/// since): for `clerk status`.
pub fn failed_files(failed_dir: &Path, job: &str) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(failed_dir.join(job)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| printable_name(&e.file_name()))
        .filter(|n| !n.starts_with('.') && !n.ends_with(NOTE_SUFFIX))
        .collect();
    out.sort();
    Ok(out)
}

/// What a file looked like at one moment: enough to tell it was written to since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// The size and modification time of a file (never following a link).
pub fn fingerprint(path: &Path) -> io::Result<Fingerprint> {
    let meta = fs::symlink_metadata(path)?;
    Ok(Fingerprint {
        size: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// SHA-256 of a file's content, hex, read in pieces (a file of gigabytes is not held whole).
pub fn content_sha256(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read as _;
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
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
    fsx::create_dir_all(&dir)?;
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
    fsx::create_dir_all(&dir)?;
    let to = fsx::free_name(&dir, &claimed.name);
    fsx::move_file(&claimed.path, &to)?;
    // A copy across file systems killed midway left a temp here.
    tidy_once(&dir);
    Ok(to)
}

/// Removes the temps a killed process left in `dir`, the first time this process puts a file
/// there. Not every time: a day's archive of a backlog holds tens of thousands of files, and
/// listing them for each one made archiving a backlog quadratic.
fn tidy_once(dir: &Path) {
    use std::collections::HashSet;
    use std::sync::{LazyLock, Mutex};
    static TIDIED: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Default::default);
    let first = TIDIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(dir.to_path_buf());
    if first {
        fsx::remove_stale_temps(dir);
    }
}

/// What the note beside a failed file adds to its name.
const NOTE_SUFFIX: &str = ".error.txt";

/// The line of a failed file's note that names the file as it arrived.
const NOTE_FILE_LINE: &str = "File:   ";

/// Where the failed copies of a job go once a file of the same name was processed:
/// `failed/<job>/replaced/`.
pub const REPLACED_FOLDER: &str = "replaced";

/// A failed file's copy in `failed/<job>/` and its note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedCopy {
    /// The copy; gone when only its note is left (a stop between the two moves).
    pub path: PathBuf,
    pub note: PathBuf,
    /// The name the file arrived under, as its note says.
    pub name: String,
}

/// The failed copies of a job, by their notes (a note names the file as it arrived; a copy
/// without a note is not listed: nothing says what it was).
pub fn failed_copies(failed_dir: &Path, job: &str) -> io::Result<Vec<FailedCopy>> {
    let dir = failed_dir.join(job);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(copy) = file_name
            .to_str()
            .and_then(|n| n.strip_suffix(NOTE_SUFFIX))
            .filter(|c| !c.is_empty() && !c.starts_with('.'))
        else {
            continue;
        };
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(note) = fs::read_to_string(e.path()) else {
            continue;
        };
        if let Some(name) = note.lines().find_map(|l| l.strip_prefix(NOTE_FILE_LINE)) {
            out.push(FailedCopy {
                path: dir.join(copy),
                note: e.path(),
                name: name.to_owned(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Moves a failed copy and its note into `failed/<job>/replaced/`, the copy first: a stop
/// between the two leaves the note, which is moved the next time (beside the copy when its
/// name there is free); the copy is never lost. Returns where the copy is now.
pub fn put_away_replaced(copy: &FailedCopy, failed_dir: &Path, job: &str) -> io::Result<PathBuf> {
    let dir = failed_dir.join(job).join(REPLACED_FOLDER);
    fsx::create_dir_all(&dir)?;
    let copy_name = copy
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = if copy.path.exists() {
        let to = fsx::free_name_within(&dir, &copy_name, fsx::NAME_MAX - NOTE_SUFFIX.len());
        fsx::move_file(&copy.path, &to)?;
        to
    } else {
        dir.join(&copy_name)
    };
    let note_name = format!(
        "{}{NOTE_SUFFIX}",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let note_to = match dir.join(&note_name) {
        free if !free.exists() => free,
        _ => fsx::free_name(&dir, &note_name),
    };
    fsx::move_file(&copy.note, &note_to)?;
    Ok(to)
}

/// Moves a file that could not be processed to `failed/<job>/` and writes beside it
/// `<name>.error.txt` saying what was wrong and where. Returns the file's new path.
pub fn fail(claimed: &Claimed, failed_dir: &Path, job: &str, error: &str) -> io::Result<PathBuf> {
    let dir = failed_dir.join(job);
    fsx::create_dir_all(&dir)?;
    // Room for the note's name beside it: `<name>.error.txt`.
    let to = fsx::free_name_within(&dir, &claimed.name, fsx::NAME_MAX - NOTE_SUFFIX.len());
    let note_name = format!(
        "{}{NOTE_SUFFIX}",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let note = format!(
        "clerk could not process this file.\n\n{NOTE_FILE_LINE}{}\nJob:    {job}\nArrived: {}\n\nWhat was wrong:\n{error}\n\nFix the file and drop it into the job's folder again under the same name: once that is \
         processed, its exception closes and this file moves, with this note, into {REPLACED_FOLDER}/ here.\n",
        claimed.name,
        claimed.arrived_at.to_rfc3339(),
    );
    // The note first: if we stop between the two steps, the file is still in processing and
    // will be failed again (with the same note) on restart.
    fsx::write_atomic(&dir.join(note_name), note.as_bytes())?;
    fsx::move_file(&claimed.path, &to)?;
    // A note (or a copy) being written when the last run was killed left a temp here.
    tidy_once(&dir);
    Ok(to)
}

/// Copies a file named on the command line into a processing folder (the original stays
/// where it is), durably, as if it had been dropped and taken.
pub fn stage_copy(source: &Path, processing_dir: &Path) -> io::Result<Claimed> {
    let name = source
        .file_name()
        .map(|n| safe_name(&n.to_string_lossy()))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    fsx::create_dir_all(processing_dir)?;
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
    fn any_name_prints_as_itself_with_what_is_not_utf8_shown_as_bytes() {
        use std::os::unix::ffi::OsStrExt as _;
        let name = std::ffi::OsStr::from_bytes(b"Kontoauszug M\xe4rz\n.csv");
        assert_eq!(printable_name(name), "Kontoauszug M\\xE4rz_.csv");
        assert_eq!(printable_name(std::ffi::OsStr::new("März.csv")), "März.csv");
    }

    #[test]
    fn a_file_is_hashed_as_a_whole_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc.txt");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(
            content_sha256(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let before = fingerprint(&p).unwrap();
        fs::write(&p, b"abcd").unwrap();
        assert_ne!(fingerprint(&p).unwrap(), before);
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
