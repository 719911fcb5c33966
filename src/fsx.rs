//! File-system steps that must survive a crash: write-then-rename with fsync, and moves that
//! fall back to copy + fsync + remove across file systems (an SMB share and the local disk).
//!
//! Why not `std::fs::write`: a crash during it leaves a half-written file under the final name.
//! Here the final name appears only once the content is on disk.
//!
//! Every file and folder clerk creates goes through here and gets the mode clerk means,
//! whatever the umask of whoever started it (`clerk job run` from an admin's shell has 022,
//! the unit 027): [`FILE_MODE`] for files, [`DIR_MODE`] for clerk's own folders,
//! [`DROP_DIR_MODE`] for folders others drop files into. The mode given to `open`/`mkdir` is
//! only an upper bound (the umask takes bits away), so it is set again explicitly.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files clerk writes (mail, notes, copies, its journal, the store): the owner reads and
/// writes, the group reads (staff who run read commands), nobody else: they hold amounts and
/// counterparties.
pub const FILE_MODE: u32 = 0o640;

/// Folders clerk creates for itself (state, archive, failed, outbox, processing): the group
/// may list and read them, not write.
pub const DIR_MODE: u32 = 0o750;

/// Folders others drop files into (a watched folder clerk had to create): the group may write,
/// and files dropped there belong to the folder's group (setgid), so clerk, in that group, can
/// read them whoever dropped them.
pub const DROP_DIR_MODE: u32 = 0o2770;

/// The setgid bit of a folder: files and folders made in it take its group.
const SETGID: u32 = 0o2000;

/// Creates `dir` and its missing parents as clerk's own folders ([`DIR_MODE`]).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    create_dir_all_with(dir, DIR_MODE)
}

/// Creates `dir` with mode `mode` and its missing parents with [`DIR_MODE`], each set exactly,
/// whatever the umask. Folders that exist are left as they are: their modes are the
/// administrator's. A setgid bit a new folder inherits from its parent is kept, so the group
/// an administrator gave the state folder carries down to everything clerk makes in it.
pub fn create_dir_all_with(dir: &Path, mode: u32) -> io::Result<()> {
    if fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    // The missing folders, innermost first.
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    for (i, d) in missing.iter().enumerate().rev() {
        let mode = if i == 0 { mode } else { DIR_MODE };
        match DirBuilder::new().mode(mode & 0o777).create(d) {
            Ok(()) => set_mode(d, mode)?,
            // Made by someone else meanwhile: theirs, left as it is.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(outer) = missing.last() {
        sync_dir(&parent_of(outer))?;
    }
    Ok(())
}

/// Sets `path`'s mode to `mode`, keeping a setgid bit it has (inherited from its folder).
///
/// Only when it differs: under the shipped unit (`UMask=0007`) `mkdir` already gives the mode
/// clerk asks for, and systemd's `RestrictSUIDSGID=yes` refuses any `chmod` naming the setgid
/// bit, even one that keeps it. If it refuses one here, the permission bits are set without
/// it: the group can still write where it should, but files dropped there keep their
/// writer's group.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o7777;
    let want = mode | (current & SETGID);
    if current == want {
        return Ok(());
    }
    match fs::set_permissions(path, Permissions::from_mode(want)) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && want & SETGID != 0 => {
            tracing::warn!(
                path = %path.display(),
                "cannot set the set-group-ID bit (the service's sandbox forbids it); files dropped here keep their writer's group"
            );
            fs::set_permissions(path, Permissions::from_mode(want & !SETGID))
        }
        other => other,
    }
}

/// Opens `path` for appending, creating it with [`FILE_MODE`] when missing (a journal).
pub fn open_append(path: &Path) -> io::Result<File> {
    open_creating(path, OpenOptions::new().append(true).read(true))
}

/// Opens `path` to read and write, creating it with [`FILE_MODE`] when missing (a lock file).
pub fn open_or_create(path: &Path) -> io::Result<File> {
    open_creating(path, OpenOptions::new().read(true).write(true))
}

