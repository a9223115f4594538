//! GLRL (Hou, Si, Li, 2018), SPEC §1.3: bicubic-upsampled Y in, local residual blocks with
//! a shallow and a deep branch, PReLU pre-activations, one reconstruction shared by every
//! block output, learned weights over the outputs. Every conv runs on the HR grid.
//!
//! ```text
//! I = bicubic↑s(Y_LR) ─ FE1 ─ PReLU ─ FE2 ─ x0 ─ LRB1 ─ x1 ─ LRB2 ─ x2 ─ LRB3 ─ x3
//!                                                 y_u = REC(x_u) + I,   out = Σ w_u y_u
//! LRB(x) = conv(PReLU(x))                                            shallow branch
//!        + h2,  h1 = x + conv(PReLU(conv(PReLU(x)))),  h2 = x + conv(PReLU(conv(PReLU(h1))))
//! REC(z) = conv F→1 (PReLU(conv F→F (PReLU(z))))
//! ```
//! Pixel range [0, 1] inside the network (`im2double`); the interface is [0, 255].

use super::blocks::{Apply, Init, conv, count_conv, prelu};
use super::{BICUBIC_RADIUS, ColorMode, Input, ModelKind, Paper, needed};
use crate::complexity::Cost;
use crate::train::recipe::{Clip, Loss, Optimizer, Recipe, Schedule};
use burn::module::Param;
use burn::nn::PRelu;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

#[derive(Config, Debug)]
pub struct GlrlConfig {
    /// Filters F (G1: 64; 128 variant).
    #[config(default = 64)]
    pub filters: usize,
    /// Local residual blocks (Table 1: 3).
    #[config(default = 3)]
    pub blocks: usize,
    /// Share the two residual units of each deep branch, DRRN-style (G5).
    #[config(default = false)]
    pub share_units: bool,
    /// Initial PReLU slope (G3: Caffe default 0.25).
    #[config(default = 0.25)]
    pub prelu_init: f64,
}

impl GlrlConfig {
    pub fn init(&self, device: &Device) -> Glrl {
        let f = self.filters;
        let unit = || PreActConv::new(device, f, f, self.prelu_init);
        let blocks = (0..self.blocks).map(|_| Lrb { shallow: unit(), unit1: (unit(), unit()), unit2: (!self.share_units).then(|| (unit(), unit())) }).collect();
        let n = self.blocks;
        Glrl {
            fe1: conv(device, 1, f, 3, true, Init::HeNormal),
            fe2: unit(),
            blocks,
            rec1: unit(),
            rec2: PreActConv::new(device, f, 1, self.prelu_init),
            output_weights: Param::from_tensor(Tensor::full([n], 1.0 / n as f64, device)),
        }
    }
}

/// PReLU then conv 3×3 (pre-activation, eq. 11).
#[derive(Module, Debug)]
pub struct PreActConv {
    pub prelu: PRelu,
    pub conv: Conv2d,
}

impl PreActConv {
    fn new(device: &Device, cin: usize, cout: usize, slope: f64) -> Self {
        PreActConv { prelu: prelu(device, cin, slope), conv: conv(device, cin, cout, 3, true, Init::HeNormal) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.apply(self.prelu.apply(x))
    }

    fn count(&self, cost: &mut Cost, grid: usize) {
        let [_, cin, _, _] = self.conv.weight.lazy_shape().dims();
        cost.activation(cin, grid);
        count_conv(cost, &self.conv, grid, false);
    }
}

/// Local residual block: shallow branch + two residual units (deep branch).
#[derive(Module, Debug)]
pub struct Lrb {
    pub shallow: PreActConv,
    pub unit1: (PreActConv, PreActConv),
    /// `None` when the units share weights (then `unit1` runs twice).
    pub unit2: Option<(PreActConv, PreActConv)>,
}

impl Lrb {
    /// `[N, F, H, W] -> [N, F, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = self.shallow.forward(x.clone());
        let (a1, b1) = &self.unit1;
        let h1 = x.clone() + b1.forward(a1.forward(x.clone()));
        let (a2, b2) = self.unit2.as_ref().unwrap_or(&self.unit1);
        let h2 = x + b2.forward(a2.forward(h1));
        h2 + s
    }

