//! MATLAB-exact `imresize(I, scale, 'bicubic')` (antialiased when shrinking) and `modcrop`.
//!
//! Rules (SPEC §3.2): cubic kernel a = −0.5; output length `ceil(in·scale)`; when shrinking
//! the kernel is widened by `1/scale`; taps outside the image are clamped to the edge
//! (replicate); rows (height) first, then columns; integer images are rounded and
//! saturated after each 1-D pass, float images never.

use crate::color::{saturate_u8, saturate_u16};
use crate::plane::Plane;
use rayon::prelude::*;

/// A sample type that can pass through a 1-D resize (computed in f64).
pub trait Sample: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    /// The conversion MATLAB applies when storing a pass's result in this class.
    fn from_f64(v: f64) -> Self;
}

impl Sample for u8 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        saturate_u8(v)
    }
}

impl Sample for u16 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        saturate_u16(v)
    }
}

impl Sample for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Sample for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

fn cubic(x: f64) -> f64 {
    let a = x.abs();
    let (a2, a3) = (a * a, a * a * a);
    if a <= 1.0 {
        1.5 * a3 - 2.5 * a2 + 1.0
    } else if a <= 2.0 {
        -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0
    } else {
        0.0
    }
}

/// MATLAB's output length for a scale factor.
pub fn output_len(input: usize, scale: f64) -> usize {
    (input as f64 * scale).ceil() as usize
}

/// Precomputed taps of one 1-D resize: `taps` input indices and weights per output sample.
#[derive(Debug, Clone)]
pub struct Contributions {
    taps: usize,
    index: Vec<usize>,
    weight: Vec<f64>,
}

impl Contributions {
    /// MATLAB `contributions(in_length, out_length, scale, @cubic, 4, antialiasing=true)`.
    pub fn new(in_len: usize, out_len: usize, scale: f64) -> Self {
        assert!(in_len > 0 && out_len > 0, "resize of an empty dimension");
        let (kernel_scale, width) = if scale < 1.0 { (scale, 4.0 / scale) } else { (1.0, 4.0) };
        let taps = width.ceil() as usize + 2;
        let mut index = Vec::with_capacity(out_len * taps);
        let mut weight = Vec::with_capacity(out_len * taps);
        for x in 1..=out_len {
            let u = x as f64 / scale + 0.5 * (1.0 - 1.0 / scale);
            let left = (u - width / 2.0).floor() as i64;
            let start = weight.len();
            for t in 0..taps as i64 {
                let tap = left + t;
                weight.push(kernel_scale * cubic(kernel_scale * (u - tap as f64)));
                index.push((tap - 1).clamp(0, in_len as i64 - 1) as usize);
            }
            let sum: f64 = weight[start..].iter().sum();
            weight[start..].iter_mut().for_each(|w| *w /= sum);
        }
        Contributions { taps, index, weight }
    }

    fn output(&self, o: usize) -> (&[usize], &[f64]) {
        let r = o * self.taps..(o + 1) * self.taps;
        (&self.index[r.clone()], &self.weight[r])
    }
}

/// Resizes by `scale` (> 0) in both dimensions, as MATLAB `imresize(I, scale, 'bicubic')`.
pub fn imresize<T: Sample>(src: &Plane<T>, scale: f64) -> Plane<T> {
    imresize_to(src, output_len(src.width, scale), output_len(src.height, scale), scale, scale)
}

/// Resizes to `out_w`x`out_h` with explicit per-axis scales (MATLAB passes both).
pub fn imresize_to<T: Sample>(src: &Plane<T>, out_w: usize, out_h: usize, scale_x: f64, scale_y: f64) -> Plane<T> {
    let rows = Contributions::new(src.height, out_h, scale_y);
    let cols = Contributions::new(src.width, out_w, scale_x);
    let tall = resize_vertical(src, &rows);
    resize_horizontal(&tall, &cols)
}

/// Resizes a plane with explicit contributions (reused when many planes share a size).
pub fn resize_with<T: Sample>(src: &Plane<T>, rows: &Contributions, cols: &Contributions) -> Plane<T> {
    resize_horizontal(&resize_vertical(src, rows), cols)
}

