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
//!
//! 3×3 kernels between wide layers (every 3×3 conv of DRN, DRFN and GLRL, most of DCSCN's) run
//! as Winograd's F(2×2, 3×3) (Lavin & Gray, 2016): each 2×2 output tile is 16 products of
//! transformed 4×4 input tiles and transformed kernels instead of 36 multiply-adds, so the GEMMs
//! do 4/9 of the direct work. Its transforms use only additions and halvings, so it differs
//! from the direct sum by float rounding alone.

use super::activation::Activation;
use super::bf16_gemm::{self, PackedLhs};
use super::vector::widest;
use crate::precision::{Operands, Precision};
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

/// Output pixels per Winograd work unit: 512 tiles of 2×2 keep each of the 16 GEMMs long
/// enough to run near the machine's matrix-product rate.
const WINOGRAD_BAND_PIXELS: usize = 2048;

/// Tiles per block of a bf16 Winograd band: the block's tiles as bf16 pairs and its f32
/// products, 16 · (Cin/2 + Cout) · tiles · 4 B (0.6 MB at 96 channels and 64 tiles), stay in
/// L2 between the input transform, the products and the output transform. AMX, whose products
/// reload the transformed kernels from L2 for every block, runs best on blocks twice as long:
/// 128 tiles ran the DCSCN 720p forward 7% faster than 64 or 256, and DRN 256² within 3% of
/// both (Intel Xeon with AMX, interleaved `sisr bench` runs).
fn bf16_block_tiles() -> usize {
    match bf16_gemm::kernel() {
        Some(bf16_gemm::Kernel::Amx) => 128,
        _ => 64,
    }
}

/// Input and output channels from which a 3×3 convolution runs as Winograd: with fewer, the
/// 16 small GEMMs and the transforms cost more than the direct product saves.
const WINOGRAD_MIN_CHANNELS: usize = 16;

