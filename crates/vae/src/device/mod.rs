//! `--device`: the backend is picked at run time; GPU backends exist only in builds with the
//! `cuda` or `wgpu` feature, so the default build needs no GPU library.

pub mod memory;

pub use vae_kernels::is_cpu_device;
use vae_kernels::tune_products;

use crate::error::{Error, Result};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use std::sync::Mutex;

/// Names accepted by `--device`.
pub const DEVICE_NAMES: &str = "cpu (alias flex), cuda, cuda:N, wgpu";

/// Parses a device name into a Burn device (without autodiff).
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    match name.as_str() {
        "cpu" | "flex" => Ok(Device::flex()),
        _ if name == "cuda" || name.starts_with("cuda:") => cuda(&name),
        "wgpu" => wgpu(),
        _ => Err(Error::Config(format!(
            "unknown device '{name}'; use one of: {DEVICE_NAMES}"
        ))),
    }
}

/// `cuda:N` is GPU N; plain `cuda` is the GPU of this process's local MPI rank (GPU 0 outside
/// MPI), so `mpirun -n 8` on a machine with 8 GPUs uses all 8.
#[cfg(feature = "cuda")]
fn cuda(name: &str) -> Result<Device> {
    // cudarc loads the driver and NVRTC on first use, on a thread of cubecl's, and panics there
    // when one is missing: ask first.
    let found = vae_kernels::CudaLibraries::find();
    if !found.driver {
        return Err(Error::Config(
            "--device cuda: the NVIDIA driver (libcuda.so) is not installed here; install it, or use --device cpu".into(),
        ));
    }
    if !found.nvrtc {
        return Err(Error::Config(
            "--device cuda: CUDA's NVRTC (libnvrtc.so) was not found; install it (the CUDA toolkit, or `pip install nvidia-cuda-nvrtc-cu12` with its lib folder on LD_LIBRARY_PATH), or use --device cpu".into(),
        ));
    }
    let index = match name.strip_prefix("cuda:") {
        Some(i) => i.parse::<usize>().map_err(|_| {
            Error::Config(format!("bad CUDA device index in '{name}' (try cuda:0)"))
        })?,
        None => crate::distributed::World::get()?.local_rank,
    };
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_name: &str) -> Result<Device> {
    Err(Error::Config(
        "this build has no CUDA backend; rebuild with `cargo build --release --features cuda`"
            .into(),
    ))
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(Default::default()))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    Err(Error::Config(
        "this build has no wgpu backend; rebuild with `cargo build --release --features wgpu`"
            .into(),
    ))
}

/// A `[rows, cols]` tensor on `device` from host values (row-major).
pub fn to_device(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &Device,
) -> burn::tensor::Tensor<2> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, [rows, cols]), device)
}

/// A conditional model's conditions `[rows, values / rows]` on the device (`None` stays `None`).
pub fn conditions_to_device(
    values: Option<Vec<f32>>,
    rows: usize,
    device: &Device,
) -> Option<burn::tensor::Tensor<2>> {
    values.map(|y| {
        let cols = y.len() / rows.max(1);
        to_device(y, rows, cols, device)
    })
}

/// Rows `range` of an optional `[rows, cols]` tensor, for splitting a batch's conditions.
pub fn narrow_rows(
    t: &Option<burn::tensor::Tensor<2>>,
    range: &std::ops::Range<usize>,
) -> Option<burn::tensor::Tensor<2>> {
    t.as_ref()
        .map(|t| t.clone().narrow(0, range.start, range.len()))
}

thread_local! {
    static HOST_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many reads this thread has made through [`to_host`]. On a GPU each read waits for all
/// the work queued before it, so `vae bench` reports the reads per training step and a test
/// keeps them down. Per thread, so that other threads' work does not count.
pub fn host_reads() -> usize {
    HOST_READS.with(|reads| reads.get())
}

/// A tensor's values on the host, row-major. On the CPU the tensor's own buffer when it is the
/// only owner: `try_to_vec` copied every decoded block of the IWAE bound (1 MB, 2% of its time).
pub fn to_host<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    HOST_READS.with(|reads| reads.set(reads.get() + 1));
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Numerical(format!("cannot read a tensor back from the device: {e:?}")))
}

pub use memory::available as available_memory;

/// Sizes the CPU thread pool that burn-flex and its matrix multiplications run on. Call it
/// before any tensor work; the pool cannot be resized once it has started.
pub fn set_cpu_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::Config("--threads must be at least 1".into()));
    }
    tune_products();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| Error::Config(format!("cannot set the number of CPU threads: {e}")))
}

/// The module `init` builds, with its random weights drawn from Burn's generator seeded with
/// `seed`, in the order of the module's fields, so that they follow from the seed alone. Burn
/// draws a weight when it is first used, and has one generator per process: so every weight is
/// drawn here, under a lock, and two models made at once in one process (tests, a program
/// training several) still get their own seed's weights.
pub fn seeded<M: Module>(device: &Device, seed: u64, init: impl FnOnce() -> M) -> M {
    static GENERATOR: Mutex<()> = Mutex::new(());
    let _guard = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let module = init();
    module.visit(&mut DrawWeights);
    module
}

/// Reads every weight, which makes Burn draw the ones not drawn yet.
struct DrawWeights;

impl ModuleVisitor for DrawWeights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        param.val();
    }
}
