//! Parameters and multiply-adds counted from a built network (SPEC §2 conventions).
//!
//! `conv_macs` = Σ k·k·Cin·Cout over the convolutions, per LR pixel (a conv on a grid
//! `g` times the LR pixel count counts `g` times). `table3` = DCSCN Table 3's convention
//! ([`Table3Complexity`]): conv weights + biases + activations per pixel. Pixel shuffle, element-wise
//! adds/products and the bicubic are not in either.

use crate::models::Table3Complexity;
use serde::Serialize;

/// Accumulates per-LR-pixel costs while a network walks its layers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub conv_macs: u64,
    /// DCSCN Table 3's count ([`Table3Complexity`]).
    pub table3: u64,
}

impl Cost {
    /// One convolution with `macs` multiply-adds, `biases` bias adds and `activations`
    /// activation ops per output pixel, run on `grid` × the LR pixel count.
    pub fn conv(&mut self, macs: usize, biases: usize, activations: usize, grid: usize) {
        self.conv_macs += (macs * grid) as u64;
        self.table3 += ((macs + biases + activations) * grid) as u64;
    }

    /// An activation (e.g. a pre-activation PReLU) of `channels` channels on `grid`.
    pub fn activation(&mut self, channels: usize, grid: usize) {
        self.table3 += (channels * grid) as u64;
    }
}

/// The complexity report of one model at one scale (`sisr info`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Complexity {
    pub model: String,
    pub scale: usize,
    pub params: usize,
    pub macs_per_lr_pixel: u64,
    pub macs_per_hr_pixel: u64,
    #[serde(flatten)]
    pub table3: Table3Complexity,
    /// Multiply-adds (10⁹) to produce a 1280×720 output.
    pub gmacs_720p: f64,
}

impl Complexity {
    pub fn new(model: &str, scale: usize, params: usize, cost: Cost) -> Self {
        let s2 = (scale * scale) as u64;
        let per_hr = cost.conv_macs as f64 / s2 as f64;
        Complexity {
            model: model.to_string(),
            scale,
            params,
            macs_per_lr_pixel: cost.conv_macs,
            macs_per_hr_pixel: (per_hr).round() as u64,
            table3: Table3Complexity::new(&cost, scale),
            gmacs_720p: per_hr * 1280.0 * 720.0 / 1e9,
        }
    }
}
