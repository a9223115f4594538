//! bf16 matrix products for `--precision bf16` on the CPUs that have bf16 instructions: AMX
//! (Intel Sapphire Rapids and later) or else AVX512-BF16 (AMD Zen 4 and later).
//!
//! Both multiply bf16 pairs and add each pair's two products into an f32 lane: AVX512-BF16's
//! `VDPBF16PS` 32 pairs per instruction (twice an f32 FMA's multiply-adds), AMX's `TDPBF16PS`
//! a 16 × 32 by 32 × 16 tile product per instruction. The left operand (a convolution's
//! weights) is rounded to bf16 once, into pairs along k; the right one (image columns or
//! Winograd tiles, f32) is rounded panel by panel as it is packed. Products and sums are f32
//! throughout, so the result is the f32 product of the bf16-rounded operands up to the order
//! of the sums (`Precision::round` gives the same roundings to the f32 path).
//!
//! The AMX instructions are written as inline assembly: their intrinsics and target features
//! are not stable Rust yet. Linux hands out AMX's tile state only on request
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); where it refuses, AVX512-BF16 runs instead.

use std::cell::RefCell;
use std::sync::OnceLock;
#[cfg(target_arch = "x86_64")]
use std::{arch::asm, arch::x86_64::*};

/// Rows of the left operand per AVX512-BF16 micro-kernel call.
const MR: usize = 6;
/// Columns of the right operand per packed panel: 4 vectors (or AMX tiles) of 16 columns, so
/// that the AVX512 micro-kernel's 6 × 4 accumulators, 4 panel vectors and a broadcast fit the
/// 32 registers.
const NR: usize = 64;
/// Pairs along k per pass of the AVX512 kernel over a panel: 128 pairs × 64 columns × 4 B =
/// 32 KiB, which stays in L1 while every row block of the left operand goes past it.
const KC: usize = 128;
/// AMX tiles: 16 rows of 64 bytes (16 f32 or 16 bf16 pairs).
const TILE: usize = 16;

thread_local! {
    static PANEL: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// The instructions the products run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Amx,
    Avx512,
}

impl Kernel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Amx => "AMX-BF16",
            Kernel::Avx512 => "AVX512-BF16",
        }
    }

    /// The kernels this CPU (and OS) runs, the fastest first.
    pub(crate) fn supported() -> &'static [Kernel] {
        static SUPPORTED: OnceLock<Vec<Kernel>> = OnceLock::new();
        SUPPORTED.get_or_init(|| {
            let mut kernels = Vec::new();
            // Both pack the right operand with AVX512-BF16 conversions.
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx512bf16") && is_x86_feature_detected!("avx512bw") {
                if amx_enabled() {
                    kernels.push(Kernel::Amx);
                }
                kernels.push(Kernel::Avx512);
            }
            kernels
        })
    }
}

/// The kernel bf16 products run on here, if any.
pub(crate) fn kernel() -> Option<Kernel> {
    Kernel::supported().first().copied()
}

/// Whether this CPU runs bf16 products natively.
pub(crate) fn available() -> bool {
    kernel().is_some()
}

/// AMX-TILE and AMX-BF16 (CPUID leaf 7: EDX bits 24 and 22) with the OS's permission to use
/// the tile data, which Linux grants per process on request.
#[cfg(target_arch = "x86_64")]
fn amx_enabled() -> bool {
    let leaf7 = __cpuid_count(7, 0);
    if leaf7.edx & (1 << 24) == 0 || leaf7.edx & (1 << 22) == 0 || !cfg!(target_os = "linux") {
        return false;
    }
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let status: i64;
    // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) reads no memory; the syscall
    // instruction clobbers rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL => status, in("rdi") ARCH_REQ_XCOMP_PERM, in("rsi") XFEATURE_XTILEDATA,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    status == 0
}

/// A rows × k f32 matrix as bf16 pairs along k (the low half first; a last odd column is
/// zero), laid out for its kernel:
/// - AVX512: [`MR`] rows interleaved, `data[(block · pairs + p) · MR + r]`;
/// - AMX: row-major with rows and pairs padded to [`TILE`], `data[row · pairs + p]`;
///
/// the padding rows and pairs are zero.
pub(crate) struct PackedLhs {
    kernel: Kernel,
    rows: usize,
    k: usize,
    /// Pairs per row, with the AMX padding.
    pairs: usize,
    data: Vec<u32>,
}

