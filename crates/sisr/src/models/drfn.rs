//! DRFN (Wang, Lan, Gao, 2020), SPEC §1.1: RCAN-style residual attention groups with
//! channel then spatial attention, and a feature-fusion branch over adjacent group outputs.
//!
//! ```text
//! RGB ─ MeanShift(−) ─ head conv3 ─ F0 ─ RAG1 ─ F1 ─ … ─ RAG16 ─ F16
//!   FF: P_g = conv1(cat(F_{g−1}, F_g)), Q_g = P_g ⊙ SA_g(P_g), F_FF = conv1(cat(Q_1..Q_16))
//!   F_DF = F16 + F_FF + F0 ─ Upsampler ─ tail conv3 64→3 ─ MeanShift(+)
//! RAG: X_m = X_{m−1} + conv3(ReLU(conv3(X_{m−1}))), m = 1..M;  C = X_M ⊙ CA(X_M);  F = C ⊙ SA(C) + F_{g−1}
//! ```

use super::blocks::{Apply, CamPool, ChannelAttention, Init, SpatialAttention, Upsampler, conv, count_conv, mean_shift, zeroed};
use super::{ColorMode, Input, ModelKind, Paper};
use crate::complexity::Cost;
use crate::train::recipe::Recipe;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Config, Debug)]
pub struct DrfnConfig {
    pub scale: usize,
    #[config(default = 64)]
    pub features: usize,
    /// Residual attention groups G.
    #[config(default = 16)]
    pub groups: usize,
    /// Residual blocks per group M (D13: 8 in the text, 4 for the 5.2M budget).
    #[config(default = 8)]
    pub blocks: usize,
    /// Channel-attention reduction (64 → 4).
    #[config(default = 16)]
    pub reduction: usize,
    /// Spatial-attention kernel.
    #[config(default = 7)]
    pub sam_kernel: usize,
    /// Channel-attention pooling (D3).
    #[config(default = "CamPool::Avg")]
    pub cam_pool: CamPool,
    /// RCAN's trailing 3×3 conv in each group before its skip (D6).
    #[config(default = false)]
    pub rag_tail_conv: bool,
    /// Include the shallow feature F0 in the fusion pairs: 16 pairs, else 15 (D8).
    #[config(default = true)]
    pub fuse_shallow: bool,
    /// ×4 as two ×2 stages (D10, EDSR Upsampler).
    #[config(default = true)]
    pub two_step_x4: bool,
    #[config(default = 255.0)]
    pub rgb_range: f64,
    /// Start the tail conv at zero, so that the untrained network outputs the mean colour.
    /// PyTorch's default initialisation on [0, 255] input gives an output hundreds of grey
    /// levels off (mean L1 184 over the first 200 steps, measured), and from there a from-scratch
    /// run stayed under bicubic for 1,200 steps; from zero it passed bicubic by step 1,000.
    #[config(default = true)]
    pub tail_zero_init: bool,
}

impl DrfnConfig {
    /// The configuration of `drfn` (the text's G16 M8) or `drfn-5m` (G16 M4).
    pub fn of(kind: ModelKind, scale: usize) -> Self {
        let config = DrfnConfig::new(scale);
        match kind {
            ModelKind::Drfn5m => config.with_blocks(4),
            _ => config,
        }
    }

    pub fn init(&self, device: &Device) -> Drfn {
        let init = Init::PyTorchDefault;
        let f = self.features;
        let pairs = if self.fuse_shallow { self.groups } else { self.groups - 1 };
        Drfn {
            head: conv(device, 3, f, 3, true, init),
            groups: (0..self.groups).map(|_| Rag::new(device, self)).collect(),
            fusion_pairs: (0..pairs).map(|_| (conv(device, 2 * f, f, 1, true, init), SpatialAttention::new(device, self.sam_kernel, init))).collect(),
            fusion: conv(device, pairs * f, f, 1, true, init),
            upsampler: Upsampler::new(device, f, self.scale, self.two_step_x4, init),
            tail: match conv(device, f, 3, 3, true, init) {
                tail if self.tail_zero_init => zeroed(tail),
                tail => tail,
            },
            rgb_range: self.rgb_range,
            fuse_shallow: self.fuse_shallow,
        }
    }
}

#[derive(Module, Debug)]
pub struct ResBlock {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
}

/// Residual attention group.
#[derive(Module, Debug)]
pub struct Rag {
    pub blocks: Vec<ResBlock>,
    pub tail: Option<Conv2d>,
    pub ca: ChannelAttention,
    pub sa: SpatialAttention,
}

