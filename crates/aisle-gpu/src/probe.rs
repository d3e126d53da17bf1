//! What the GPU path can do on this machine: [`probe()`] loads the CUDA driver and NVRTC at run
//! time and reports the first thing missing, with the fix, or the device when all is there.
//! It never panics, also on machines with no CUDA at all.

use std::fmt;

use cudarc::driver::sys as cu;

use crate::loader::driver_loadable;
use crate::{nvrtc_version, GpuError};

/// The device [`probe()`] found (ordinal 0: a Jetson has one integrated GPU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// e.g. "Orin".
    pub name: String,
    /// Compute capability (major, minor): (8, 7) on Orin, (7, 2) on Xavier.
    pub compute_capability: (i32, i32),
    /// Total device memory in bytes (on Jetson: the memory shared with the CPU).
    pub memory_bytes: usize,
    /// `cuDriverGetVersion`: the CUDA version the driver supports, 1000 * major + 10 * minor
    /// (12060 = CUDA 12.6).
    pub driver_version: i32,
    /// Number of CUDA devices.
    pub device_count: i32,
}

impl DeviceInfo {
    /// The architecture to compile for, e.g. `"sm_87"`.
    pub fn arch(&self) -> String {
        format!(
            "sm_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }

    /// The driver's CUDA version as (major, minor).
    pub fn driver_cuda(&self) -> (i32, i32) {
        (
            self.driver_version / 1000,
            (self.driver_version % 1000) / 10,
        )
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dmaj, dmin) = self.driver_cuda();
        write!(
            f,
            "{} ({}, {:.1} GiB, driver CUDA {dmaj}.{dmin})",
            self.name,
            self.arch(),
            self.memory_bytes as f64 / (1u64 << 30) as f64
        )
    }
}

/// The state of the GPU path, from nothing to ready. [`fmt::Display`] says what is wrong and
/// how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuStatus {
    /// `libcuda.so.1` cannot be loaded: no NVIDIA driver on this machine.
    NoDriver,
    /// The driver loads but no device is usable: `cuInit` or `cuDeviceGetCount` failed
    /// (`error` is the CUDA error name) or there are no devices.
    DriverWithoutDevice {
        /// `cuDriverGetVersion` when it answered (12060 = CUDA 12.6).
        driver_version: Option<i32>,
        /// e.g. `CUDA_ERROR_NO_DEVICE`, or "0 devices".
        error: String,
    },
    /// A device is there but NVRTC (`libnvrtc.so.12`) cannot be loaded, so kernels cannot be
    /// compiled.
    NvrtcMissing {
        /// The device.
        device: DeviceInfo,
    },
    /// NVRTC is newer than the driver's CUDA: the PTX it emits uses a PTX ISA the driver cannot
    /// JIT (e.g. NVRTC 13 against JetPack 6's CUDA 12.6).
    NvrtcNewerThanDriver {
        /// The device.
        device: DeviceInfo,
        /// The NVRTC version.
        nvrtc: (i32, i32),
    },
    /// Everything is there.
    Ready {
        /// The device.
        device: DeviceInfo,
        /// The NVRTC version.
        nvrtc: (i32, i32),
    },
}

impl GpuStatus {
    /// `true` for [`GpuStatus::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, GpuStatus::Ready { .. })
    }

    /// The device, when one was found.
    pub fn device(&self) -> Option<&DeviceInfo> {
        match self {
            GpuStatus::NoDriver | GpuStatus::DriverWithoutDevice { .. } => None,
            GpuStatus::NvrtcMissing { device }
            | GpuStatus::NvrtcNewerThanDriver { device, .. }
            | GpuStatus::Ready { device, .. } => Some(device),
        }
    }

    /// One line for `aisle check`: "ok: ..." when ready, "missing: ..." otherwise.
    pub fn summary(&self) -> String {
        if self.is_ready() {
            format!("ok: {self}")
        } else {
            format!("missing: {self}")
        }
    }
}

