//! Host kernels for the networks' element-wise activations, each one pass forward and one pass
//! backward (burn composes ELU from five element-wise operations and PReLU from three, each a
//! pass over the tensor and most with a mask in the backward). f32, parallel over fixed chunks,
//! each a loop at the CPU's vector width (`vector::widest!`). Forward, they run in place on a
//! tensor they hold alone, and in inference inside the convolution that produces their input
//! ([`Activation`]).

use super::vector::widest;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// An element-wise kernel: `out` from the element pairs of two slices and one parameter.
type PairKernel = fn(&mut [MaybeUninit<f32>], &[f32], &[f32], f32);

/// `kernel(out, a, b, parameter)` over parallel chunks of the element pairs. `out` is left
/// uninitialised: the kernel writes every element, so zero-filling would be one more pass.
fn zip_map(a: &[f32], b: &[f32], parameter: f32, kernel: PairKernel) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "element-wise operands differ in size");
    let mut out = Vec::with_capacity(a.len());
    out.spare_capacity_mut()[..a.len()]
        .par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| kernel(o, a, b, parameter));
    // SAFETY: the chunks cover the first a.len() elements, and the kernel wrote each.
    unsafe { out.set_len(a.len()) };
    out
}

/// `out[i] = f(a[i], b[i])` as a plain indexed loop (slices cut to one length, `f` inlined),
/// which vectorizes. `f`'s captures should be copies: a capture by reference may alias the
/// output, which keeps the loop from vectorizing.
#[inline(always)]
fn map_pairs(out: &mut [MaybeUninit<f32>], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    let (a, b) = (&a[..out.len()], &b[..out.len()]);
    for i in 0..out.len() {
        out[i].write(f(a[i], b[i]));
    }
}

/// eˣ for x ≤ 0, within 2·10⁻⁷ relative (0 below −87): x = n·ln 2 + r with |r| ≤ ln 2 / 2,
/// eʳ by its degree-7 Taylor polynomial, 2ⁿ through the exponent bits. Branch-free, so that
/// loops over it vectorize, unlike calls to libm's `expf`, which took a sixth of a DRN
/// training step.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and removing 1.5·2²³ rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    // max/min rather than clamp: clamp keeps NaN, which the unchecked conversion below must
    // never see; here NaN becomes −87, and `elu` passes NaN through itself. Together with the
    // unchecked conversion (n is within ±126) this keeps the function branch-free.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.0).min(0.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // SAFETY: n is an integer in [−126, 0], representable as i32.
    let n = unsafe { n.to_int_unchecked::<i32>() };
    f32::from_bits(((n + 127) as u32) << 23) * p
}

/// ELU_α(x) = x for x > 0, α(eˣ − 1) otherwise.
pub fn elu(x: &[f32], alpha: f32) -> Vec<f32> {
    zip_map(x, x, alpha, elu_chunk)
}

widest! {
    fn elu_chunk(out: &mut [MaybeUninit<f32>], x: &[f32], _same: &[f32], alpha: f32) = elu_chunk_generic;
}

#[inline(always)]
fn elu_chunk_generic(out: &mut [MaybeUninit<f32>], x: &[f32], _same: &[f32], alpha: f32) {
    map_pairs(out, x, x, |v, _| elu_value(v, alpha))
}

#[inline(always)]
fn elu_value(v: f32, alpha: f32) -> f32 {
    // Both sides computed, then selected: no branch in the loop. NaN stays NaN.
    let negative = alpha * (exp_nonpositive(v) - 1.0);
    if v > 0.0 || v.is_nan() { v } else { negative }
}

widest! {
    fn elu_in_place(values: &mut [f32], alpha: f32) = elu_in_place_generic;
}

#[inline(always)]
fn elu_in_place_generic(values: &mut [f32], alpha: f32) {
    values.iter_mut().for_each(|v| *v = elu_value(*v, alpha));
}

/// [`elu`] of `values` in place, over parallel chunks.
pub(crate) fn elu_all_in_place(values: &mut [f32], alpha: f32) {
    values.par_chunks_mut(CHUNK).for_each(|chunk| elu_in_place(chunk, alpha));
}

/// An activation run by the convolution whose output it reads, on each piece of that output
/// while the piece is still in cache (`ops::conv2d_same_elu`, `ops::conv2d_same_prelu`): the
/// values of a separate pass, without its trip through memory.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Activation<'a> {
    Identity,
    Elu(f32),
    /// One slope per channel, or one for all.
    Prelu(&'a [f32]),
}

impl Activation<'_> {
    /// The activation of `values`, outputs of channel `channel`, in place.
    pub(crate) fn apply(self, channel: usize, values: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Elu(alpha) => elu_in_place(values, alpha),
            Activation::Prelu(slopes) => prelu_in_place(values, slope_of(slopes, channel)),
        }
    }

    /// [`Activation::apply`] compiled into its caller, at the caller's vector width: for
    /// pieces a few vectors long, whose calls through the CPU dispatch (one per piece) took
    /// longer than the work (8% of a DCSCN 720p bf16 forward).
    #[inline(always)]
    pub(crate) fn apply_inline(self, channel: usize, values: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Elu(alpha) => elu_in_place_generic(values, alpha),
            Activation::Prelu(slopes) => prelu_in_place_generic(values, slope_of(slopes, channel)),
        }
    }
}

