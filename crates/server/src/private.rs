//! Files only the owner may read: the data folder (mode 0700), the SQLite file with its WAL
//! and shared-memory files, the generated secret and API key (mode 0600). New ones are
//! created with these modes from the start (no window in which they are readable by others,
//! whatever the umask); existing ones that are more open are tightened, with a warning.
//! On other platforms than Unix these are plain creations.

use std::io;
use std::path::Path;

/// Mode of the data folder.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files in it.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or tightens an existing one.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    tighten(dir, DIR_MODE)
}

/// Creates `path` empty with mode 0600 when missing; tightens it when it exists.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    match create_new(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path, FILE_MODE),
        Err(e) => Err(e),
    }
}

/// Tightens `path` when it exists; nothing when it does not.
pub fn tighten_if_present(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => tighten(path, FILE_MODE),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to a new file `path` created with mode 0600 (fails if it exists).
pub fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = create_new(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn create_new(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Whether `mode` lets anyone but the owner in.
pub fn too_open(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Removes group and other permissions from `path` (at most `allowed` remains), with a
/// warning naming the file and both modes.
fn tighten(path: &Path, allowed: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if too_open(mode) {
            let tightened = mode & allowed;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(tightened))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                now = format!("{tightened:o}"),
                "tightened the permissions of a private file: only the owner may read it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, allowed);
    Ok(())
}

/// Warns when a file given by the operator (a `--secret-file`) can be read by others; it
/// is not changed.
pub fn warn_if_open(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o7777;
            if too_open(mode) {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "the secret file can be read by other users; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_folders_are_private_and_old_ones_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_dir(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&tmp.path().join("a"))), (0o700, 0o700));
        let file = dir.join("f");
        write_new(&file, b"x").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(write_new(&file, b"y").is_err(), "never overwrites");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_file(&file).unwrap();
        ensure_dir(&dir).unwrap();
        assert_eq!((mode(&file), mode(&dir)), (0o600, 0o700));
        assert_eq!(std::fs::read(&file).unwrap(), b"x", "content kept");
        tighten_if_present(&dir.join("missing")).unwrap();
        assert!(too_open(0o640) && !too_open(0o600) && !too_open(0o700));
    }
}