impl PackedLhs {
    /// `a`: rows × k, row-major, for this CPU's kernel ([`available`] is true).
    pub(crate) fn new(a: &[f32], rows: usize, k: usize) -> Self {
        Self::for_kernel(kernel().expect("a bf16 kernel"), a, rows, k)
    }

    fn for_kernel(kernel: Kernel, a: &[f32], rows: usize, k: usize) -> Self {
        assert_eq!(a.len(), rows * k, "left operand size");
        let pairs = match kernel {
            Kernel::Avx512 => k.div_ceil(2),
            Kernel::Amx => k.div_ceil(2 * TILE) * TILE,
        };
        let (blocks, block_rows) = match kernel {
            Kernel::Avx512 => (rows.div_ceil(MR), MR),
            Kernel::Amx => (rows.div_ceil(TILE), TILE),
        };
        assert!(Kernel::supported().contains(&kernel), "{kernel:?} does not run on this CPU");
        let mut data = vec![0u32; blocks * block_rows * pairs];
        let mut row_pairs = vec![0u32; k.div_ceil(2)];
        for (i, row) in a.chunks_exact(k.max(1)).enumerate() {
            // SAFETY: every supported kernel needs AVX512-BF16 (and AVX512BW with it).
            #[cfg(target_arch = "x86_64")]
            unsafe {
                pack_row(row, &mut row_pairs)
            };
            match kernel {
                Kernel::Avx512 => row_pairs.iter().enumerate().for_each(|(p, &pair)| data[((i / MR) * pairs + p) * MR + i % MR] = pair),
                Kernel::Amx => data[i * pairs..][..row_pairs.len()].copy_from_slice(&row_pairs),
            }
        }
        PackedLhs { kernel, rows, k, pairs, data }
    }

    /// Pair rows a right operand in pairs ([`matmul_pairs`]) holds: k/2 with this kernel's
    /// padding, the rows past k/2 zero.
    pub(crate) fn pairs(&self) -> usize {
        self.pairs
    }
}

/// Row stride (u32) of a right operand in pairs `n` columns wide: whole panels, so that the
/// kernels read every panel unmasked, and 16 more, so that its rows are not a power of two
/// apart (which would map every row of a panel to the same cache sets).
pub(crate) fn pairs_stride(n: usize) -> usize {
    n.next_multiple_of(NR) + TILE
}

/// Writes columns 0..lo.len() of two rows of a right operand as bf16 pairs (`lo` the low
/// half, `hi` the high one, zero where `None`) into `out`, and zeros from there to the end of
/// the last panel: the row of a right operand in pairs ([`matmul_pairs`]).
pub(crate) fn pack_pairs(lo: &[f32], hi: Option<&[f32]>, out: &mut [u32]) {
    let cols = lo.len();
    assert!(hi.is_none_or(|hi| hi.len() == cols) && out.len() >= cols.next_multiple_of(NR), "pair row sizes");
    assert!(available(), "bf16 pairs are packed with AVX512-BF16");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX512-BF16 (and AVX512BW with it); the rows hold `cols` values and
    // `out` the whole panels.
    unsafe {
        pack_pair_row(lo.as_ptr(), hi.map_or(std::ptr::null(), <[f32]>::as_ptr), cols, cols.next_multiple_of(NR), out.as_mut_ptr())
    };
}

