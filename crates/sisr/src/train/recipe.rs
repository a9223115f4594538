//! Training recipes (SPEC §3.1): the papers' settings (`paper`) and short CPU recipes
//! (`quick`) that are named and reported as such. Every field can be overridden.

use crate::models::ModelKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// mean |x − y| (DRN, DRFN).
    L1,
    /// mean (x − y)² (DCSCN).
    Mse,
    /// 1/(2N) Σ_i ‖x_i − y_i‖², Caffe's EuclideanLoss on [0, 1] pixels (GLRL).
    Euclidean,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Optimizer {
    Adam { beta1: f64, beta2: f64, epsilon: f64 },
    Sgd { momentum: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// lr × gamma every `every` steps.
    Step { every: u64, gamma: f64 },
    /// lr × factor when the validation PSNR has not improved for `patience` validations;
    /// the run stops once lr < `min_lr` (DCSCN).
    Plateau { patience: u32, factor: f64, min_lr: f64 },
    /// Cosine decay from lr to `min_lr` over the run.
    Cosine { min_lr: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Clip {
    None,
    /// Global L2 norm of the gradient clipped to `max_norm`.
    Norm {
        max_norm: f64,
    },
    /// DRRN's adjustable clipping: global norm clipped to θ / lr.
    Adjustable {
        theta: f64,
    },
}

/// Everything that defines a training run, saved as `recipe.json` next to the checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub name: String,
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub lr: f64,
    /// L2 penalty λ·Σ½‖W‖² on conv weights (DCSCN), or SGD weight decay (GLRL).
    pub weight_decay: f64,
    /// Learning-rate multiplier of biases (DRRN/GLRL `lr_mult 0.1`).
    pub bias_lr_mult: f64,
    pub schedule: Schedule,
    pub clip: Clip,
    pub batch: usize,
    /// Patch size on the LR grid (HR-grid size for models that take the bicubic input).
    pub patch: usize,
    pub steps: u64,
    /// Validate (and checkpoint) every this many steps.
    pub val_every: u64,
    /// Scales pooled in the training set (GLRL's scale augmentation); empty = the model's scale.
    pub scales: Vec<usize>,
    pub seed: u64,
}

impl Recipe {
    /// The paper's recipe of a model (SPEC §3.1).
    pub fn paper(kind: ModelKind) -> Recipe {
        let adam = Optimizer::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
        match kind {
            ModelKind::Dcscn | ModelKind::DcscnCompact | ModelKind::Bicubic => Recipe {
                name: "paper".into(),
                loss: Loss::Mse,
                optimizer: adam,
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
            },
            ModelKind::Drn | ModelKind::DrnPlus => Recipe {
                name: "paper".into(),
                loss: Loss::L1,
                optimizer: adam,
                lr: 1e-4,
                weight_decay: 0.0,
                bias_lr_mult: 1.0,
                schedule: Schedule::Step { every: 200_000, gamma: 0.5 },
                clip: Clip::None,
                batch: 16,
                patch: 48,
                steps: if kind == ModelKind::Drn { 800_000 } else { 300_000 },
                val_every: 1000,
                scales: vec![],
                seed: 1,
            },
            ModelKind::Drfn | ModelKind::Drfn5m => Recipe {
                name: "paper".into(),
                loss: Loss::L1,
                optimizer: Optimizer::Adam { beta1: 0.9, beta2: 0.99, epsilon: 1e-8 },
                lr: 1e-4,
                weight_decay: 0.0,
                bias_lr_mult: 1.0,
                schedule: Schedule::Step { every: 1_000_000, gamma: 0.5 },
                clip: Clip::None,
                batch: 16,
                patch: 48,
                steps: 2_000_000,
                val_every: 1000,
                scales: vec![],
                seed: 1,
            },
            ModelKind::Glrl | ModelKind::Glrl128 => Recipe {
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
            },
        }
    }

    /// A short CPU recipe: the paper's loss and optimizer, fewer steps, cosine decay.
    pub fn quick(kind: ModelKind) -> Recipe {
        let paper = Recipe::paper(kind);
        let (batch, patch, lr) = match kind {
            ModelKind::Dcscn | ModelKind::DcscnCompact | ModelKind::Bicubic => (16, 32, 1e-3),
            ModelKind::Glrl | ModelKind::Glrl128 => (16, 31, 0.1),
            _ => (8, 32, paper.lr * 2.0),
        };
        Recipe { name: "quick".into(), lr, schedule: Schedule::Cosine { min_lr: lr / 100.0 }, batch, patch, steps: 4000, val_every: 500, ..paper }
    }

    pub fn named(kind: ModelKind, name: &str) -> Option<Recipe> {
        match name {
            "paper" => Some(Recipe::paper(kind)),
            "quick" => Some(Recipe::quick(kind)),
            _ => None,
        }
    }

    /// The learning rate of a step for step-based schedules (plateau keeps its own state).
    pub fn scheduled_lr(&self, step: u64, plateau_lr: f64) -> f64 {
        match self.schedule {
            Schedule::Step { every, gamma } => self.lr * gamma.powi((step / every.max(1)) as i32),
            Schedule::Plateau { .. } => plateau_lr,
            Schedule::Cosine { min_lr } => {
                let t = (step as f64 / self.steps.max(1) as f64).min(1.0);
                min_lr + 0.5 * (self.lr - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}