thread_local! {
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Winograd's transformed input tiles (f32, or bf16 pairs) and products of one band.
    static TILES: RefCell<(Vec<f32>, Vec<u32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
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
        self.forward_with(x, weight, bias, Operands::F32, Activation::Identity)
    }

    /// [`SameConv::forward`] with its matrix products reading `operands` (for a Winograd
    /// convolution the transformed kernels and input tiles, otherwise the weights and the
    /// input), followed by `activation`, run on each piece of the output as it is written.
    pub(crate) fn forward_with(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>, operands: Operands, activation: Activation) -> Vec<f32> {
        self.check(x.len(), weight.len());
        // The bias loops write through raw pointers: its length is part of the contract.
        if let Some(bias) = bias {
            assert_eq!(bias.len(), self.cout, "bias size");
        }
        if self.winograd() {
            return self.winograd_forward(x, weight, bias, operands, activation);
        }
        if let Operands::Rounded(precision) = operands {
            // The im2col matrix holds input values and zeros: rounding the input rounds it.
            let (mut x, mut weight) = (x.to_vec(), weight.to_vec());
            precision.round_all(&mut x);
            precision.round_all(&mut weight);
            return self.forward_with(&x, &weight, bias, Operands::F32, activation);
        }
        let (plane, patch) = (self.plane(), self.patch());
        let packed = (operands == Operands::NativeBf16).then(|| PackedLhs::new(weight, self.cout, patch));
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
                match &packed {
                    Some(lhs) => bf16_gemm::matmul(lhs, n, cols, cols_rs, dst, plane),
                    None => matmul(self.cout, n, patch, Strided::rows(dst, plane), false, Strided::rows(weight.as_ptr(), patch), Strided::rows(cols, cols_rs)),
                }
            });
            for co in 0..self.cout {
                // SAFETY: as above, the unit's own band of channel `co`.
                let band = unsafe { std::slice::from_raw_parts_mut(dst.add(co * plane), n) };
                if let Some(bias) = bias {
                    add_bias(band, bias[co]);
                }
                activation.apply(co, band);
            }
        });
        // SAFETY: every one of the `len` elements was written above.
        unsafe { out.set_len(len) };
        out
    }

    /// Work units of Winograd (image, first row, end row): an even number of rows each, so
    /// that the 2×2 tiles never straddle two units.
    fn winograd_bands(&self) -> Vec<(usize, usize, usize)> {
        let rows = (WINOGRAD_BAND_PIXELS / self.width.max(1)).clamp(2, self.height.max(2)).next_multiple_of(2);
        (0..self.batch).flat_map(|b| (0..self.height).step_by(rows).map(move |y0| (b, y0, (y0 + rows).min(self.height)))).collect()
    }

    /// [`SameConv::forward`] of a 3×3 kernel as Winograd F(2×2, 3×3): per work unit, the
    /// transformed input tiles, 16 GEMMs with the transformed kernels, the output transform.
    fn winograd_forward(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>, operands: Operands, activation: Activation) -> Vec<f32> {
        let (plane, cin, cout, w) = (self.plane(), self.cin, self.cout, self.width);
        let mut u = winograd_kernels(weight, cout, cin);
        let rounding = match operands {
            Operands::Rounded(precision) => precision,
            _ => Precision::F32,
        };
        rounding.round_all(&mut u);
        let packed: Vec<PackedLhs> =
            if operands == Operands::NativeBf16 { u.chunks_exact(cout * cin).map(|u| PackedLhs::new(u, cout, cin)).collect() } else { Vec::new() };
        let len = self.batch * cout * plane;
        let mut out = Vec::<f32>::with_capacity(len);
        let shared = SharedOut(out.as_mut_ptr());
        let n = w.div_ceil(2); // tiles per row
        self.winograd_bands().into_par_iter().for_each(|(b, y0, y1)| {
            let image = &x[b * cin * plane..(b + 1) * cin * plane];
            TILES.with(|cell| {
                let (v, pairs, m) = &mut *cell.borrow_mut();
                let mut rows = [(); 12].map(|_| vec![0f32; n + 1]);
                // The bf16 kernels, their left operands packed once, run on blocks small
                // enough for the cache; the f32 GEMM packs its left operand per call, so it
                // takes the whole band at once.
                let blocks: Vec<(usize, usize, TileColumns)> = if packed.is_empty() {
                    vec![(y0, y1, TileColumns::all(w))]
                } else {
                    let block = bf16_block_tiles();
                    (y0..y1)
                        .step_by(2)
                        .flat_map(|y| (0..n).step_by(block).map(move |first| (y, (y + 2).min(y1), TileColumns { first, count: block.min(n - first) })))
                        .collect()
                };
                for (ya, yb, window) in blocks {
                    let tiles = (yb - ya).div_ceil(2) * window.count;
                    m.resize(16 * cout * tiles, 0.0);
                    if packed.is_empty() {
                        v.resize(16 * cin * tiles, 0.0);
                        for (ci, channel) in image.chunks_exact(plane).enumerate() {
                            // V[ξ][ci][t] at v[(ξ·Cin + ci)·tiles + t]
                            input_tiles(channel, w, (ya, yb), window, &mut rows, &mut v[ci * tiles..], cin * tiles);
                        }
                        rounding.round_all(v);
                        // M[ξ] [Cout, tiles] = U[ξ] [Cout, Cin] · V[ξ] [Cin, tiles]
                        for xi in 0..16 {
                            // SAFETY: the three matrices lie inside `m`, `u` and `v` with these strides.
                            unsafe {
                                matmul(
                                    cout,
                                    tiles,
                                    cin,
                                    Strided::rows(m.as_mut_ptr().add(xi * cout * tiles), tiles),
                                    false,
                                    Strided::rows(u.as_ptr().add(xi * cout * cin), cin),
                                    Strided::rows(v.as_ptr().add(xi * cin * tiles), tiles),
                                );
                            }
                        }
                    } else {
                        // SAFETY: `packed` is not empty only where the CPU runs the bf16 kernel.
                        unsafe { winograd_bf16_products(image, plane, w, (ya, yb), window, &packed, &mut rows, v, pairs, &mut m[..16 * cout * tiles]) };
                    }
                    for co in 0..cout {
                        // SAFETY: rows ya..yb of channel `co` of image `b` belong to this unit alone.
                        let dst = unsafe { std::slice::from_raw_parts_mut(shared.at((b * cout + co) * plane + ya * w), (yb - ya) * w) };
                        let epilogue = Epilogue { bias: bias.map_or(0.0, |b| b[co]), activation, channel: co };
                        output_tiles(&m[co * tiles..], cout * tiles, w, window, epilogue, &mut rows, dst);
                    }
                }
            });
        });
        // SAFETY: the units' rows cover every row of every output channel of every image.
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
        let bias = (0..self.cout)
            .into_par_iter()
            .map(|co| {
                let sum: f64 = (0..self.batch).map(|b| lane_sum(&grad_out[(b * self.cout + co) * plane..][..plane])).sum();
                sum as f32
            })
            .collect();
        if self.winograd() {
            return (self.winograd_weight_grad(x, grad_out), bias);
        }
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
                        matmul(
                            self.cout,
                            patch,
                            n,
                            Strided::rows(acc.as_mut_ptr(), patch),
                            true,
                            Strided::rows(g.as_ptr(), plane),
                            Strided::columns(cols, cols_rs),
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
        (weight, bias)
    }

    /// Whether this convolution runs as Winograd F(2×2, 3×3).
    fn winograd(&self) -> bool {
        self.k == 3 && self.cin.min(self.cout) >= WINOGRAD_MIN_CHANNELS
    }

    /// The weight gradient of a Winograd convolution, the adjoint of its forward: per work
    /// unit the transformed input tiles V (as in the forward) and output-gradient tiles
    /// A·dY·Aᵀ, 16 GEMMs summing their products over the tiles into fixed partial sums, then
    /// Gᵀ·U·G back to 3×3 kernels.
    fn winograd_weight_grad(&self, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
        let (plane, cin, cout, w) = (self.plane(), self.cin, self.cout, self.width);
        let bands = self.winograd_bands();
        let per_partial = bands.len().div_ceil(WEIGHT_GRAD_PARTIALS);
        let n = w.div_ceil(2);
        let partials: Vec<Vec<f32>> = bands
            .par_chunks(per_partial)
            .map(|chunk| {
                // Left uninitialised: the chunk's first band writes every element (its products
                // do not read `acc`), the later ones add to them.
                let mut acc = Vec::<f32>::with_capacity(16 * cout * cin);
                let mut rows = [(); 12].map(|_| vec![0f32; n + 1]);
                // The thread's tile buffers, as in the forward: the transforms write every
                // element, so only their growth is ever zero-filled (fresh buffers per chunk
                // were 5% of a DRFN-5m training step in memset).
                TILES.with(|cell| {
                    let (v, _, m) = &mut *cell.borrow_mut();
                    for (i, &(b, y0, y1)) in chunk.iter().enumerate() {
                        let tiles = (y1 - y0).div_ceil(2) * n;
                        v.resize(16 * cin * tiles, 0.0);
                        m.resize(16 * cout * tiles, 0.0);
                        for (ci, channel) in x[b * cin * plane..(b + 1) * cin * plane].chunks_exact(plane).enumerate() {
                            input_tiles(channel, w, (y0, y1), TileColumns::all(w), &mut rows, &mut v[ci * tiles..], cin * tiles);
                        }
                        for (co, channel) in grad_out[b * cout * plane..(b + 1) * cout * plane].chunks_exact(plane).enumerate() {
                            gradient_tiles(&channel[y0 * w..y1 * w], w, &mut rows, &mut m[co * tiles..], cout * tiles);
                        }
                        for xi in 0..16 {
                            // acc[ξ] [Cout, Cin] (+)= M[ξ] [Cout, tiles] · V[ξ] [Cin, tiles]ᵀ
                            // SAFETY: the three matrices lie inside the capacity of `acc`, `m`
                            // and `v` with these strides.
                            unsafe {
                                matmul(
                                    cout,
                                    cin,
                                    tiles,
                                    Strided::rows(acc.as_mut_ptr().add(xi * cout * cin), cin),
                                    i > 0,
                                    Strided::rows(m.as_ptr().add(xi * cout * tiles), tiles),
                                    Strided::columns(v.as_ptr().add(xi * cin * tiles), tiles),
                                );
                            }
                        }
                        if i == 0 {
                            // SAFETY: the 16 products above wrote every element.
                            unsafe { acc.set_len(16 * cout * cin) };
                        }
                    }
                });
                acc
            })
            .collect();
        let mut u = vec![0f32; 16 * cout * cin];
        for partial in &partials {
            u.iter_mut().zip(partial).for_each(|(a, p)| *a += p);
        }
        winograd_kernel_gradients(&u, cout, cin)
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

widest! {
    /// `bias` added to every element of `row` (the release build's baseline would run it at
    /// SSE2's 4 lanes: 3% of a DRN forward).
    fn add_bias(row: &mut [f32], bias: f32) = add_bias_generic;
}

#[inline(always)]
fn add_bias_generic(row: &mut [f32], bias: f32) {
    row.iter_mut().for_each(|v| *v += bias);
}

/// Winograd's 16 products M[ξ] = U[ξ] · V[ξ] of output rows y0..y1, tile columns `window`, on
/// the bf16 kernel: each input channel pair's tiles are transformed into the f32 scratch `v`
/// and written straight into `pairs` as the bf16 pairs the kernel reads in place, V[ξ][p][t]
/// at `pairs[(ξ·P + p)·ld + t]` (P: the kernel's padded pair count).
///
/// # Safety
/// `packed` was packed for a kernel this CPU runs, 16 kernels [Cout, Cin]; `m` holds 16 ·
/// Cout · tiles products.
#[allow(clippy::too_many_arguments)]
unsafe fn winograd_bf16_products(
    image: &[f32],
    plane: usize,
    w: usize,
    (y0, y1): (usize, usize),
    window: TileColumns,
    packed: &[PackedLhs],
    rows: &mut [Vec<f32>; 12],
    v: &mut Vec<f32>,
    pairs: &mut Vec<u32>,
    m: &mut [f32],
) {
    let tiles = (y1 - y0).div_ceil(2) * window.count;
    let cout = m.len() / (16 * tiles);
    let (count, ld) = (packed[0].pairs(), bf16_gemm::pairs_stride(tiles));
    v.resize(32 * tiles, 0.0);
    pairs.resize(16 * count * ld, 0);
    let mut channels = image.chunks_exact(plane);
    for p in 0..count {
        let (lo, hi) = v.split_at_mut(16 * tiles);
        let lo_channel = channels.next().inspect(|channel| input_tiles(channel, w, (y0, y1), window, rows, lo, tiles));
        let hi_channel = channels.next().inspect(|channel| input_tiles(channel, w, (y0, y1), window, rows, hi, tiles));
        for xi in 0..16 {
            let out = &mut pairs[(xi * count + p) * ld..][..ld];
            match lo_channel {
                Some(_) => bf16_gemm::pack_pairs(&lo[xi * tiles..][..tiles], hi_channel.map(|_| &hi[xi * tiles..][..tiles]), out),
                // The kernel's padding pairs.
                None => out.fill(0),
            }
        }
    }
    for (xi, lhs) in packed.iter().enumerate() {
        // SAFETY: V[ξ] is `count` pair rows `ld` apart, each packed to whole panels; M[ξ] is
        // Cout rows of `tiles` inside `m`.
        unsafe { bf16_gemm::matmul_pairs(lhs, tiles, pairs.as_ptr().add(xi * count * ld), ld, m.as_mut_ptr().add(xi * cout * tiles), tiles) };
    }
}

/// Winograd F(2×2, 3×3) kernels U = G g Gᵀ of `weight` [Cout, Cin, 3, 3], as 16 matrices
/// [Cout, Cin] (U[ξ][co][ci]), G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
fn winograd_kernels(weight: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * cout * cin];
    for (i, g) in weight.chunks_exact(9).enumerate() {
        let rows = |r: usize| [g[3 * r], g[3 * r + 1], g[3 * r + 2]];
        let (g0, g1, g2) = (rows(0), rows(1), rows(2));
        let gg: [[f32; 3]; 4] = [g0, std::array::from_fn(|c| 0.5 * (g0[c] + g1[c] + g2[c])), std::array::from_fn(|c| 0.5 * (g0[c] - g1[c] + g2[c])), g2];
        for (r, v) in gg.iter().enumerate() {
            let row = [v[0], 0.5 * (v[0] + v[1] + v[2]), 0.5 * (v[0] - v[1] + v[2]), v[2]];
            for (c, value) in row.into_iter().enumerate() {
                u[(4 * r + c) * cout * cin + i] = value;
            }
        }
    }
    u
}

/// A window of a row of Winograd tiles: tiles first..first + count (output columns 2·first..).
#[derive(Clone, Copy)]
struct TileColumns {
    first: usize,
    count: usize,
}

impl TileColumns {
    /// Every tile of a row of `w` columns.
    fn all(w: usize) -> Self {
        TileColumns { first: 0, count: w.div_ceil(2) }
    }
}

/// Bᵀ d B of every 4×4 input tile of output rows y0..y1 and tile columns `window` of one
/// channel (`channel` [H, W]), Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]:
/// V[ξ][t] at `v[ξ·stride + t]`. A row of tiles at a time, on its even and odd columns split
/// apart, so that every loop is a plain vector loop (the transforms would otherwise cost as
/// much as the products). `rows`: 12 scratch rows of W/2 + 1.
fn input_tiles(channel: &[f32], w: usize, (y0, y1): (usize, usize), window: TileColumns, rows: &mut [Vec<f32>; 12], v: &mut [f32], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { input_tiles_avx2(channel, w, (y0, y1), window, rows, v, stride) };
    }
    input_tiles_generic(channel, w, (y0, y1), window, rows, v, stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn input_tiles_avx2(channel: &[f32], w: usize, (y0, y1): (usize, usize), window: TileColumns, rows: &mut [Vec<f32>; 12], v: &mut [f32], stride: usize) {
    input_tiles_generic(channel, w, (y0, y1), window, rows, v, stride)
}

#[inline(always)]
fn input_tiles_generic(channel: &[f32], w: usize, (y0, y1): (usize, usize), window: TileColumns, rows: &mut [Vec<f32>; 12], v: &mut [f32], stride: usize) {
    let (h, n, base) = (channel.len() / w, window.count, 2 * window.first);
    let end = w.min(base + 2 * n);
    let (even, rest) = rows.split_at_mut(4);
    let odd = &mut rest[..4];
    for tr in 0..(y1 - y0).div_ceil(2) {
        // Input row i of the tile row as padded columns: even[i][k] = column base + 2k − 1,
        // odd[i][k] = column base + 2k, zero outside the image.
        for (i, (e, o)) in even.iter_mut().zip(odd.iter_mut()).enumerate() {
            let (e, o) = (&mut e[..=n], &mut o[..=n]);
            let Some(y) = (y0 + 2 * tr + i).checked_sub(1).filter(|&y| y < h) else {
                e.fill(0.0);
                o.fill(0.0);
                continue;
            };
            // Each element is written once, zero only where the window passes the image's
            // edges: whole-row fills before the copy were calls to memset that took 11% of a
            // GLRL training step (16-tile rows).
            let row = &channel[y * w..(y + 1) * w];
            let pairs = row[base..end].chunks_exact(2);
            let (full, last) = ((end - base) / 2, pairs.remainder().first().copied());
            for ((pair, oo), ee) in pairs.zip(o.iter_mut()).zip(e[1..].iter_mut()) {
                (*oo, *ee) = (pair[0], pair[1]);
            }
            e[0] = if base > 0 { row[base - 1] } else { 0.0 };
            e[full + 1..].fill(0.0);
            o[full] = last.unwrap_or(0.0);
            o[full + 1..].fill(0.0);
            if base + 2 * n < w {
                o[n] = row[base + 2 * n];
            }
        }
        // Bᵀ d on both halves: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3.
        for half in [&mut *even, &mut *odd] {
            let [d0, d1, d2, d3] = half else { unreachable!() };
            for (((a, b), c), e) in d0[..=n].iter_mut().zip(d1[..=n].iter_mut()).zip(d2[..=n].iter_mut()).zip(d3[..=n].iter_mut()) {
                (*a, *b, *c, *e) = (*a - *c, *b + *c, *c - *b, *b - *e);
            }
        }
        for (i, (e, o)) in even.iter().zip(odd.iter()).enumerate() {
            // · B on the columns: c0 − c2, c1 + c2, c2 − c1, c1 − c3, with c0..c3 = even[t],
            // odd[t], even[t + 1], odd[t + 1].
            let (v0, rest) = v[4 * i * stride + tr * n..].split_at_mut(stride);
            let (v1, rest) = rest.split_at_mut(stride);
            let (v2, v3) = rest.split_at_mut(stride);
            let (v0, v1, v2, v3) = (&mut v0[..n], &mut v1[..n], &mut v2[..n], &mut v3[..n]);
            let (e0, e1, o0, o1) = (&e[..n], &e[1..=n], &o[..n], &o[1..=n]);
            for t in 0..n {
                v0[t] = e0[t] - e1[t];
                v1[t] = o0[t] + e1[t];
                v2[t] = e1[t] - o0[t];
                v3[t] = o0[t] - o1[t];
            }
        }
    }
}

/// Gᵀ·U·G of 16 matrices [Cout, Cin] (U[ξ][co][ci]), the adjoint of [`winograd_kernels`]:
/// the gradient [Cout, Cin, 3, 3] of the kernels from the gradient of their transforms.
fn winograd_kernel_gradients(u: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut weight = vec![0f32; cout * cin * 9];
    for (i, g) in weight.chunks_exact_mut(9).enumerate() {
        let du: [[f32; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|c| u[(4 * r + c) * cout * cin + i]));
        // Gᵀ on the rows, Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]].
        let rows: [[f32; 4]; 3] = [
            std::array::from_fn(|c| du[0][c] + 0.5 * (du[1][c] + du[2][c])),
            std::array::from_fn(|c| 0.5 * (du[1][c] - du[2][c])),
            std::array::from_fn(|c| 0.5 * (du[1][c] + du[2][c]) + du[3][c]),
        ];
        // · G on the columns.
        for (r, row) in rows.iter().enumerate() {
            g[3 * r] = row[0] + 0.5 * (row[1] + row[2]);
            g[3 * r + 1] = 0.5 * (row[1] - row[2]);
            g[3 * r + 2] = 0.5 * (row[1] + row[2]) + row[3];
        }
    }
    weight
}

/// A·dY·Aᵀ of every 2×2 output-gradient tile of one channel's rows of a work unit (`rows_of`
/// [rows, W]), A = [[1, 0], [1, 1], [1, −1], [0, −1]] (the adjoint of the output transform):
/// M[ξ][t] at `m[ξ·stride + t]`. `scratch`: 12 rows of W/2 + 1 or more.
fn gradient_tiles(rows_of: &[f32], w: usize, scratch: &mut [Vec<f32>; 12], m: &mut [f32], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { gradient_tiles_avx2(rows_of, w, scratch, m, stride) };
    }
    gradient_tiles_generic(rows_of, w, scratch, m, stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gradient_tiles_avx2(rows_of: &[f32], w: usize, scratch: &mut [Vec<f32>; 12], m: &mut [f32], stride: usize) {
    gradient_tiles_generic(rows_of, w, scratch, m, stride)
}

#[inline(always)]
fn gradient_tiles_generic(rows_of: &[f32], w: usize, scratch: &mut [Vec<f32>; 12], m: &mut [f32], stride: usize) {
    let n = w.div_ceil(2);
    // Even and odd columns of the tile row's upper and lower gradient rows (zero past the edges).
    let [ue, uo, le, lo, ..] = scratch;
    for (tr, pair) in rows_of.chunks(2 * w).enumerate() {
        for (i, (e, o)) in [(&mut *ue, &mut *uo), (&mut *le, &mut *lo)].into_iter().enumerate() {
            // Columns 0..n are each written once (no fill first: see `input_tiles`).
            let Some(row) = pair.get(i * w..(i + 1) * w) else {
                e.fill(0.0);
                o.fill(0.0);
                continue;
            };
            let cols = row.chunks_exact(2);
            if let [last] = cols.remainder() {
                (e[w / 2], o[w / 2]) = (*last, 0.0);
            }
            for ((c, ee), oo) in cols.zip(e.iter_mut()).zip(o.iter_mut()) {
                (*ee, *oo) = (c[0], c[1]);
            }
        }
        // A·dY: rows u, u + l, u − l, −l; then ·Aᵀ on the columns: p, p + q, p − q, −q.
        let (ue, uo, le, lo) = (&ue[..n], &uo[..n], &le[..n], &lo[..n]);
        for i in 0..4 {
            let (v0, rest) = m[4 * i * stride + tr * n..].split_at_mut(stride);
            let (v1, rest) = rest.split_at_mut(stride);
            let (v2, v3) = rest.split_at_mut(stride);
            let (v0, v1, v2, v3) = (&mut v0[..n], &mut v1[..n], &mut v2[..n], &mut v3[..n]);
            for t in 0..n {
                let (p, q) = match i {
                    0 => (ue[t], uo[t]),
                    1 => (ue[t] + le[t], uo[t] + lo[t]),
                    2 => (ue[t] - le[t], uo[t] - lo[t]),
                    _ => (-le[t], -lo[t]),
                };
                v0[t] = p;
                v1[t] = p + q;
                v2[t] = p - q;
                v3[t] = -q;
            }
        }
    }
}

/// Aᵀ M A of every tile in tile columns `window` of one output channel, Aᵀ = [[1, 1, 1, 0],
/// [0, 1, −1, −1]], then the `epilogue` (bias, activation): M[ξ][t] at `m[ξ·stride + t]`,
/// written to the window's columns of `dst`, the channel's rows of the unit ([rows, W]).
/// `rows`: 12 scratch rows of W/2 + 1 or more.
fn output_tiles(m: &[f32], stride: usize, w: usize, window: TileColumns, epilogue: Epilogue, rows: &mut [Vec<f32>; 12], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { output_tiles_avx2(m, stride, w, window, epilogue, rows, dst) };
    }
    output_tiles_generic(m, stride, w, window, epilogue, rows, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn output_tiles_avx2(m: &[f32], stride: usize, w: usize, window: TileColumns, epilogue: Epilogue, rows: &mut [Vec<f32>; 12], dst: &mut [f32]) {
    output_tiles_generic(m, stride, w, window, epilogue, rows, dst)
}

#[inline(always)]
fn output_tiles_generic(m: &[f32], stride: usize, w: usize, window: TileColumns, epilogue: Epilogue, rows: &mut [Vec<f32>; 12], dst: &mut [f32]) {
    let bias = epilogue.bias;
    let (n, base) = (window.count, 2 * window.first);
    let end = w.min(base + 2 * n);
    let (sums, outs) = rows.split_at_mut(8);
    for (tr, dst_rows) in dst.chunks_mut(2 * w).enumerate() {
        // Rows m0 + m1 + m2 (upper output row) and m1 − m2 − m3 (lower), column by column.
        let (upper, lower) = sums.split_at_mut(4);
        for (j, (up, low)) in upper.iter_mut().zip(lower.iter_mut()).enumerate() {
            let p = |xi: usize| &m[xi * stride + tr * n..][..n];
            let (a, b, c, d) = (p(j), p(4 + j), p(8 + j), p(12 + j));
            let (up, low) = (&mut up[..n], &mut low[..n]);
            for t in 0..n {
                up[t] = a[t] + b[t] + c[t];
                low[t] = b[t] - c[t] - d[t];
            }
        }
        // The same on the columns: even output columns c0 + c1 + c2, odd ones c1 − c2 − c3.
        for (half, row) in dst_rows.chunks_mut(w).enumerate() {
            let s = &sums[4 * half..4 * half + 4];
            let (c0, c1, c2, c3) = (&s[0][..n], &s[1][..n], &s[2][..n], &s[3][..n]);
            let [lo, hi] = &mut outs[..2] else { unreachable!() };
            let (lo, hi) = (&mut lo[..n], &mut hi[..n]);
            for t in 0..n {
                lo[t] = c0[t] + c1[t] + c2[t] + bias;
                hi[t] = c1[t] - c2[t] - c3[t] + bias;
            }
            // Activated here, in the scratch rows, rather than in `dst` after the interleave.
            epilogue.activation.apply_inline(epilogue.channel, lo);
            epilogue.activation.apply_inline(epilogue.channel, hi);
            let mut pairs = row[base..end].chunks_exact_mut(2);
            for ((pair, &l), &r) in pairs.by_ref().zip(lo.iter()).zip(hi.iter()) {
                (pair[0], pair[1]) = (l, r);
            }
            if let [last] = pairs.into_remainder() {
                *last = lo[(end - base) / 2];
            }
        }
    }
}

/// What follows the output transform of one output channel: its bias, then its activation.
#[derive(Clone, Copy)]
struct Epilogue<'a> {
    bias: f32,
    activation: Activation<'a>,
    channel: usize,
}

/// A matrix operand of [`matmul`]: element (i, j) at `ptr + i·row + j·col`.
#[derive(Clone, Copy)]
struct Strided<P> {
    ptr: P,
    row: usize,
    col: usize,
}

impl<P> Strided<P> {
    /// Row-major, rows `row` elements apart.
    fn rows(ptr: P, row: usize) -> Self {
        Strided { ptr, row, col: 1 }
    }

    /// A row-major matrix read transposed: columns `col` elements apart.
    fn columns(ptr: P, col: usize) -> Self {
        Strided { ptr, row: 1, col }
    }
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]`, or `+=` when `accumulate`, on the calling thread.
///
/// # Safety
/// Every operand lies inside its allocation with these shapes and strides, and `dst` overlaps
/// neither input.
unsafe fn matmul(m: usize, n: usize, k: usize, dst: Strided<*mut f32>, accumulate: bool, lhs: Strided<*const f32>, rhs: Strided<*const f32>) {
    let s = |v: usize| v as isize;
    let alpha = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: as the caller promises.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.ptr,
            s(dst.col),
            s(dst.row),
            accumulate,
            lhs.ptr,
            s(lhs.col),
            s(lhs.row),
            rhs.ptr,
            s(rhs.col),
            s(rhs.row),
            alpha,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
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

    /// 3×3 shapes wide enough for Winograd: odd sizes (tiles cut at the right and bottom
    /// edges), several images, several work units, a plane narrower than a tile.
    fn winograd_shapes() -> Vec<SameConv> {
        vec![
            SameConv { batch: 2, cin: 16, cout: 17, height: 9, width: 7, k: 3 },
            SameConv { batch: 1, cin: 18, cout: 16, height: 70, width: 64, k: 3 },
            SameConv { batch: 1, cin: 16, cout: 16, height: 1, width: 1, k: 3 },
            // Odd channels (a bf16 pair with no high half) and tile rows longer than a bf16
            // block, which end in a partial block and an odd column.
            SameConv { batch: 1, cin: 33, cout: 20, height: 5, width: 261, k: 3 },
        ]
    }

    #[test]
    fn winograd_gradients_match_the_definition() {
        for (i, s) in winograd_shapes().into_iter().enumerate() {
            let x = values(s.batch * s.cin * s.height * s.width, 30 + i as u32);
            let w = values(s.cout * s.cin * 9, 130 + i as u32);
            let bias = values(s.cout, 230 + i as u32);
            assert_close(&s.forward(&x, &w, Some(&bias)), &naive(&s, &x, &w, &bias), &format!("forward {s:?}"));
            let g = values(s.batch * s.cout * s.height * s.width, 330 + i as u32);
            let dx = s.input_grad(&w, &g);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();
            for j in (0..x.len()).step_by(x.len() / 13 + 1) {
                let mut e = vec![0f32; x.len()];
                e[j] = 1.0;
                let expected = dot(&g, &naive(&s, &e, &w, &vec![0.0; s.cout])) as f32;
                assert!((dx[j] - expected).abs() <= 1e-3 * (1.0 + expected.abs()), "{s:?} dx[{j}]: {} vs {expected}", dx[j]);
            }
            // dL/dw[j] = Σ g · conv(x, e_j), on a sample of the weights.
            let (dw, _) = s.weight_grad(&x, &g);
            for j in (0..w.len()).step_by(w.len() / 29 + 1).chain([w.len() - 1]) {
                let mut e = vec![0f32; w.len()];
                e[j] = 1.0;
                let expected = dot(&g, &naive(&s, &x, &e, &vec![0.0; s.cout])) as f32;
                assert!((dw[j] - expected).abs() <= 1e-3 * (1.0 + expected.abs()), "{s:?} dw[{j}]: {} vs {expected}", dw[j]);
            }
        }
    }

    #[test]
    fn reduced_operands_round_what_the_products_read() {
        use crate::ops::activation::Activation;
        use crate::ops::bf16_gemm;
        use crate::precision::{Operands, Precision};
        // Winograd shapes, and direct ones (1×1, 5×5) past the 16-channel threshold.
        let direct =
            [SameConv { batch: 1, cin: 20, cout: 18, height: 13, width: 40, k: 1 }, SameConv { batch: 2, cin: 16, cout: 19, height: 11, width: 9, k: 5 }];
        for (i, s) in winograd_shapes().into_iter().chain(direct).enumerate() {
            let x = values(s.batch * s.cin * s.height * s.width, 40 + i as u32);
            let w = values(s.cout * s.cin * s.k * s.k, 140 + i as u32);
            let bias = values(s.cout, 240 + i as u32);
            let exact = s.forward(&x, &w, Some(&bias));
            // Each operand rounded to 8 (bf16) or 11 (f16) significant bits: errors of about
            // 2⁻⁸ or 2⁻¹¹ per product of values in [−1, 1] (Winograd's transformed ones a few
            // times larger), of random signs, summed over the patch: √terms units (measured up
            // to 1.6 units on these shapes).
            let terms = (s.cin * s.k * s.k) as f32;
            for (precision, unit) in [(Precision::Bf16, 2f32.powi(-8)), (Precision::F16, 2f32.powi(-11))] {
                let rounded = s.forward_with(&x, &w, Some(&bias), Operands::Rounded(precision), Activation::Identity);
                let worst = rounded.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst > 0.0, "{s:?} {precision}: the operands were not rounded");
                assert!(worst <= 4.0 * unit * terms.sqrt(), "{s:?} {precision}: {worst} from f32");
            }
            if bf16_gemm::available() {
                // The kernel reads the same roundings; only the order of the f32 sums differs.
                let native = s.forward_with(&x, &w, Some(&bias), Operands::NativeBf16, Activation::Identity);
                assert_close(
                    &native,
                    &s.forward_with(&x, &w, Some(&bias), Operands::Rounded(Precision::Bf16), Activation::Identity),
                    &format!("native bf16 {s:?}"),
                );
            } else {
                eprintln!("native bf16 not compared: this CPU has neither AMX nor AVX512-BF16");
            }
        }
    }

    /// A fused activation gives exactly the values of the separate pass over the output, on
    /// every path: Winograd (f32 bands, bf16 blocks), direct 1×1 and 5×5, f32 and rounded or
    /// native bf16 operands.
    #[test]
    fn fused_activations_are_those_of_a_separate_pass() {
        use crate::ops::activation::{self, Activation, PreluShape};
        use crate::ops::bf16_gemm;
        use crate::precision::{Operands, Precision};
        let direct =
            [SameConv { batch: 2, cin: 20, cout: 18, height: 13, width: 40, k: 1 }, SameConv { batch: 1, cin: 16, cout: 19, height: 11, width: 9, k: 5 }];
        let mut operands = vec![Operands::F32, Operands::Rounded(Precision::Bf16)];
        if bf16_gemm::available() {
            operands.push(Operands::NativeBf16);
        }
        for (i, s) in winograd_shapes().into_iter().chain(direct).enumerate() {
            let x = values(s.batch * s.cin * s.height * s.width, 50 + i as u32);
            let w = values(s.cout * s.cin * s.k * s.k, 150 + i as u32);
            let bias = values(s.cout, 250 + i as u32);
            let slopes: Vec<f32> = (0..s.cout).map(|c| 0.3 - 0.1 * c as f32).collect();
            let prelu = PreluShape { channels: s.cout, plane: s.height * s.width };
            for &op in &operands {
                let plain = s.forward_with(&x, &w, Some(&bias), op, Activation::Identity);
                assert!(plain.iter().any(|&v| v < 0.0), "{s:?}: no negative output to activate");
                let cases = [
                    (Activation::Elu(0.2), activation::elu(&plain, 0.2)),
                    (Activation::Prelu(&slopes), prelu.forward(&plain, &slopes)),
                    (Activation::Prelu(&[0.25]), prelu.forward(&plain, &[0.25])),
                ];
                for (act, want) in cases {
                    let got = s.forward_with(&x, &w, Some(&bias), op, act);
                    let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same && got.len() == want.len(), "{s:?} {op:?} {act:?}: fused differs from the separate pass");
                }
            }
        }
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
