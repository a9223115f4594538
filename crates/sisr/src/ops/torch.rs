//! sisr's operations on LibTorch: each one ATen call forward and one backward.
//!
//! burn's LibTorch backend composes what ATen has as single kernels: ELU from five element-wise
//! operations, pixel shuffle from a reshape, a permutation and a copy, and, under autodiff,
//! PReLU from three tracked operations; its convolution backward computes the weight gradient
//! as a second convolution of the transposed input by the transposed output gradient (an
//! H×W kernel) and the bias gradient from a transposed copy. Here the same operations call
//! ATen's own kernels, forward and backward, as PyTorch's autograd does.

// burn marks its LibTorch backend deprecated; it is still the way to PyTorch's kernels.
#![allow(deprecated)]

use super::SisrBackend;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, LibTorch};
use tch::Tensor;

/// (k − 1)/2 for a `[Cout, Cin, k, k]` weight.
fn same_padding(weight: &Tensor) -> i64 {
    let size = weight.size();
    assert!(size.len() == 4 && size[2] == size[3] && size[2] % 2 == 1, "conv2d_same: weight {size:?} is not [Cout, Cin, k, k] with k odd");
    size[2] / 2
}

fn conv2d_same(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    let p = same_padding(weight);
    x.conv2d(weight, Some(bias), [1, 1], [p, p], [1, 1], 1)
}

/// ELU_α from ATen's ELU (α = 1 in the C API `tch` wraps): for 0 < α ≤ 1,
/// ELU_α(x) = max(x, α·ELU₁(x)), since α(eˣ − 1) ≥ eˣ − 1 ≥ x for x ≤ 0 and αx ≤ x for x > 0.
fn elu(x: &Tensor, alpha: f64) -> Tensor {
    let unit = x.elu();
    if alpha == 1.0 {
        unit
    } else if alpha > 0.0 && alpha < 1.0 {
        x.maximum(&(unit * alpha))
    } else {
        x.where_self(&x.gt(0.0), &(unit * alpha))
    }
}

/// PReLU's slopes as ATen's kernel takes them: [1, C, 1, …] for a per-channel `alpha`.
fn broadcast_slopes(x: &Tensor, alpha: &Tensor) -> Tensor {
    let slopes = alpha.numel() as i64;
    if slopes == 1 {
        return alpha.reshape([1]);
    }
    let mut shape = vec![1i64; x.dim()];
    assert!(shape.len() > 1 && x.size()[1] == slopes, "prelu: {slopes} slopes for input {:?}", x.size());
    shape[1] = slopes;
    alpha.reshape(shape.as_slice())
}

impl SisrBackend for LibTorch {
    fn conv2d_same(x: TchTensor, weight: TchTensor, bias: TchTensor) -> TchTensor {
        TchTensor::new(conv2d_same(&x.tensor, &weight.tensor, &bias.tensor))
    }

    fn elu(x: TchTensor, alpha: f64) -> TchTensor {
        TchTensor::new(elu(&x.tensor, alpha))
    }

    fn prelu(x: TchTensor, alpha: TchTensor) -> TchTensor {
        TchTensor::new(x.tensor.internal_prelu_kernel(&broadcast_slopes(&x.tensor, &alpha.tensor)))
    }

    fn pixel_shuffle(x: TchTensor, factor: usize) -> TchTensor {
        TchTensor::new(x.tensor.pixel_shuffle(factor as i64))
    }
}

/// Convolution backward through ATen's `_slow_conv2d_backward` (im2col and GEMM, the three
/// gradients from one call).
#[derive(Debug)]
struct SameConvBackward;