impl Rag {
    fn new(device: &Device, cfg: &DrfnConfig) -> Self {
        let init = Init::PyTorchDefault;
        let f = cfg.features;
        Rag {
            blocks: (0..cfg.blocks).map(|_| ResBlock { conv1: conv(device, f, f, 3, true, init), conv2: conv(device, f, f, 3, true, init) }).collect(),
            tail: cfg.rag_tail_conv.then(|| conv(device, f, f, 3, true, init)),
            ca: ChannelAttention::new(device, f, cfg.reduction, cfg.cam_pool, init),
            sa: SpatialAttention::new(device, cfg.sam_kernel, init),
        }
    }

    /// `[N, C, H, W] -> [N, C, H, W]`
    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        for b in &self.blocks {
            x = x.clone() + b.conv2.apply(relu(b.conv1.apply(x)));
        }
        if let Some(t) = &self.tail {
            x = t.apply(x);
        }
        let c = x.clone() * self.ca.forward(x); // channel attention, [N, C, 1, 1] broadcast
        let s = c.clone() * self.sa.forward(c); // spatial attention, [N, 1, H, W] broadcast
        s + input
    }

    fn count(&self, cost: &mut Cost) {
        for b in &self.blocks {
            count_conv(cost, &b.conv1, 1, true);
            count_conv(cost, &b.conv2, 1, false);
        }
        if let Some(t) = &self.tail {
            count_conv(cost, t, 1, false);
        }
        self.ca.count(cost);
        self.sa.count(cost, 1);
    }
}

#[derive(Module, Debug)]
pub struct Drfn {
    pub head: Conv2d,
    pub groups: Vec<Rag>,
    pub fusion_pairs: Vec<(Conv2d, SpatialAttention)>,
    pub fusion: Conv2d,
    pub upsampler: Upsampler,
    pub tail: Conv2d,
    rgb_range: f64,
    fuse_shallow: bool,
}

impl Paper for Drfn {
    const COLOR: ColorMode = ColorMode::Rgb;
    const INPUT: Input = Input::Lr;
    /// Batch, LR patch side and learning rate of the short CPU recipe.
    const QUICK: (usize, usize, f64) = (8, 32, 2e-4);

    fn paper_recipe(_: ModelKind) -> Recipe {
        paper_recipe()
    }

    /// DRFN-5m is G16 M4, the paper's 5.2M-parameter budget.
    fn build(kind: ModelKind, scale: usize, device: &Device) -> Self {
        DrfnConfig::of(kind, scale).init(device)
    }

    /// `lr`: `[N, 3, H, W]` RGB in [0, rgb_range] → `[N, 3, sH, sW]`.
    fn forward(&self, lr: Tensor<4>, _bicubic: Option<Tensor<4>>) -> Tensor<4> {
        let f0 = self.head.apply(mean_shift(lr, self.rgb_range, -1.0)); // [N, 64, H, W]
        let mut features = vec![f0.clone()];
        for g in &self.groups {
            let next = g.forward(features.last().unwrap().clone());
            features.push(next); // F_g: [N, 64, H, W]
        }
        let first = if self.fuse_shallow { 0 } else { 1 };
        let fused: Vec<Tensor<4>> = self
            .fusion_pairs
            .iter()
            .enumerate()
            .map(|(i, (pair_conv, sa))| {
                let g = first + i;
                let p = pair_conv.apply(Tensor::cat(vec![features[g].clone(), features[g + 1].clone()], 1)); // [N, 64, H, W]
                p.clone() * sa.forward(p)
            })
            .collect();
        let f_ff = self.fusion.apply(Tensor::cat(fused, 1)); // [N, 64·pairs → 64, H, W]
        let f_df = features.pop().unwrap() + f_ff + f0;
        mean_shift(self.tail.apply(self.upsampler.forward(f_df)), self.rgb_range, 1.0) // [N, 3, sH, sW]
    }

    fn count(&self, cost: &mut Cost, scale: usize) {
        count_conv(cost, &self.head, 1, false);
        for g in &self.groups {
            g.count(cost);
        }
        for (c, sa) in &self.fusion_pairs {
            count_conv(cost, c, 1, false);
            sa.count(cost, 1);
        }
        count_conv(cost, &self.fusion, 1, false);
        self.upsampler.count(cost);
        count_conv(cost, &self.tail, scale * scale, false);
    }

    /// The convolutions only: head, each group's blocks, tail conv, attention convs, then the
    /// upsampler and the output conv.
    fn receptive_radius(&self, _scale: usize) -> usize {
        1 + self.groups.iter().map(|g| 2 * g.blocks.len() + 3 + usize::from(g.tail.is_some())).sum::<usize>() + 3 + 3
    }

    /// Channel attention averages over the whole input, so a tile sees other statistics than
    /// the image.
    fn tiles_exactly(&self) -> bool {
        false
    }
}

/// The paper's recipe (SPEC §3.1): EDSR's code with Adam β2 0.99, the lr halved every 1,000
/// epochs, 2,000 epochs.
pub fn paper_recipe() -> Recipe {
    Recipe::edsr_code(0.99, 1_000_000, 2_000_000)
}