impl fmt::Display for GpuStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuStatus::NoDriver => write!(
                f,
                "CUDA driver library {} not found: no NVIDIA GPU driver on this machine. On Jetson, \
                 install JetPack 6 (L4T 36.4+, CUDA 12.6) or, on a custom image, the tegra-libraries-cuda \
                 package, and make sure the library directory (/usr/lib/aarch64-linux-gnu/nvidia) is \
                 in the loader's path; otherwise set runtime.gpu = \"off\" to use the CPU path",
                crate::error::CUDA_DRIVER_LIB
            ),
            GpuStatus::DriverWithoutDevice { driver_version, error } => {
                let version = driver_version
                    .map(|v| format!(" (CUDA {}.{})", v / 1000, (v % 1000) / 10))
                    .unwrap_or_default();
                let hint = match error.as_str() {
                    "CUDA_ERROR_STUB_LIBRARY" => {
                        "the libcuda.so loaded is the CUDA toolkit's link stub: remove the toolkit's \
                         `stubs` directory from LD_LIBRARY_PATH"
                    }
                    "CUDA_ERROR_INSUFFICIENT_DRIVER" | "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE" => {
                        "the driver is older than CUDA 12: upgrade to JetPack 6 (L4T 36.4+)"
                    }
                    _ => {
                        "check that the GPU device nodes are visible to this process (/dev/nvgpu/igpu0, \
                         /dev/nvmap, /dev/nvhost-* on Orin; /dev/nvidia* elsewhere), that its user is in the \
                         `video` and `render` groups, and under systemd that DeviceAllow= lists them \
                         (PrivateDevices=yes hides them)"
                    }
                };
                write!(f, "CUDA driver loaded{version} but no usable GPU ({error}): {hint}")
            }
            GpuStatus::NvrtcMissing { device } => {
                write!(f, "GPU {device} found, but {}", GpuError::NvrtcMissing)
            }
            GpuStatus::NvrtcNewerThanDriver { device, nvrtc } => {
                let (dmaj, dmin) = device.driver_cuda();
                write!(
                    f,
                    "GPU {device} found, but NVRTC {}.{} is newer than the driver's CUDA {dmaj}.{dmin}: \
                     the driver cannot load its PTX; install the NVRTC of CUDA {dmaj}.{dmin} \
                     (JetPack 6: cuda-nvrtc-12-6) and put it first in LD_LIBRARY_PATH",
                    nvrtc.0, nvrtc.1
                )
            }
            GpuStatus::Ready { device, nvrtc } => {
                write!(f, "GPU {device}, NVRTC {}.{}", nvrtc.0, nvrtc.1)
            }
        }
    }
}

/// Finds out what the GPU path can do here; see [`GpuStatus`]. Cheap after the first call
/// (the libraries stay loaded), never panics.
pub fn probe() -> GpuStatus {
    if !driver_loadable() {
        return GpuStatus::NoDriver;
    }
    let err_name = |r: cu::CUresult| format!("{r:?}");
    let mut version = 0;
    // SAFETY: the driver library is loaded with every symbol used here (`driver_loadable`);
    // all out-pointers are valid for writes. cuDriverGetVersion works before cuInit.
    let driver_version = (unsafe { cu::cuDriverGetVersion(&mut version) }
        == cu::CUresult::CUDA_SUCCESS)
        .then_some(version);
    let without_device = |error: String| GpuStatus::DriverWithoutDevice {
        driver_version,
        error,
    };
    // SAFETY: as above.
    let r = unsafe { cu::cuInit(0) };
    if r != cu::CUresult::CUDA_SUCCESS {
        return without_device(err_name(r));
    }
    let mut count = 0;
    // SAFETY: as above; the driver is initialised.
    let r = unsafe { cu::cuDeviceGetCount(&mut count) };
    if r != cu::CUresult::CUDA_SUCCESS {
        return without_device(err_name(r));
    }
    if count < 1 {
        return without_device("0 devices".to_owned());
    }
    let device = match device_info(0, count, driver_version.unwrap_or(0)) {
        Ok(d) => d,
        Err(r) => return without_device(err_name(r)),
    };
    match nvrtc_version() {
        Err(_) => GpuStatus::NvrtcMissing { device },
        Ok(nvrtc) if nvrtc > device.driver_cuda() => {
            GpuStatus::NvrtcNewerThanDriver { device, nvrtc }
        }
        Ok(nvrtc) => GpuStatus::Ready { device, nvrtc },
    }
}

