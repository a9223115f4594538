//! PSNR and SSIM as in the papers' tables (SPEC §3.3): data range 255, a border of `shave`
//! pixels removed on every side first, SSIM = Wang et al.'s `ssim_index.m` (11×11 Gaussian
//! window σ = 1.5, K1 = 0.01, K2 = 0.03, 'valid' filtering, mean of the map).

use crate::plane::Plane;

const L: f64 = 255.0;
const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;

/// PSNR in dB of two planes on the [0, 255] scale after removing `shave` pixels per side.
/// Identical planes give `f64::INFINITY`.
pub fn psnr(a: &Plane<f64>, b: &Plane<f64>, shave: usize) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "PSNR of planes of different sizes");
    let (a, b) = (a.shave(shave), b.shave(shave));
    let mse = a.data.iter().zip(&b.data).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.data.len() as f64;
    10.0 * (L * L / mse).log10()
}

/// The normalised 1-D Gaussian whose outer product is MATLAB's `fspecial('gaussian', 11, 1.5)`.
fn gaussian_1d() -> [f64; WINDOW] {
    let half = (WINDOW / 2) as f64;
    let mut g: [f64; WINDOW] = std::array::from_fn(|i| (-((i as f64 - half).powi(2)) / (2.0 * SIGMA * SIGMA)).exp());
    let sum: f64 = g.iter().sum();
    g.iter_mut().for_each(|v| *v /= sum);
    g
}

/// `filter2(window, x, 'valid')` with the separable Gaussian window.
fn filter_valid(x: &Plane<f64>, g: &[f64; WINDOW]) -> Plane<f64> {
    let (ow, oh) = (x.width - WINDOW + 1, x.height - WINDOW + 1);
    let mut rows = Vec::with_capacity(ow * x.height);
    for y in 0..x.height {
        let line = x.row(y);
        for o in 0..ow {
            rows.push(g.iter().zip(&line[o..o + WINDOW]).map(|(k, v)| k * v).sum::<f64>());
        }
    }
    let mut out = Vec::with_capacity(ow * oh);
    for o in 0..oh {
        for c in 0..ow {
            out.push((0..WINDOW).map(|k| g[k] * rows[(o + k) * ow + c]).sum::<f64>());
        }
    }
    Plane::new(ow, oh, out)
}

/// SSIM (`ssim_index.m`, default parameters) after removing `shave` pixels per side.
pub fn ssim(a: &Plane<f64>, b: &Plane<f64>, shave: usize) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "SSIM of planes of different sizes");
    let (a, b) = (a.shave(shave), b.shave(shave));
    assert!(a.width >= WINDOW && a.height >= WINDOW, "SSIM needs at least 11x11 pixels after the shave");
    let g = gaussian_1d();
    let prod = |p: &Plane<f64>, q: &Plane<f64>| Plane::new(p.width, p.height, p.data.iter().zip(&q.data).map(|(x, y)| x * y).collect());
    let mu1 = filter_valid(&a, &g);
    let mu2 = filter_valid(&b, &g);
    let s11 = filter_valid(&prod(&a, &a), &g);
    let s22 = filter_valid(&prod(&b, &b), &g);
    let s12 = filter_valid(&prod(&a, &b), &g);
    let c1 = (0.01 * L).powi(2);
    let c2 = (0.03 * L).powi(2);
    let n = mu1.data.len();
    let total: f64 = (0..n)
        .map(|i| {
            let (m1, m2) = (mu1.data[i], mu2.data[i]);
            let (m11, m22, m12) = (m1 * m1, m2 * m2, m1 * m2);
            let (v1, v2, v12) = (s11.data[i] - m11, s22.data[i] - m22, s12.data[i] - m12);
            ((2.0 * m12 + c1) * (2.0 * v12 + c2)) / ((m11 + m22 + c1) * (v1 + v2 + c2))
        })
        .sum();
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: usize, h: usize, seed: u64) -> Plane<f64> {
        let mut s = seed;
        let data = (0..w * h)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) % 256) as f64
            })
            .collect();
        Plane::new(w, h, data)
    }

    #[test]
    fn identical_planes() {
        let a = noise(40, 30, 1);
        assert_eq!(psnr(&a, &a, 2), f64::INFINITY);
        assert!((ssim(&a, &a, 2) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn psnr_of_a_constant_offset() {
        let a = noise(40, 30, 2);
        let b = a.map(|v| v + 5.0);
        // MSE = 25 -> PSNR = 10 log10(255² / 25)
        assert!((psnr(&a, &b, 3) - 10.0 * (255.0f64 * 255.0 / 25.0).log10()).abs() < 1e-12);
    }

    #[test]
    fn separable_filter_equals_the_2d_window() {
        // fspecial('gaussian', 11, 1.5): exp(-(x²+y²)/(2σ²)) normalised over the 11×11 window.
        let x = noise(15, 13, 5);
        let mut w2 = [[0.0f64; WINDOW]; WINDOW];
        for (i, row) in w2.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (-(((i as f64 - 5.0).powi(2) + (j as f64 - 5.0).powi(2)) / (2.0 * SIGMA * SIGMA))).exp();
            }
        }
        let total: f64 = w2.iter().flatten().sum();
        let f = filter_valid(&x, &gaussian_1d());
        assert_eq!((f.width, f.height), (5, 3));
        for oy in 0..3 {
            for ox in 0..5 {
                let direct: f64 = (0..WINDOW).flat_map(|i| (0..WINDOW).map(move |j| (i, j))).map(|(i, j)| w2[i][j] / total * x.get(ox + j, oy + i)).sum();
                assert!((f.get(ox, oy) - direct).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn ssim_drops_with_noise_and_is_symmetric() {
        let a = noise(48, 48, 3);
        let b = noise(48, 48, 4);
        let mixed = Plane::new(48, 48, a.data.iter().zip(&b.data).map(|(x, y)| 0.8 * x + 0.2 * y).collect());
        let s1 = ssim(&a, &mixed, 0);
        assert!(s1 < 1.0 && s1 > ssim(&a, &b, 0));
        assert!((s1 - ssim(&mixed, &a, 0)).abs() < 1e-12);
    }
}
