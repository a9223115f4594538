//! sisr: the four papers' super-resolution networks on burn, their complexity, weights,
//! inference and evaluation. The imaging core (`sisr_image`) has no deep-learning dependency;
//! this crate builds on it.

pub mod bench;
pub mod complexity;
pub mod infer;
pub mod models;
pub mod ops;
pub mod precision;
pub mod train;
pub mod upscale;
pub mod weights;
pub mod zoo;

pub use burn::tensor::Device;
pub use models::{ColorMode, ModelKind, Network};
pub use precision::Precision;

/// The default compute device: burn's pure-Rust flex backend on the CPU.
pub fn default_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

/// The compute backends a model can run on. The networks are written once against burn's
/// dispatch `Device`, so the choice is made at run time; LibTorch needs the `tch` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default build).
    Flex,
    /// LibTorch on the CPU.
    Tch,
    /// LibTorch on the first CUDA GPU.
    TchCuda,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Tch, Backend::TchCuda];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Tch => "tch",
            Backend::TchCuda => "tch-cuda",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The backend's device, or why this build cannot run it.
    // burn marks its LibTorch backend deprecated; it is still the way to PyTorch's kernels.
    #[cfg_attr(feature = "tch", allow(deprecated))]
    pub fn device(self) -> Result<burn::tensor::Device, String> {
        match self {
            Backend::Flex => Ok(default_device()),
            #[cfg(feature = "tch")]
            Backend::Tch => Ok(burn::tensor::Device::libtorch()),
            #[cfg(feature = "tch")]
            Backend::TchCuda => Ok(burn::tensor::Device::libtorch_cuda(0)),
            #[cfg(not(feature = "tch"))]
            Backend::Tch | Backend::TchCuda => Err(format!("backend `{}` needs a build with `--features tch` (LibTorch; see README)", self.name())),
        }
    }
}
