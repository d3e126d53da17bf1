//! An on-disk cache of NVRTC builds, so that a device compiles its kernels once, not at every start.
//!
//! An entry is keyed by the architecture, the NVRTC version and the SHA-256 of (source name,
//! source, options); it is three files in the cache directory:
//! `<stem>.ptx`, `<stem>.cubin` (real architectures only) and `<stem>.json`, where
//! `<stem>` = `<arch>-nvrtc<major>.<minor>-<sha256 hex>`. Each file is written to a temporary
//! name, flushed and renamed into place, and the JSON file is written last: it is the commit
//! record and holds the SHA-256 of the PTX and CUBIN, so a torn or corrupted entry (power loss,
//! disk error, a concurrent writer) is detected, recompiled and rewritten.
//!
//! A cache directory that cannot be created or written (read-only root filesystem, a path
//! under a regular file) does not fail the build: the kernels are compiled in memory and
//! [`CachedBuild::warning`] says why nothing was stored. Entries already present in a
//! read-only directory (e.g. baked into an image) are still used.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::compile::{Arch, KernelResources, BASE_OPTIONS};
use crate::{compile, nvrtc_version, GpuError, KernelBuild};

/// Version of the entry layout; part of every key, so a layout change never reads old entries.
const CACHE_FORMAT: &str = "aisle-gpu-kernel-cache-v1";

/// A directory of compiled kernels; see the module documentation.
#[derive(Debug, Clone)]
pub struct KernelCache {
    dir: PathBuf,
}

/// What [`KernelCache::get_or_compile`] returns.
#[derive(Debug, Clone)]
pub struct CachedBuild {
    /// The build.
    pub build: KernelBuild,
    /// `true` when it came from the cache (no compilation).
    pub hit: bool,
    /// Set when the cache could not be used as intended: the entry was corrupt and recompiled,
    /// or the directory is not writable and the build was compiled in memory only. The build
    /// itself is good either way; log this once.
    pub warning: Option<String>,
}

/// The JSON commit record of an entry.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Meta {
    format: String,
    name: String,
    arch: String,
    nvrtc_version: (i32, i32),
    ptx_sha256: String,
    cubin_sha256: Option<String>,
    kernels: Vec<KernelResources>,
    log: String,
}