fn resize_vertical<T: Sample>(src: &Plane<T>, c: &Contributions) -> Plane<T> {
    let w = src.width;
    let out_h = c.index.len() / c.taps;
    let mut out = vec![T::from_f64(0.0); w * out_h];
    out.par_chunks_mut(w.max(1)).enumerate().for_each_init(
        || vec![0.0f64; w],
        |acc, (o, row)| {
            acc.iter_mut().for_each(|a| *a = 0.0);
            let (idx, wt) = c.output(o);
            for (&i, &k) in idx.iter().zip(wt) {
                for (a, &s) in acc.iter_mut().zip(src.row(i)) {
                    *a += k * s.to_f64();
                }
            }
            row.iter_mut().zip(acc.iter()).for_each(|(d, &a)| *d = T::from_f64(a));
        },
    );
    Plane::new(w, out_h, out)
}

fn resize_horizontal<T: Sample>(src: &Plane<T>, c: &Contributions) -> Plane<T> {
    let out_w = c.index.len() / c.taps;
    let mut out = vec![T::from_f64(0.0); out_w * src.height];
    out.par_chunks_mut(out_w.max(1)).enumerate().for_each(|(y, row)| {
        let line = src.row(y);
        for (o, d) in row.iter_mut().enumerate() {
            let (idx, wt) = c.output(o);
            let mut a = 0.0;
            for (&i, &k) in idx.iter().zip(wt) {
                a += k * line[i].to_f64();
            }
            *d = T::from_f64(a);
        }
    });
    Plane::new(out_w, src.height, out)
}

/// MATLAB `modcrop`: keeps the top-left `H − H mod s` rows and `W − W mod s` columns.
pub fn modcrop<T: Copy>(p: &Plane<T>, scale: usize) -> Plane<T> {
    p.crop(0, 0, p.width - p.width % scale, p.height - p.height % scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_lengths_follow_ceil() {
        for &(n, s) in &[(10usize, 0.5f64), (9, 1.0 / 3.0), (7, 0.25), (5, 2.0), (5, 3.0)] {
            let out = output_len(n, s);
            assert_eq!(out, (n as f64 * s).ceil() as usize);
            let c = Contributions::new(n, out, s);
            for o in 0..out {
                let (_, w) = c.output(o);
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let p = Plane::filled(13, 9, 77u8);
        for s in [0.5, 1.0 / 3.0, 0.25, 2.0, 3.0, 4.0] {
            let r = imresize(&p, s);
            assert!(r.data.iter().all(|&v| v == 77), "scale {s}");
        }
    }

    #[test]
    fn downscale_by_two_of_a_ramp_is_the_pair_mean() {
        // A linear ramp is reproduced exactly by a symmetric kernel away from the borders.
        let p = Plane::from_fn(32, 4, |x, _| x as f64);
        let r = imresize(&p, 0.5);
        assert_eq!((r.width, r.height), (16, 2));
        for x in 3..13 {
            assert!((r.get(x, 0) - (2 * x) as f64 - 0.5).abs() < 1e-9, "x={x}: {}", r.get(x, 0));
        }
    }

    #[test]
    fn upscale_interpolates_known_samples() {
        // At integer scale the cubic kernel is interpolating: with scale 3 the output sample
        // at position 3k+1 (0-based) sits exactly on input sample k.
        let p = Plane::from_fn(8, 8, |x, y| ((x * 31 + y * 17) % 11) as f64);
        let r = imresize(&p, 3.0);
        for y in 0..8 {
            for x in 0..8 {
                assert!((r.get(3 * x + 1, 3 * y + 1) - p.get(x, y)).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn modcrop_keeps_top_left() {
        let p = Plane::from_fn(11, 7, |x, y| x + 100 * y);
        let c = modcrop(&p, 3);
        assert_eq!((c.width, c.height), (9, 6));
        assert_eq!(c.get(8, 5), 508);
    }
}
