//! Upscaling whole images: colour handling (Y models on Y with Cb/Cr by MATLAB bicubic, RGB
//! models on RGB, gray kept gray), alpha by bicubic, 8/16-bit kept, and tiled inference in
//! stripes so that memory follows the tile size, not the image size.

use crate::infer::{run_planes_ensemble, upscale_colour};
use crate::models::Network;
use burn::prelude::*;
use sisr_image::color::{saturate_u8, saturate_u16};
use sisr_image::resize::imresize;
use sisr_image::{Image, Plane, Samples};
use std::ops::ControlFlow;

/// What upscales: a network, or plain MATLAB bicubic.
pub enum Upscaler {
    Bicubic {
        scale: usize,
    },
    /// Boxed: a network is far larger than the bicubic variant.
    Network(Box<Network>),
}

impl Upscaler {
    pub fn scale(&self) -> usize {
        match self {
            Upscaler::Bicubic { scale } => *scale,
            Upscaler::Network(n) => n.scale,
        }
    }

    /// This upscaler with its network running in `precision`; bicubic has no network, so only
    /// f32 suits it.
    pub fn with_precision(self, precision: crate::Precision) -> Result<Self, String> {
        match self {
            Upscaler::Network(n) => Ok(Upscaler::Network(Box::new(n.with_precision(precision)))),
            bicubic => precision.for_bicubic().map(|()| bicubic),
        }
    }

    /// Whether tiled inference equals whole-image inference (see [`Network::tiles_exactly`]).
    pub fn tiles_exactly(&self) -> bool {
        match self {
            Upscaler::Bicubic { .. } => true,
            Upscaler::Network(n) => n.tiles_exactly(),
        }
    }

    /// The LR tile side [`upscale_image`] uses for a `w`×`h` image asked to run in `tile`s:
    /// a model that does not tile exactly runs whole up to [`WHOLE_IMAGE_PIXELS`].
    pub fn effective_tile(&self, w: usize, h: usize, tile: usize) -> usize {
        if !self.tiles_exactly() && w * h <= WHOLE_IMAGE_PIXELS { 0 } else { tile }
    }

    fn margin(&self) -> usize {
        match self {
            Upscaler::Bicubic { .. } => 3,
            Upscaler::Network(n) => n.receptive_radius().max(3),
        }
    }
}

/// LR pixels up to which a model that does not tile exactly (DRFN) runs on the whole image:
/// 512×512, every benchmark image at every scale, and about 3 GB of feature maps for DRFN x4.
pub const WHOLE_IMAGE_PIXELS: usize = 512 * 512;

#[derive(Debug, Clone, Copy)]
pub struct UpscaleOptions {
    /// LR tile side; 0 = the whole image at once.
    pub tile: usize,
    pub ensemble: bool,
}

/// Interleaved samples → one channel on the [0, 255] scale, rows `y0..y1`.
fn channel_rows(img: &Image, c: usize, y0: usize, y1: usize) -> Plane<f64> {
    let n = img.layout.channels();
    let (start, end) = (y0 * img.width * n, y1 * img.width * n);
    let data: Vec<f64> = match &img.samples {
        Samples::U8(d) => d[start..end].iter().skip(c).step_by(n).map(|&v| f64::from(v)).collect(),
        Samples::U16(d) => d[start..end].iter().skip(c).step_by(n).map(|&v| f64::from(v) / 257.0).collect(),
    };
    Plane::new(img.width, y1 - y0, data)
}

/// Runs the network on `planes` tile by tile (tiles of `tile` columns, `margin` overlap).
fn network_tiles(net: &Network, planes: &[Plane<f64>], tile: usize, margin: usize, ensemble: bool, device: &Device) -> Vec<Plane<f64>> {
    let s = net.scale;
    let (w, h) = (planes[0].width, planes[0].height);
    // Tiles whose overlap would span the whole row run as one: same result, less work.
    let tile = if tile == 0 || tile + 2 * margin >= w { w } else { tile };
    let mut out: Vec<Plane<f64>> = planes.iter().map(|_| Plane::filled(w * s, h * s, 0.0)).collect();
    let mut x0 = 0;
    while x0 < w {
        let x1 = (x0 + tile).min(w);
        let (a, b) = (x0.saturating_sub(margin), (x1 + margin).min(w));
        let crops: Vec<Plane<f64>> = planes.iter().map(|p| p.crop(a, 0, b - a, h)).collect();
        let result = run_planes_ensemble(net, &crops, ensemble, device);
        for (o, r) in out.iter_mut().zip(&result) {
            for y in 0..h * s {
                let src = &r.data[y * r.width + (x0 - a) * s..y * r.width + (x1 - a) * s];
                o.data[y * o.width + x0 * s..y * o.width + x1 * s].copy_from_slice(src);
            }
        }
        x0 = x1;
    }
    out
}

