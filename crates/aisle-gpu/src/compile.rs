//! NVRTC compilation of CUDA C++ sources to PTX and CUBIN, with the per-kernel resource report
//! of `ptxas -v` (registers, spills, stack, shared memory).
//!
//! NVRTC 12.x compiles for any supported architecture without a GPU: a build for `sm_87` (Orin)
//! or `sm_72` (Xavier) runs in CI. See the [NVRTC user guide](https://docs.nvidia.com/cuda/nvrtc/index.html)
//! for the options.
//!
//! Every compilation gets [`BASE_OPTIONS`]: `--fmad=false` is there because the kernels must be
//! bit-exact with the CPU reference (`aisle-vision`'s preprocessing contract): a fused multiply-add
//! rounds once where the CPU's `a * b + c` rounds twice, so contraction would change results in the
//! last bit. Do not pass `--use_fast_math` to kernels that are held to the reference.

use std::ffi::{c_char, CString};

use cudarc::nvrtc::{result, sys};

use crate::loader::nvrtc_loadable;
use crate::GpuError;

/// Options given to every compilation, before the caller's: no FMA contraction (bit-exact with
/// the CPU reference), C++17.
pub const BASE_OPTIONS: &[&str] = &["--fmad=false", "-std=c++17"];

/// The result of compiling one source for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBuild {
    /// Source name (as given to [`compile()`]; NVRTC uses it in diagnostics).
    pub name: String,
    /// Target architecture, e.g. `"sm_87"` (Orin) or `"compute_87"` (PTX only).
    pub arch: String,
    /// NVRTC version that produced this build.
    pub nvrtc_version: (i32, i32),
    /// The PTX (always present: a driver of the same or newer CUDA can JIT it).
    pub ptx: String,
    /// The CUBIN for a real architecture (`sm_XY`); `None` for `compute_XY`.
    pub cubin: Option<Vec<u8>>,
    /// Per-kernel resources reported by ptxas (empty for `compute_XY`, where ptxas does not run).
    pub kernels: Vec<KernelResources>,
    /// NVRTC's program log (warnings and the ptxas report).
    pub log: String,
}

/// The resources of one kernel (entry function) as reported by `ptxas -v`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelResources {
    /// Entry name (mangled unless the kernel is `extern "C"`).
    pub name: String,
    /// 32-bit registers per thread.
    pub registers: u32,
    /// Bytes stored to local memory because registers ran out (must be 0).
    pub spill_stores_bytes: u32,
    /// Bytes loaded back from local memory after a spill (must be 0).
    pub spill_loads_bytes: u32,
    /// Stack frame bytes per thread.
    pub stack_bytes: u32,
    /// Static shared memory bytes per block.
    pub shared_bytes: u32,
}

impl KernelBuild {
    /// The resources of the kernel named `name`, if ptxas reported it.
    pub fn kernel(&self, name: &str) -> Option<&KernelResources> {
        self.kernels.iter().find(|k| k.name == name)
    }
}

/// A parsed `sm_XY` / `compute_XY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arch {
    /// `true` for `sm_XY` (CUBIN), `false` for `compute_XY` (PTX only).
    pub real: bool,
    pub major: i32,
    pub minor: i32,
}

impl Arch {
    pub(crate) fn parse(arch: &str) -> Result<Arch, GpuError> {
        let bad = || GpuError::InvalidArch {
            arch: arch.to_owned(),
        };
        let (real, digits) = if let Some(d) = arch.strip_prefix("sm_") {
            (true, d)
        } else if let Some(d) = arch.strip_prefix("compute_") {
            (false, d)
        } else {
            return Err(bad());
        };
        // sm_87, sm_100, sm_90a: the last digit is the minor version, an optional `a`/`f`
        // suffix selects architecture-specific features.
        let digits = digits.trim_end_matches(['a', 'f']);
        if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (maj, min) = digits.split_at(digits.len() - 1);
        let major = maj.parse().map_err(|_| bad())?;
        let minor = min.parse().map_err(|_| bad())?;
        Ok(Arch { real, major, minor })
    }
}

/// The version of the loaded NVRTC, e.g. `(12, 6)`.
///
/// # Errors
/// [`GpuError::NvrtcMissing`] when `libnvrtc.so.12` cannot be loaded (never panics).
pub fn nvrtc_version() -> Result<(i32, i32), GpuError> {
    nvrtc_loadable()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded with this symbol (checked above); both pointers are valid for writes.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| GpuError::Nvrtc {
            call: "nvrtcVersion",
            name: String::new(),
            error: format!("{e:?}"),
        })?;
    Ok((major, minor))
}

