//! Building blocks shared by the networks: convolutions with the papers' initialisations,
//! PReLU/ELU convolutions, pixel-shuffle upsamplers, channel and spatial attention, MeanShift.

use crate::complexity::Cost;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PRelu, PReluConfig, PaddingConfig2d, PixelShuffle, PixelShuffleConfig};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::{relu, sigmoid};

/// Weight initialisation schemes used by the papers (biases always start at zero except
/// in `PyTorchDefault`, which mirrors `nn.Conv2d`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// He / MSRA normal, std √(2 / fan_in), bias 0 (DCSCN, GLRL).
    HeNormal,
    /// PyTorch's default conv init: U(±1/√fan_in) for weight and bias (EDSR/RCAN code).
    PyTorchDefault,
}

/// A `k`×`k` convolution, stride 1, "same" zero padding.
pub fn conv(device: &Device, cin: usize, cout: usize, k: usize, bias: bool, init: Init) -> Conv2d {
    let p = k / 2;
    let initializer = match init {
        Init::HeNormal => Initializer::KaimingNormal { gain: 2f64.sqrt(), fan_out_only: false },
        Init::PyTorchDefault => Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false },
    };
    let mut c =
        Conv2dConfig::new([cin, cout], [k, k]).with_padding(PaddingConfig2d::Explicit(p, p, p, p)).with_bias(bias).with_initializer(initializer).init(device);
    if init == Init::HeNormal && bias {
        // A new parameter (not a mapped one) so that it is a tracked leaf on autodiff devices.
        c.bias = Some(Initializer::Zeros.init([cout], device));
    }
    c
}

/// `c` with weight and bias at zero (a layer that starts silent). It keeps `c`'s random draw, so
/// the layers built after it get the same random numbers whether or not it is zeroed.
pub fn zeroed(mut c: Conv2d) -> Conv2d {
    let device = c.weight.device();
    c.weight = Initializer::Zeros.init(c.weight.shape(), &device);
    c.bias = c.bias.map(|b| Initializer::Zeros.init(b.shape(), &device));
    c
}

/// A layer run on sisr's operations (`crate::ops`): burn's `self.conv.forward(x)` idiom under
/// another name, since burn's own `forward` would bypass them.
pub trait Apply {
    fn apply(&self, x: Tensor<4>) -> Tensor<4>;
}

/// Stride-1 "same" convolutions (every convolution of these networks) run on sisr's
/// operations, forward and backward: host kernels on flex, ATen's on LibTorch; anything else,
/// and every other backend, goes through burn's `Conv2d`.
impl Apply for Conv2d {
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        if !on_sisr_ops(self, &x) {
            return self.forward(x);
        }
        let (x, weight, bias) = same_conv_operands(self, x);
        crate::ops::conv2d_same(x, weight, bias)
    }
}

/// `elu(c.apply(x), alpha)`; on sisr's operations one call, which runs the activation on the
/// convolution's output as it is written (without tracked gradients).
pub fn conv_elu(c: &Conv2d, x: Tensor<4>, alpha: f64) -> Tensor<4> {
    if !on_sisr_ops(c, &x) {
        return elu(c.forward(x), alpha);
    }
    let (x, weight, bias) = same_conv_operands(c, x);
    crate::ops::conv2d_same_elu(x, weight, bias, alpha)
}

/// `prelu.apply(c.apply(x))`, as [`conv_elu`].
pub fn conv_prelu(c: &Conv2d, prelu: &PRelu, x: Tensor<4>) -> Tensor<4> {
    if !on_sisr_ops(c, &x) {
        return prelu.apply(c.forward(x));
    }
    let (x, weight, bias) = same_conv_operands(c, x);
    crate::ops::conv2d_same_prelu(x, weight, bias, prelu.alpha.val())
}