impl Backward<LibTorch, 3> for SameConvBackward {
    /// The forward's input and weight.
    type State = (TchTensor, TchTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<LibTorch>(&ops.node).tensor.contiguous();
        let (x, weight) = ops.state;
        let (x, weight) = (x.tensor.contiguous(), weight.tensor.contiguous());
        let k = weight.size()[2];
        let p = same_padding(&weight);
        // ATen's out= variant takes defined tensors only (it resizes them), so all three
        // gradients are computed; the unwanted ones are small or the first layer's.
        let out = || Tensor::empty([0], (grad.kind(), grad.device()));
        let (dx, dw, db) = x.internal_slow_conv2d_backward(
            &out(),
            &out(),
            &out(),
            &grad,
            &weight,
            [k, k],
            [1, 1],
            [p, p],
        );
        for (node, gradient) in [(node_x, dx), (node_weight, dw), (node_bias, db)] {
            if let Some(node) = node {
                grads.register::<LibTorch>(node.id, TchTensor::new(gradient));
            }
        }
    }
}

/// Backward of ELU, from its output (ATen's `elu_backward`).
#[derive(Debug)]
struct EluBackward;

impl Backward<LibTorch, 1> for EluBackward {
    /// The forward's output and α.
    type State = (TchTensor, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<LibTorch>(&ops.node);
        let (y, alpha) = ops.state;
        if let Some(node) = node_x {
            let dx = Tensor::elu_backward(&grad.tensor, alpha, 1.0, 1.0, true, &y.tensor);
            grads.register::<LibTorch>(node.id, TchTensor::new(dx));
        }
    }
}

/// Backward of PReLU: input and slope gradients (ATen's `_prelu_kernel_backward`).
#[derive(Debug)]
struct PreluBackward;

impl Backward<LibTorch, 2> for PreluBackward {
    /// The forward's input and slopes.
    type State = (TchTensor, TchTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_alpha] = ops.parents;
        let grad = grads.consume::<LibTorch>(&ops.node);
        let (x, alpha) = ops.state;
        let slopes = broadcast_slopes(&x.tensor, &alpha.tensor);
        let (dx, dslopes) = x.tensor.internal_prelu_kernel_backward(&grad.tensor, &slopes);
        if let Some(node) = node_x {
            grads.register::<LibTorch>(node.id, TchTensor::new(dx));
        }
        if let Some(node) = node_alpha {
            // The kernel's slope gradient is per element; the slopes' is its sum over the rest.
            let dalpha = dslopes.sum_to_size(slopes.size().as_slice()).reshape(alpha.tensor.size().as_slice());
            grads.register::<LibTorch>(node.id, TchTensor::new(dalpha));
        }
    }
}

/// Backward of pixel shuffle: ATen's pixel unshuffle of the gradient.
#[derive(Debug)]
struct ShuffleBackward;

impl Backward<LibTorch, 1> for ShuffleBackward {
    /// The factor.
    type State = usize;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<LibTorch>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<LibTorch>(node.id, TchTensor::new(grad.tensor.pixel_unshuffle(ops.state as i64)));
        }
    }
}

impl<C: CheckpointStrategy> SisrBackend for Autodiff<LibTorch, C> {
    fn conv2d_same(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        match SameConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let out = LibTorch::conv2d_same(x.clone(), weight.clone(), bias.into_primitive());
                prep.finish((x, weight), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(LibTorch::conv2d_same(x.into_primitive(), weight.into_primitive(), bias.into_primitive()))
            }
        }
    }

    fn elu(x: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self> {
        match EluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = LibTorch::elu(x.into_primitive(), alpha);
                prep.finish((y.clone(), alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(LibTorch::elu(x.into_primitive(), alpha)),
        }
    }

    fn prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self> {
        match PreluBackward.prepare::<C>([x.node(), alpha.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, alpha) = (x.primitive().clone(), alpha.primitive().clone());
                let y = LibTorch::prelu(x.clone(), alpha.clone());
                prep.finish((x, alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(LibTorch::prelu(x.into_primitive(), alpha.into_primitive())),
        }
    }

    fn pixel_shuffle(x: FloatTensor<Self>, factor: usize) -> FloatTensor<Self> {
        match ShuffleBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(factor, LibTorch::pixel_shuffle(x.into_primitive(), factor)),
            OpsKind::UnTracked(prep) => prep.finish(LibTorch::pixel_shuffle(x.into_primitive(), factor)),
        }
    }
}