/// Opens `path` as `options` say, creating it first when missing with [`FILE_MODE`] set
/// exactly (the umask may have masked the group's bit); an existing file keeps its mode.
fn open_creating(path: &Path, options: &OpenOptions) -> io::Result<File> {
    match options.clone().create_new(true).mode(FILE_MODE).open(path) {
        Ok(f) => {
            f.set_permissions(Permissions::from_mode(FILE_MODE))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options.open(path),
        Err(e) => Err(e),
    }
}

/// Creates `path` empty with [`FILE_MODE`] if it is missing (a marker file).
pub fn touch(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(f) => f.set_permissions(Permissions::from_mode(FILE_MODE)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename, fsync of
/// the folder. A reader sees the old file or the whole new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_of(path);
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = create_temp(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A temp file beside `path`, to be written, fsynced and renamed onto `path` by
/// [`rename_into_place`]: for content written as it is produced (an export of many entries),
/// which [`write_atomic`] would need whole in memory. Its name is the one
/// [`remove_stale_temps`] removes once this process is gone.
pub fn create_temp_for(path: &Path) -> io::Result<(PathBuf, File)> {
    let tmp = temp_name(path);
    let f = create_temp(&tmp)?;
    Ok((tmp, f))
}

/// Renames a temp file written and fsynced onto `path`, and makes the rename durable.
pub fn rename_into_place(tmp: &Path, path: &Path) -> io::Result<()> {
    fs::rename(tmp, path)?;
    sync_dir(&parent_of(path))
}

/// Moves `from` to `to`. On one file system this is a rename (atomic); across file systems it
/// copies to a temp name beside `to`, fsyncs, renames, and only then removes `from`, so a crash
/// leaves the file in one place or both, never in neither.
pub fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => {
            sync_dir(&parent_of(to))?;
            sync_dir(&parent_of(from))
        }
        Err(e) if e.raw_os_error() == Some(18) => {
            // EXDEV: `from` and `to` are on different file systems.
            copy_atomic(from, to)?;
            fs::remove_file(from)?;
            sync_dir(&parent_of(from))
        }
        Err(e) => Err(e),
    }
}

/// Copies `from` to `to` so that `to` appears only complete: copy to a temp name beside it,
/// fsync, rename, fsync the folder.
pub fn copy_atomic(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = temp_name(to);
    let copied = (|| {
        fs::copy(from, &tmp)?;
        // `fs::copy` gives the copy the original's mode (a dropped file's 0644, say).
        let f = File::open(&tmp)?;
        f.set_permissions(Permissions::from_mode(FILE_MODE))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, to)?;
        sync_dir(&parent_of(to))
    })();
    if copied.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    copied
}

/// The longest file name Linux file systems take (`NAME_MAX`), in bytes.
pub const NAME_MAX: usize = 255;

/// A free name in `dir` for `name`: `name` itself, or `stem (2).ext`, `stem (3).ext`, ... so a
/// second file of the same name never overwrites the first. The name always fits the file
/// system (see [`fit_name`]).
pub fn free_name(dir: &Path, name: &str) -> PathBuf {
    free_name_within(dir, name, NAME_MAX)
}

/// [`free_name`] for a name that must leave room: at most `max` bytes (a failed file's note is
/// its name plus `.error.txt`, and must fit too).
pub fn free_name_within(dir: &Path, name: &str, max: usize) -> PathBuf {
    let first = dir.join(fit_name_with(name, "", max));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(fit_name_with(name, &format!(" ({n})"), max)))
        .find(|p| !p.exists())
        .expect("an unbounded range always yields a free name")
}

/// `name` made to fit in `max` bytes (the file system takes at most [`NAME_MAX`]): unchanged
/// when it fits; otherwise its stem is cut at a character boundary and followed by `~` and 10
/// hex digits of a hash of the whole name, then its extension. Two long names that differ only
/// after the cut stay different, and the extension (which says what the file is) is kept.
pub fn fit_name(name: &str, max: usize) -> String {
    fit_name_with(name, "", max)
}

