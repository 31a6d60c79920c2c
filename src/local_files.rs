//! The files sluice keeps on this machine — the store directory, `sluice.db` and its WAL,
//! `audit.head`, `sluice.log` — are the operator's alone: the directory is 0700 and every file
//! in it 0600, whatever the umask. They can hold hosts, versions, reasons and error text that
//! other local users have no business reading.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// The log's name in the store directory.
pub const LOG_FILE: &str = "sluice.log";

/// Create `dir` (and missing parents) as 0700, and narrow an existing one to 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    narrow(dir, DIR_MODE)
}

/// Narrow `path` to `mode` when it grants more (never widens what the operator narrowed).
pub fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    let now = meta.permissions().mode() & 0o7777;
    if now & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(now & mode))?;
    }
    Ok(())
}

/// Open `path` for appending, creating it as 0600; an existing file is narrowed to 0600. A
/// symbolic link is refused (O_NOFOLLOW), so nobody can point sluice's writes elsewhere.
pub fn private_append(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(f)
}

/// Create (truncating) `path` as 0600 for writing, refusing a symbolic link.
pub fn private_create(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// The log file in `dir` (made private first), or why it cannot be had: the caller warns and
/// carries on without a log — no command may fail because of logging.
pub fn open_log(dir: &Path) -> Result<File, String> {
    let path = dir.join(LOG_FILE);
    private_dir(dir)
        .and_then(|()| private_append(&path))
        .map_err(|e| {
            format!(
                "cannot open the log {}: {e}; going on without a log file (check that \
                 directory's owner and permissions, or set SLUICE_LOG_DIR)",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_log_and_its_directory_are_private_whatever_the_umask() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join(LOG_FILE), "old\n").unwrap();
        std::fs::set_permissions(dir.join(LOG_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        open_log(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);
        let fresh = tmp.path().join("a/b");
        open_log(&fresh).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&fresh.join(LOG_FILE)), 0o600);
    }

    #[test]
    fn a_log_that_cannot_be_opened_is_an_error_that_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        // Somebody made sluice.log a link to a file of theirs, or a directory.
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join(LOG_FILE)).unwrap();
        let e = open_log(tmp.path()).unwrap_err();
        assert!(e.contains("going on without a log file"), "{e}");
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join(LOG_FILE)).unwrap();
        assert!(open_log(other.path()).is_err());
    }
}
