//! ITU-R BT.601 colour conversion exactly as MATLAB's `rgb2ycbcr` / `ycbcr2rgb`
//! (studio range: Y in [16, 235], Cb/Cr in [16, 240]).
//!
//! Every function here works on the [0, 255] scale. MATLAB's double variants work on
//! [0, 1]; they differ from these by the factor 255 only.

use crate::plane::Plane;
pub use crate::plane::{saturate_u8, saturate_u16};

/// The forward matrix of `rgb2ycbcr` for RGB in [0, 1] and YCbCr in [0, 255].
const T: [[f64; 3]; 3] = [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]];
const OFFSET: [f64; 3] = [16.0, 128.0, 128.0];

/// Y of RGB on the [0, 255] scale, not rounded (MATLAB `rgb2ycbcr` of double data, ×255).
#[inline]
pub fn rgb_to_y(r: f64, g: f64, b: f64) -> f64 {
    (T[0][0] * r + T[0][1] * g + T[0][2] * b) / 255.0 + OFFSET[0]
}

/// Y of uint8 RGB as MATLAB's `rgb2ycbcr` on uint8 data: computed in double, then rounded.
#[inline]
pub fn rgb_to_y_u8(r: u8, g: u8, b: u8) -> u8 {
    let t = |c: f64| c / 255.0;
    saturate_u8(t(T[0][0]) * f64::from(r) + t(T[0][1]) * f64::from(g) + t(T[0][2]) * f64::from(b) + OFFSET[0])
}

/// (Y, Cb, Cr) of RGB on the [0, 255] scale, not rounded.
#[inline]
pub fn rgb_to_ycbcr(r: f64, g: f64, b: f64) -> [f64; 3] {
    std::array::from_fn(|p| (T[p][0] * r + T[p][1] * g + T[p][2] * b) / 255.0 + OFFSET[p])
}

/// Inverse of `T`, computed once (MATLAB `ycbcr2rgb` uses `inv(T)`).
fn t_inverse() -> [[f64; 3]; 3] {
    let m = T;
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let cof = |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    [
        [cof(1, 2, 1, 2) / det, -cof(0, 2, 1, 2) / det, cof(0, 1, 1, 2) / det],
        [-cof(1, 2, 0, 2) / det, cof(0, 2, 0, 2) / det, -cof(0, 1, 0, 2) / det],
        [cof(1, 2, 0, 1) / det, -cof(0, 2, 0, 1) / det, cof(0, 1, 0, 1) / det],
    ]
}

/// RGB of (Y, Cb, Cr) on the [0, 255] scale, not rounded (MATLAB `ycbcr2rgb`, ×255).
pub fn ycbcr_to_rgb(ycc: [f64; 3]) -> [f64; 3] {
    ycbcr_to_rgb_with(&t_inverse(), ycc)
}

#[inline]
fn ycbcr_to_rgb_with(inv: &[[f64; 3]; 3], ycc: [f64; 3]) -> [f64; 3] {
    let d = [ycc[0] - OFFSET[0], ycc[1] - OFFSET[1], ycc[2] - OFFSET[2]];
    std::array::from_fn(|p| 255.0 * (inv[p][0] * d[0] + inv[p][1] * d[1] + inv[p][2] * d[2]))
}

/// The Y plane of uint8 RGB planes, rounded as MATLAB's uint8 `rgb2ycbcr`.
pub fn y_plane_u8(rgb: &[Plane<u8>; 3]) -> Plane<u8> {
    let [r, g, b] = rgb;
    let data = (0..r.data.len()).map(|i| rgb_to_y_u8(r.data[i], g.data[i], b.data[i])).collect();
    Plane::new(r.width, r.height, data)
}

/// The Y plane of RGB planes on the [0, 255] scale, not rounded.
pub fn y_plane(rgb: &[Plane<f64>; 3]) -> Plane<f64> {
    let [r, g, b] = rgb;
    let data = (0..r.data.len()).map(|i| rgb_to_y(r.data[i], g.data[i], b.data[i])).collect();
    Plane::new(r.width, r.height, data)
}

/// YCbCr planes of RGB planes, [0, 255] scale, not rounded.
pub fn rgb_to_ycbcr_planes(rgb: &[Plane<f64>; 3]) -> [Plane<f64>; 3] {
    convert_planes(rgb, rgb_to_ycbcr)
}

/// RGB planes of YCbCr planes, [0, 255] scale, not rounded.
pub fn ycbcr_to_rgb_planes(ycc: &[Plane<f64>; 3]) -> [Plane<f64>; 3] {
    let inv = t_inverse();
    convert_planes(ycc, |a, b, c| ycbcr_to_rgb_with(&inv, [a, b, c]))
}

fn convert_planes(src: &[Plane<f64>; 3], f: impl Fn(f64, f64, f64) -> [f64; 3]) -> [Plane<f64>; 3] {
    let (w, h, n) = (src[0].width, src[0].height, src[0].data.len());
    let mut out: [Vec<f64>; 3] = std::array::from_fn(|_| Vec::with_capacity(n));
    for i in 0..n {
        let v = f(src[0].data[i], src[1].data[i], src[2].data[i]);
        for p in 0..3 {
            out[p].push(v[p]);
        }
    }
    out.map(|d| Plane::new(w, h, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_range_extremes() {
        assert_eq!(rgb_to_y(0.0, 0.0, 0.0), 16.0);
        assert!((rgb_to_y(255.0, 255.0, 255.0) - 235.0).abs() < 1e-12);
        assert_eq!(rgb_to_y_u8(255, 255, 255), 235);
        assert_eq!(rgb_to_y_u8(0, 0, 0), 16);
        let [_, cb, cr] = rgb_to_ycbcr(255.0, 0.0, 0.0);
        assert!((cb - (128.0 - 37.797)).abs() < 1e-9 && (cr - 240.0).abs() < 1e-9);
    }

    #[test]
    fn matlab_uint8_values() {
        // MATLAB: rgb2ycbcr(uint8([200 100 50])) = [123 85 181] ... Y computed by hand:
        // 65.481*200/255 + 128.553*100/255 + 24.966*50/255 + 16 = 122.66 -> 123
        assert_eq!(rgb_to_y_u8(200, 100, 50), 123);
    }

    #[test]
    fn round_trip_is_identity() {
        for &(r, g, b) in &[(0.0, 0.0, 0.0), (255.0, 128.0, 3.0), (17.5, 200.25, 99.0)] {
            let back = ycbcr_to_rgb(rgb_to_ycbcr(r, g, b));
            for (x, y) in back.iter().zip([r, g, b]) {
                assert!((x - y).abs() < 1e-9, "{back:?} vs {r},{g},{b}");
            }
        }
    }

    #[test]
    fn saturation_rounds_half_away_from_zero() {
        assert_eq!(saturate_u8(2.5), 3);
        assert_eq!(saturate_u8(-3.0), 0);
        assert_eq!(saturate_u8(300.0), 255);
        assert_eq!(saturate_u8(f64::NAN), 0);
        assert_eq!(saturate_u16(65535.6), 65535);
    }
}