/// Name, compute capability and memory of device `ordinal`.
fn device_info(
    ordinal: i32,
    device_count: i32,
    driver_version: i32,
) -> Result<DeviceInfo, cu::CUresult> {
    let ok = |r: cu::CUresult| {
        if r == cu::CUresult::CUDA_SUCCESS {
            Ok(())
        } else {
            Err(r)
        }
    };
    let mut dev: cu::CUdevice = 0;
    // SAFETY: the driver is loaded and initialised (see `probe`); every out-pointer is valid for
    // writes and `name` holds the 256 bytes we say it does.
    unsafe {
        ok(cu::cuDeviceGet(&mut dev, ordinal))?;
        let mut name = [0 as std::ffi::c_char; 256];
        ok(cu::cuDeviceGetName(
            name.as_mut_ptr(),
            name.len() as i32,
            dev,
        ))?;
        let (mut major, mut minor) = (0, 0);
        use cu::CUdevice_attribute::{
            CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR as MAJOR,
            CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR as MINOR,
        };
        ok(cu::cuDeviceGetAttribute(&mut major, MAJOR, dev))?;
        ok(cu::cuDeviceGetAttribute(&mut minor, MINOR, dev))?;
        let mut memory_bytes = 0usize;
        ok(cu::cuDeviceTotalMem_v2(&mut memory_bytes, dev))?;
        let name: Vec<u8> = name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        Ok(DeviceInfo {
            name: String::from_utf8_lossy(&name).into_owned(),
            compute_capability: (major, minor),
            memory_bytes,
            driver_version,
            device_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orin() -> DeviceInfo {
        DeviceInfo {
            name: "Orin".into(),
            compute_capability: (8, 7),
            memory_bytes: 7_620_000_000,
            driver_version: 12060,
            device_count: 1,
        }
    }

    #[test]
    fn every_status_says_what_is_wrong_and_the_fix() {
        let no_driver = GpuStatus::NoDriver.to_string();
        assert!(
            no_driver.contains("libcuda.so.1 not found") && no_driver.contains("JetPack 6"),
            "{no_driver}"
        );

        let no_device = GpuStatus::DriverWithoutDevice {
            driver_version: Some(12060),
            error: "CUDA_ERROR_NO_DEVICE".into(),
        }
        .to_string();
        assert!(
            no_device.contains("CUDA 12.6") && no_device.contains("CUDA_ERROR_NO_DEVICE"),
            "{no_device}"
        );
        assert!(no_device.contains("DeviceAllow="), "{no_device}");
        let stub = GpuStatus::DriverWithoutDevice {
            driver_version: None,
            error: "CUDA_ERROR_STUB_LIBRARY".into(),
        };
        assert!(stub.to_string().contains("stub"), "{stub}");

        let nvrtc = GpuStatus::NvrtcMissing { device: orin() }.to_string();
        assert!(
            nvrtc.contains("Orin (sm_87, 7.1 GiB, driver CUDA 12.6)"),
            "{nvrtc}"
        );
        assert!(
            nvrtc.contains("libnvrtc.so.12 not found") && nvrtc.contains("LD_LIBRARY_PATH"),
            "{nvrtc}"
        );

        let newer = GpuStatus::NvrtcNewerThanDriver {
            device: orin(),
            nvrtc: (13, 0),
        }
        .to_string();
        assert!(
            newer.contains("NVRTC 13.0 is newer than the driver's CUDA 12.6"),
            "{newer}"
        );

        let ready = GpuStatus::Ready {
            device: orin(),
            nvrtc: (12, 6),
        };
        assert!(ready.is_ready());
        assert_eq!(
            ready.summary(),
            "ok: GPU Orin (sm_87, 7.1 GiB, driver CUDA 12.6), NVRTC 12.6"
        );
        assert!(GpuStatus::NoDriver.summary().starts_with("missing: "));
        assert_eq!(
            ready.device().map(DeviceInfo::arch).as_deref(),
            Some("sm_87")
        );
    }
}
