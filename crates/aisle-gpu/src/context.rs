//! [`Gpu`]: a CUDA context and stream on device 0, created only when [`probe()`] says the GPU path
//! is ready, so creating it never reaches cudarc's panics on missing libraries.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaModule, CudaStream, DriverError};
use cudarc::nvrtc::Ptx;

use crate::compile::Arch;
use crate::{probe, DeviceInfo, GpuError, GpuStatus, KernelBuild};

/// The CUDA primary context of device 0 and a stream for the preprocessing work.
#[derive(Debug)]
pub struct Gpu {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    device: DeviceInfo,
    nvrtc: (i32, i32),
}

fn driver_err(call: &'static str) -> impl Fn(DriverError) -> GpuError {
    move |e| GpuError::Driver {
        call,
        error: format!("{:?}", e.0),
    }
}

impl Gpu {
    /// Probes, then retains device 0's primary context and creates a stream.
    ///
    /// # Errors
    /// [`GpuError::NotReady`] with the probe's message (what is missing and the fix) unless
    /// [`probe()`] returns [`GpuStatus::Ready`]; [`GpuError::Driver`] when the context or stream
    /// cannot be created.
    pub fn new() -> Result<Gpu, GpuError> {
        let (device, nvrtc) = match probe() {
            GpuStatus::Ready { device, nvrtc } => (device, nvrtc),
            other => return Err(GpuError::NotReady(other.to_string())),
        };
        let context = CudaContext::new(0).map_err(driver_err("cuDevicePrimaryCtxRetain"))?;
        let stream = context.new_stream().map_err(driver_err("cuStreamCreate"))?;
        Ok(Gpu {
            context,
            stream,
            device,
            nvrtc,
        })
    }

    /// The cudarc context (allocations, modules).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    /// The stream this `Gpu` submits work to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The device.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// The architecture to compile for on this device, e.g. `"sm_87"`.
    pub fn arch(&self) -> String {
        self.device.arch()
    }

    /// Loads a build into the context: its CUBIN when built for exactly this device's
    /// architecture, otherwise its PTX (JIT-compiled by the driver) when the build's architecture
    /// is not newer than the device.
    ///
    /// # Errors
    /// [`GpuError::ArchMismatch`] when the build targets a newer architecture;
    /// [`GpuError::Driver`] when the driver rejects the image.
    pub fn load(&self, build: &KernelBuild) -> Result<Arc<CudaModule>, GpuError> {
        let arch = Arch::parse(&build.arch)?;
        let (major, minor) = self.device.compute_capability;
        let image = match &build.cubin {
            Some(cubin) if arch.real && (arch.major, arch.minor) == (major, minor) => {
                Ptx::from_binary(cubin.clone())
            }
            _ if (arch.major, arch.minor) <= (major, minor) => Ptx::from_src(build.ptx.clone()),
            _ => {
                return Err(GpuError::ArchMismatch {
                    name: build.name.clone(),
                    arch: build.arch.clone(),
                    major,
                    minor,
                });
            }
        };
        self.context
            .load_module(image)
            .map_err(driver_err("cuModuleLoadData"))
    }

    /// The device's peak memory bandwidth in bytes per second, from its memory clock
    /// (`CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE`, kHz) and bus width
    /// (`CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH`, bits), double data rate:
    /// `2 * clock * width / 8`. `None` when the driver does not report them (0 or an error).
    pub fn peak_memory_bandwidth(&self) -> Option<f64> {
        use cudarc::driver::sys::CUdevice_attribute::{
            CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH as BUS_WIDTH,
            CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE as MEMORY_CLOCK,
        };
        let clock_khz = self.context.attribute(MEMORY_CLOCK).ok()?;
        let bus_bits = self.context.attribute(BUS_WIDTH).ok()?;
        (clock_khz > 0 && bus_bits > 0)
            .then(|| 2.0 * f64::from(clock_khz) * 1e3 * f64::from(bus_bits) / 8.0)
    }

    /// One line for `aisle check`.
    pub fn summary(&self) -> String {
        GpuStatus::Ready {
            device: self.device.clone(),
            nvrtc: self.nvrtc,
        }
        .summary()
    }
}