/// [`fit_name`] of `name` with `insert` put between its stem and its extension
/// (`statement (2).sta`); the insert is kept whole.
pub fn fit_name_with(name: &str, insert: &str, max: usize) -> String {
    let (stem, ext) = split_extension(name);
    if stem.len() + insert.len() + ext.len() <= max {
        return format!("{stem}{insert}{ext}");
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let tag: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    // An extension too long to keep whole is not one worth keeping.
    let ext = if ext.len() + insert.len() + 1 + tag.len() < max {
        ext
    } else {
        ""
    };
    let room = max.saturating_sub(insert.len() + 1 + tag.len() + ext.len());
    let cut = floor_char_boundary(stem, room);
    let fitted = format!("{}~{tag}{insert}{ext}", &stem[..cut]);
    if fitted.len() <= max {
        fitted
    } else {
        // Not even the tag fits: the tag alone, cut (a caller with so little room is a bug,
        // but a name is still better than a panic).
        tag[..max.min(tag.len())].to_string()
    }
}

/// `name` split before its extension: `("statement", ".sta")`. A leading dot is not an
/// extension, and neither is an "extension" of more than 16 bytes or one with a space.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 && !name[i..].contains(' ') => {
            (&name[..i], &name[i..])
        }
        _ => (name, ""),
    }
}

/// The largest index `<= at` that is a character boundary of `s`.
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// Makes a rename durable: on Linux the new directory entry is on disk only once the folder
/// itself is fsynced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates a temp file with [`FILE_MODE`]. One of the same name is a leftover of a process
/// that had our pid and was killed mid-write (pids repeat, in containers often exactly):
/// nobody else writes it.
fn create_temp(tmp: &Path) -> io::Result<File> {
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(tmp)
    };
    let f = match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            create()
        }
        other => other,
    }?;
    // The umask may have taken the group's bit away.
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Whether `name` is a temp file of this module left behind by a process that is gone (killed
/// mid-write): `.<name>.<pid>.tmp` whose pid is not running. Such a file is never the only copy
/// of anything; it can be removed.
pub fn is_stale_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some(pid) = rest
        .rsplit_once('.')
        .and_then(|(_, pid)| pid.parse::<u32>().ok())
    else {
        return false;
    };
    pid != std::process::id() && !process_alive(pid)
}