/// `row` as bf16 pairs along it, (row[2p], row[2p + 1]) the low half first, into `pairs`
/// (row.len()/2 rounded up; a last odd element's high half is zero).
///
/// # Safety
/// The CPU has AVX512-BF16 and AVX512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_row(row: &[f32], pairs: &mut [u32]) {
    assert_eq!(pairs.len(), row.len().div_ceil(2), "pair row size");
    for (chunk, j) in (0..row.len()).step_by(32).enumerate() {
        // SAFETY: the masked loads read only the row's elements (a zero mask reads none), the
        // masked store only the pairs they make; `cvtne2ps_pbh(hi, lo)` puts lo's 16 values
        // before hi's.
        unsafe {
            let lo = _mm512_maskz_loadu_ps(lanes(row.len(), 2 * chunk), row.as_ptr().add(j));
            let hi = _mm512_maskz_loadu_ps(lanes(row.len(), 2 * chunk + 1), row.as_ptr().wrapping_add(j + 16));
            let both = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_mask_storeu_epi32(pairs.as_mut_ptr().add(16 * chunk).cast(), lanes(pairs.len(), chunk), both);
        }
    }
}

/// `dst[rows × n] = lhs[rows × k] · rhs[k × n]`, `rhs` f32 (rounded to bf16 here) with rows
/// `ldr` elements apart, `dst` rows `ldd` apart; on the calling thread.
///
/// # Safety
/// `rhs` and `dst` hold matrices of these shapes and strides, and `dst` overlaps neither
/// operand.
pub(crate) unsafe fn matmul(lhs: &PackedLhs, n: usize, rhs: *const f32, ldr: usize, dst: *mut f32, ldd: usize) {
    #[cfg(target_arch = "x86_64")]
    PANEL.with(|cell| {
        let mut panel = cell.borrow_mut();
        // SAFETY: as the caller promises; `lhs` was packed for a kernel this CPU runs, and
        // the panel holds what that kernel packs.
        match lhs.kernel {
            Kernel::Avx512 => {
                panel.resize(KC * NR, 0);
                unsafe { matmul_avx512(lhs, n, Rhs::F32 { rhs, ldr, panel: &mut panel }, dst, ldd) }
            }
            Kernel::Amx => {
                panel.resize(lhs.pairs * NR, 0);
                unsafe { matmul_amx(lhs, n, Rhs::F32 { rhs, ldr, panel: &mut panel }, dst, ldd) }
            }
        }
    });
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("bf16 kernels run on x86-64 only ({lhs_rows} rows, {n} columns)", lhs_rows = lhs.rows);
}

