//! The networks of the four papers, chosen from an explicit [`ModelKind`].

pub mod blocks;
pub mod dcscn;
pub mod drfn;
pub mod drn;
pub mod glrl;

use crate::complexity::{Complexity, Cost};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use sisr_image::Protocol;

/// The colour channels a model works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// BT.601 Y only; Cb/Cr are upscaled with bicubic.
    Y,
    Rgb,
}

/// Every model the toolkit knows, with its paper configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// MATLAB bicubic interpolation (the reference baseline, no network).
    Bicubic,
    /// DCSCN, paper Table 1.
    Dcscn,
    /// c-DCSCN, the compact variant of Table 1.
    DcscnCompact,
    /// DRN, inner width 64.
    Drn,
    /// DRN+, inner width 256.
    DrnPlus,
    /// DRFN, text configuration G16 M8.
    Drfn,
    /// DRFN G16 M4, the paper's 5.2M-parameter budget.
    Drfn5m,
    /// GLRL, 64 filters.
    Glrl,
    /// GLRL, 128 filters.
    Glrl128,
}

/// Sees each parameter of a [`Network`] with its module-tree name ([`Network::visit_named`]).
pub trait NamedVisitor {
    fn param<const D: usize>(&mut self, name: &str, param: &Param<Tensor<D>>);
}