impl KernelCache {
    /// A cache in `dir` (e.g. `<StateDirectory>/kernels`). Nothing is touched until the first
    /// [`get_or_compile`](Self::get_or_compile); the directory is created then.
    pub fn new(dir: impl Into<PathBuf>) -> KernelCache {
        KernelCache { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file stem of the entry for these inputs: `<arch>-nvrtc<major>.<minor>-<sha256>`.
    pub fn entry_stem(
        source: &str,
        name: &str,
        arch: &str,
        options: &[&str],
        nvrtc: (i32, i32),
    ) -> String {
        let mut h = Sha256::new();
        // Length-prefix every field so that no two different inputs hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(CACHE_FORMAT.as_bytes());
        field(arch.as_bytes());
        field(name.as_bytes());
        for o in BASE_OPTIONS.iter().chain(options) {
            field(o.as_bytes());
        }
        field(source.as_bytes());
        format!("{arch}-nvrtc{}.{}-{}", nvrtc.0, nvrtc.1, hex(&h.finalize()))
    }

    /// The build of `source` for `arch` with `options` (as [`compile()`]): from the cache when
    /// a valid entry exists, otherwise compiled and stored.
    ///
    /// # Errors
    /// Only what [`compile()`] returns (NVRTC missing, bad arch, compilation errors); cache
    /// problems become [`CachedBuild::warning`].
    pub fn get_or_compile(
        &self,
        source: &str,
        name: &str,
        arch: &str,
        options: &[&str],
    ) -> Result<CachedBuild, GpuError> {
        // Validates `arch` before it becomes part of a file name.
        Arch::parse(arch)?;
        let nvrtc = nvrtc_version()?;
        let stem = Self::entry_stem(source, name, arch, options, nvrtc);
        let mut warning = None;
        match self.load(&stem) {
            Ok(Some(build)) => {
                return Ok(CachedBuild {
                    build,
                    hit: true,
                    warning: None,
                })
            }
            Ok(None) => {}
            Err(why) => {
                let msg = format!(
                    "kernel cache entry {} is corrupt ({why}): recompiled",
                    self.dir.join(&stem).display()
                );
                tracing::warn!("{msg}");
                warning = Some(msg);
            }
        }
        let build = compile(source, name, arch, options)?;
        if let Err(e) = self.store(&stem, &build) {
            let msg = format!(
                "kernel cache {} is not writable ({e}): `{name}` for {arch} compiled in memory only and \
                 will be compiled again at the next start; point the cache at a writable state directory",
                self.dir.display()
            );
            tracing::warn!("{msg}");
            warning = Some(match warning {
                Some(w) => format!("{w}; {msg}"),
                None => msg,
            });
        }
        Ok(CachedBuild {
            build,
            hit: false,
            warning,
        })
    }

    /// `Ok(None)`: no entry (or it cannot be read at all); `Err`: an entry that is damaged.
    fn load(&self, stem: &str) -> Result<Option<KernelBuild>, String> {
        let meta_path = self.dir.join(format!("{stem}.json"));
        let Ok(meta) = fs::read(&meta_path) else {
            return Ok(None);
        };
        let meta: Meta =
            serde_json::from_slice(&meta).map_err(|e| format!("{}: {e}", meta_path.display()))?;
        if meta.format != CACHE_FORMAT {
            return Err(format!("{}: format {:?}", meta_path.display(), meta.format));
        }
        let read_checked = |ext: &str, want: &str| -> Result<Vec<u8>, String> {
            let path = self.dir.join(format!("{stem}.{ext}"));
            let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if hex(&Sha256::digest(&bytes)) != want {
                return Err(format!("{}: checksum mismatch", path.display()));
            }
            Ok(bytes)
        };
        let ptx = read_checked("ptx", &meta.ptx_sha256)?;
        let ptx = String::from_utf8(ptx).map_err(|_| format!("{stem}.ptx: not UTF-8"))?;
        let cubin = match &meta.cubin_sha256 {
            Some(want) => Some(read_checked("cubin", want)?),
            None => None,
        };
        Ok(Some(KernelBuild {
            name: meta.name,
            arch: meta.arch,
            nvrtc_version: meta.nvrtc_version,
            ptx,
            cubin,
            kernels: meta.kernels,
            log: meta.log,
        }))
    }

    fn store(&self, stem: &str, build: &KernelBuild) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let meta = Meta {
            format: CACHE_FORMAT.to_owned(),
            name: build.name.clone(),
            arch: build.arch.clone(),
            nvrtc_version: build.nvrtc_version,
            ptx_sha256: hex(&Sha256::digest(build.ptx.as_bytes())),
            cubin_sha256: build.cubin.as_deref().map(|c| hex(&Sha256::digest(c))),
            kernels: build.kernels.clone(),
            log: build.log.clone(),
        };
        let meta = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join(format!("{stem}.ptx")), build.ptx.as_bytes())?;
        if let Some(cubin) = &build.cubin {
            write_atomic(&self.dir.join(format!("{stem}.cubin")), cubin)?;
        }
        // Last: the commit record.
        write_atomic(&self.dir.join(format!("{stem}.json")), &meta)
    }
}

/// Writes `bytes` to a temporary file next to `path`, flushes it and renames it over `path`,
/// so that readers see the old file or the new one, never a part.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = path.with_file_name(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_input() {
        let base = KernelCache::entry_stem("src", "a.cu", "sm_87", &["-DX=1"], (12, 6));
        assert!(base.starts_with("sm_87-nvrtc12.6-"), "{base}");
        assert_eq!(base.len(), "sm_87-nvrtc12.6-".len() + 64);
        for other in [
            KernelCache::entry_stem("src ", "a.cu", "sm_87", &["-DX=1"], (12, 6)),
            KernelCache::entry_stem("src", "b.cu", "sm_87", &["-DX=1"], (12, 6)),
            KernelCache::entry_stem("src", "a.cu", "sm_72", &["-DX=1"], (12, 6)),
            KernelCache::entry_stem("src", "a.cu", "sm_87", &["-DX=2"], (12, 6)),
            KernelCache::entry_stem("src", "a.cu", "sm_87", &["-DX=1", ""], (12, 6)),
            KernelCache::entry_stem("src", "a.cu", "sm_87", &["-DX=1"], (12, 8)),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            base,
            KernelCache::entry_stem("src", "a.cu", "sm_87", &["-DX=1"], (12, 6))
        );
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
