//! Host kernels for the networks' one convolution shape: stride 1, dilation 1, one group,
//! odd square kernel, (k − 1)/2 zero padding, f32, NCHW.
//!
//! Why sisr has its own: burn-flex's general convolution converts every input to NHWC on one
//! thread and runs a small GEMM per 512-pixel tile with fresh buffers; its backward goes through
//! a transposed convolution of the same kind. Here each work unit is a band of output rows of one
//! image: its im2col matrix is built straight from NCHW rows (shifted row copies, reused
//! per-thread buffers) and one GEMM writes the band into the NCHW output. The backward reuses
//! the same pieces: the input gradient is this convolution of the output gradient with the
//! flipped, transposed kernel (exact for "same" padding), and the weight gradient sums
//! per-band GEMMs in a fixed order, so results do not depend on the thread count.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;
use std::cell::RefCell;

/// The shape of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SameConv {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub height: usize,
    pub width: usize,
    /// Kernel side (odd).
    pub k: usize,
}

/// Output pixels per work unit: large enough for an efficient GEMM, small enough that an image
/// splits into several units and an im2col band stays near the cache (1024 × 864, DCSCN's
/// widest, is 3.4 MiB). 1024 ran DRFN x4 inference ~15% and DCSCN 256² inference ~20% faster
/// than 2048 (interleaved `sisr bench` runs of both builds).
const BAND_PIXELS: usize = 1024;

/// Fixed number of partial weight-gradient sums, so that their order (and the rounding) is the
/// same whatever the thread count.
const WEIGHT_GRAD_PARTIALS: usize = 16;

