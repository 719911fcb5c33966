//! A local Maildir as a mailbox: fetchmail, mbsync or a local MTA writes each message into
//! `tmp/` and renames it into `new/`; clerk takes it from there.
//!
//! **Which messages are pending.** Every file in `new/`, oldest name first (Maildir names start
//! with the delivery time). With `after = "move"` also every file in `cur/` not marked trashed
//! (`T`): a mail client or an IMAP server looking at the folder moves messages from `new/` to
//! `cur/` without anyone having processed them, and clerk moves everything it finishes out of
//! the folder, so whatever is in `cur/` is still to do. With `after = "flag"` finished messages
//! stay in `cur/`, so only `new/` is pending. Files in `tmp/` are deliveries in progress and
//! never read.
//!
//! **Finishing.** `after = "move"`: the file is renamed into the Maildir++ subfolder
//! (`.Processed/cur/` or `.Failed/cur/`, created with its `maildirfolder` marker when missing)
//! with the Seen flag: `<id>:2,S`. `after = "flag"`: it is renamed into `cur/` as `<id>:2,S`
//! (processed) or `<id>:2,FS` (failed: Flagged, so a person sees it). One rename on one file
//! system, so atomic; finishing a message already finished succeeds.

use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Finish;
use super::config::{After, Mailbox, MailboxSource};
use crate::fsx::sync_dir;

/// A Maildir clerk reads.
#[derive(Clone, Debug)]
pub struct MaildirBox {
    root: PathBuf,
    after: After,
    processed: PathBuf,
    failed: PathBuf,
}

/// One message waiting in a Maildir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaildirMessage {
    /// The unique part of the file name (before `:2,`): it stays the same when the message
    /// moves from `new/` to `cur/` or gets flags, so it identifies the message to the store.
    pub id: String,
    /// Where it was when listed.
    path: PathBuf,
    /// Its size when listed, in bytes.
    pub size: u64,
    /// The file's name is not valid UTF-8 (a broken delivery agent): `id` shows it with `\xNN`
    /// for the bytes that are not, and the message is not read but refused with a break.
    pub name_not_utf8: bool,
}