/// `(conv_prelu(a.0, a.1, x), conv_prelu(b.0, b.1, x))`. In inference on sisr's operations,
/// with kernels of one size, as one convolution of `x` with both weights: the input is read,
/// and for bf16 converted, once instead of twice. Training keeps the two apart.
pub fn conv_prelu_pair(a: (&Conv2d, &PRelu), b: (&Conv2d, &PRelu), x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let tracked = x.device().is_autodiff();
    if tracked || a.0.kernel_size != b.0.kernel_size || !on_sisr_ops(a.0, &x) || !on_sisr_ops(b.0, &x) {
        return (conv_prelu(a.0, a.1, x.clone()), conv_prelu(b.0, b.1, x));
    }
    let (ca, cb) = (a.0.weight.val().dims()[0], b.0.weight.val().dims()[0]);
    // One slope per output channel, also where a layer shares one.
    let slopes = |p: &PRelu, channels: usize| {
        let alpha = p.alpha.val();
        if alpha.dims()[0] == channels { alpha } else { alpha.expand([channels]) }
    };
    let bias = Tensor::cat(vec![bias_of(a.0, &x.device()), bias_of(b.0, &x.device())], 0);
    // The input is rounded (on LibTorch in reduced precision) once, with the joint weight.
    let (x, weight) = crate::precision::conv_operands(x, Tensor::cat(vec![a.0.weight.val(), b.0.weight.val()], 0));
    let y = crate::ops::conv2d_same_prelu(x, weight, bias, Tensor::cat(vec![slopes(a.1, ca), slopes(b.1, cb)], 0));
    (y.clone().narrow(1, 0, ca), y.narrow(1, ca, cb))
}

/// Whether `c` applied to `x` runs on sisr's `conv2d_same`: `c` is a stride-1 "same"
/// convolution and `x` takes sisr's operations.
fn on_sisr_ops(c: &Conv2d, x: &Tensor<4>) -> bool {
    let [k, kw] = c.kernel_size;
    let p = k / 2;
    let same = k == kw && k % 2 == 1 && c.stride == [1, 1] && c.dilation == [1, 1] && c.groups == 1 && c.padding == PaddingConfig2d::Explicit(p, p, p, p);
    same && has_sisr_ops(x)
}

/// The operands of sisr's `conv2d_same` for `c` applied to `x`: the input and weight as the
/// current precision reads them, and the bias.
fn same_conv_operands(c: &Conv2d, x: Tensor<4>) -> (Tensor<4>, Tensor<4>, Tensor<1>) {
    let bias = bias_of(c, &x.device());
    let (x, weight) = crate::precision::conv_operands(x, c.weight.val());
    (x, weight, bias)
}

/// The bias of `c`, zeros where it has none.
fn bias_of(c: &Conv2d, device: &Device) -> Tensor<1> {
    match &c.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([c.weight.val().dims()[0]], device),
    }
}

/// On flex and LibTorch one kernel each way.
impl Apply for PRelu {
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        if has_sisr_ops(&x) { crate::ops::prelu(x, self.alpha.val()) } else { self.forward(x) }
    }
}

/// On flex and LibTorch one kernel each way.
impl Apply for PixelShuffle {
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        if has_sisr_ops(&x) { crate::ops::pixel_shuffle(x, self.upscale_factor) } else { self.forward(x) }
    }
}

/// Whether `x` takes sisr's operations (`crate::ops`): f32 on flex or LibTorch, plain or
/// autodiff.
fn has_sisr_ops<const D: usize>(x: &Tensor<D>) -> bool {
    let device = x.device().inner();
    #[cfg(feature = "tch")]
    let libtorch = matches!(device.as_dispatch(), burn::backend::DispatchDevice::LibTorch(_));
    #[cfg(not(feature = "tch"))]
    let libtorch = false;
    x.dtype() == DType::F32 && (device == Device::flex() || libtorch)
}

pub fn prelu(device: &Device, channels: usize, init: f64) -> PRelu {
    PReluConfig::new().with_num_parameters(channels).with_alpha(init).init(device)
}

/// Counts a convolution applied on a grid `grid` times the LR pixel count.
pub fn count_conv(cost: &mut Cost, c: &Conv2d, grid: usize, activation: bool) {
    let [cout, cin, kh, kw] = c.weight.lazy_shape().dims();
    cost.conv(kh * kw * cin * cout, if c.bias.is_some() { cout } else { 0 }, if activation { cout } else { 0 }, grid);
}