/// [`matmul`] of a right operand already in bf16 pairs, read in place: `lhs.pairs()` rows of
/// [`pack_pairs`] `ldr` u32 apart ([`pairs_stride`] of `n` or more), n columns.
///
/// # Safety
/// As for [`matmul`], with `rhs` holding those rows, each [`pack_pairs`]-padded to whole
/// panels.
pub(crate) unsafe fn matmul_pairs(lhs: &PackedLhs, n: usize, rhs: *const u32, ldr: usize, dst: *mut f32, ldd: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as the caller promises; `lhs` was packed for a kernel this CPU runs.
    unsafe {
        match lhs.kernel {
            Kernel::Avx512 => matmul_avx512(lhs, n, Rhs::Pairs { rhs, ldr }, dst, ldd),
            Kernel::Amx => matmul_amx(lhs, n, Rhs::Pairs { rhs, ldr }, dst, ldd),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("bf16 kernels run on x86-64 only ({lhs_rows} rows, {n} columns, {rhs:?}, {ldr})", lhs_rows = lhs.rows);
}

/// The right operand of a product: f32, packed panel by panel, or already in pairs.
enum Rhs<'a> {
    F32 { rhs: *const f32, ldr: usize, panel: &'a mut [u32] },
    Pairs { rhs: *const u32, ldr: usize },
}

impl Rhs<'_> {
    /// Pairs p0..p0 + pc of the panel of columns j0..j0 + cols (a kernel's B operand) and the
    /// stride of its rows, packing them first if the operand is f32.
    ///
    /// # Safety
    /// The operand holds those columns and pairs; the CPU has AVX512-BF16.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn panel(&mut self, k: usize, j0: usize, cols: usize, p0: usize, pc: usize) -> (*const u32, usize) {
        match self {
            Rhs::F32 { rhs, ldr, panel } => {
                for p in 0..pc {
                    let k0 = 2 * (p0 + p);
                    let row = |k1: usize| if k1 < k { unsafe { rhs.add(k1 * *ldr + j0) } } else { std::ptr::null() };
                    // SAFETY: rows below k hold the panel's columns; the panel holds pc pairs.
                    unsafe { pack_pair_row(row(k0), row(k0 + 1), cols, NR, panel.as_mut_ptr().add(p * NR)) };
                }
                (panel.as_ptr(), NR)
            }
            // SAFETY: inside the operand, as the caller promises.
            Rhs::Pairs { rhs, ldr } => (unsafe { rhs.add(p0 * *ldr + j0) }, *ldr),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn matmul_avx512(lhs: &PackedLhs, n: usize, mut rhs: Rhs, dst: *mut f32, ldd: usize) {
    let blocks = lhs.rows.div_ceil(MR);
    for j0 in (0..n).step_by(NR) {
        let cols = NR.min(n - j0);
        for p0 in (0..lhs.pairs).step_by(KC) {
            let pc = KC.min(lhs.pairs - p0);
            // SAFETY: columns j0..j0 + cols of pairs p0..p0 + pc are inside the operand.
            let (b, ldb) = unsafe { rhs.panel(lhs.k, j0, cols, p0, pc) };
            for block in 0..blocks {
                let rows = MR.min(lhs.rows - block * MR);
                // SAFETY: the block's pairs p0..p0 + pc are inside `lhs.data`; its rows and
                // columns of `dst` are inside `dst`.
                unsafe {
                    micro_kernel(lhs.data.as_ptr().add((block * lhs.pairs + p0) * MR), b, ldb, pc, dst.add(block * MR * ldd + j0), ldd, rows, cols, p0 > 0);
                }
            }
        }
    }
}

/// Lane mask of vector `v` (16 lanes each) over `cols` values.
#[inline]
fn lanes(cols: usize, v: usize) -> u16 {
    match cols.saturating_sub(16 * v) {
        0 => 0,
        l if l >= 16 => u16::MAX,
        l => (1u16 << l) - 1,
    }
}

/// Writes columns 0..width of rows `r0` and `r1` (f32; null: zeros) as bf16 pairs at `out`,
/// `(r0[j], r1[j])` the low half first; columns past `cols` are zero.
///
/// # Safety
/// The rows hold `cols` values, `out` holds `width` (a multiple of 16).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn pack_pair_row(r0: *const f32, r1: *const f32, cols: usize, width: usize, out: *mut u32) {
    // 16-bit lane i of a pair vector takes lane i/2 of r0 (even i) or of r1 (odd i), which
    // `cvtne2ps_pbh(r1, r0)` puts at i/2 and 16 + i/2.
    let interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    let load = |row: *const f32, j: usize, mask: u16| {
        // SAFETY: masked to the row's `cols` values.
        if row.is_null() { _mm512_setzero_ps() } else { unsafe { _mm512_maskz_loadu_ps(mask, row.add(j)) } }
    };
    for j in (0..width).step_by(16) {
        let mask = lanes(cols, j / 16);
        // SAFETY: j < width, inside `out`.
        unsafe {
            let both = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(load(r1, j, mask), load(r0, j, mask)));
            _mm512_storeu_si512(out.add(j).cast(), _mm512_permutexvar_epi16(interleave, both));
        }
    }
}

/// `dst[rows × cols] (+)= a[MR × 2pc] · b[2pc × NR]` for one row block and one panel (pair
/// rows `ldb` apart), in registers; `accumulate` adds to `dst` (the k blocks after the first).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn micro_kernel(a: *const u32, b: *const u32, ldb: usize, pc: usize, dst: *mut f32, ldd: usize, rows: usize, cols: usize, accumulate: bool) {
    let masks: [u16; 4] = std::array::from_fn(|v| lanes(cols, v));
    let mut acc = [[_mm512_setzero_ps(); 4]; MR];
    // Constant loop bounds (tests inside) keep the accumulators in registers.
    if accumulate {
        for r in 0..MR {
            for v in 0..4 {
                if r < rows {
                    // SAFETY: row r < rows of the block, masked to its columns.
                    acc[r][v] = unsafe { _mm512_maskz_loadu_ps(masks[v], dst.add(r * ldd + 16 * v)) };
                }
            }
        }
    }
    for p in 0..pc {
        // SAFETY: pair p < pc of the panel and of the row block.
        unsafe {
            let bv: [__m512bh; 4] = std::array::from_fn(|v| std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b.add(p * ldb + 16 * v).cast())));
            for r in 0..MR {
                let av = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*a.add(p * MR + r) as i32));
                for v in 0..4 {
                    acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
                }
            }
        }
    }
    for r in 0..MR {
        for v in 0..4 {
            if r < rows && masks[v] != 0 {
                // SAFETY: as for the loads.
                unsafe { _mm512_mask_storeu_ps(dst.add(r * ldd + 16 * v), masks[v], acc[r][v]) };
            }
        }
    }
}

