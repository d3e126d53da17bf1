//! Writing the configuration back to its file: [`Config::to_toml`] and
//! [`write_file_atomically`] (temporary file in the same directory, fsync, rename over the
//! target, fsync of the directory), so that a crash or power cut at any moment leaves either the
//! old file or the new one, never a mix, and a reader never sees a partial file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Config;

impl Config {
    /// The configuration as TOML that [`Config::parse`] reads back to an equal `Config`.
    /// Comments and the layout of the original file are not kept.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }
}

/// The temporary file next to `path` that [`write_file_atomically`] writes first.
fn temp_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(tmp))
}

/// Replaces the contents of `path` by `bytes` atomically: writes `.<name>.tmp-<pid>` in the same
/// directory (with the permissions of the existing file, if any), fsyncs it, renames it over
/// `path` and fsyncs the directory. On error the temporary file is removed and `path` is
/// untouched.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path)?;
    let result = write_then_rename(path, &tmp, bytes);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    if let Some(m) = existing {
        f.set_permissions(m.permissions())?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[runtime]
threads = 3
credentials_dir = "/etc/aisle/credentials"
[detector]
score_threshold = 0.35
[tracker]
high_score = 0.55
[[cameras]]
id = "cam1"
url = "rtsp://10.0.0.5/stream1"
credentials = "cam1"
[analytics]
window_s = 30
[[zones]]
camera = "cam1"
name = "door"
kind = "entrance"
polygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
capacity = 4
[[lines]]
camera = "cam1"
name = "sill"
from = [0.1, 0.9]
to = [0.9, 0.9]
in_side = "right"
[mqtt]
broker = "mqtt://127.0.0.1:1883"
site = "s"
device = "d"
[commands]
mode = "all"
token_file = "cmd"
"#;

    #[test]
    fn toml_round_trips() {
        let c = Config::parse(EXAMPLE, "t.toml").unwrap();
        let text = c.to_toml().unwrap();
        let back = Config::parse(&text, "round trip").unwrap();
        assert_eq!(back, c, "{text}");
        let d = Config::default();
        assert_eq!(Config::parse(&d.to_toml().unwrap(), "default").unwrap(), d);
    }

    #[test]
    fn atomic_write_replaces_the_file_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aisle.toml");
        write_file_atomically(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["aisle.toml"]);
    }

    #[test]
    fn atomic_write_failures_leave_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: refused before anything is written.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(write_file_atomically(&sub, b"x").is_err());
        assert!(sub.is_dir());
        // The directory does not exist.
        assert!(write_file_atomically(&dir.path().join("nope/aisle.toml"), b"x").is_err());
        // The temporary file cannot be created (a directory is in its way): the old file stays.
        let path = dir.path().join("aisle.toml");
        std::fs::write(&path, b"old").unwrap();
        let tmp = temp_path(&path).unwrap();
        std::fs::create_dir(&tmp).unwrap();
        assert!(write_file_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        std::fs::remove_dir(&tmp).unwrap();
        // Not a file path at all.
        assert!(write_file_atomically(Path::new("/"), b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(names, ["aisle.toml", "sub"]);
    }
}