/// Upscales the colour planes of one stripe (with its margin rows) and returns them on the HR grid.
fn upscale_stripe(up: &Upscaler, planes: Vec<Plane<f64>>, opts: &UpscaleOptions, margin: usize, device: &Device) -> Vec<Plane<f64>> {
    match up {
        Upscaler::Bicubic { scale } => planes.iter().map(|p| imresize(p, *scale as f64)).collect(),
        Upscaler::Network(net) => upscale_colour(net, planes, |p| network_tiles(net, p, opts.tile, margin, opts.ensemble, device)),
    }
}

/// The bytes of the samples of `img` upscaled by `scale` (what a result holds in memory), for
/// refusing a result over a memory limit before any work.
pub fn result_bytes(img: &Image, scale: usize) -> u64 {
    (img.width * scale) as u64 * (img.height * scale) as u64 * img.layout.channels() as u64 * if img.is_16bit() { 2 } else { 1 }
}

/// Upscales an image; `progress(done_rows, total_rows)` follows the stripes.
pub fn upscale_image(up: &Upscaler, img: &Image, opts: &UpscaleOptions, device: &Device, mut progress: impl FnMut(usize, usize)) -> Image {
    let run = upscale_image_until(up, img, opts, device, |done, total| {
        progress(done, total);
        ControlFlow::Continue(())
    });
    run.expect("never stopped")
}

/// [`upscale_image`] that can be stopped between stripes: `progress` returning
/// `ControlFlow::Break` ends the work and gives `None` (a cancelled web job).
pub fn upscale_image_until(
    up: &Upscaler,
    img: &Image,
    opts: &UpscaleOptions,
    device: &Device,
    mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
) -> Option<Image> {
    let s = up.scale();
    let (w, h) = (img.width, img.height);
    let (ow, oh) = (w * s, h * s);
    let n = img.layout.channels();
    let colour = img.layout.color_channels();
    let margin = up.margin();
    let opts = &UpscaleOptions { tile: up.effective_tile(w, h, opts.tile), ..*opts };
    let stripe = if opts.tile == 0 || opts.tile + 2 * margin >= h { h } else { opts.tile };
    let sixteen = img.is_16bit();
    let mut out8 = if sixteen { vec![] } else { vec![0u8; ow * oh * n] };
    let mut out16 = if sixteen { vec![0u16; ow * oh * n] } else { vec![] };
    let mut y0 = 0;
    while y0 < h {
        let y1 = (y0 + stripe).min(h);
        let (a, b) = (y0.saturating_sub(margin), (y1 + margin).min(h));
        let planes: Vec<Plane<f64>> = (0..colour).map(|c| channel_rows(img, c, a, b)).collect();
        let mut hr = upscale_stripe(up, planes, opts, margin, device);
        if img.layout.has_alpha() {
            hr.push(imresize(&channel_rows(img, n - 1, a, b), s as f64));
        }
        // Keep the stripe's own rows and store them in the output's depth.
        for (c, p) in hr.iter().enumerate() {
            for y in y0 * s..y1 * s {
                let row = &p.data[(y - a * s) * ow..(y - a * s + 1) * ow];
                for (x, &v) in row.iter().enumerate() {
                    let i = (y * ow + x) * n + c;
                    if sixteen {
                        out16[i] = saturate_u16(v * 257.0);
                    } else {
                        out8[i] = saturate_u8(v);
                    }
                }
            }
        }
        if progress(y1, h).is_break() {
            return None;
        }
        y0 = y1;
    }
    let samples = if sixteen { Samples::U16(out16) } else { Samples::U8(out8) };
    Some(Image { width: ow, height: oh, layout: img.layout, samples, icc_profile: img.icc_profile.clone() })
}
