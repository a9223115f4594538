//! DCSCN (Yamanaka et al., ICONIP 2017), paper / ver1 configuration (SPEC §1.4).
//!
//! ```text
//! Y_LR ─ FE1 ─ FE2 ─ … ─ FE7            (3×3 conv + bias + PReLU each, dropout in training)
//!          └─────┴── concat(h1..h7) ──┬─ A1 (1×1) ───────────────┐
//!                                     └─ B1 (1×1) ─ B2 (3×3) ────┴─ concat ─ L (1×1, no bias, s² ch) ─ PS(s) ─(+)─ Y_SR
//!                                                               bicubic↑s(Y_LR) ───────────────────────────┘
//! ```
//! Pixel range [0, 255] (C7); every conv runs on the LR grid.

use super::blocks::{Apply, Dropout, Init, conv, conv_prelu, conv_prelu_pair, count_conv, prelu, zeroed};
use super::{BICUBIC_RADIUS, ColorMode, Input, ModelKind, Paper, needed};
use crate::complexity::Cost;
use crate::train::recipe::{Clip, Loss, Optimizer, Recipe, Schedule};
use crate::weights::{ForeignLayout, Tensors};
use burn::nn::conv::Conv2d;
use burn::nn::{PRelu, PixelShuffle, PixelShuffleConfig};
use burn::prelude::*;
use std::collections::HashMap;

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
        let l = match conv(device, self.nin_a_filters + b, self.scale * self.scale, self.reconstruct_kernel, false, Init::HeNormal) {
            l if self.reconstruct_zero_init => zeroed(l),
            l => l,
        };
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
        self.dropout.forward(conv_prelu(&self.conv, &self.prelu, x))
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

impl Paper for Dcscn {
    const COLOR: ColorMode = ColorMode::Y;
    const INPUT: Input = Input::LrAndBicubic;
    /// Batch, LR patch side and learning rate of the short CPU recipe.
    const QUICK: (usize, usize, f64) = (16, 32, 1e-3);

    fn paper_recipe(_: ModelKind) -> Recipe {
        paper_recipe()
    }

    fn build(kind: ModelKind, scale: usize, device: &Device) -> Self {
        match kind {
            ModelKind::DcscnCompact => DcscnConfig::compact(scale),
            _ => DcscnConfig::new(scale),
        }
        .init(device)
    }

    /// `lr`: `[N, 1, H, W]`, `bicubic`: `[N, 1, sH, sW]` (MATLAB bicubic of `lr`), both [0, 255].
    fn forward(&self, lr: Tensor<4>, bicubic: Option<Tensor<4>>) -> Tensor<4> {
        let mut h = lr;
        let mut skips = Vec::with_capacity(self.feature.len());
        for layer in &self.feature {
            h = layer.forward(h); // [N, f_i, H, W]
            skips.push(h.clone());
        }
        let features = Tensor::cat(skips, 1); // [N, Σf, H, W]
        let (a, b1) = conv_prelu_pair((&self.a1.conv, &self.a1.prelu), (&self.b1.conv, &self.b1.prelu), features);
        let a = self.a1.dropout.forward(a); // [N, A, H, W]
        let b = self.b2.forward(self.b1.dropout.forward(b1)); // [N, B, H, W]
        let residual = self.l.apply(Tensor::cat(vec![a, b], 1)); // [N, s², H, W]
        self.shuffle.apply(residual) + needed(bicubic) // [N, 1, sH, sW]
    }

    fn count(&self, cost: &mut Cost, _scale: usize) {
        for layer in self.feature.iter().chain([&self.a1, &self.b1, &self.b2]) {
            count_conv(cost, &layer.conv, 1, true);
        }
        count_conv(cost, &self.l, 1, false);
    }

    /// The 3×3 feature layers, B2 and L's kernel on the LR grid, then the bicubic skip.
    fn receptive_radius(&self, _scale: usize) -> usize {
        let [_, _, k, _] = self.l.weight.lazy_shape().dims();
        self.feature.len() + 1 + k / 2 + BICUBIC_RADIUS
    }
}

/// DCSCN Table 3's complexity measure (conv weights + biases + activations per pixel), which
/// `sisr info` reports for every model beside the multiply-adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Table3Complexity {
    #[serde(rename = "dcscn_complexity_per_lr_pixel")]
    pub per_lr_pixel: u64,
    #[serde(rename = "dcscn_complexity_per_hr_pixel")]
    pub per_hr_pixel: u64,
}

