//! DRN / DRN+ (Sun et al., arXiv 1907.02843), SPEC §1.2.
//!
//! ```text
//! RGB ─ MeanShift(−) ─ LFE conv3 ─ Y0 ─ RDG1 ─ … ─ RDG6 ─(+ Y0)─ conv3 64→64s² ─ PS(s) ─ conv3 64→3 ─ MeanShift(+)
//! RDG:  Z1 = Y ─ RDB1 ─ … ─ RDB9 ─ conv1 136→64 + ELU ─(+ Y)
//! RDB_k (D_k = 64 + 8(k−1) channels in):  t = ELU∘conv1(W→D_k+8) ∘ ELU∘conv3(W→W) ∘ ELU∘conv1(D_k→W) (Z_k)
//!                                         Z_{k+1} = concat(Z_k + t[:D_k], t[D_k:])
//! ```

use super::blocks::{Apply, Init, Upsampler, conv, conv_elu, count_conv, mean_shift};
use super::{ColorMode, Input, ModelKind, Paper};
use crate::complexity::Cost;
use crate::train::recipe::Recipe;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

#[derive(Config, Debug)]
pub struct DrnConfig {
    pub scale: usize,
    /// Trunk width: LFE, fusion and upsampler channels (64).
    #[config(default = 64)]
    pub features: usize,
    /// Residual distilling groups G.
    #[config(default = 6)]
    pub groups: usize,
    /// Residual distilling blocks per group K.
    #[config(default = 9)]
    pub blocks: usize,
    /// Channels distilled per block d.
    #[config(default = 8)]
    pub growth: usize,
    /// Inner width W of F_rd (N3: 64 for DRN, 256 for DRN+).
    #[config(default = 64)]
    pub inner_width: usize,
    /// ELU α.
    #[config(default = 0.2)]
    pub elu_alpha: f64,
    /// ELU after the last 1×1 of F_rd (N4).
    #[config(default = true)]
    pub rd_last_act: bool,
    /// ×4 as two ×2 stages instead of Table 1's single conv + PS(4) (N7).
    #[config(default = false)]
    pub two_step_x4: bool,
    #[config(default = 255.0)]
    pub rgb_range: f64,
}

impl DrnConfig {
    pub fn plus(scale: usize) -> Self {
        DrnConfig::new(scale).with_inner_width(256)
    }

    pub fn init(&self, device: &Device) -> Drn {
        let init = Init::PyTorchDefault;
        let f = self.features;
        Drn {
            lfe: conv(device, 3, f, 3, true, init),
            groups: (0..self.groups).map(|_| Rdg::new(device, self)).collect(),
            upsampler: Upsampler::new(device, f, self.scale, self.two_step_x4, init),
            output: conv(device, f, 3, 3, true, init),
            elu_alpha: self.elu_alpha,
            rd_last_act: self.rd_last_act,
            rgb_range: self.rgb_range,
        }
    }
}

#[derive(Module, Debug)]
pub struct Rdb {
    pub reduce: Conv2d,
    pub conv: Conv2d,
    pub expand: Conv2d,
}

#[derive(Module, Debug)]
pub struct Rdg {
    pub blocks: Vec<Rdb>,
    pub fuse: Conv2d,
}

impl Rdg {
    fn new(device: &Device, cfg: &DrnConfig) -> Self {
        let init = Init::PyTorchDefault;
        let w = cfg.inner_width;
        let blocks = (0..cfg.blocks)
            .map(|k| {
                let d = cfg.features + cfg.growth * k;
                Rdb {
                    reduce: conv(device, d, w, 1, true, init),
                    conv: conv(device, w, w, 3, true, init),
                    expand: conv(device, w, d + cfg.growth, 1, true, init),
                }
            })
            .collect();
        let out = cfg.features + cfg.growth * cfg.blocks;
        Rdg { blocks, fuse: conv(device, out, cfg.features, 1, true, init) }
    }
}

#[derive(Module, Debug)]
pub struct Drn {
    pub lfe: Conv2d,
    pub groups: Vec<Rdg>,
    pub upsampler: Upsampler,
    pub output: Conv2d,
    elu_alpha: f64,
    rd_last_act: bool,
    rgb_range: f64,
}

impl Drn {
    fn rdb(&self, b: &Rdb, z: Tensor<4>) -> Tensor<4> {
        let d = z.dims()[1];
        let t = conv_elu(&b.reduce, z.clone(), self.elu_alpha); // [N, W, H, W]
        let t = conv_elu(&b.conv, t, self.elu_alpha); // [N, W, H, W]
        let t = if self.rd_last_act { conv_elu(&b.expand, t, self.elu_alpha) } else { b.expand.apply(t) }; // [N, D+d, H, W]
        let growth = t.dims()[1] - d;
        Tensor::cat(vec![z + t.clone().narrow(1, 0, d), t.narrow(1, d, growth)], 1) // [N, D+d, H, W]
    }
}

impl Paper for Drn {
    const COLOR: ColorMode = ColorMode::Rgb;
    const INPUT: Input = Input::Lr;
    /// Batch, LR patch side and learning rate of the short CPU recipe.
    const QUICK: (usize, usize, f64) = (8, 32, 2e-4);

    fn paper_recipe(kind: ModelKind) -> Recipe {
        paper_recipe(kind == ModelKind::DrnPlus)
    }

    fn build(kind: ModelKind, scale: usize, device: &Device) -> Self {
        match kind {
            ModelKind::DrnPlus => DrnConfig::plus(scale),
            _ => DrnConfig::new(scale),
        }
        .init(device)
    }

    /// `lr`: `[N, 3, H, W]` RGB in [0, rgb_range] → `[N, 3, sH, sW]`.
    fn forward(&self, lr: Tensor<4>, _bicubic: Option<Tensor<4>>) -> Tensor<4> {
        let y0 = self.lfe.apply(mean_shift(lr, self.rgb_range, -1.0)); // [N, 64, H, W]
        let mut y = y0.clone();
        for g in &self.groups {
            let mut z = y.clone();
            for b in &g.blocks {
                z = self.rdb(b, z); // [N, 64 + 8k, H, W]
            }
            y = conv_elu(&g.fuse, z, self.elu_alpha) + y; // [N, 64, H, W]
        }
        let hr = self.upsampler.forward(y + y0); // [N, 64, sH, sW]
        mean_shift(self.output.apply(hr), self.rgb_range, 1.0) // [N, 3, sH, sW]
    }

    fn count(&self, cost: &mut Cost, scale: usize) {
        count_conv(cost, &self.lfe, 1, false);
        for g in &self.groups {
            for b in &g.blocks {
                count_conv(cost, &b.reduce, 1, true);
                count_conv(cost, &b.conv, 1, true);
                count_conv(cost, &b.expand, 1, self.rd_last_act);
            }
            count_conv(cost, &g.fuse, 1, true);
        }
        self.upsampler.count(cost);
        count_conv(cost, &self.output, scale * scale, false);
    }

    /// LFE, one 3×3 per distilling block, the upsampler's conv and the output conv.
    fn receptive_radius(&self, _scale: usize) -> usize {
        1 + self.groups.iter().map(|g| g.blocks.len()).sum::<usize>() + 2
    }
}

/// The paper's recipe (SPEC §3.1): EDSR's code, the lr halved every 200 epochs; DRN ≈ 800
/// epochs, DRN+ ≈ 300.
pub fn paper_recipe(plus: bool) -> Recipe {
    Recipe::edsr_code(0.999, 200_000, if plus { 300_000 } else { 800_000 })
}