thread_local! {
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A raw output pointer shared by work units that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: every unit writes only its own band of rows (disjoint element ranges), and the
// buffer outlives the parallel loop that uses the pointer.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer moved `offset` elements on. A method, so that closures capture the whole
    /// `Send` wrapper rather than its raw-pointer field.
    ///
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

impl SameConv {
    fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Rows of the im2col matrix: Cin·k·k.
    fn patch(&self) -> usize {
        self.cin * self.k * self.k
    }

    /// Work units (image, first row, end row), in a fixed order.
    fn bands(&self) -> Vec<(usize, usize, usize)> {
        let rows = (BAND_PIXELS / self.width.max(1)).clamp(1, self.height.max(1));
        (0..self.batch).flat_map(|b| (0..self.height).step_by(rows).map(move |y0| (b, y0, (y0 + rows).min(self.height)))).collect()
    }

    /// Fills `cols` ([Cin·k·k, (y1 − y0)·W], row-major) with the zero-padded input patches of
    /// output rows y0..y1 of one image `x` ([Cin, H, W]).
    fn im2col(&self, x: &[f32], y0: usize, y1: usize, cols: &mut [f32]) {
        let (h, w, k) = (self.height as isize, self.width, self.k);
        let pad = (k / 2) as isize;
        let n = (y1 - y0) * w;
        for c in 0..self.cin {
            let plane = &x[c * self.plane()..(c + 1) * self.plane()];
            for ky in 0..k {
                for kx in 0..k {
                    let row = &mut cols[((c * k + ky) * k + kx) * n..][..n];
                    // dst[x] = src[x + dx] where 0 <= x + dx < W, zero elsewhere.
                    let dx = kx as isize - pad;
                    let lo = (-dx).clamp(0, w as isize) as usize;
                    let hi = (w as isize - dx).clamp(0, w as isize) as usize;
                    for (i, y) in (y0..y1).enumerate() {
                        let dst = &mut row[i * w..(i + 1) * w];
                        let sy = y as isize + ky as isize - pad;
                        if sy < 0 || sy >= h || lo >= hi {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[sy as usize * w..(sy as usize + 1) * w];
                        dst[..lo].fill(0.0);
                        dst[lo..hi].copy_from_slice(&src[(lo as isize + dx) as usize..(hi as isize + dx) as usize]);
                        dst[hi..].fill(0.0);
                    }
                }
            }
        }
    }

    /// Runs `f` with the im2col matrix of band y0..y1 of image `x`, as (pointer, row stride).
    /// A 1×1 kernel needs no copy: the image rows already are the matrix.
    fn with_cols<R>(&self, x: &[f32], y0: usize, y1: usize, f: impl FnOnce(*const f32, usize) -> R) -> R {
        if self.k == 1 {
            return f(x[y0 * self.width..].as_ptr(), self.plane());
        }
        let n = (y1 - y0) * self.width;
        COLS.with(|cell| {
            let mut cols = cell.borrow_mut();
            cols.resize(self.patch() * n, 0.0);
            self.im2col(x, y0, y1, &mut cols);
            f(cols.as_ptr(), n)
        })
    }

    /// Forward: `x` [N, Cin, H, W], `weight` [Cout, Cin, k, k], `bias` [Cout] → [N, Cout, H, W].
    pub fn forward(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        self.check(x.len(), weight.len());
        // The bias loop below writes through a raw pointer: its length is part of the contract.
        if let Some(bias) = bias {
            assert_eq!(bias.len(), self.cout, "bias size");
        }
        let (plane, patch) = (self.plane(), self.patch());
        // Left uninitialised: the bands cover every output element and the GEMM (which does not
        // read its destination) writes each one, so zero-filling would be a wasted pass.
        let len = self.batch * self.cout * plane;
        let mut out = Vec::<f32>::with_capacity(len);
        let shared = SharedOut(out.as_mut_ptr());
        self.bands().into_par_iter().for_each(|(b, y0, y1)| {
            let n = (y1 - y0) * self.width;
            let image = &x[b * self.cin * plane..(b + 1) * self.cin * plane];
            // SAFETY: the offset is inside `out`, and band (b, y0..y1) of every output channel is
            // written by this unit alone.
            let dst = unsafe { shared.at(b * self.cout * plane + y0 * self.width) };
            self.with_cols(image, y0, y1, |cols, cols_rs| unsafe {
                // dst[Cout, n] (row stride H·W) = weight[Cout, patch] · cols[patch, n]
                gemm(
                    self.cout,
                    n,
                    patch,
                    dst,
                    1,
                    plane as isize,
                    false,
                    weight.as_ptr(),
                    1,
                    patch as isize,
                    cols,
                    1,
                    cols_rs as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            });
            if let Some(bias) = bias {
                for (co, &bv) in bias.iter().enumerate() {
                    // SAFETY: as above, the unit's own band of channel `co`.
                    let row = unsafe { std::slice::from_raw_parts_mut(dst.add(co * plane), n) };
                    row.iter_mut().for_each(|v| *v += bv);
                }
            }
        });
        // SAFETY: every one of the `len` elements was written above.
        unsafe { out.set_len(len) };
        out
    }

    /// Gradient with respect to the input: the same convolution of `grad_out` with the kernel
    /// transposed (Cin ↔ Cout) and rotated by 180°, which "same" padding makes exact.
    pub fn input_grad(&self, weight: &[f32], grad_out: &[f32]) -> Vec<f32> {
        let k2 = self.k * self.k;
        let mut flipped = vec![0f32; weight.len()];
        for co in 0..self.cout {
            for ci in 0..self.cin {
                for t in 0..k2 {
                    flipped[(ci * self.cout + co) * k2 + (k2 - 1 - t)] = weight[(co * self.cin + ci) * k2 + t];
                }
            }
        }
        let transposed = SameConv { cin: self.cout, cout: self.cin, ..*self };
        transposed.forward(grad_out, &flipped, None)
    }

    /// Gradients with respect to the weight ([Cout, Cin, k, k]) and the bias ([Cout]).
    pub fn weight_grad(&self, x: &[f32], grad_out: &[f32]) -> (Vec<f32>, Vec<f32>) {
        self.check(x.len(), self.cout * self.patch());
        assert_eq!(grad_out.len(), self.batch * self.cout * self.plane(), "output gradient size");
        let (plane, patch) = (self.plane(), self.patch());
        let bands = self.bands();
        let per_partial = bands.len().div_ceil(WEIGHT_GRAD_PARTIALS);
        let partials: Vec<Vec<f32>> = bands
            .par_chunks(per_partial)
            .map(|chunk| {
                let mut acc = vec![0f32; self.cout * patch];
                for &(b, y0, y1) in chunk {
                    let n = (y1 - y0) * self.width;
                    let image = &x[b * self.cin * plane..(b + 1) * self.cin * plane];
                    let g = &grad_out[b * self.cout * plane + y0 * self.width..];
                    self.with_cols(image, y0, y1, |cols, cols_rs| unsafe {
                        // acc[Cout, patch] += g[Cout, n] · cols[patch, n]ᵀ
                        gemm(
                            self.cout,
                            patch,
                            n,
                            acc.as_mut_ptr(),
                            1,
                            patch as isize,
                            true,
                            g.as_ptr(),
                            1,
                            plane as isize,
                            cols,
                            cols_rs as isize,
                            1,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    });
                }
                acc
            })
            .collect();
        let mut weight = vec![0f32; self.cout * patch];
        for partial in &partials {
            weight.iter_mut().zip(partial).for_each(|(w, p)| *w += p);
        }
        let bias = (0..self.cout)
            .into_par_iter()
            .map(|co| {
                let sum: f64 = (0..self.batch).map(|b| lane_sum(&grad_out[(b * self.cout + co) * plane..][..plane])).sum();
                sum as f32
            })
            .collect();
        (weight, bias)
    }

    fn check(&self, x_len: usize, weight_len: usize) {
        assert!(self.k % 2 == 1, "same-padding convolution needs an odd kernel, got {}", self.k);
        assert_eq!(x_len, self.batch * self.cin * self.plane(), "input size");
        assert_eq!(weight_len, self.cout * self.patch(), "weight size");
    }
}

/// Σ v, in 16 f32 lanes (a loop that vectorizes) added up in f64.
fn lane_sum(v: &[f32]) -> f64 {
    let mut lanes = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f64 = chunks.remainder().iter().map(|&x| f64::from(x)).sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, &x)| *l += x);
    }
    lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::SameConv;

    /// Direct definition: out[b, co, y, x] = bias[co] + Σ w[co, ci, ky, kx] · in[b, ci, y+ky−p, x+kx−p].
    fn naive(s: &SameConv, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let (h, wd, k, p) = (s.height as isize, s.width as isize, s.k, (s.k / 2) as isize);
        let mut out = vec![0f32; s.batch * s.cout * s.height * s.width];
        for b in 0..s.batch {
            for co in 0..s.cout {
                for y in 0..h {
                    for xx in 0..wd {
                        let mut acc = f64::from(bias[co]);
                        for ci in 0..s.cin {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (sy, sx) = (y + ky as isize - p, xx + kx as isize - p);
                                    if sy < 0 || sy >= h || sx < 0 || sx >= wd {
                                        continue;
                                    }
                                    let xi = ((b * s.cin + ci) as isize * h + sy) * wd + sx;
                                    let wi = ((co * s.cin + ci) * k + ky) * k + kx;
                                    acc += f64::from(w[wi]) * f64::from(x[xi as usize]);
                                }
                            }
                        }
                        out[((b * s.cout + co) as isize * h + y) as usize * s.width + xx as usize] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    /// Shapes covering 1×1, 3×3 and 5×5 kernels, images narrower than the kernel, and images
    /// taller than one band (so bands and their borders are exercised).
    fn shapes() -> Vec<SameConv> {
        vec![
            SameConv { batch: 2, cin: 3, cout: 4, height: 7, width: 5, k: 3 },
            SameConv { batch: 1, cin: 2, cout: 3, height: 3, width: 2, k: 5 },
            SameConv { batch: 3, cin: 5, cout: 2, height: 4, width: 6, k: 1 },
            SameConv { batch: 1, cin: 2, cout: 2, height: 70, width: 64, k: 3 },
        ]
    }

    #[test]
    #[should_panic(expected = "bias size")]
    fn a_bias_longer_than_the_output_channels_is_refused() {
        let s = SameConv { batch: 1, cin: 1, cout: 2, height: 4, width: 4, k: 3 };
        s.forward(&[0.0; 16], &[0.0; 18], Some(&[0.0; 3]));
    }

    #[test]
    fn forward_matches_the_definition() {
        for (i, s) in shapes().into_iter().enumerate() {
            let x = values(s.batch * s.cin * s.height * s.width, 1 + i as u32);
            let w = values(s.cout * s.cin * s.k * s.k, 100 + i as u32);
            let bias = values(s.cout, 200 + i as u32);
            assert_close(&s.forward(&x, &w, Some(&bias)), &naive(&s, &x, &w, &bias), &format!("forward {s:?}"));
        }
    }

    /// Gradients checked against the definition's adjoint: for a loss L = Σ g·conv(x), dL/dx and
    /// dL/dw are sums of the same products, computed here from `naive` by linearity.
    #[test]
    fn gradients_match_the_definition() {
        for (i, s) in shapes().into_iter().enumerate() {
            let x = values(s.batch * s.cin * s.height * s.width, 10 + i as u32);
            let w = values(s.cout * s.cin * s.k * s.k, 110 + i as u32);
            let g = values(s.batch * s.cout * s.height * s.width, 210 + i as u32);
            let zero_bias = vec![0f32; s.cout];
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();

            // dL/dx[j] = Σ g · conv(e_j, w): probe a sample of input positions.
            let dx = s.input_grad(&w, &g);
            for j in (0..x.len()).step_by(x.len() / 13 + 1) {
                let mut e = vec![0f32; x.len()];
                e[j] = 1.0;
                let expected = dot(&g, &naive(&s, &e, &w, &zero_bias)) as f32;
                assert!((dx[j] - expected).abs() <= 1e-3 * (1.0 + expected.abs()), "{s:?} dx[{j}]: {} vs {expected}", dx[j]);
            }

            // dL/dw[j] = Σ g · conv(x, e_j); dL/dbias[co] = Σ g over channel co.
            let (dw, db) = s.weight_grad(&x, &g);
            for j in 0..w.len() {
                let mut e = vec![0f32; w.len()];
                e[j] = 1.0;
                let expected = dot(&g, &naive(&s, &x, &e, &zero_bias)) as f32;
                assert!((dw[j] - expected).abs() <= 1e-3 * (1.0 + expected.abs()), "{s:?} dw[{j}]: {} vs {expected}", dw[j]);
            }
            let plane = s.height * s.width;
            for (co, &got) in db.iter().enumerate() {
                let expected: f32 = (0..s.batch).flat_map(|b| g[(b * s.cout + co) * plane..][..plane].iter()).sum();
                assert!((got - expected).abs() <= 1e-3 * (1.0 + expected.abs()), "{s:?} dbias[{co}]: {got} vs {expected}");
            }
        }
    }
}