impl Table3Complexity {
    /// From a [`Cost`]'s per-LR-pixel count at `scale`.
    pub fn new(cost: &Cost, scale: usize) -> Self {
        let s2 = (scale * scale) as f64;
        Table3Complexity { per_lr_pixel: cost.table3, per_hr_pixel: (cost.table3 as f64 / s2).round() as u64 }
    }
}

/// The paper's recipe (SPEC §3.1): MSE + L2 1e-4, Adam 2e-3 halved on a validation plateau,
/// batch 64 of 32×32 LR patches.
pub fn paper_recipe() -> Recipe {
    Recipe {
        name: "paper".into(),
        loss: Loss::Mse,
        optimizer: Optimizer::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        lr: 2e-3,
        weight_decay: 1e-4,
        bias_lr_mult: 1.0,
        schedule: Schedule::Plateau { patience: 5, factor: 0.5, min_lr: 2e-5 },
        clip: Clip::None,
        batch: 64,
        patch: 32,
        steps: 1_000_000,
        val_every: 1000,
        scales: vec![],
        seed: 1,
    }
}

/// The DCSCN authors' TF checkpoint layout (`conv0/conv_W`, …, `L/conv_W`; HWIO kernels),
/// imported into this module tree.
pub const AUTHORS_LAYOUT: ForeignLayout = ForeignLayout { model: authors_model, convert: authors_to_sisr };

/// Whether `tensors` are in the authors' layout.
pub fn is_authors_layout(tensors: &Tensors) -> bool {
    tensors.contains_key("conv0/conv_W") && tensors.contains_key("L/conv_W")
}

/// The variant and scale of an authors' checkpoint: 32 first-layer filters make c-DCSCN, and
/// the last layer has scale² outputs. Every kernel must be rank 4 (HWIO).
fn authors_model(tensors: &Tensors) -> Result<(ModelKind, usize), String> {
    if let Some((name, (shape, _))) = tensors.iter().find(|(name, (shape, _))| name.ends_with("conv_W") && shape.len() != 4) {
        return Err(format!("tensor `{name}` has shape {shape:?}; the DCSCN authors' kernels are rank 4 (HWIO)"));
    }
    let first = tensors["conv0/conv_W"].0[3];
    let l_out = tensors["L/conv_W"].0[3];
    let kind = if first == 32 { ModelKind::DcscnCompact } else { ModelKind::Dcscn };
    let scale = (l_out as f64).sqrt().round() as usize;
    if scale * scale != l_out || !kind.scales().contains(&scale) {
        return Err(format!("`L/conv_W` has {l_out} outputs, not the square of a supported scale"));
    }
    Ok((kind, scale))
}

/// The authors' TF names and HWIO kernels under this module tree's names, OIHW.
fn authors_to_sisr(tensors: &Tensors) -> Tensors {
    let mut out = HashMap::new();
    for (name, (shape, values)) in tensors {
        let parts: Vec<&str> = name.split('/').collect();
        let layer = match parts[0] {
            "A1" => "a1".to_string(),
            "B1" => "b1".to_string(),
            "B2" => "b2".to_string(),
            "L" => "l".to_string(),
            other => match other.strip_prefix("conv") {
                Some(i) => format!("feature.{i}"),
                None => other.to_string(),
            },
        };
        let conv = if layer == "l" { "l".to_string() } else { format!("{layer}.conv") };
        let (key, tensor) = match *parts.last().unwrap() {
            "conv_W" => (format!("{conv}.weight"), hwio_to_oihw(shape, values)),
            "conv_B" => (format!("{conv}.bias"), (shape.clone(), values.clone())),
            _ if parts.get(1) == Some(&"prelu") => (format!("{layer}.prelu.alpha"), (shape.clone(), values.clone())),
            _ => (name.clone(), (shape.clone(), values.clone())),
        };
        out.insert(key, tensor);
    }
    out
}

/// TF's [kh, kw, in, out] kernel as burn's [out, in, kh, kw].
fn hwio_to_oihw(shape: &[usize], values: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let [kh, kw, ci, co] = [shape[0], shape[1], shape[2], shape[3]];
    let mut out = vec![0.0; values.len()];
    for y in 0..kh {
        for x in 0..kw {
            for i in 0..ci {
                for o in 0..co {
                    out[((o * ci + i) * kh + y) * kw + x] = values[((y * kw + x) * ci + i) * co + o];
                }
            }
        }
    }
    (vec![co, ci, kh, kw], out)
}
