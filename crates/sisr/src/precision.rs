//! Reduced-precision inference (`--precision`): the matrix products of the convolutions
//! between feature maps read their operands rounded to f16 or bf16 and accumulate in f32, as a
//! reduced-precision kernel (AMX, AVX512-BF16) or PyTorch's autocast does. What
//! the accuracy needs stays f32: the convolutions that read or write the image (fewer than 16
//! channels in or out: feature extraction and reconstruction), skip connections, activations,
//! attention and upsampling.
//!
//! The operands are what the products read: the weights and the input activations, or for a
//! Winograd convolution (`ops::same_conv`) the transformed kernels and input tiles. On a CPU
//! with AMX or AVX512-BF16, bf16 runs on sisr's bf16 kernels (`ops::bf16_gemm`); everywhere
//! else the same roundings are applied to f32 data ([`Precision::emulated`]): the format's
//! results, up to the order of the sums, at f32's speed. f16 is emulated on every CPU
//! (AVX512-FP16 accumulates in f16). On LibTorch, whose convolutions are ATen's, the weights
//! and input activations are rounded.

use crate::ops::bf16_gemm;
use burn::prelude::*;
use burn::tensor::FloatDType;
use std::cell::Cell;

/// The number format of an inference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    /// IEEE half: 10-bit mantissa, range ±65,504.
    F16,
    /// bfloat16: f32's range, 7-bit mantissa.
    Bf16,
}

/// Convolutions with fewer channels in or out run in f32 whatever the precision.
pub const REDUCED_MIN_CHANNELS: usize = 16;

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::F32) };
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Bf16];

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// One line for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            Precision::F32 => "single precision (the default)",
            Precision::F16 => "feature-map convolutions read f16 weights and activations, f32 accumulation",
            Precision::Bf16 => "feature-map convolutions read bf16 weights and activations, f32 accumulation",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Bicubic interpolation has no network to run in a reduced format: only f32 suits it.
    pub fn for_bicubic(self) -> Result<(), String> {
        match self {
            Precision::F32 => Ok(()),
            _ => Err(format!("precision {self} applies to networks; bicubic has none to run")),
        }
    }

    /// Whether the format runs by rounding f32 data on this CPU (f16 everywhere, bf16 without
    /// AMX or AVX512-BF16): the format's results at f32's speed.
    pub fn emulated(self) -> bool {
        match self {
            Precision::F32 => false,
            Precision::F16 => true,
            Precision::Bf16 => !bf16_gemm::available(),
        }
    }

    /// What a user should know before running in this format, if anything.
    pub fn notice(self) -> Option<String> {
        let emulated = |why: &str| Some(format!("{self}: emulated (f32 data rounded to {self}, f32 accumulation): the format's results at f32's speed; {why}"));
        match (self, bf16_gemm::kernel()) {
            (Precision::F32, _) => None,
            (Precision::F16, _) => emulated("sisr has no f16 kernel with f32 accumulation (AVX512-FP16 accumulates in f16)"),
            (Precision::Bf16, Some(kernel)) => Some(format!("bf16: native {} kernels (bf16 weights and activations, f32 accumulation)", kernel.name())),
            (Precision::Bf16, None) => emulated("this CPU has neither AMX nor AVX512-BF16"),
        }
    }

    /// `v` rounded to this format (round to nearest even), in f32.
    pub(crate) fn round(self, v: f32) -> f32 {
        match self {
            Precision::F32 => v,
            Precision::F16 => half::f16::from_f32(v).to_f32(),
            Precision::Bf16 => half::bf16::from_f32(v).to_f32(),
        }
    }

    /// Every value of `values` rounded to this format.
    pub(crate) fn round_all(self, values: &mut [f32]) {
        if self != Precision::F32 {
            values.iter_mut().for_each(|v| *v = self.round(*v));
        }
    }

    fn dtype(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::F16 => Some(FloatDType::F16),
            Precision::Bf16 => Some(FloatDType::BF16),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `f` with this thread's convolutions in `precision` (restored afterwards, also on unwind).
pub(crate) fn run_in<R>(precision: Precision, f: impl FnOnce() -> R) -> R {
    struct Restore(Precision);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(precision)));
    f()
}

/// How the matrix products of a convolution read their operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operands {
    F32,
    /// Rounded to the format in f32 storage, products and sums in f32.
    Rounded(Precision),
    /// On sisr's bf16 kernels (AMX or AVX512-BF16): the roundings of `Rounded(Bf16)`, sums in
    /// another order.
    NativeBf16,
}

/// How this thread's current precision runs a convolution of `cin` → `cout` channels.
pub(crate) fn operands_for(cin: usize, cout: usize) -> Operands {
    match CURRENT.with(Cell::get) {
        Precision::F32 => Operands::F32,
        _ if cin.min(cout) < REDUCED_MIN_CHANNELS => Operands::F32,
        Precision::Bf16 if bf16_gemm::available() => Operands::NativeBf16,
        p => Operands::Rounded(p),
    }
}

/// A convolution's input and weight as the current precision reads them on LibTorch: rounded
/// to the reduced format (round to nearest even) and back to f32 when both channel counts are
/// [`REDUCED_MIN_CHANNELS`] or more; unchanged otherwise, and on flex, whose kernels round
/// their own operands ([`operands_for`]).
pub(crate) fn conv_operands(x: Tensor<4>, weight: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [cout, cin, _, _] = weight.dims();
    if x.device().inner() == Device::flex() {
        return (x, weight);
    }
    match CURRENT.with(Cell::get).dtype() {
        Some(dtype) if cin.min(cout) >= REDUCED_MIN_CHANNELS => {
            let round = |t: Tensor<4>| t.cast(dtype).cast(FloatDType::F32);
            (round(x), round(weight))
        }
        _ => (x, weight),
    }
}