/// AMX's tile configuration (palette 1): its 8 tiles 16 rows of 64 bytes; the entries of the
/// tiles it lacks must be zero.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

const TILES: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// On AMX, each 64-column panel (every pair along k) is packed whole if the operand is f32,
/// then per two 16-row tiles of `lhs` and two 16-column tiles of the panel, tmm0–3 accumulate
/// the four output tiles over k, loading lhs into tmm4–5 and the panel into tmm6–7.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn matmul_amx(lhs: &PackedLhs, n: usize, mut rhs: Rhs, dst: *mut f32, ldd: usize) {
    let row_tiles = lhs.rows.div_ceil(TILE);
    let a_stride = lhs.pairs * 4;
    let mut scratch = [0f32; TILE * TILE];
    // SAFETY: the configuration is a valid palette-1 one; tilerelease below ends its use.
    unsafe { asm!("ldtilecfg [{0}]", in(reg) &TILES, options(nostack, readonly)) };
    for j0 in (0..n).step_by(NR) {
        let cols = NR.min(n - j0);
        // SAFETY: columns j0..j0 + cols of every pair are inside the operand.
        let (panel, ldb) = unsafe { rhs.panel(lhs.k, j0, cols, 0, lhs.pairs) };
        let b_stride = ldb * 4;
        for rt in (0..row_tiles).step_by(2) {
            let two_rows = rt + 1 < row_tiles;
            for ct in (0..cols.div_ceil(TILE)).step_by(2) {
                let a0 = lhs.data[rt * TILE * lhs.pairs..].as_ptr();
                // The second row tile reads the first's when there is none (its result is
                // dropped): an in-bounds load keeps the loop free of branches.
                let a1 = if two_rows { lhs.data[(rt + 1) * TILE * lhs.pairs..].as_ptr() } else { a0 };
                // SAFETY: tiles of 16 rows at these strides lie inside the packed operands
                // (rows, pairs and panel columns are padded to whole tiles).
                unsafe {
                    let b0 = panel.add(ct * TILE);
                    asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
                    for t in 0..lhs.pairs / TILE {
                        asm!(
                            "tileloadd tmm4, [{a0} + {sa}*1]",
                            "tileloadd tmm5, [{a1} + {sa}*1]",
                            "tileloadd tmm6, [{b0} + {sb}*1]",
                            "tileloadd tmm7, [{b1} + {sb}*1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            a0 = in(reg) a0.add(t * TILE),
                            a1 = in(reg) a1.add(t * TILE),
                            b0 = in(reg) b0.add(t * TILE * ldb),
                            b1 = in(reg) b0.add(t * TILE * ldb + TILE),
                            sa = in(reg) a_stride,
                            sb = in(reg) b_stride,
                            options(nostack, readonly),
                        );
                    }
                }
                for (i, (r, c)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                    let (row0, col0) = ((rt + r) * TILE, (ct + c) * TILE);
                    if row0 >= lhs.rows || col0 >= cols {
                        continue;
                    }
                    let (rows, width) = (TILE.min(lhs.rows - row0), TILE.min(cols - col0));
                    // SAFETY: a whole tile inside `dst` is stored in place; any other goes
                    // through the scratch tile and only its rows × width part is copied.
                    unsafe {
                        let out = dst.add(row0 * ldd + j0 + col0);
                        if rows == TILE && width == TILE {
                            store_tile(i, out, ldd * 4);
                        } else {
                            store_tile(i, scratch.as_mut_ptr(), TILE * 4);
                            for y in 0..rows {
                                std::ptr::copy_nonoverlapping(scratch.as_ptr().add(y * TILE), out.add(y * ldd), width);
                            }
                        }
                    }
                }
            }
        }
    }
    // SAFETY: returns the tile state to its initial one.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// Stores accumulator tile `i` (tmm0–3) at `out`, rows `stride` bytes apart.