/// Destroys an NVRTC program when dropped.
struct Program {
    prog: sys::nvrtcProgram,
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `prog` came from `create_program` and is destroyed only here.
        if let Err(e) = unsafe { result::destroy_program(self.prog) } {
            tracing::warn!("nvrtcDestroyProgram failed: {e:?}");
        }
    }
}

/// Compiles `source` (CUDA C++; `name` is its file name for diagnostics) for `arch` with
/// [`BASE_OPTIONS`], then `options` (e.g. `--include-path=...`, `-DBLOCK=256`). NVRTC rejects an
/// option given twice, so `options` cannot override [`BASE_OPTIONS`] (`--fmad`, `-std`).
///
/// For `sm_XY` the result has PTX, a CUBIN and the ptxas resource report of every kernel (the
/// compilation adds `--ptxas-options=-v`); for `compute_XY` only PTX. No GPU is needed.
///
/// # Errors
/// [`GpuError::NvrtcMissing`] without NVRTC (never panics), [`GpuError::InvalidArch`],
/// [`GpuError::Compile`] with NVRTC's log when the source does not compile.
pub fn compile(
    source: &str,
    name: &str,
    arch: &str,
    options: &[&str],
) -> Result<KernelBuild, GpuError> {
    let parsed = Arch::parse(arch)?;
    nvrtc_loadable()?;
    let nvrtc_version = nvrtc_version()?;
    let nul = |what: &str| GpuError::NulByte {
        name: name.to_owned(),
        what: what.to_owned(),
    };
    let c_source = CString::new(source).map_err(|_| nul("source"))?;
    let c_name = CString::new(name).map_err(|_| nul("name"))?;

    let mut all_options = vec![format!("--gpu-architecture={arch}")];
    all_options.extend(BASE_OPTIONS.iter().map(|o| (*o).to_owned()));
    if parsed.real {
        all_options.push("--ptxas-options=-v".to_owned());
    }
    all_options.extend(options.iter().map(|o| (*o).to_owned()));
    if let Some(o) = all_options.iter().find(|o| o.contains('\0')) {
        return Err(nul(&format!("option `{}`", o.replace('\0', "\\0"))));
    }

    let nvrtc_err = |call: &'static str| {
        move |e: result::NvrtcError| GpuError::Nvrtc {
            call,
            name: name.to_owned(),
            error: format!("{:?}", e.0),
        }
    };
    let program = Program {
        prog: result::create_program(&c_source, Some(&c_name))
            .map_err(nvrtc_err("nvrtcCreateProgram"))?,
    };
    // SAFETY: `program.prog` is a live program from `create_program`, destroyed only by
    // `Program::drop` after its last use; NVRTC is loaded with every symbol used here
    // (`nvrtc_loadable`); no option contains a NUL (checked above: cudarc would panic).
    let compiled = unsafe { result::compile_program(program.prog, &all_options) };
    let log = c_chars_to_string(
        // SAFETY: as for `compile_program`.
        &unsafe { result::get_program_log(program.prog) }
            .map_err(nvrtc_err("nvrtcGetProgramLog"))?,
    );
    match compiled {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.0,
                sys::nvrtcResult::NVRTC_ERROR_COMPILATION
                    | sys::nvrtcResult::NVRTC_ERROR_INVALID_OPTION
            ) =>
        {
            let log = if log.trim().is_empty() {
                format!("{:?} (options: {})", e.0, all_options.join(" "))
            } else {
                log
            };
            return Err(GpuError::Compile {
                name: name.to_owned(),
                arch: arch.to_owned(),
                log,
            });
        }
        Err(e) => return Err(nvrtc_err("nvrtcCompileProgram")(e)),
    }
    let ptx = c_chars_to_string(
        // SAFETY: as for `compile_program`; the program compiled successfully.
        &unsafe { result::get_ptx(program.prog) }.map_err(nvrtc_err("nvrtcGetPTX"))?,
    );
    let cubin = if parsed.real {
        // SAFETY: the program is live and compiled for a real architecture; NVRTC is loaded.
        Some(unsafe { get_cubin(program.prog) }.map_err(nvrtc_err("nvrtcGetCUBIN"))?)
    } else {
        None
    };
    drop(program);

    Ok(KernelBuild {
        name: name.to_owned(),
        arch: arch.to_owned(),
        nvrtc_version,
        ptx,
        cubin,
        kernels: parse_ptxas_log(&log),
        log,
    })
}

