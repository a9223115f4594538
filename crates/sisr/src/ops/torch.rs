//! sisr's operations on LibTorch: ATen's own kernels, forward and backward (ELU_α's forward
//! takes three calls: the C API that `tch` binds has ATen's ELU with α = 1 only).
//!
//! burn's LibTorch backend composes what ATen has as single kernels: ELU from five element-wise
//! operations, pixel shuffle from a reshape, a permutation and a copy, and, under autodiff,
//! PReLU from three tracked operations; its convolution backward computes the weight gradient
//! as a second convolution of the transposed input by the transposed output gradient (an
//! H×W kernel) and the bias gradient from a transposed copy. Here the same operations call
//! ATen's own kernels, forward and backward, as PyTorch's autograd does.

// burn marks its LibTorch backend deprecated; it is still the way to PyTorch's kernels.
#![allow(deprecated)]

use super::{SisrBackend, SisrGrads};
use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
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

fn prelu(x: &Tensor, alpha: &Tensor) -> Tensor {
    x.internal_prelu_kernel(&broadcast_slopes(x, alpha))
}

impl SisrBackend for LibTorch {
    fn conv2d_same(x: TchTensor, weight: TchTensor, bias: TchTensor) -> TchTensor {
        TchTensor::new(conv2d_same(&x.tensor, &weight.tensor, &bias.tensor))
    }

    fn conv2d_same_elu(x: TchTensor, weight: TchTensor, bias: TchTensor, alpha: f64) -> TchTensor {
        TchTensor::new(elu(&conv2d_same(&x.tensor, &weight.tensor, &bias.tensor), alpha))
    }

    fn conv2d_same_prelu(x: TchTensor, weight: TchTensor, bias: TchTensor, alpha: TchTensor) -> TchTensor {
        TchTensor::new(prelu(&conv2d_same(&x.tensor, &weight.tensor, &bias.tensor), &alpha.tensor))
    }

    fn elu(x: TchTensor, alpha: f64) -> TchTensor {
        TchTensor::new(elu(&x.tensor, alpha))
    }

    fn prelu(x: TchTensor, alpha: TchTensor) -> TchTensor {
        TchTensor::new(prelu(&x.tensor, &alpha.tensor))
    }

    fn pixel_shuffle(x: TchTensor, factor: usize) -> TchTensor {
        TchTensor::new(x.tensor.pixel_shuffle(factor as i64))
    }
}

impl SisrGrads for LibTorch {
    /// ATen's `_slow_conv2d_backward` (im2col and GEMM), the three gradients from one call. Its
    /// out= variant takes defined tensors only (it resizes them), so all three are computed;
    /// an unwanted one is small or the first layer's.
    fn conv2d_same_grads(x: TchTensor, weight: TchTensor, grad: TchTensor, _wanted: [bool; 3]) -> [Option<TchTensor>; 3] {
        let (x, weight, grad) = (x.tensor.contiguous(), weight.tensor.contiguous(), grad.tensor.contiguous());
        let (k, p) = (weight.size()[2], same_padding(&weight));
        let out = || Tensor::empty([0], (grad.kind(), grad.device()));
        let (dx, dw, db) = x.internal_slow_conv2d_backward(&out(), &out(), &out(), &grad, &weight, [k, k], [1, 1], [p, p]);
        [dx, dw, db].map(|t| Some(TchTensor::new(t)))
    }

    /// ATen's `elu_backward`, from the output.
    fn elu_grad(y: TchTensor, grad: TchTensor, alpha: f64) -> TchTensor {
        TchTensor::new(Tensor::elu_backward(&grad.tensor, alpha, 1.0, 1.0, true, &y.tensor))
    }

    /// ATen's `_prelu_kernel_backward`; its slope gradient is per element, the slopes' is its
    /// sum over the rest.
    fn prelu_grads(x: TchTensor, alpha: TchTensor, grad: TchTensor) -> (TchTensor, TchTensor) {
        let slopes = broadcast_slopes(&x.tensor, &alpha.tensor);
        let (dx, dslopes) = x.tensor.internal_prelu_kernel_backward(&grad.tensor, &slopes);
        let dalpha = dslopes.sum_to_size(slopes.size().as_slice()).reshape(alpha.tensor.size().as_slice());
        (TchTensor::new(dx), TchTensor::new(dalpha))
    }

    fn pixel_unshuffle(grad: TchTensor, factor: usize) -> TchTensor {
        TchTensor::new(grad.tensor.pixel_unshuffle(factor as i64))
    }
}