/// EDSR/RCAN `common.Upsampler` without activation: ×2 and ×3 one conv + pixel shuffle,
/// ×4 two ×2 stages (`two_step_x4`), or a single conv to C·s² + PS(s) for any s (DRN Table 1).
#[derive(Module, Debug)]
pub struct Upsampler {
    stages: Vec<(Conv2d, PixelShuffle)>,
}

impl Upsampler {
    pub fn new(device: &Device, channels: usize, scale: usize, two_step_x4: bool, init: Init) -> Self {
        let factors: Vec<usize> = if scale == 4 && two_step_x4 { vec![2, 2] } else { vec![scale] };
        let stages = factors.into_iter().map(|r| (conv(device, channels, channels * r * r, 3, true, init), PixelShuffleConfig::new(r).init())).collect();
        Upsampler { stages }
    }

    /// `[N, C, H, W] -> [N, C, sH, sW]`
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for (c, ps) in &self.stages {
            x = ps.apply(c.apply(x));
        }
        x
    }

    pub fn count(&self, cost: &mut Cost) {
        let mut grid = 1;
        for (c, ps) in &self.stages {
            count_conv(cost, c, grid, false);
            grid *= ps.upscale_factor * ps.upscale_factor;
        }
    }
}

/// Pooling of the channel-attention descriptor (DRFN ambiguity D3).
#[derive(Config, Debug, Copy, PartialEq)]
pub enum CamPool {
    /// RCAN `CALayer`: global average pooling only.
    Avg,
    /// CBAM `ChannelGate`: average and max pooling through the shared MLP, summed.
    AvgMax,
}

/// Channel attention (RCAN CALayer): σ(conv1(C/r→C)(ReLU(conv1(C→C/r)(pool(x))))).
#[derive(Module, Debug)]
pub struct ChannelAttention {
    down: Conv2d,
    up: Conv2d,
    #[module(skip)]
    pool: CamPool,
}

impl ChannelAttention {
    pub fn new(device: &Device, channels: usize, reduction: usize, pool: CamPool, init: Init) -> Self {
        let mid = channels / reduction;
        ChannelAttention { down: conv(device, channels, mid, 1, true, init), up: conv(device, mid, channels, 1, true, init), pool }
    }

    fn mlp(&self, d: Tensor<4>) -> Tensor<4> {
        self.up.apply(relu(self.down.apply(d)))
    }

    /// `[N, C, H, W] -> [N, C, 1, 1]` weights in (0, 1).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let avg = x.clone().mean_dim(2).mean_dim(3);
        let logits = match self.pool {
            CamPool::Avg => self.mlp(avg),
            CamPool::AvgMax => self.mlp(avg) + self.mlp(x.max_dim(2).max_dim(3)),
        };
        sigmoid(logits)
    }

    pub fn count(&self, cost: &mut Cost) {
        // The MLP runs once per image, not per pixel: it adds parameters, no per-pixel MACs.
        let _ = cost;
    }
}

/// Spatial attention (CBAM SpatialGate, with bias and no BN): σ(conv_k(2→1)([max_c x; mean_c x])).
#[derive(Module, Debug)]
pub struct SpatialAttention {
    conv: Conv2d,
}

impl SpatialAttention {
    pub fn new(device: &Device, kernel: usize, init: Init) -> Self {
        SpatialAttention { conv: conv(device, 2, 1, kernel, true, init) }
    }

    /// `[N, C, H, W] -> [N, 1, H, W]` weights in (0, 1).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = Tensor::cat(vec![x.clone().max_dim(1), x.mean_dim(1)], 1);
        sigmoid(self.conv.apply(pooled))
    }

    pub fn count(&self, cost: &mut Cost, grid: usize) {
        // The sigmoid counts as the conv's activation (SPEC §2).
        count_conv(cost, &self.conv, grid, true);
    }
}

/// ELU_α(x) = x for x > 0, α(eˣ − 1) otherwise, written so that neither the value nor the
/// gradient overflows for large positive x (eˣ is only taken of min(x, 0)).
/// On flex and LibTorch through sisr's operations (`crate::ops`).
pub fn elu(x: Tensor<4>, alpha: f64) -> Tensor<4> {
    if has_sisr_ops(&x) {
        return crate::ops::elu(x, alpha);
    }
    x.clone().clamp_min(0.0) + x.clamp_max(0.0).exp().sub_scalar(1.0).mul_scalar(alpha)
}

