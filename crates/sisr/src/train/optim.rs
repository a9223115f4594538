//! Adam and SGD-with-momentum over a [`Network`], with the recipes' details that burn's
//! optimizers do not have: global-norm (and DRRN's lr-adjusted) gradient clipping, an L2
//! penalty on conv weights only, a bias learning-rate multiplier. The state is keyed by
//! parameter name so a checkpoint restores it exactly.

use super::recipe::{Clip, Optimizer, Recipe};
use crate::models::Network;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::collections::HashMap;

/// Optimizer state: the step count and per-parameter slots (Adam m, v; SGD velocity).
#[derive(Debug, Clone, Default)]
pub struct OptimState {
    pub t: u64,
    pub slots: HashMap<String, Vec<Tensor<1>>>,
}

impl OptimState {
    /// Slots as (key, values) for checkpoints: `optim.<slot index>.<param name>`.
    pub fn export(&self) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for (name, slots) in &self.slots {
            for (i, s) in slots.iter().enumerate() {
                out.push((format!("optim.{i}.{name}"), s.clone().try_into_vec_as::<f32>().expect("f32 state")));
            }
        }
        out
    }

    /// Rebuilds the state from checkpoint tensors named by [`OptimState::export`].
    pub fn import(t: u64, tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>, device: &Device) -> Self {
        let mut slots: HashMap<String, Vec<(usize, Tensor<1>)>> = HashMap::new();
        for (key, (_, values)) in tensors {
            let Some(rest) = key.strip_prefix("optim.") else { continue };
            let (index, name) = rest.split_once('.').expect("optim.<i>.<name>");
            let tensor = Tensor::from_data(TensorData::new(values.clone(), [values.len()]), device);
            slots.entry(name.to_string()).or_default().push((index.parse().expect("slot index"), tensor));
        }
        let slots = slots
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_by_key(|(i, _)| *i);
                (k, v.into_iter().map(|(_, t)| t).collect())
            })
            .collect();
        OptimState { t, slots }
    }
}

/// Global L2 norm of all gradients.
fn global_norm(network: &Network, grads: &GradientsParams) -> f64 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum: f64,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(p.id) {
                self.sum += f64::from(g.square().sum().into_scalar::<f32>());
            }
        }
    }
    let mut n = Norm { grads, sum: 0.0 };
    network.visit(&mut n);
    n.sum.sqrt()
}

struct Update<'a> {
    path: Vec<String>,
    grads: GradientsParams,
    recipe: &'a Recipe,
    state: &'a mut OptimState,
    lr: f64,
    grad_scale: f64,
}

impl ModuleMapper for Update<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        let w = tensor.inner().reshape([n]);
        let mut g = grad.reshape([n]);
        if self.grad_scale != 1.0 {
            g = g.mul_scalar(self.grad_scale);
        }
        // The L2 penalty λ·½‖W‖² of conv weights (4-D tensors) adds λ·W to their gradient.
        if D == 4 && self.recipe.weight_decay > 0.0 {
            g = g + w.clone().mul_scalar(self.recipe.weight_decay);
        }
        let lr = if name.ends_with("bias") { self.lr * self.recipe.bias_lr_mult } else { self.lr };
        let device = w.device();
        let slots = self.state.slots.entry(name).or_insert_with(|| {
            let count = match self.recipe.optimizer {
                Optimizer::Adam { .. } => 2,
                Optimizer::Sgd { .. } => 1,
            };
            (0..count).map(|_| Tensor::zeros([n], &device)).collect()
        });
        let w = match self.recipe.optimizer {
            Optimizer::Adam { beta1, beta2, epsilon } => {
                let t = self.state.t as i32;
                let m = slots[0].clone().mul_scalar(beta1) + g.clone().mul_scalar(1.0 - beta1);
                let v = slots[1].clone().mul_scalar(beta2) + g.square().mul_scalar(1.0 - beta2);
                let m_hat = m.clone().div_scalar(1.0 - beta1.powi(t));
                let v_hat = v.clone().div_scalar(1.0 - beta2.powi(t));
                slots[0] = m;
                slots[1] = v;
                w - m_hat.div(v_hat.sqrt().add_scalar(epsilon)).mul_scalar(lr)
            }
            Optimizer::Sgd { momentum } => {
                let v = slots[0].clone().mul_scalar(momentum) + g;
                slots[0] = v.clone();
                w - v.mul_scalar(lr)
            }
        };
        let updated = Tensor::from_inner(w.reshape(dims)).require_grad();
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// One optimisation step: the updated network.
pub fn step(network: Network, grads: GradientsParams, recipe: &Recipe, state: &mut OptimState, lr: f64) -> Network {
    let max_norm = match recipe.clip {
        Clip::None => None,
        Clip::Norm { max_norm } => Some(max_norm),
        Clip::Adjustable { theta } => Some(theta / lr),
    };
    // The norm costs a read-back per parameter: only computed when clipping.
    let grad_scale = match max_norm {
        Some(max) => {
            let norm = global_norm(&network, &grads);
            if norm > max { max / norm } else { 1.0 }
        }
        None => 1.0,
    };
    state.t += 1;
    let mut update = Update { path: vec![], grads, recipe, state, lr, grad_scale };
    network.map(&mut update)
}