///
/// # Safety
/// AMX is configured and 16 rows of 64 bytes at that stride are writable.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn store_tile(i: usize, out: *mut f32, stride: usize) {
    // SAFETY: as the caller promises.
    unsafe {
        match i {
            0 => asm!("tilestored [{0} + {1}*1], tmm0", in(reg) out, in(reg) stride, options(nostack)),
            1 => asm!("tilestored [{0} + {1}*1], tmm1", in(reg) out, in(reg) stride, options(nostack)),
            2 => asm!("tilestored [{0} + {1}*1], tmm2", in(reg) out, in(reg) stride, options(nostack)),
            _ => asm!("tilestored [{0} + {1}*1], tmm3", in(reg) out, in(reg) stride, options(nostack)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precision::Precision;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    /// The f64 product of the bf16-rounded operands.
    fn reference(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, ldr: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|t| f64::from(Precision::Bf16.round(a[i * k + t])) * f64::from(Precision::Bf16.round(b[t * ldr + j]))).sum();
                out[i * n + j] = s as f32;
            }
        }
        out
    }

    #[test]
    fn products_are_those_of_the_rounded_operands() {
        if Kernel::supported().is_empty() {
            eprintln!("skipped: this CPU has neither AMX nor AVX512-BF16 (the f32 path rounds instead, tested in precision)");
        }
        for &kernel in Kernel::supported() {
            // Odd k, rows and columns off the block and tile sizes, k past one KC block, a
            // strided rhs, whole AMX tiles.
            for (m, n, k) in [(1, 1, 1), (7, 65, 3), (13, 130, 33), (32, 200, 300), (6, 64, 256), (48, 96, 64), (17, 16, 576)] {
                let ldr = n + 5;
                let (a, b) = (values(m * k, 1), values(k * ldr, 2));
                let lhs = PackedLhs::for_kernel(kernel, &a, m, k);
                let ldd = n + 3;
                let mut dst = vec![f32::NAN; m * ldd];
                let check = |dst: &[f32], want: &[f32], what: String| {
                    for i in 0..m {
                        for j in 0..n {
                            let (got, w) = (dst[i * ldd + j], want[i * n + j]);
                            assert!((got - w).abs() <= 1e-5 * (k as f32).sqrt() + 1e-6 * w.abs(), "{what} [{i}][{j}]: {got} vs {w}");
                        }
                        // The padding between rows of dst is not written.
                        assert!(dst[i * ldd + n..(i + 1) * ldd].iter().all(|v| v.is_nan()), "{what}: wrote past column {n}");
                    }
                };
                // SAFETY: the CPU runs the kernel; the shapes are those of the buffers.
                unsafe { matmul(&lhs, n, b.as_ptr(), ldr, dst.as_mut_ptr(), ldd) };
                let want = reference(&a, &b, m, n, k, ldr);
                check(&dst, &want, format!("{kernel:?} {m}×{n}×{k}"));
                // The same right operand packed in pairs beforehand, read in place.
                let ld = pairs_stride(n);
                let mut pairs = vec![u32::MAX; lhs.pairs() * ld];
                for (p, out) in pairs.chunks_exact_mut(ld).enumerate() {
                    let row = |r: usize| (r < k).then(|| &b[r * ldr..r * ldr + n]);
                    match row(2 * p) {
                        Some(lo) => pack_pairs(lo, row(2 * p + 1), out),
                        None => out.fill(0),
                    }
                }
                dst.fill(f32::NAN);
                // SAFETY: as above, the operand in pairs `ld` apart.
                unsafe { matmul_pairs(&lhs, n, pairs.as_ptr(), ld, dst.as_mut_ptr(), ldd) };
                check(&dst, &want, format!("{kernel:?} in pairs {m}×{n}×{k}"));
            }
        }
    }
}
