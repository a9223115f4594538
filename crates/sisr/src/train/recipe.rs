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
    /// The paper's recipe of a network (SPEC §3.1), from the model's own file; `None` for
    /// bicubic.
    pub fn paper(kind: ModelKind) -> Option<Recipe> {
        kind.paper_recipe()
    }

    /// A short CPU recipe (the paper's loss and optimizer, fewer steps, cosine decay), with the
    /// batch, patch and learning rate the model's own file chooses; `None` for bicubic.
    pub fn quick(kind: ModelKind) -> Option<Recipe> {
        let (batch, patch, lr) = kind.quick_settings()?;
        let paper = Recipe::paper(kind)?;
        Some(Recipe { name: "quick".into(), lr, schedule: Schedule::Cosine { min_lr: lr / 100.0 }, batch, patch, steps: 4000, val_every: 500, ..paper })
    }

    /// The EDSR/RCAN code's training, which the RGB papers follow (SPEC §3.1): L1, Adam
    /// (0.9, `beta2`, 1e-8) at 1e-4 halved every `halve_every` steps (epochs of 1,000 steps),
    /// batch 16 of 48×48 LR patches, `steps` in all.
    pub fn edsr_code(beta2: f64, halve_every: u64, steps: u64) -> Recipe {
        Recipe {
            name: "paper".into(),
            loss: Loss::L1,
            optimizer: Optimizer::Adam { beta1: 0.9, beta2, epsilon: 1e-8 },
            lr: 1e-4,
            weight_decay: 0.0,
            bias_lr_mult: 1.0,
            schedule: Schedule::Step { every: halve_every, gamma: 0.5 },
            clip: Clip::None,
            batch: 16,
            patch: 48,
            steps,
            val_every: 1000,
            scales: vec![],
            seed: 1,
        }
    }

    /// The recipe called `name` (paper, quick) of a network.
    pub fn named(kind: ModelKind, name: &str) -> Option<Recipe> {
        match name {
            "paper" => Recipe::paper(kind),
            "quick" => Recipe::quick(kind),
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
