//! Guards in front of cudarc's run-time loading.
//!
//! cudarc (`dynamic-loading`) opens `libcuda`/`libnvrtc` on the first call and **panics** when the
//! library or one of its symbols is missing. Every path of this crate that reaches a cudarc call
//! first goes through [`nvrtc_loadable`] or [`driver_loadable`], which use cudarc's
//! `is_culib_present()` and then look up each symbol we call, so a machine without CUDA gets an
//! error value instead of a panic.
//!
//! The libraries are found by file name through the dynamic loader, so `LD_LIBRARY_PATH` must be
//! set before the process starts (glibc reads it once).

use std::sync::OnceLock;

use cudarc::driver::sys as cu;
use cudarc::nvrtc::sys as rtc;

use crate::GpuError;

/// The NVRTC functions this crate calls (all present since CUDA 11.1).
const NVRTC_SYMBOLS: &[&str] = &[
    "nvrtcVersion",
    "nvrtcCreateProgram",
    "nvrtcCompileProgram",
    "nvrtcDestroyProgram",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcGetPTXSize",
    "nvrtcGetPTX",
    "nvrtcGetCUBINSize",
    "nvrtcGetCUBIN",
];

/// The driver functions [`probe()`](crate::probe()) calls.
const DRIVER_SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceGetAttribute",
    "cuDeviceTotalMem_v2",
];

/// `Ok` when NVRTC is loaded (or loadable) with every symbol this crate calls; after that,
/// cudarc's NVRTC calls cannot panic for want of a library. A success is remembered; a failure
/// is checked again on the next call.
pub(crate) fn nvrtc_loadable() -> Result<(), GpuError> {
    static OK: OnceLock<()> = OnceLock::new();
    if OK.get().is_some() {
        return Ok(());
    }
    // SAFETY: loading a shared library runs its initialisers; libnvrtc is NVIDIA's library that
    // this crate exists to load, and cudarc would load the same file on its first call.
    if !unsafe { rtc::is_culib_present() } {
        return Err(GpuError::NvrtcMissing);
    }
    for &symbol in NVRTC_SYMBOLS {
        // SAFETY: `is_culib_present` just loaded a candidate, and `culib()` tries the same
        // candidates in the same order, so it does not reach its panic. The symbol is only looked
        // up, never called through this type.
        let found =
            unsafe { rtc::culib().get::<unsafe extern "C" fn()>(symbol.as_bytes()) }.is_ok();
        if !found {
            return Err(GpuError::NvrtcSymbolMissing { symbol });
        }
    }
    let _ = OK.set(());
    Ok(())
}

/// `true` when the CUDA driver library is loadable with every symbol [`probe()`](crate::probe())
/// calls.
pub(crate) fn driver_loadable() -> bool {
    static OK: OnceLock<()> = OnceLock::new();
    if OK.get().is_some() {
        return true;
    }
    // SAFETY: as in `nvrtc_loadable`, for libcuda.
    if !unsafe { cu::is_culib_present() } {
        return false;
    }
    for &symbol in DRIVER_SYMBOLS {
        // SAFETY: as in `nvrtc_loadable`: the library is present, the symbol is only looked up.
        let found = unsafe { cu::culib().get::<unsafe extern "C" fn()>(symbol.as_bytes()) }.is_ok();
        if !found {
            return false;
        }
    }
    let _ = OK.set(());
    true
}