/// PReLU's slope for `channel`: its own, or the one all channels share.
fn slope_of(slopes: &[f32], channel: usize) -> f32 {
    if slopes.len() == 1 { slopes[0] } else { slopes[channel] }
}

/// ELU's input gradient from its output `y`: 1 where y > 0 (x > 0), else y + α (= α eˣ).
pub fn elu_grad(y: &[f32], grad: &[f32], alpha: f32) -> Vec<f32> {
    zip_map(y, grad, alpha, elu_grad_chunk)
}

widest! {
    fn elu_grad_chunk(out: &mut [MaybeUninit<f32>], y: &[f32], grad: &[f32], alpha: f32) = elu_grad_chunk_generic;
}

#[inline(always)]
fn elu_grad_chunk_generic(out: &mut [MaybeUninit<f32>], y: &[f32], grad: &[f32], alpha: f32) {
    map_pairs(out, y, grad, |y, g| if y > 0.0 { g } else { g * (y + alpha) })
}

/// The shape PReLU sees: `x` is [batch, channels, plane…]; `alpha` holds one slope per channel,
/// or one for all.
#[derive(Clone, Copy, Debug)]
pub struct PreluShape {
    pub channels: usize,
    /// Elements per channel of one image (H·W).
    pub plane: usize,
}

impl PreluShape {
    /// [`PreluShape::forward`] in place.
    pub fn forward_in_place(&self, x: &mut [f32], alpha: &[f32]) {
        x.par_chunks_mut(self.plane).enumerate().for_each(|(i, x)| prelu_in_place(x, slope_of(alpha, i % self.channels)));
    }

    /// PReLU(x) = x for x > 0, a·x otherwise.
    pub fn forward(&self, x: &[f32], alpha: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len());
        out.spare_capacity_mut()[..x.len()]
            .par_chunks_mut(self.plane)
            .zip(x.par_chunks(self.plane))
            .enumerate()
            .for_each(|(i, (o, x))| prelu_chunk(o, x, x, slope_of(alpha, i % self.channels)));
        // SAFETY: the planes cover the first x.len() elements, and each was written.
        unsafe { out.set_len(x.len()) };
        out
    }

    /// Gradients with respect to the input and to the slopes (Σ grad·x over x ≤ 0, per slope,
    /// summed in f64 in a fixed order).
    pub fn backward(&self, x: &[f32], alpha: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
        assert_eq!(x.len(), grad.len(), "PReLU gradient size");
        let mut dx = Vec::with_capacity(x.len());
        let partials: Vec<f64> = dx.spare_capacity_mut()[..x.len()]
            .par_chunks_mut(self.plane)
            .zip(x.par_chunks(self.plane).zip(grad.par_chunks(self.plane)))
            .enumerate()
            .map(|(i, (d, (x, g)))| {
                let mut slope_grad = 0f64;
                prelu_grad_chunk(d, x, g, slope_of(alpha, i % self.channels), &mut slope_grad);
                slope_grad
            })
            .collect();
        // SAFETY: the planes cover the first x.len() elements, and each was written.
        unsafe { dx.set_len(x.len()) };
        let mut dalpha = vec![0f64; alpha.len()];
        for (i, p) in partials.iter().enumerate() {
            dalpha[if alpha.len() == 1 { 0 } else { i % self.channels }] += p;
        }
        (dx, dalpha.into_iter().map(|v| v as f32).collect())
    }
}

/// f64 lanes of the slope gradient's sum: one AVX-512 vector.
const SUM_LANES: usize = 8;

widest! {
    fn prelu_grad_chunk(dx: &mut [MaybeUninit<f32>], x: &[f32], grad: &[f32], slope: f32, slope_grad: &mut f64) = prelu_grad_chunk_generic;
}

/// dx = grad where x > 0, slope·grad elsewhere; `slope_grad` = Σ grad·x over x ≤ 0, in
/// [`SUM_LANES`] f64 lanes summed at the end (a fixed order that vectorizes, where one running
/// sum would not).
#[inline(always)]
fn prelu_grad_chunk_generic(dx: &mut [MaybeUninit<f32>], x: &[f32], grad: &[f32], slope: f32, slope_grad: &mut f64) {
    let (x, grad) = (&x[..dx.len()], &grad[..dx.len()]);
    let step = |d: &mut MaybeUninit<f32>, v: f32, g: f32| {
        let positive = v > 0.0;
        d.write(if positive { g } else { slope * g });
        if positive { 0.0 } else { f64::from(g * v) }
    };
    let mut lanes = [0f64; SUM_LANES];
    let (dx_chunks, dx_tail) = dx.as_chunks_mut::<SUM_LANES>();
    let ((x_chunks, x_tail), (g_chunks, g_tail)) = (x.as_chunks::<SUM_LANES>(), grad.as_chunks::<SUM_LANES>());
    for ((d, v), g) in dx_chunks.iter_mut().zip(x_chunks).zip(g_chunks) {
        for l in 0..SUM_LANES {
            lanes[l] += step(&mut d[l], v[l], g[l]);
        }
    }
    let tail: f64 = dx_tail.iter_mut().zip(x_tail).zip(g_tail).map(|((d, &v), &g)| step(d, v, g)).sum();
    *slope_grad = lanes.iter().sum::<f64>() + tail;
}