    fn count(&self, cost: &mut Cost, grid: usize) {
        self.shallow.count(cost, grid);
        let (a1, b1) = &self.unit1;
        let (a2, b2) = self.unit2.as_ref().unwrap_or(&self.unit1);
        for u in [a1, b1, a2, b2] {
            u.count(cost, grid);
        }
    }
}

#[derive(Module, Debug)]
pub struct Glrl {
    pub fe1: Conv2d,
    pub fe2: PreActConv,
    pub blocks: Vec<Lrb>,
    pub rec1: PreActConv,
    pub rec2: PreActConv,
    pub output_weights: Param<Tensor<1>>,
}

impl Paper for Glrl {
    const COLOR: ColorMode = ColorMode::Y;
    const INPUT: Input = Input::Bicubic;
    /// Batch, HR patch side and learning rate of the short CPU recipe.
    const QUICK: (usize, usize, f64) = (16, 31, 0.1);

    fn paper_recipe(_: ModelKind) -> Recipe {
        paper_recipe()
    }

    /// One network serves every scale.
    fn build(kind: ModelKind, _scale: usize, device: &Device) -> Self {
        let config = GlrlConfig::new();
        match kind {
            ModelKind::Glrl128 => config.with_filters(128),
            _ => config,
        }
        .init(device)
    }

    /// Reads only `bicubic`: `[N, 1, sH, sW]` MATLAB bicubic of the LR Y, [0, 255] → `[N, 1, sH, sW]`.
    fn forward(&self, _lr: Tensor<4>, bicubic: Option<Tensor<4>>) -> Tensor<4> {
        let input = needed(bicubic).div_scalar(255.0);
        let mut x = self.fe2.forward(self.fe1.apply(input.clone())); // [N, F, sH, sW]
        let weights = self.output_weights.val();
        let mut out: Option<Tensor<4>> = None;
        for (u, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            let y = self.rec2.forward(self.rec1.forward(x.clone())) + input.clone(); // [N, 1, sH, sW]
            let w = weights.clone().narrow(0, u, 1).reshape([1, 1, 1, 1]);
            let weighted = y * w;
            out = Some(match out {
                Some(o) => o + weighted,
                None => weighted,
            });
        }
        out.expect("GLRL has at least one block").mul_scalar(255.0)
    }

    fn count(&self, cost: &mut Cost, scale: usize) {
        let grid = scale * scale;
        count_conv(cost, &self.fe1, grid, false);
        self.fe2.count(cost, grid);
        for b in &self.blocks {
            b.count(cost, grid);
            self.rec1.count(cost, grid);
            self.rec2.count(cost, grid);
        }
    }

    /// On the HR grid: FE 2, each LRB's deep branch 4, REC 2.
    fn receptive_radius(&self, scale: usize) -> usize {
        (4 + 4 * self.blocks.len()).div_ceil(scale) + BICUBIC_RADIUS
    }
}

/// The paper's recipe (SPEC §3.1, DRRN's solver): Euclidean loss, SGD momentum 0.9, weight
/// decay 1e-4, lr 0.1 (biases ×0.1) halved every 10 epochs of 6,536 steps, adjustable gradient
/// clipping θ = 0.01, batch 32 of 31×31 patches of ×2, ×3 and ×4 pooled.
pub fn paper_recipe() -> Recipe {
    Recipe {
        name: "paper".into(),
        loss: Loss::Euclidean,
        optimizer: Optimizer::Sgd { momentum: 0.9 },
        lr: 0.1,
        weight_decay: 1e-4,
        bias_lr_mult: 0.1,
        schedule: Schedule::Step { every: 65_360, gamma: 0.5 },
        clip: Clip::Adjustable { theta: 0.01 },
        batch: 32,
        patch: 31,
        steps: 496_736,
        val_every: 6536,
        scales: vec![2, 3, 4],
        seed: 1,
    }
}
