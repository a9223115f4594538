//! sisr: the four papers' super-resolution networks on burn, their complexity, weights,
//! inference and evaluation. The imaging core (`sisr_image`) has no deep-learning dependency;
//! this crate builds on it.

pub mod bench;
pub mod complexity;
pub mod infer;
pub mod models;
pub mod train;
pub mod upscale;
pub mod weights;

pub use models::{ColorMode, ModelKind, Network};

/// The default compute device: burn's pure-Rust flex backend on the CPU.
pub fn default_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}