impl MaildirBox {
    /// Opens the Maildir of a `kind = "maildir"` mailbox; creates `new/`, `cur/` and `tmp/`
    /// when missing (a fresh mailbox nothing has been delivered to yet).
    pub fn open(mb: &Mailbox) -> io::Result<MaildirBox> {
        let MailboxSource::Maildir(root) = &mb.source else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("mailbox {} is not a Maildir", mb.name),
            ));
        };
        // `new/` last: a deliverer that sees it finds `tmp/` there too.
        for sub in ["tmp", "cur", "new"] {
            crate::fsx::create_dir_all(&root.join(sub))?;
        }
        Ok(MaildirBox {
            root: root.clone(),
            after: mb.after,
            processed: root.join(subfolder(&mb.processed_folder)),
            failed: root.join(subfolder(&mb.failed_folder)),
        })
    }

    /// The messages to take, `new/` first, each folder by name (see the module docs for which).
    pub fn pending(&self) -> io::Result<Vec<MaildirMessage>> {
        let mut out = list(&self.root.join("new"))?;
        if self.after == After::Move {
            let mut cur = list(&self.root.join("cur"))?;
            cur.retain(|m| !flags_of(&m.path).contains('T'));
            out.extend(cur);
        }
        Ok(out)
    }

    /// The message's bytes. Refuses (`InvalidData`) a message larger than `max_bytes` without
    /// reading it. Finds the message by its id if a mail client moved it since it was listed.
    pub fn read(&self, m: &MaildirMessage, max_bytes: u64) -> io::Result<Vec<u8>> {
        let path = match fs::metadata(&m.path) {
            Ok(_) => m.path.clone(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self
                .locate(&self.root, &m.id)?
                .ok_or_else(|| not_found(&m.id))?,
            Err(e) => return Err(e),
        };
        let file = fs::File::open(&path)?;
        let size = file.metadata()?.len();
        if size > max_bytes {
            return Err(too_large(&m.id, size, max_bytes));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(max_bytes + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max_bytes {
            // It grew after the size check: a delivery writing into new/ in place.
            return Err(too_large(&m.id, bytes.len() as u64, max_bytes));
        }
        Ok(bytes)
    }

    /// Moves the message to where finished messages go (see the module docs). Succeeds when it
    /// is already there.
    pub fn finish(&self, m: &MaildirMessage, outcome: Finish) -> io::Result<()> {
        let (target_root, flags) = match (self.after, outcome) {
            (After::Move, Finish::Processed) => (self.processed.clone(), "S"),
            (After::Move, Finish::Failed) => (self.failed.clone(), "S"),
            (After::Flag, Finish::Processed) => (self.root.clone(), "S"),
            (After::Flag, Finish::Failed) => (self.root.clone(), "FS"),
        };
        let from = match fs::metadata(&m.path) {
            Ok(_) => Some(m.path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.locate(&self.root, &m.id)?,
            Err(e) => return Err(e),
        };
        let Some(from) = from else {
            // Gone from the inbox: finished before (then it is in the target), or removed.
            return match self.locate(&target_root, &m.id)? {
                Some(_) => Ok(()),
                None => Err(not_found(&m.id)),
            };
        };
        if self.after == After::Flag
            && has_flags(&from, flags)
            && from.parent() == Some(&self.root.join("cur"))
        {
            return Ok(());
        }
        if target_root != self.root {
            ensure_subfolder(&target_root)?;
        }
        let merged = merge_flags(&flags_of(&from), flags);
        let cur = target_root.join("cur");
        let to = cur.join(format!("{}:2,{merged}", m.id));
        fs::rename(&from, &to)?;
        sync_dir(&cur)?;
        if let Some(parent) = from.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// The file of message `id` in `new/` or `cur/` of the Maildir at `root`.
    fn locate(&self, root: &Path, id: &str) -> io::Result<Option<PathBuf>> {
        for sub in ["new", "cur"] {
            let dir = root.join(sub);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                if let Some(name) = entry.file_name().to_str()
                    && unique_part(name) == id
                {
                    return Ok(Some(entry.path()));
                }
            }
        }
        Ok(None)
    }

    /// How many messages wait, for `clerk check`.
    pub fn describe_pending(&self) -> io::Result<String> {
        let n = self.pending()?.len();
        Ok(format!(
            "maildir {}: {n} pending message(s)",
            self.root.display()
        ))
    }
}

/// The Maildir++ folder of an IMAP-style folder name: `Processed` → `.Processed`,
/// `Archive/2026` → `.Archive.2026`.
fn subfolder(folder: &str) -> String {
    format!(".{}", folder.trim_matches('/').replace('/', "."))
}

/// Creates a Maildir++ subfolder (with `cur/`, `new/`, `tmp/` and the `maildirfolder` marker)
/// if it is missing.
fn ensure_subfolder(dir: &Path) -> io::Result<()> {
    if dir.join("cur").is_dir() {
        return Ok(());
    }
    // `cur/` last: it is what says the subfolder is complete (above).
    for sub in ["tmp", "new", "cur"] {
        crate::fsx::create_dir_all(&dir.join(sub))?;
    }
    crate::fsx::touch(&dir.join("maildirfolder"))?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// The messages in one of `new/` or `cur/`, by name. Hidden files (a tool's temp files) and
/// anything not a regular file are skipped.
fn list(dir: &Path) -> io::Result<Vec<MaildirMessage>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let (name, name_not_utf8) = match entry.file_name().into_string() {
            Ok(name) => (name, false),
            Err(raw) => (escaped(raw.as_bytes()), true),
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(MaildirMessage {
            id: unique_part(&name).to_owned(),
            path: entry.path(),
            size: meta.len(),
            name_not_utf8,
        });
    }
    out.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
    Ok(out)
}

/// A file name that is not UTF-8, printable: its valid parts as they are, every other byte as
/// `\xNN`. Finishing such a message renames it to this.
fn escaped(name: &[u8]) -> String {
    let mut out = String::new();
    for chunk in name.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// The name before the info part (`:2,FLAGS`).
fn unique_part(name: &str) -> &str {
    name.split_once(':').map_or(name, |(id, _)| id)
}

/// The flags of a file in `cur/`: the letters after `:2,`.
fn flags_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once(":2,"))
        .map(|(_, f)| f.to_owned())
        .unwrap_or_default()
}

fn has_flags(path: &Path, wanted: &str) -> bool {
    let have = flags_of(path);
    wanted.chars().all(|c| have.contains(c))
}

/// The union of two flag sets, sorted as the Maildir spec asks (ASCII order).
fn merge_flags(a: &str, b: &str) -> String {
    let mut all: Vec<char> = a.chars().chain(b.chars()).collect();
    all.sort_unstable();
    all.dedup();
    all.into_iter().collect()
}

fn not_found(id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("message {id} is no longer in the Maildir"),
    )
}

fn too_large(id: &str, size: u64, max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("message {id} is {size} bytes, more than the limit of {max} (max_message_mb)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_flags() {
        assert_eq!(
            unique_part("1700000000.M1P2.host:2,S"),
            "1700000000.M1P2.host"
        );
        assert_eq!(unique_part("1700000000.M1P2.host"), "1700000000.M1P2.host");
        assert_eq!(merge_flags("RS", "FS"), "FRS");
        assert_eq!(subfolder("Processed"), ".Processed");
        assert_eq!(subfolder("Archive/2026"), ".Archive.2026");
        assert_eq!(flags_of(Path::new("cur/x:2,FS")), "FS");
        assert_eq!(flags_of(Path::new("new/x")), "");
        assert_eq!(escaped(b"1.M1.h\xf6st:2,S"), "1.M1.h\\xF6st:2,S");
        assert_eq!(escaped("März".as_bytes()), "März");
    }

    #[test]
    fn a_file_whose_name_is_not_utf8_is_listed_and_finished_under_a_printable_name() {
        let dir = tempfile::tempdir().unwrap();
        let spec: super::super::MailboxSpec = toml::from_str(&format!(
            "kind = \"maildir\"\npath = \"{}\"\n",
            dir.path().display()
        ))
        .unwrap();
        let bx = MaildirBox::open(&spec.check("m", Path::new("/")).unwrap()).unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"17.M1.h\xf6st");
        fs::write(dir.path().join("new").join(odd), b"Subject: x\r\n\r\n").unwrap();
        let pending = bx.pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert!(pending[0].name_not_utf8);
        assert_eq!(pending[0].id, "17.M1.h\\xF6st");
        bx.finish(&pending[0], Finish::Failed).unwrap();
        assert!(dir.path().join(".Failed/cur/17.M1.h\\xF6st:2,S").is_file());
        assert!(bx.pending().unwrap().is_empty());
    }
}
