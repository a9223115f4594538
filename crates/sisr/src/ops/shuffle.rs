//! Host kernels for pixel shuffle (sub-pixel upsampling, ESPCN) and its inverse, which is its
//! backward. burn builds the shuffle from a reshape, a six-axis permute and a reshape, and the
//! last reshape gathers the permuted tensor element by element, a tenth of a DRN training
//! step; here each output row is written from r input rows in one pass.

use rayon::prelude::*;

/// `[N, C·r², H, W]` ↔ `[N, C, rH, rW]`: out[n, c, r·y + i, r·x + j] = in[n, c·r² + r·i + j, y, x].
#[derive(Clone, Copy, Debug)]
pub struct Shuffle {
    /// Images × output channels (N·C).
    pub planes: usize,
    pub height: usize,
    pub width: usize,
    pub factor: usize,
}

impl Shuffle {
    /// `[N, C·r², H, W]` → `[N, C, rH, rW]`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let (h, w, r) = (self.height, self.width, self.factor);
        assert_eq!(x.len(), self.planes * r * r * h * w, "pixel shuffle input size");
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(r * r * h * w).zip(x.par_chunks(r * r * h * w)).for_each(|(out, x)| {
            for (row_index, row) in out.chunks_exact_mut(r * w).enumerate() {
                let (y, i) = (row_index / r, row_index % r);
                for j in 0..r {
                    let src = &x[(i * r + j) * h * w + y * w..][..w];
                    row.iter_mut().skip(j).step_by(r).zip(src).for_each(|(o, &v)| *o = v);
                }
            }
        });
        out
    }

    /// `[N, C, rH, rW]` → `[N, C·r², H, W]`, the forward's inverse and so its backward.
    pub fn inverse(&self, y: &[f32]) -> Vec<f32> {
        let (h, w, r) = (self.height, self.width, self.factor);
        assert_eq!(y.len(), self.planes * r * r * h * w, "pixel unshuffle input size");
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(r * r * h * w).zip(y.par_chunks(r * r * h * w)).for_each(|(out, y)| {
            for (row_index, row) in y.chunks_exact(r * w).enumerate() {
                let (yy, i) = (row_index / r, row_index % r);
                for j in 0..r {
                    let dst = &mut out[(i * r + j) * h * w + yy * w..][..w];
                    dst.iter_mut().zip(row.iter().skip(j).step_by(r)).for_each(|(o, &v)| *o = v);
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Shuffle;

    #[test]
    fn shuffle_follows_the_definition_and_inverts() {
        for (planes, height, width, factor) in [(2, 3, 4, 2), (3, 2, 5, 3), (1, 1, 1, 4)] {
            let s = Shuffle { planes, height, width, factor };
            let r = factor;
            let x: Vec<f32> = (0..planes * r * r * height * width).map(|v| v as f32).collect();
            let y = s.forward(&x);
            for p in 0..planes {
                for c in 0..r * r {
                    for yy in 0..height {
                        for xx in 0..width {
                            let (i, j) = (c / r, c % r);
                            let want = x[((p * r * r + c) * height + yy) * width + xx];
                            assert_eq!(y[(p * r * height + r * yy + i) * r * width + r * xx + j], want);
                        }
                    }
                }
            }
            assert_eq!(s.inverse(&y), x);
        }
    }
}