/// Removes from `dir` the temp files of writes whose process is gone (see [`is_stale_temp`]).
/// Best effort: a folder that cannot be read is left as it is.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_str().is_some_and(is_stale_temp) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> bool {
    // Cannot tell: treat as alive, never remove.
    true
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `.<name>.<pid>.tmp` must fit too: a long name is shortened for its temp.
    let pid = std::process::id().to_string();
    let name = fit_name(&name, NAME_MAX - pid.len() - ".tmp".len() - 2);
    parent_of(path).join(format!(".{name}.{pid}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.eml");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_temp_left_by_a_killed_process_is_stale_and_does_not_block_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        // Left by a process with our pid (a container restarted the daemon as the same pid).
        let ours = temp_name(&p);
        fs::write(&ours, b"half").unwrap();
        write_atomic(&p, b"whole").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"whole");
        assert!(!ours.exists());
        // pid_max is at most 2^22 on Linux: this pid runs nowhere.
        assert!(is_stale_temp(".a.csv.4294967295.tmp"));
        assert!(!is_stale_temp(&format!(
            ".a.csv.{}.tmp",
            std::process::id()
        )));
        assert!(!is_stale_temp(".a.csv.tmp"));
        assert!(!is_stale_temp("a.csv.4294967295.tmp"));
        assert!(!is_stale_temp(".hidden"));
    }

    #[test]
    fn free_name_never_reuses_a_taken_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("s.csv"), "x").unwrap();
        fs::write(dir.path().join("s (2).csv"), "x").unwrap();
        assert_eq!(free_name(dir.path(), "s.csv"), dir.path().join("s (3).csv"));
        assert_eq!(free_name(dir.path(), "t.csv"), dir.path().join("t.csv"));
    }

    #[test]
    fn long_names_are_shortened_keeping_extension_and_telling_apart() {
        let long_a = format!("{}a.csv", "x".repeat(300));
        let long_b = format!("{}b.csv", "x".repeat(300));
        let a = fit_name(&long_a, NAME_MAX);
        let b = fit_name(&long_b, NAME_MAX);
        assert!(a.len() <= NAME_MAX && b.len() <= NAME_MAX, "{a}");
        assert!(a.ends_with(".csv") && b.ends_with(".csv"));
        assert_ne!(a, b);
        assert_eq!(fit_name("short.csv", NAME_MAX), "short.csv");
        // Cut at a character boundary: multibyte text is never split.
        let umlauts = format!("{}.sta", "ä".repeat(200));
        let fitted = fit_name(&umlauts, 100);
        assert!(fitted.len() <= 100 && fitted.ends_with(".sta"), "{fitted}");
        // A name of one long "extension" is cut as a whole.
        let dotted = format!("a.{}", "b".repeat(300));
        assert!(fit_name(&dotted, NAME_MAX).len() <= NAME_MAX);
    }

    #[test]
    fn a_long_name_taken_twice_and_its_temp_fit_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}.csv", "s".repeat(251));
        let first = free_name(dir.path(), &name);
        fs::write(&first, "x").unwrap();
        let second = free_name(dir.path(), &name);
        let second_name = second.file_name().unwrap().to_str().unwrap();
        assert!(second_name.contains(" (2)") && second_name.ends_with(".csv"));
        // Written for real: the file system takes the name and the temp write_atomic uses.
        write_atomic(&second, b"y").unwrap();
        assert_eq!(fs::read(&second).unwrap(), b"y");
        // Room left for a note beside it.
        let within = free_name_within(dir.path(), &name, NAME_MAX - ".error.txt".len());
        let note = format!(
            "{}.error.txt",
            within.file_name().unwrap().to_str().unwrap()
        );
        write_atomic(&dir.path().join(note), b"why").unwrap();
    }

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn files_and_folders_get_the_modes_clerk_means_and_existing_folders_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        // Whatever the umask of this test process: the modes are set, not requested.
        let nested = dir.path().join("a/b/c");
        create_dir_all(&nested).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode_of(&dir.path().join(d)), DIR_MODE, "{d}");
        }
        let inbox = dir.path().join("a/inbox");
        create_dir_all_with(&inbox, DROP_DIR_MODE).unwrap();
        assert_eq!(mode_of(&inbox), DROP_DIR_MODE);
        // Inside a setgid folder, the bit carries down.
        create_dir_all(&inbox.join("sub")).unwrap();
        assert_eq!(mode_of(&inbox.join("sub")), DIR_MODE | SETGID);
        // An existing folder is the administrator's.
        fs::set_permissions(dir.path().join("a"), Permissions::from_mode(0o755)).unwrap();
        create_dir_all(&dir.path().join("a/b/d")).unwrap();
        assert_eq!(mode_of(&dir.path().join("a")), 0o755);

        let f = dir.path().join("a/x.eml");
        write_atomic(&f, b"x").unwrap();
        assert_eq!(mode_of(&f), FILE_MODE);
        let public = dir.path().join("public.csv");
        fs::write(&public, "x").unwrap();
        fs::set_permissions(&public, Permissions::from_mode(0o666)).unwrap();
        let copy = dir.path().join("a/copy.csv");
        copy_atomic(&public, &copy).unwrap();
        assert_eq!(mode_of(&copy), FILE_MODE);
        let journal = dir.path().join("a/journal");
        drop(open_append(&journal).unwrap());
        assert_eq!(mode_of(&journal), FILE_MODE);
        let lock = dir.path().join("a/lock");
        drop(open_or_create(&lock).unwrap());
        assert_eq!(mode_of(&lock), FILE_MODE);
        let marker = dir.path().join("a/marker");
        touch(&marker).unwrap();
        assert_eq!(mode_of(&marker), FILE_MODE);
    }

    #[test]
    fn move_file_moves() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "x").unwrap();
        move_file(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"x");
    }
}