widest! {
    fn prelu_chunk(out: &mut [MaybeUninit<f32>], x: &[f32], _same: &[f32], slope: f32) = prelu_chunk_generic;
}

#[inline(always)]
fn prelu_chunk_generic(out: &mut [MaybeUninit<f32>], x: &[f32], _same: &[f32], slope: f32) {
    map_pairs(out, x, x, |v, _| prelu_value(v, slope))
}

#[inline(always)]
fn prelu_value(v: f32, slope: f32) -> f32 {
    if v > 0.0 { v } else { slope * v }
}

widest! {
    fn prelu_in_place(values: &mut [f32], slope: f32) = prelu_in_place_generic;
}

#[inline(always)]
fn prelu_in_place_generic(values: &mut [f32], slope: f32) {
    values.iter_mut().for_each(|v| *v = prelu_value(*v, slope));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-3 * (1.0 + b.abs())
    }

    #[test]
    fn exp_is_accurate_over_the_nonpositive_range() {
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let (got, want) = (f64::from(exp_nonpositive(x)), f64::from(x).exp());
            assert!((got - want).abs() <= 2e-7 * want, "exp({x}) = {got}, want {want}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(elu(&[f32::NAN], 0.2)[0].is_nan());
        assert_eq!(elu(&[f32::NEG_INFINITY], 0.5)[0], -0.5);
        assert!(exp_nonpositive(-1000.0) < 1e-37);
    }

    #[test]
    fn elu_and_its_gradient_follow_the_definition() {
        let x: Vec<f32> = (-40..40).map(|i| i as f32 * 0.25).collect();
        let alpha = 0.2;
        let y = elu(&x, alpha);
        let ones = vec![1f32; x.len()];
        let g = elu_grad(&y, &ones, alpha);
        for ((&x, &y), &g) in x.iter().zip(&y).zip(&g) {
            let (ey, eg) = if x > 0.0 { (x, 1.0) } else { (alpha * (x.exp() - 1.0), alpha * x.exp()) };
            assert!(close(y, ey) && close(g, eg), "x {x}: y {y} vs {ey}, dy/dx {g} vs {eg}");
        }
    }

    #[test]
    fn prelu_and_its_gradients_follow_the_definition() {
        // [2 images, 3 channels, 4 pixels], per-channel and shared slopes.
        let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let g: Vec<f32> = (0..24).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let s = PreluShape { channels: 3, plane: 4 };
        for alpha in [vec![0.1f32, -0.5, 2.0], vec![0.25]] {
            let slope = |i: usize| if alpha.len() == 1 { alpha[0] } else { alpha[(i / 4) % 3] };
            let y = s.forward(&x, &alpha);
            let (dx, da) = s.backward(&x, &alpha, &g);
            let mut expected_da = vec![0f32; alpha.len()];
            for i in 0..24 {
                let a = slope(i);
                assert_eq!(y[i], if x[i] > 0.0 { x[i] } else { a * x[i] });
                assert_eq!(dx[i], if x[i] > 0.0 { g[i] } else { a * g[i] });
                if x[i] <= 0.0 {
                    expected_da[if alpha.len() == 1 { 0 } else { (i / 4) % 3 }] += g[i] * x[i];
                }
            }
            assert_eq!(da, expected_da);
        }
        // Planes long enough for the vector loops, and a tail.
        let (channels, plane) = (2, 8 * 13 + 5);
        let x: Vec<f32> = (0..2 * channels * plane).map(|i| ((i * 37) % 101) as f32 / 10.0 - 5.0).collect();
        let g: Vec<f32> = (0..x.len()).map(|i| ((i * 11) % 23) as f32 / 7.0 - 1.5).collect();
        let alpha = [0.3f32, -1.25];
        let (dx, da) = PreluShape { channels, plane }.backward(&x, &alpha, &g);
        let mut expected_da = [0f64; 2];
        for i in 0..x.len() {
            let c = (i / plane) % channels;
            assert_eq!(dx[i], if x[i] > 0.0 { g[i] } else { alpha[c] * g[i] }, "dx[{i}]");
            if x[i] <= 0.0 {
                expected_da[c] += f64::from(g[i] * x[i]);
            }
        }
        for c in 0..channels {
            assert!((f64::from(da[c]) - expected_da[c]).abs() <= 1e-6 * expected_da[c].abs(), "slope {c}: {} vs {}", da[c], expected_da[c]);
        }
    }
}
