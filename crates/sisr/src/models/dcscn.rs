//! DCSCN (Yamanaka et al., ICONIP 2017), paper / ver1 configuration (SPEC §1.4).
//!
//! ```text
//! Y_LR ─ FE1 ─ FE2 ─ … ─ FE7            (3×3 conv + bias + PReLU each, dropout in training)
//!          └─────┴── concat(h1..h7) ──┬─ A1 (1×1) ───────────────┐
//!                                     └─ B1 (1×1) ─ B2 (3×3) ────┴─ concat ─ L (1×1, no bias, s² ch) ─ PS(s) ─(+)─ Y_SR
//!                                                               bicubic↑s(Y_LR) ───────────────────────────┘
//! ```
//! Pixel range [0, 255] (C7); every conv runs on the LR grid.

use super::blocks::{Dropout, Init, conv, conv_forward, count_conv, prelu, prelu_forward, shuffle_forward};
use crate::complexity::Cost;
use burn::nn::conv::Conv2d;
use burn::nn::{Initializer, PRelu, PixelShuffle, PixelShuffleConfig};
use burn::prelude::*;

#[derive(Config, Debug)]
pub struct DcscnConfig {
    pub scale: usize,
    /// Feature-extraction layers (paper: 7).
    #[config(default = 7)]
    pub layers: usize,
    /// Filters of the first layer (paper: 96; c-DCSCN 32).
    #[config(default = 96)]
    pub filters: usize,
    /// Filters of the last layer (paper: 32; c-DCSCN 8).
    #[config(default = 32)]
    pub min_filters: usize,
    /// Decay exponent of the filter schedule (paper: 1.5; c-DCSCN 1.2).
    #[config(default = 1.5)]
    pub filters_decay_gamma: f64,
    /// A1 filters (paper: 64; c-DCSCN 24).
    #[config(default = 64)]
    pub nin_a_filters: usize,
    /// B1 = B2 filters (paper: 32; c-DCSCN 8).
    #[config(default = 32)]
    pub nin_b_filters: usize,
    /// Kernel of L (C1: 1; the README's "large" model uses 3).
    #[config(default = 1)]
    pub reconstruct_kernel: usize,
    /// Dropout keep probability after every PReLU in training (C4).
    #[config(default = 0.8)]
    pub dropout_keep: f64,
    /// Initial PReLU slope (C5: paper 0; the ver1 code uses 0.1).
    #[config(default = 0.0)]
    pub prelu_init: f64,
    /// Start L at zero, so that training starts from the bicubic skip. He-initialised L on
    /// [0, 255] input makes an initial residual of about ±160 grey levels, and Adam then drives
    /// every PReLU of A1/B2 negative: the network collapses to the bicubic (measured).
    #[config(default = true)]
    pub reconstruct_zero_init: bool,
}

impl DcscnConfig {
    /// c-DCSCN of Table 1.
    pub fn compact(scale: usize) -> Self {
        DcscnConfig::new(scale).with_filters(32).with_min_filters(8).with_filters_decay_gamma(1.2).with_nin_a_filters(24).with_nin_b_filters(8)
    }

    /// The ver1 filter schedule `f_i = int((filters − min)·(1 − (i/(L−1))^(1/γ)) + min)`.
    pub fn feature_filters(&self) -> Vec<usize> {
        let l = self.layers;
        (0..l)
            .map(|i| {
                if i == 0 {
                    return self.filters;
                }
                let x = (i as f64 / (l - 1) as f64).powf(1.0 / self.filters_decay_gamma);
                ((self.filters - self.min_filters) as f64 * (1.0 - x) + self.min_filters as f64) as usize
            })
            .collect()
    }

    pub fn init(&self, device: &Device) -> Dcscn {
        let filters = self.feature_filters();
        let mut cin = 1;
        let feature = filters
            .iter()
            .map(|&f| {
                let layer = ConvPrelu::new(device, cin, f, 3, self);
                cin = f;
                layer
            })
            .collect();
        let total: usize = filters.iter().sum();
        let b = self.nin_b_filters;
        let mut l = conv(device, self.nin_a_filters + b, self.scale * self.scale, self.reconstruct_kernel, false, Init::HeNormal);
        if self.reconstruct_zero_init {
            l.weight = Initializer::Zeros.init(l.weight.shape(), device);
        }
        Dcscn {
            feature,
            a1: ConvPrelu::new(device, total, self.nin_a_filters, 1, self),
            b1: ConvPrelu::new(device, total, b, 1, self),
            b2: ConvPrelu::new(device, b, b, 3, self),
            l,
            shuffle: PixelShuffleConfig::new(self.scale).init(),
        }
    }
}

/// conv + bias + PReLU + dropout (keep 0.8, inverted scaling, training only).
#[derive(Module, Debug)]
pub struct ConvPrelu {
    pub conv: Conv2d,
    pub prelu: PRelu,
    dropout: Dropout,
}

impl ConvPrelu {
    fn new(device: &Device, cin: usize, cout: usize, k: usize, cfg: &DcscnConfig) -> Self {
        ConvPrelu {
            conv: conv(device, cin, cout, k, true, Init::HeNormal),
            prelu: prelu(device, cout, cfg.prelu_init),
            dropout: Dropout::new(cfg.dropout_keep),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.dropout.forward(prelu_forward(&self.prelu, conv_forward(&self.conv, x)))
    }
}

#[derive(Module, Debug)]
pub struct Dcscn {
    pub feature: Vec<ConvPrelu>,
    pub a1: ConvPrelu,
    pub b1: ConvPrelu,
    pub b2: ConvPrelu,
    pub l: Conv2d,
    shuffle: PixelShuffle,
}

impl Dcscn {
    /// `lr`: `[N, 1, H, W]`, `bicubic`: `[N, 1, sH, sW]` (MATLAB bicubic of `lr`), both [0, 255].
    pub fn forward(&self, lr: Tensor<4>, bicubic: Tensor<4>) -> Tensor<4> {
        let mut h = lr;
        let mut skips = Vec::with_capacity(self.feature.len());
        for layer in &self.feature {
            h = layer.forward(h); // [N, f_i, H, W]
            skips.push(h.clone());
        }
        let features = Tensor::cat(skips, 1); // [N, Σf, H, W]
        let a = self.a1.forward(features.clone()); // [N, A, H, W]
        let b = self.b2.forward(self.b1.forward(features)); // [N, B, H, W]
        let residual = conv_forward(&self.l, Tensor::cat(vec![a, b], 1)); // [N, s², H, W]
        shuffle_forward(&self.shuffle, residual) + bicubic // [N, 1, sH, sW]
    }

    pub fn count(&self, cost: &mut Cost) {
        for layer in self.feature.iter().chain([&self.a1, &self.b1, &self.b2]) {
            count_conv(cost, &layer.conv, 1, true);
        }
        count_conv(cost, &self.l, 1, false);
    }
}
