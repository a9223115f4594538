//! The networks of the four papers, chosen from an explicit [`ModelKind`]. Everything
//! particular to a paper lives in its file, behind the [`Paper`] trait; this file only maps
//! each kind to its paper.

pub mod blocks;
pub mod dcscn;
pub mod drfn;
pub mod drn;
pub mod glrl;

pub use dcscn::Table3Complexity;

use crate::complexity::{Complexity, Cost};
use crate::precision::Precision;
use crate::train::recipe::Recipe;
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

impl ColorMode {
    /// The planes the network reads and writes.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Y => 1,
            ColorMode::Rgb => 3,
        }
    }
}

/// What a network reads (on [0, 255]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The LR image.
    Lr,
    /// The LR image and its MATLAB bicubic upscale (a bicubic skip).
    LrAndBicubic,
    /// Only the bicubic upscale of the LR: every conv runs on the HR grid, and training patches
    /// are measured there.
    Bicubic,
}

/// How far the MATLAB bicubic kernel reaches (LR pixels): a bicubic input adds it to a
/// network's receptive radius.
pub(crate) const BICUBIC_RADIUS: usize = 2;

/// Everything particular to one paper's network, implemented in that paper's file.
pub trait Paper: Sized {
    const COLOR: ColorMode;
    const INPUT: Input;
    /// Scales a trained model can serve.
    const SCALES: &'static [usize] = &[2, 3, 4];
    /// The short CPU recipe's batch, patch side (LR grid; HR grid for [`Input::Bicubic`]) and
    /// learning rate.
    const QUICK: (usize, usize, f64);

    /// The paper's recipe (SPEC §3.1) for `kind`, one of this paper's variants.
    fn paper_recipe(kind: ModelKind) -> Recipe;
    /// `kind` (one of this paper's variants) at `scale` with fresh weights.
    fn build(kind: ModelKind, scale: usize, device: &Device) -> Self;
    /// `lr`: `[N, C, H, W]`; `bicubic`: its MATLAB bicubic upscale `[N, C, sH, sW]`, given when
    /// [`Paper::INPUT`] asks for it; both on [0, 255]. Returns `[N, C, sH, sW]`.
    fn forward(&self, lr: Tensor<4>, bicubic: Option<Tensor<4>>) -> Tensor<4>;
    /// Adds the per-LR-pixel cost of one forward pass at `scale`.
    fn count(&self, cost: &mut Cost, scale: usize);
    /// How far (in LR pixels) an output pixel can see into its input, bicubic input included:
    /// tiles overlapping by this much give the whole-image result when [`Paper::tiles_exactly`].
    fn receptive_radius(&self, scale: usize) -> usize;
    /// Whether overlapping tiles give the whole-image result (false where a layer pools over
    /// the whole input).
    fn tiles_exactly(&self) -> bool {
        true
    }
}

