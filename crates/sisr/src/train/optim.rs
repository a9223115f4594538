//! Adam and SGD-with-momentum over a [`Network`], with the recipes' details that burn's
//! optimizers do not have: global-norm (and DRRN's lr-adjusted) gradient clipping, an L2
//! penalty on conv weights only, a bias learning-rate multiplier. The state is keyed by
//! parameter name so a checkpoint restores it exactly.

use super::recipe::{Clip, Optimizer, Recipe};
use crate::models::{NamedMapper, Network};
use burn::module::{ModuleVisitor, Param};
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
    grads: GradientsParams,
    recipe: &'a Recipe,
    state: &'a mut OptimState,
    lr: f64,
    grad_scale: f64,
}

impl NamedMapper for Update<'_> {
    fn param<const D: usize>(&mut self, name: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
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
        let slots = self.state.slots.entry(name.to_string()).or_insert_with(|| {
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
    network.map_named(&mut Update { grads, recipe, state, lr, grad_scale })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{NamedVisitor, SMALLEST};
    use crate::train::recipe::{Loss, Schedule};

    /// Every parameter's name, values and gradient for a loss of a fresh c-DCSCN x2.
    /// (name, is a 4-D conv kernel, values, gradient) of every parameter.
    type Params = Vec<(String, bool, Vec<f32>, Vec<f32>)>;

    fn setup() -> (Network, GradientsParams, Params) {
        let device = crate::default_device().autodiff();
        device.seed(3);
        let net = SMALLEST.build(2, &device).unwrap();
        let lr = Tensor::<4>::from_data(TensorData::new((0..2 * 36).map(|i| (i % 7) as f32 * 30.0).collect::<Vec<_>>(), [2, 1, 6, 6]), &device);
        let up = Tensor::<4>::from_data(TensorData::new((0..2 * 144).map(|i| (i % 11) as f32 * 20.0).collect::<Vec<_>>(), [2, 1, 12, 12]), &device);
        let loss = net.forward(lr, Some(up)).square().mean();
        let grads = net.gradients(loss.backward());
        struct Collect<'a> {
            grads: &'a GradientsParams,
            out: Params,
        }
        impl NamedVisitor for Collect<'_> {
            fn param<const D: usize>(&mut self, name: &str, p: &Param<Tensor<D>>) {
                let Some(g) = self.grads.get::<D>(p.id) else { return };
                let w = p.val().into_data().try_to_vec::<f32>().unwrap();
                self.out.push((name.to_string(), D == 4, w, g.into_data().try_to_vec::<f32>().unwrap()));
            }
        }
        let mut c = Collect { grads: &grads, out: vec![] };
        net.visit_named(&mut c);
        let params = c.out;
        (net, grads, params)
    }

    fn values_after(net: Network) -> HashMap<String, Vec<f32>> {
        crate::weights::parameter_values(&net).into_iter().map(|(n, _, v)| (n, v)).collect()
    }

    fn recipe(optimizer: Optimizer, weight_decay: f64, bias_lr_mult: f64, clip: Clip) -> Recipe {
        Recipe { optimizer, weight_decay, bias_lr_mult, clip, loss: Loss::Mse, schedule: Schedule::Cosine { min_lr: 0.0 }, ..Recipe::paper(SMALLEST).unwrap() }
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-6 + 1e-5 * b.abs()
    }

    /// Adam's first step from zero moments: m̂ = g, v̂ = g², so w ← w − lr·g / (|g| + ε).
    #[test]
    fn adam_matches_a_hand_computation() {
        let (net, grads, params) = setup();
        let r = recipe(Optimizer::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, 0.0, 1.0, Clip::None);
        let mut state = OptimState::default();
        let after = values_after(step(net, grads, &r, &mut state, 1e-3));
        assert_eq!(state.t, 1);
        for (name, _, w, g) in &params {
            for ((w0, g), w1) in w.iter().zip(g).zip(&after[name]) {
                let want = (f64::from(*w0) - 1e-3 * f64::from(*g) / (f64::from(g.abs()) + 1e-8)) as f32;
                assert!(close(*w1, want), "{name}: {w1} vs {want}");
            }
        }
    }

    /// SGD: conv weights get the L2 term λ·w, biases the lr multiplier; a global-norm clip
    /// scales every gradient by max/‖g‖, and DRRN's adjustable clip uses max = θ/lr.
    #[test]
    fn sgd_weight_decay_bias_multiplier_and_clipping_match_a_hand_computation() {
        let (lam, mult, lr) = (1e-2, 0.1, 0.05);
        for clip in [Clip::None, Clip::Norm { max_norm: 1e-3 }, Clip::Adjustable { theta: 1e-5 }] {
            let (net, grads, params) = setup();
            let norm = params.iter().flat_map(|(_, _, _, g)| g.iter()).map(|g| f64::from(*g).powi(2)).sum::<f64>().sqrt();
            let max = match clip {
                Clip::None => f64::INFINITY,
                Clip::Norm { max_norm } => max_norm,
                Clip::Adjustable { theta } => theta / lr,
            };
            let scale = if norm > max { max / norm } else { 1.0 };
            assert!(clip == Clip::None || scale < 1.0, "the clip must bite: norm {norm}");
            let r = recipe(Optimizer::Sgd { momentum: 0.9 }, lam, mult, clip);
            let mut state = OptimState::default();
            let after = values_after(step(net, grads, &r, &mut state, lr));
            for (name, is_kernel, w, g) in &params {
                let lr_p = if name.ends_with("bias") { lr * mult } else { lr };
                for ((w0, g), w1) in w.iter().zip(g).zip(&after[name]) {
                    let g = f64::from(*g) * scale + if *is_kernel { lam * f64::from(*w0) } else { 0.0 };
                    let want = (f64::from(*w0) - lr_p * g) as f32;
                    assert!(close(*w1, want), "{clip:?} {name}: {w1} vs {want}");
                }
            }
        }
    }

    #[test]
    fn schedules_follow_their_formulas() {
        let base = Recipe::paper(SMALLEST).unwrap();
        let step = Recipe { lr: 0.1, schedule: Schedule::Step { every: 10, gamma: 0.5 }, ..base.clone() };
        assert_eq!([0, 9, 10, 25].map(|s| step.scheduled_lr(s, 0.0)), [0.1, 0.1, 0.05, 0.025]);
        let cosine = Recipe { lr: 1e-3, steps: 100, schedule: Schedule::Cosine { min_lr: 1e-5 }, ..base.clone() };
        assert!((cosine.scheduled_lr(0, 0.0) - 1e-3).abs() < 1e-15);
        assert!((cosine.scheduled_lr(50, 0.0) - (1e-3 + 1e-5) / 2.0).abs() < 1e-12);
        assert!((cosine.scheduled_lr(100, 0.0) - 1e-5).abs() < 1e-15);
        assert!((cosine.scheduled_lr(500, 0.0) - 1e-5).abs() < 1e-15);
        let plateau = Recipe { schedule: Schedule::Plateau { patience: 5, factor: 0.5, min_lr: 2e-5 }, ..base };
        assert_eq!(plateau.scheduled_lr(1234, 7e-4), 7e-4);
    }
}
