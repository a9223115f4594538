//! Reduced-precision inference (`--precision`): the convolutions between feature maps read
//! their weights and input activations rounded to f16 or bf16 and accumulate in f32, as a
//! reduced-precision kernel (AVX512-FP16, AVX512-BF16/AMX) or PyTorch's autocast does. What
//! the accuracy needs stays f32: the convolutions that read or write the image (fewer than 16
//! channels in or out: feature extraction and reconstruction), skip connections, activations,
//! attention and upsampling.
//!
//! sisr has no native reduced-precision kernels yet: the rounding is applied to f32 data
//! ([`Precision::emulated`]), so the results are the format's and the speed is f32's.

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

    /// Whether this CPU has instructions for the format (AVX512-FP16 for f16, AVX512-BF16
    /// for bf16); f32 always.
    pub fn cpu_has_instructions(self) -> bool {
        match self {
            Precision::F32 => true,
            #[cfg(target_arch = "x86_64")]
            Precision::F16 => std::arch::is_x86_feature_detected!("avx512fp16"),
            #[cfg(target_arch = "x86_64")]
            Precision::Bf16 => std::arch::is_x86_feature_detected!("avx512bf16"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Bicubic interpolation has no network to run in a reduced format: only f32 suits it.
    pub fn for_bicubic(self) -> Result<(), String> {
        match self {
            Precision::F32 => Ok(()),
            _ => Err(format!("precision {self} applies to networks; bicubic has none to run")),
        }
    }

    /// Whether the format runs by rounding f32 data (every reduced format in this build): the
    /// format's results at f32's speed.
    pub fn emulated(self) -> bool {
        self != Precision::F32
    }

    /// What a user should know before running in this format, if anything.
    pub fn notice(self) -> Option<String> {
        self.emulated().then(|| {
            let cpu = if self.cpu_has_instructions() { "this CPU has" } else { "this CPU lacks" };
            let instructions = if self == Precision::F16 { "AVX512-FP16" } else { "AVX512-BF16" };
            format!(
                "{}: emulated (f32 data rounded to {0}, f32 accumulation): the format's results at f32's speed; sisr has no native {0} kernels yet ({cpu} {instructions})",
                self.name()
            )
        })
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

/// A convolution's input and weight as the current precision reads them: rounded to the
/// reduced format (round to nearest even) and back to f32 when both channel counts are
/// [`REDUCED_MIN_CHANNELS`] or more; unchanged otherwise.
pub(crate) fn conv_operands(x: Tensor<4>, weight: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [cout, cin, _, _] = weight.dims();
    match CURRENT.with(Cell::get).dtype() {
        Some(dtype) if cin.min(cout) >= REDUCED_MIN_CHANNELS => {
            let round = |t: Tensor<4>| t.cast(dtype).cast(FloatDType::F32);
            (round(x), round(weight))
        }
        _ => (x, weight),
    }
}