/// The bicubic input of a network whose [`Paper::INPUT`] needs it.
pub(crate) fn needed(bicubic: Option<Tensor<4>>) -> Tensor<4> {
    bicubic.expect("this network needs the bicubic upscale of its input")
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

/// The network with the fewest parameters (c-DCSCN, 0.18M at x2): what unit tests train.
pub const SMALLEST: ModelKind = ModelKind::DcscnCompact;

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

/// Runs `$body` with `$P` the [`Paper`] type of a network kind, `$bicubic` for bicubic.
macro_rules! by_paper {
    ($kind:expr, $P:ident => $body:expr, bicubic => $bicubic:expr) => {
        match $kind {
            ModelKind::Bicubic => $bicubic,
            ModelKind::Dcscn | ModelKind::DcscnCompact => {
                type $P = dcscn::Dcscn;
                $body
            }
            ModelKind::Drn | ModelKind::DrnPlus => {
                type $P = drn::Drn;
                $body
            }
            ModelKind::Drfn | ModelKind::Drfn5m => {
                type $P = drfn::Drfn;
                $body
            }
            ModelKind::Glrl | ModelKind::Glrl128 => {
                type $P = glrl::Glrl;
                $body
            }
        }
    };
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
        by_paper!(self, P => P::COLOR, bicubic => ColorMode::Y)
    }

    /// What the network reads; bicubic reads the LR.
    pub fn input(self) -> Input {
        by_paper!(self, P => P::INPUT, bicubic => Input::Lr)
    }

    /// Scales a trained model of this kind can serve.
    pub fn scales(self) -> &'static [usize] {
        by_paper!(self, P => P::SCALES, bicubic => &[2, 3, 4, 5, 6, 7, 8])
    }

    /// The protocol of the paper's tables: Y for the Y-channel papers, P1 (RCAN) for RGB.
    pub fn default_protocol(self) -> Protocol {
        match self.color_mode() {
            ColorMode::Y => Protocol::Y,
            ColorMode::Rgb => Protocol::Rgb,
        }
    }

    /// Whether the network takes the bicubic upscale of its input.
    pub fn uses_bicubic(self) -> bool {
        self.input() != Input::Lr
    }

    /// Whether the network takes the LR image itself; otherwise its patches are measured on
    /// the HR grid.
    pub fn takes_lr(self) -> bool {
        self.input() != Input::Bicubic
    }

    /// The paper's training recipe (SPEC §3.1); `None` for bicubic.
    pub fn paper_recipe(self) -> Option<Recipe> {
        by_paper!(self, P => Some(P::paper_recipe(self)), bicubic => None)
    }

    /// The short CPU recipe's batch, patch side and learning rate; `None` for bicubic.
    pub fn quick_settings(self) -> Option<(usize, usize, f64)> {
        by_paper!(self, P => Some(P::QUICK), bicubic => None)
    }

    /// Builds the network with fresh weights; `None` for bicubic.
    pub fn build(self, scale: usize, device: &Device) -> Option<Network> {
        let net = match self {
            ModelKind::Bicubic => return None,
            ModelKind::Dcscn | ModelKind::DcscnCompact => Net::Dcscn(dcscn::Dcscn::build(self, scale, device)),
            ModelKind::Drn | ModelKind::DrnPlus => Net::Drn(drn::Drn::build(self, scale, device)),
            ModelKind::Drfn | ModelKind::Drfn5m => Net::Drfn(drfn::Drfn::build(self, scale, device)),
            ModelKind::Glrl | ModelKind::Glrl128 => Net::Glrl(glrl::Glrl::build(self, scale, device)),
        };
        Some(Network { kind: self, scale, net, precision: Precision::F32 })
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
    /// The number format its inference runs in ([`Precision`]; f32 for training).
    pub precision: Precision,
}

impl Network {
    /// `lr`: `[N, C, H, W]` on [0, 255] (C = 1 for Y models, 3 for RGB); `bicubic`: its MATLAB
    /// bicubic upscale `[N, C, sH, sW]`, required by the models that read it
    /// ([`ModelKind::uses_bicubic`]). Returns `[N, C, sH, sW]`.
    pub fn forward(&self, lr: Tensor<4>, bicubic: Option<Tensor<4>>) -> Tensor<4> {
        crate::precision::run_in(self.precision, || with_module!(&self.net, m => m.forward(lr, bicubic)))
    }

    /// This network running its inference in `precision`.
    pub fn with_precision(self, precision: Precision) -> Self {
        Network { precision, ..self }
    }

    /// How far (in LR pixels) an output pixel can see into its input ([`Paper::receptive_radius`]).
    pub fn receptive_radius(&self) -> usize {
        with_module!(&self.net, m => m.receptive_radius(self.scale))
    }

    /// Whether overlapping tiles give the whole-image result ([`Paper::tiles_exactly`]).
    pub fn tiles_exactly(&self) -> bool {
        with_module!(&self.net, m => m.tiles_exactly())
    }

    pub fn num_params(&self) -> usize {
        with_module!(&self.net, m => m.num_params())
    }

    pub fn complexity(&self) -> Complexity {
        let mut cost = Cost::default();
        with_module!(&self.net, m => m.count(&mut cost, self.scale));
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