/// Replaces each parameter of a [`Network`], knowing its name ([`Network::map_named`]).
pub trait NamedMapper {
    fn param<const D: usize>(&mut self, name: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

/// The foreign checkpoint layout `tensors` are in, if a paper's file recognises one.
pub fn foreign_layout(tensors: &crate::weights::Tensors) -> Option<crate::weights::ForeignLayout> {
    dcscn::is_authors_layout(tensors).then_some(dcscn::AUTHORS_LAYOUT)
}

impl ModelKind {
    pub const ALL: [ModelKind; 9] = [
        ModelKind::Bicubic,
        ModelKind::Dcscn,
        ModelKind::DcscnCompact,
        ModelKind::Drn,
        ModelKind::DrnPlus,
        ModelKind::Drfn,
        ModelKind::Drfn5m,
        ModelKind::Glrl,
        ModelKind::Glrl128,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Bicubic => "bicubic",
            ModelKind::Dcscn => "dcscn",
            ModelKind::DcscnCompact => "dcscn-compact",
            ModelKind::Drn => "drn",
            ModelKind::DrnPlus => "drn-plus",
            ModelKind::Drfn => "drfn",
            ModelKind::Drfn5m => "drfn-5m",
            ModelKind::Glrl => "glrl",
            ModelKind::Glrl128 => "glrl-128",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase().replace('_', "-");
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn color_mode(self) -> ColorMode {
        match self {
            ModelKind::Bicubic | ModelKind::Dcscn | ModelKind::DcscnCompact | ModelKind::Glrl | ModelKind::Glrl128 => ColorMode::Y,
            ModelKind::Drn | ModelKind::DrnPlus | ModelKind::Drfn | ModelKind::Drfn5m => ColorMode::Rgb,
        }
    }

    /// Scales a trained model of this kind can serve.
    pub fn scales(self) -> &'static [usize] {
        match self {
            ModelKind::Bicubic => &[2, 3, 4, 5, 6, 7, 8],
            _ => &[2, 3, 4],
        }
    }

    /// The protocol of the paper's tables: Y for the Y-channel papers, P1 (RCAN) for RGB.
    pub fn default_protocol(self) -> Protocol {
        match self.color_mode() {
            ColorMode::Y => Protocol::Y,
            ColorMode::Rgb => Protocol::Rgb,
        }
    }

    /// Whether the network takes the bicubic upscale of its input (DCSCN skip, GLRL input).
    pub fn uses_bicubic(self) -> bool {
        matches!(self, ModelKind::Bicubic | ModelKind::Dcscn | ModelKind::DcscnCompact | ModelKind::Glrl | ModelKind::Glrl128)
    }

    /// Whether the network takes the LR image itself (DCSCN, DRN, DRFN); GLRL takes only the
    /// bicubic upscale, so its patches are measured on the HR grid.
    pub fn takes_lr(self) -> bool {
        !matches!(self, ModelKind::Glrl | ModelKind::Glrl128)
    }

    /// The paper's training recipe (SPEC §3.1), from the model's file.
    pub fn paper_recipe(self) -> crate::train::recipe::Recipe {
        match self {
            ModelKind::Dcscn | ModelKind::DcscnCompact | ModelKind::Bicubic => dcscn::paper_recipe(),
            ModelKind::Drn | ModelKind::DrnPlus => drn::paper_recipe(self == ModelKind::DrnPlus),
            ModelKind::Drfn | ModelKind::Drfn5m => drfn::paper_recipe(),
            ModelKind::Glrl | ModelKind::Glrl128 => glrl::paper_recipe(),
        }
    }

    /// The short CPU recipe's batch, patch side and learning rate, from the model's file.
    pub fn quick_settings(self) -> (usize, usize, f64) {
        match self {
            ModelKind::Dcscn | ModelKind::DcscnCompact | ModelKind::Bicubic => dcscn::QUICK,
            ModelKind::Drn | ModelKind::DrnPlus => drn::QUICK,
            ModelKind::Drfn | ModelKind::Drfn5m => drfn::QUICK,
            ModelKind::Glrl | ModelKind::Glrl128 => glrl::QUICK,
        }
    }

    /// Builds the network with fresh weights; `None` for bicubic.
    pub fn build(self, scale: usize, device: &Device) -> Option<Network> {
        use dcscn::DcscnConfig;
        let net = match self {
            ModelKind::Bicubic => return None,
            ModelKind::Dcscn => Net::Dcscn(DcscnConfig::new(scale).init(device)),
            ModelKind::DcscnCompact => Net::Dcscn(DcscnConfig::compact(scale).init(device)),
            ModelKind::Drn => Net::Drn(drn::DrnConfig::new(scale).init(device)),
            ModelKind::DrnPlus => Net::Drn(drn::DrnConfig::plus(scale).init(device)),
            ModelKind::Drfn => Net::Drfn(drfn::DrfnConfig::new(scale).init(device)),
            ModelKind::Drfn5m => Net::Drfn(drfn::DrfnConfig::new(scale).with_blocks(4).init(device)),
            ModelKind::Glrl => Net::Glrl(glrl::GlrlConfig::new().init(device)),
            ModelKind::Glrl128 => Net::Glrl(glrl::GlrlConfig::new().with_filters(128).init(device)),
        };
        Some(Network { kind: self, scale, net })
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A built network of one of the papers.
#[derive(Debug, Clone)]
pub enum Net {
    Dcscn(dcscn::Dcscn),
    Drn(drn::Drn),
    Drfn(drfn::Drfn),
    Glrl(glrl::Glrl),
}

/// Runs `$body` with `$m` bound to the inner module of a [`Net`], whatever its type.
macro_rules! with_module {
    ($net:expr, $m:ident => $body:expr) => {
        match $net {
            Net::Dcscn($m) => $body,
            Net::Drn($m) => $body,
            Net::Drfn($m) => $body,
            Net::Glrl($m) => $body,
        }
    };
}

/// Rebuilds a [`Net`] from the module `$f` returns for its inner module.
macro_rules! map_module {
    ($net:expr, $m:ident => $body:expr) => {
        match $net {
            Net::Dcscn($m) => Net::Dcscn($body),
            Net::Drn($m) => Net::Drn($body),
            Net::Drfn($m) => Net::Drfn($body),
            Net::Glrl($m) => Net::Glrl($body),
        }
    };
}

/// A network with its kind and scale.
#[derive(Debug, Clone)]
pub struct Network {
    pub kind: ModelKind,
    pub scale: usize,
    pub net: Net,
}

impl Network {
    /// `lr`: `[N, C, H, W]` on [0, 255] (C = 1 for Y models, 3 for RGB); `bicubic`: its MATLAB
    /// bicubic upscale `[N, C, sH, sW]`, required by the Y models. Returns `[N, C, sH, sW]`.
    pub fn forward(&self, lr: Tensor<4>, bicubic: Option<Tensor<4>>) -> Tensor<4> {
        let need = || bicubic.clone().expect("this network needs the bicubic upscale of its input");
        match &self.net {
            Net::Dcscn(m) => m.forward(lr, need()),
            Net::Glrl(m) => m.forward(need()),
            Net::Drn(m) => m.forward(lr),
            Net::Drfn(m) => m.forward(lr),
        }
    }

    /// How far (in LR pixels) an output pixel can see into its input, bicubic skip included:
    /// tiles overlapping by this much give the whole-image result. DRFN's channel attention
    /// pools globally, so for it this covers the convolutions only.
    pub fn receptive_radius(&self) -> usize {
        const BICUBIC: usize = 2;
        let s = self.scale;
        match &self.net {
            Net::Dcscn(m) => m.feature.len() + 1 + BICUBIC,
            Net::Glrl(m) => (4 + 4 * m.blocks.len()).div_ceil(s) + BICUBIC,
            Net::Drn(m) => 1 + m.groups.iter().map(|g| g.blocks.len()).sum::<usize>() + 2,
            Net::Drfn(m) => 1 + m.groups.iter().map(|g| 2 * g.blocks.len() + 3 + usize::from(g.tail.is_some())).sum::<usize>() + 3 + 3,
        }
    }

    /// Whether overlapping tiles give the whole-image result. DRFN's channel attention averages
    /// over the whole input, so a tile sees other statistics than the image.
    pub fn tiles_exactly(&self) -> bool {
        !matches!(self.net, Net::Drfn(_))
    }

    pub fn num_params(&self) -> usize {
        with_module!(&self.net, m => m.num_params())
    }

    pub fn complexity(&self) -> Complexity {
        let mut cost = Cost::default();
        match &self.net {
            Net::Dcscn(m) => m.count(&mut cost),
            Net::Drn(m) => m.count(&mut cost),
            Net::Drfn(m) => m.count(&mut cost),
            Net::Glrl(m) => m.count(&mut cost, self.scale),
        }
        Complexity::new(self.kind.name(), self.scale, self.num_params(), cost)
    }

    pub fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        with_module!(&self.net, m => m.visit(visitor))
    }

    pub fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        Network { net: map_module!(self.net, m => m.map(mapper)), ..self }
    }

    /// Visits every parameter with its module-tree name (`feature.0.conv.weight`), the name
    /// weight files and optimizer slots use.
    pub fn visit_named<V: NamedVisitor>(&self, visitor: &mut V) {
        struct Path<'a, V> {
            path: Vec<String>,
            inner: &'a mut V,
        }
        impl<V: NamedVisitor> ModuleVisitor for Path<'_, V> {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.inner.param(&self.path.join("."), p);
            }
        }
        self.visit(&mut Path { path: vec![], inner: visitor });
    }

    /// Maps every parameter with its module-tree name.
    pub fn map_named<M: NamedMapper>(self, mapper: &mut M) -> Self {
        struct Path<'a, M> {
            path: Vec<String>,
            inner: &'a mut M,
        }
        impl<M: NamedMapper> ModuleMapper for Path<'_, M> {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
                self.inner.param(&self.path.join("."), p)
            }
        }
        self.map(&mut Path { path: vec![], inner: mapper })
    }

    /// The network for inference: autodiff and dropout off.
    pub fn valid(&self) -> Self {
        Network { net: map_module!(&self.net, m => m.valid()), ..*self }
    }

    /// burn's per-parameter gradients of this network from a backward pass.
    pub fn gradients(&self, grads: burn::tensor::Gradients) -> burn::optim::GradientsParams {
        with_module!(&self.net, m => burn::optim::GradientsParams::from_grads(grads, m))
    }

    pub fn to_device(self, device: &Device) -> Self {
        Network { net: map_module!(self.net, m => m.to_device(device)), ..self }
    }
}