/// `nvrtcGetCUBIN` (cudarc's `result` layer has no wrapper for it).
///
/// # Safety
/// 1. `prog` is a live program (created, not destroyed) that compiled for a real architecture.
/// 2. NVRTC is loaded with `nvrtcGetCUBINSize` and `nvrtcGetCUBIN` (`nvrtc_loadable`).
unsafe fn get_cubin(prog: sys::nvrtcProgram) -> Result<Vec<u8>, result::NvrtcError> {
    let mut size = 0usize;
    // SAFETY: preconditions 1 and 2; `size` is valid for writes.
    unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) }.result()?;
    let mut cubin = vec![0u8; size];
    // SAFETY: `cubin` holds the `size` bytes NVRTC asked for.
    unsafe { sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr().cast::<c_char>()) }.result()?;
    Ok(cubin)
}

/// A NUL-terminated NVRTC string buffer as a `String` (lossy; NVRTC writes ASCII).
fn c_chars_to_string(chars: &[c_char]) -> String {
    // `c_char` is i8 or u8 depending on the target: reinterpret each as a byte.
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses the `ptxas -v` report in an NVRTC log into one [`KernelResources`] per entry function.
///
/// The report looks like (NVRTC 12.6; standalone ptxas indents the second line instead):
/// ```text
/// ptxas info    : Compiling entry function 'resize' for 'sm_87'
/// ptxas info    : Function properties for resize
/// ptxas         .     16 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads
/// ptxas info    : Used 27 registers, used 0 barriers, 1024 bytes smem, 380 bytes cmem[0]
/// ```
/// `Function properties` blocks of non-entry (device) functions are ignored. Unknown lines are
/// skipped, so a format change shows up as zeros in the test's table rather than a panic.
pub fn parse_ptxas_log(log: &str) -> Vec<KernelResources> {
    let mut kernels: Vec<KernelResources> = Vec::new();
    // Index of the entry being compiled, and of the function whose properties follow.
    let mut entry: Option<usize> = None;
    let mut properties_of: Option<usize> = None;
    for line in log.lines() {
        let text = line.trim();
        let info = text
            .strip_prefix("ptxas info")
            .map(|r| r.trim_start().trim_start_matches(':').trim());
        if let Some(info) = info {
            if let Some(rest) = info.strip_prefix("Compiling entry function '") {
                let name = rest.split('\'').next().unwrap_or_default().to_owned();
                kernels.push(KernelResources {
                    name,
                    ..KernelResources::default()
                });
                entry = Some(kernels.len() - 1);
                properties_of = None;
            } else if let Some(rest) = info.strip_prefix("Function properties for ") {
                let name = rest.trim();
                properties_of = kernels.iter().position(|k| k.name == name);
            } else if info.starts_with("Used ") {
                if let Some(k) = entry.and_then(|i| kernels.get_mut(i)) {
                    for (value, unit) in numbered_items(info.trim_start_matches("Used ")) {
                        match unit {
                            "registers" => k.registers = value,
                            "bytes smem" => k.shared_bytes = value,
                            _ => {}
                        }
                    }
                }
                properties_of = None;
            } else {
                properties_of = None;
            }
        } else if text.contains("stack frame") {
            // Skip the line's prefix ("ptxas         ." in NVRTC's log, indentation in ptxas's).
            let items = text
                .find(|c: char| c.is_ascii_digit())
                .map_or("", |i| &text[i..]);
            if let Some(k) = properties_of.and_then(|i| kernels.get_mut(i)) {
                for (value, unit) in numbered_items(items) {
                    match unit {
                        "bytes stack frame" => k.stack_bytes = value,
                        "bytes spill stores" => k.spill_stores_bytes = value,
                        "bytes spill loads" => k.spill_loads_bytes = value,
                        _ => {}
                    }
                }
            }
        }
    }
    kernels
}

/// "27 registers, used 0 barriers, 1024 bytes smem" -> [(27, "registers"), (1024, "bytes smem"), ...]
fn numbered_items(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.split(',').filter_map(|item| {
        let item = item.trim();
        let (number, unit) = item.split_once(' ')?;
        Some((number.parse().ok()?, unit.trim()))
    })
}

/// Names of the `extern "C" __global__` kernels declared in `source` (comments ignored), in
/// order of appearance; these names are unmangled, so they are the names ptxas reports and
/// the names to load from a module.
pub fn extern_c_kernels(source: &str) -> Vec<String> {
    let code = strip_comments(source);
    let mut names = Vec::new();
    let mut rest = code.as_str();
    let mut consumed = 0;
    while let Some(at) = rest.find("__global__") {
        let start = consumed + at;
        // The declaration starts after the previous `;`, `}` or `{` (or at the file start).
        let decl_start = code[..start].rfind([';', '}', '{']).map_or(0, |i| i + 1);
        let prefix = &code[decl_start..start];
        let in_extern_c_block = is_inside_extern_c_block(&code[..start]);
        let after = &code[start + "__global__".len()..];
        if let Some(paren) = after.find('(') {
            let head = &after[..paren];
            // Skip `__launch_bounds__(...)` between the return type and the name.
            let head_end = if head.trim_end().ends_with("__launch_bounds__") {
                // Re-scan past the launch bounds' closing parenthesis.
                let lb_close = after[paren..]
                    .find(')')
                    .map(|i| paren + i + 1)
                    .unwrap_or(paren);
                let next_paren = after[lb_close..].find('(').map(|i| lb_close + i);
                next_paren.map(|p| (lb_close, p))
            } else {
                Some((0, paren))
            };
            if let Some((from, to)) = head_end {
                let name: String = after[from..to]
                    .trim_end()
                    .chars()
                    .rev()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                if (prefix.contains("extern \"C\"") || in_extern_c_block)
                    && !name.is_empty()
                    && !names.contains(&name)
                {
                    names.push(name);
                }
            }
        }
        consumed = start + "__global__".len();
        rest = &code[consumed..];
    }
    names
}

/// `true` when the end of `code` is inside an `extern "C" { ... }` block.
fn is_inside_extern_c_block(code: &str) -> bool {
    let mut search = 0;
    while let Some(i) = code[search..].find("extern \"C\"") {
        let after = &code[search + i + "extern \"C\"".len()..];
        if after.trim_start().starts_with('{') {
            let open = code.len() - after.len() + after.find('{').unwrap_or(0);
            // Count braces from the block's `{` to the end: still open means we are inside.
            let mut depth = 0i32;
            for c in code[open..].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
            if depth > 0 {
                return true;
            }
        }
        search += i + 1;
    }
    false
}

/// `source` with `//` and `/* */` comments replaced by spaces (string literals are not special:
/// kernel sources have none that contain comment markers).
fn strip_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut prev = ' ';
            for c in chars.by_ref() {
                if prev == '*' && c == '/' {
                    break;
                }
                prev = c;
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arches() {
        assert_eq!(
            Arch::parse("sm_87").unwrap(),
            Arch {
                real: true,
                major: 8,
                minor: 7
            }
        );
        assert_eq!(
            Arch::parse("compute_72").unwrap(),
            Arch {
                real: false,
                major: 7,
                minor: 2
            }
        );
        assert_eq!(
            Arch::parse("sm_100").unwrap(),
            Arch {
                real: true,
                major: 10,
                minor: 0
            }
        );
        assert_eq!(
            Arch::parse("sm_90a").unwrap(),
            Arch {
                real: true,
                major: 9,
                minor: 0
            }
        );
        for bad in ["87", "sm87", "sm_", "sm_8", "sm_x7", "compute_", "SM_87"] {
            assert!(
                matches!(Arch::parse(bad), Err(GpuError::InvalidArch { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_ptxas_report() {
        let log = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'nv12_to_tensor' for 'sm_87'
ptxas info    : Function properties for nv12_to_tensor
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 27 registers, used 1 barriers, 1024 bytes smem, 380 bytes cmem[0]
ptxas info    : Function properties for _Z6helperf
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Compiling entry function 'letterbox' for 'sm_87'
ptxas info    : Function properties for letterbox
ptxas         .     32 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 12 registers, 372 bytes cmem[0]
";
        let kernels = parse_ptxas_log(log);
        assert_eq!(
            kernels,
            vec![
                KernelResources {
                    name: "nv12_to_tensor".into(),
                    registers: 27,
                    spill_stores_bytes: 8,
                    spill_loads_bytes: 4,
                    stack_bytes: 16,
                    shared_bytes: 1024,
                },
                KernelResources {
                    name: "letterbox".into(),
                    registers: 12,
                    stack_bytes: 32,
                    ..KernelResources::default()
                },
            ]
        );
        assert!(parse_ptxas_log("").is_empty());
        assert!(parse_ptxas_log("garbage\nptxas info : Used many registers\n").is_empty());
    }

    #[test]
    fn finds_extern_c_kernels() {
        let src = r#"
// extern "C" __global__ void commented_out(int x) {}
/* extern "C" __global__ void also_commented(int x) {} */
extern "C" __global__ void resize(const unsigned char* in, float* out) { }
__global__ void mangled(int x) {}
template <int N> __device__ float helper(float v) { return v; }
extern "C" __global__ void __launch_bounds__(256) normalise(float* t, int n) { }
extern "C" {
__global__ void in_block(int n) { if (n) { } }
}
__global__ void after_block(int n) {}
extern "C"
__global__
void
split_lines(int n) {}
"#;
        assert_eq!(
            extern_c_kernels(src),
            ["resize", "normalise", "in_block", "split_lines"]
        );
    }
}
