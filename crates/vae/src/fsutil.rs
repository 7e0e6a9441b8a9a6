//! Atomic file writes: a crash or a full disk never leaves a half-written file in place of a
//! good one, because we write a temporary file in the same folder, sync it, then rename it.

use crate::error::{IoContext, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.ctx(|| format!("cannot write {}", path.display()))
}

/// The temporary name used while `path` is being written.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Creates `dir` (and parents) with a clear error.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).ctx(|| format!("cannot create folder {}", dir.display()))
}

/// Deletes temporary files that a killed process left in `dir`: ours (`NAME.tmpPID`, from
/// [`temp_path`]) and Burn's burnpack writer's (`NAME.PID-N.tmp`).
pub fn remove_stale_temp_files(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).ctx(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ours = name.rsplit_once(".tmp").is_some_and(|(_, pid)| digits(pid));
        let burns = name
            .strip_suffix(".tmp")
            .and_then(|stem| stem.rsplit_once('.'))
            .and_then(|(_, tag)| tag.split_once('-'))
            .is_some_and(|(pid, n)| digits(pid) && digits(n));
        let is_temp = ours || burns;
        if is_temp {
            std::fs::remove_file(entry.path())
                .ctx(|| format!("cannot remove stale {}", entry.path().display()))?;
        }
    }
    Ok(())
}