/// EDSR/RCAN MeanShift: subtracts (input) or adds (output) `rgb_range · mean` per channel.
/// Fixed, not a parameter.
pub fn mean_shift(x: Tensor<4>, rgb_range: f64, sign: f64) -> Tensor<4> {
    const DIV2K_MEAN: [f32; 3] = [0.4488, 0.4371, 0.4040];
    let shift: Vec<f32> = DIV2K_MEAN.iter().map(|m| (sign * rgb_range) as f32 * m).collect();
    let shift = Tensor::<1>::from_data(TensorData::new(shift, [3]), &x.device()).reshape([1, 3, 1, 1]);
    x + shift
}

/// Inverted dropout (kept values scaled by 1/keep) in training, identity otherwise.
///
/// Same semantics as burn's `Dropout`. On the CPU (flex, LibTorch's CPU device) the mask is
/// drawn here in parallel, in fixed-size chunks, already scaled: burn's draws it element by
/// element on one thread and scales in a second pass, which took about a sixth of a DCSCN
/// training step on flex and a tenth on LibTorch (whose Bernoulli kernel is serial on non-Intel
/// CPUs). The chunks' seed comes from the device's generator, so `Device::seed` still fixes
/// every mask (exact resume) whatever the thread count. GPUs draw the mask where the tensor
/// lives, as burn does.
#[derive(Module, Debug)]
pub struct Dropout {
    pub keep: f64,
}

impl Dropout {
    pub fn new(keep: f64) -> Self {
        assert!(keep > 0.0 && keep <= 1.0, "dropout keep probability {keep} is outside (0, 1]");
        Dropout { keep }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        // Only a device that can run a backward pass trains: `Network::valid` drops autodiff.
        if self.keep >= 1.0 || !x.device().is_autodiff() {
            return x;
        }
        let device = x.device();
        if !on_cpu(&device) {
            return burn::nn::DropoutConfig::new(1.0 - self.keep).init().forward(x);
        }
        let seed_bits: Vec<f32> = Tensor::<1>::random([2], burn::tensor::Distribution::Default, &device).try_into_vec_as::<f32>().expect("f32 seed");
        let seed = (u64::from(seed_bits[0].to_bits()) << 32) | u64::from(seed_bits[1].to_bits());
        let shape = x.shape();
        let mask = dropout_mask(shape.num_elements(), self.keep, seed);
        x * Tensor::from_data(TensorData::new(mask, shape), &device)
    }
}

/// Whether `device` computes in this process's memory: flex, or LibTorch's CPU device.
fn on_cpu(device: &Device) -> bool {
    let device = device.clone().inner();
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn marks its LibTorch backend deprecated
    let libtorch_cpu = device == Device::libtorch();
    #[cfg(not(feature = "tch"))]
    let libtorch_cpu = false;
    device == Device::flex() || libtorch_cpu
}

/// `n` values, each 1/keep with probability `keep` and 0 otherwise, from `seed` alone.
fn dropout_mask(n: usize, keep: f64, seed: u64) -> Vec<f32> {
    use rand::{RngCore, SeedableRng};
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0f32; n];
    mask.par_chunks_mut(CHUNK).enumerate().for_each(|(i, chunk)| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(i as u64);
        for v in chunk {
            if u64::from(rng.next_u32()) < threshold {
                *v = scale;
            }
        }
    });
    mask
}

#[cfg(test)]
mod tests {
    use super::dropout_mask;

    #[test]
    fn dropout_masks_keep_the_asked_share_and_depend_on_the_seed_alone() {
        let a = dropout_mask(100_000, 0.8, 7);
        let kept = a.iter().filter(|&&v| v != 0.0).count();
        assert!((79_000..81_000).contains(&kept), "{kept} kept of 100000");
        assert!(a.iter().all(|&v| v == 0.0 || v == 1.25));
        assert_eq!(a, dropout_mask(100_000, 0.8, 7));
        assert_ne!(a, dropout_mask(100_000, 0.8, 8));
        // Chunks draw different streams, so no chunk repeats the first.
        assert_ne!(a[..1 << 14], a[1 << 14..2 << 14]);
    }
}
