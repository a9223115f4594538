//! sisr's own tensor operations, plugged into burn through its backend-extension API.
//!
//! The stride-1 "same" convolution that every network is made of ([`same_conv`]), the ELU
//! and PReLU activations ([`activation`]) and pixel shuffle ([`shuffle`]), run on flex by host
//! kernels, forward and backward, instead of burn-flex's general convolution and burn's
//! composed operations; on LibTorch (`tch` feature) by ATen's own kernels, forward and backward
//! (`torch`). The callers in `models::blocks` route f32 tensors of these two backends here.
//! A convolution followed by ELU or PReLU is one call (`conv2d_same_elu`, `conv2d_same_prelu`):
//! untracked, as in inference, the activation runs on each piece of the convolution's output
//! as it is written; tracked, the two operations with their own backward passes.

// burn marks its LibTorch backend deprecated (the `LibTorch` routes the extension macro writes);
// it is still the way to PyTorch's kernels.
#![cfg_attr(feature = "tch", allow(deprecated))]

pub mod activation;
pub(crate) mod bf16_gemm;
pub(crate) mod same_conv;
pub mod shuffle;
#[cfg(feature = "tch")]
mod torch;
mod vector;

use activation::{Activation, PreluShape};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Shape, Tensor, TensorData};
use same_conv::SameConv;
use shuffle::Shuffle;

/// Backends with sisr's operations.
#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait SisrBackend: Backend {
    /// `x` [N, Cin, H, W], `weight` [Cout, Cin, k, k] (k odd), `bias` [Cout] → [N, Cout, H, W];
    /// stride 1, dilation 1, one group, (k − 1)/2 zero padding on every side.
    fn conv2d_same(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `elu(conv2d_same(x, weight, bias), alpha)`: where nothing is tracked for gradients, the
    /// activation runs on each piece of the convolution's output as it is written.
    fn conv2d_same_elu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self>;

    /// `prelu(conv2d_same(x, weight, bias), alpha)`, as [`SisrBackend::conv2d_same_elu`].
    fn conv2d_same_prelu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self>;

    /// ELU_α, element-wise.
    fn elu(x: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self>;

    /// PReLU of `x` [N, C, …] with `alpha` [C] (one slope per channel) or [1].
    fn prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Pixel shuffle by `factor`: [N, C·r², H, W] → [N, C, rH, rW].
    fn pixel_shuffle(x: FloatTensor<Self>, factor: usize) -> FloatTensor<Self>;
}

/// [`SisrBackend::conv2d_same`] on high-level tensors (flex or LibTorch, plain or autodiff).
pub fn conv2d_same(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::conv2d_same(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch()))
}

/// [`SisrBackend::conv2d_same_elu`] on high-level tensors (flex or LibTorch, plain or autodiff).
pub fn conv2d_same_elu(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, alpha: f64) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::conv2d_same_elu(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), alpha))
}

/// [`SisrBackend::conv2d_same_prelu`] on high-level tensors (flex or LibTorch, plain or
/// autodiff).
pub fn conv2d_same_prelu(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, alpha: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::conv2d_same_prelu(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), alpha.into_dispatch()))
}

/// [`SisrBackend::elu`] on high-level tensors (flex or LibTorch, plain or autodiff).
pub fn elu<const D: usize>(x: Tensor<D>, alpha: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::elu(x.into_dispatch(), alpha))
}

/// [`SisrBackend::pixel_shuffle`] on high-level tensors (flex or LibTorch, plain or autodiff).
pub fn pixel_shuffle(x: Tensor<4>, factor: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::pixel_shuffle(x.into_dispatch(), factor))
}

/// [`SisrBackend::prelu`] on high-level tensors (flex or LibTorch, plain or autodiff).
pub fn prelu<const D: usize>(x: Tensor<D>, alpha: Tensor<1>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::prelu(x.into_dispatch(), alpha.into_dispatch()))
}

fn shape_of(x: &FlexTensor, weight: &FlexTensor) -> SameConv {
    let [batch, cin, height, width] = x.shape().dims();
    let [cout, wcin, kh, kw] = weight.shape().dims();
    assert!(wcin == cin && kh == kw && kh % 2 == 1, "conv2d_same: input {:?} and weight {:?} do not fit", x.shape(), weight.shape());
    assert!(x.dtype() == DType::F32 && weight.dtype() == DType::F32, "conv2d_same runs on f32 tensors only");
    SameConv { batch, cin, cout, height, width, k: kh }
}

fn host(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// The values of `t` to overwrite, where `t` is contiguous and holds its storage alone (the
/// output of the operation before, as in inference): an element-wise operation can then run
/// in place instead of filling a new buffer.
fn owned_values(t: &mut FlexTensor) -> Option<&mut [f32]> {
    let (start, end) = t.layout().contiguous_offsets()?;
    (t.dtype() == DType::F32).then_some(())?;
    t.try_storage_mut::<f32>().map(|values| &mut values[start..end])
}

/// The convolution of `x`, then `activation` on each piece of its output as it is written.
fn conv_activation(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, activation: Activation) -> FlexTensor {
    let s = shape_of(&x, &weight);
    let (x, weight, bias) = (host(&x), host(&weight), host(&bias));
    let operands = crate::precision::operands_for(s.cin, s.cout);
    let out = s.forward_with(x.storage(), weight.storage(), Some(bias.storage()), operands, activation);
    flex_tensor(out, [s.batch, s.cout, s.height, s.width])
}

fn flex_tensor<S: Into<Shape>>(values: Vec<f32>, shape: S) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn prelu_shape(x: &FlexTensor, alpha: &FlexTensor) -> PreluShape {
    let dims = x.shape().to_vec();
    let slopes = alpha.shape().num_elements();
    let channels = if dims.len() > 1 { dims[1] } else { 1 };
    assert!(x.dtype() == DType::F32 && alpha.dtype() == DType::F32, "prelu runs on f32 tensors only");
    assert!(slopes == 1 || slopes == channels, "prelu: {slopes} slopes for {channels} channels");
    PreluShape { channels, plane: dims.iter().skip(2).product() }
}

/// The shuffle of `x` ([N, C·r², H, W]) by `factor`, and its output shape.
fn shuffle_of(x: &FlexTensor, factor: usize) -> (Shuffle, [usize; 4]) {
    let [n, c, height, width] = x.shape().dims();
    assert!(x.dtype() == DType::F32, "pixel shuffle runs on f32 tensors only");
    assert!(factor > 0 && c % (factor * factor) == 0, "pixel shuffle: {c} channels are not a multiple of {factor}²");
    let channels = c / (factor * factor);
    (Shuffle { planes: n * channels, height, width, factor }, [n, channels, height * factor, width * factor])
}

impl SisrBackend for Flex {
    fn conv2d_same(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        conv_activation(x, weight, bias, Activation::Identity)
    }

    fn conv2d_same_elu(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, alpha: f64) -> FlexTensor {
        conv_activation(x, weight, bias, Activation::Elu(alpha as f32))
    }

    fn conv2d_same_prelu(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, alpha: FlexTensor) -> FlexTensor {
        let [channels, ..] = weight.shape().dims::<4>();
        let slopes = alpha.shape().num_elements();
        assert!(alpha.dtype() == DType::F32, "prelu runs on f32 tensors only");
        assert!(slopes == 1 || slopes == channels, "prelu: {slopes} slopes for {channels} channels");
        let alpha = host(&alpha);
        conv_activation(x, weight, bias, Activation::Prelu(alpha.storage()))
    }

    fn elu(mut x: FlexTensor, alpha: f64) -> FlexTensor {
        assert!(x.dtype() == DType::F32, "elu runs on f32 tensors only");
        if let Some(values) = owned_values(&mut x) {
            activation::elu_all_in_place(values, alpha as f32);
            return x;
        }
        let x = host(&x);
        flex_tensor(activation::elu(x.storage(), alpha as f32), x.shape())
    }

    fn prelu(mut x: FlexTensor, alpha: FlexTensor) -> FlexTensor {
        let s = prelu_shape(&x, &alpha);
        let alpha = host(&alpha);
        if let Some(values) = owned_values(&mut x) {
            s.forward_in_place(values, alpha.storage());
            return x;
        }
        let x = host(&x);
        flex_tensor(s.forward(x.storage(), alpha.storage()), x.shape())
    }

    fn pixel_shuffle(x: FlexTensor, factor: usize) -> FlexTensor {
        let (s, shape) = shuffle_of(&x, factor);
        flex_tensor(s.forward(host(&x).storage()), shape)
    }
}

/// The backward kernels of sisr's operations on one backend, from which one generic
/// implementation of [`SisrBackend`] for `Autodiff<B>` builds its backward passes.
pub trait SisrGrads: SisrBackend {
    /// Gradients of `conv2d_same(x, weight, bias)` for the input, the weight and the bias,
    /// from the output gradient `grad`; `None` where `wanted` is false, or computed anyway.
    fn conv2d_same_grads(x: FloatTensor<Self>, weight: FloatTensor<Self>, grad: FloatTensor<Self>, wanted: [bool; 3]) -> [Option<FloatTensor<Self>>; 3];

    /// ELU's input gradient, from its output `y`.
    fn elu_grad(y: FloatTensor<Self>, grad: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self>;

    /// PReLU's input and slope gradients.
    fn prelu_grads(x: FloatTensor<Self>, alpha: FloatTensor<Self>, grad: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The inverse of `pixel_shuffle(·, factor)`: pixel shuffle's input gradient.
    fn pixel_unshuffle(grad: FloatTensor<Self>, factor: usize) -> FloatTensor<Self>;
}

impl SisrGrads for Flex {
    fn conv2d_same_grads(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, wanted: [bool; 3]) -> [Option<FlexTensor>; 3] {
        let s = shape_of(&x, &weight);
        let grad = host(&grad);
        let dx = wanted[0].then(|| flex_tensor(s.input_grad(host(&weight).storage(), grad.storage()), [s.batch, s.cin, s.height, s.width]));
        let (dw, db) = if wanted[1] || wanted[2] {
            let (dw, db) = s.weight_grad(host(&x).storage(), grad.storage());
            (Some(flex_tensor(dw, [s.cout, s.cin, s.k, s.k])), Some(flex_tensor(db, [s.cout])))
        } else {
            (None, None)
        };
        [dx, dw, db]
    }

    fn elu_grad(y: FlexTensor, grad: FlexTensor, alpha: f64) -> FlexTensor {
        let (y, grad) = (host(&y), host(&grad));
        flex_tensor(activation::elu_grad(y.storage(), grad.storage(), alpha as f32), y.shape())
    }

    fn prelu_grads(x: FlexTensor, alpha: FlexTensor, grad: FlexTensor) -> (FlexTensor, FlexTensor) {
        let s = prelu_shape(&x, &alpha);
        let (x, alpha, grad) = (host(&x), host(&alpha), host(&grad));
        let (dx, dalpha) = s.backward(x.storage(), alpha.storage(), grad.storage());
        (flex_tensor(dx, x.shape()), flex_tensor(dalpha, alpha.shape()))
    }

    fn pixel_unshuffle(grad: FlexTensor, factor: usize) -> FlexTensor {
        let [n, c, rows, cols] = grad.shape().dims();
        let (height, width) = (rows / factor, cols / factor);
        let s = Shuffle { planes: n * c, height, width, factor };
        flex_tensor(s.inverse(host(&grad).storage()), [n, c * factor * factor, height, width])
    }
}

/// Backward of the convolution: input gradient, and weight and bias gradients, each where its
/// parent is tracked.
#[derive(Debug)]
struct SameConvBackward;

impl<B: SisrGrads> Backward<B, 3> for SameConvBackward {
    /// The forward's input and weight.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight) = ops.state;
        let wanted = ops.parents.each_ref().map(Option::is_some);
        for (node, gradient) in ops.parents.into_iter().zip(B::conv2d_same_grads(x, weight, grad, wanted)) {
            if let (Some(node), Some(gradient)) = (node, gradient) {
                grads.register::<B>(node.id, gradient);
            }
        }
    }
}

/// Backward of ELU, from its output.
#[derive(Debug)]
struct EluBackward;

impl<B: SisrGrads> Backward<B, 1> for EluBackward {
    /// The forward's output and α.
    type State = (FloatTensor<B>, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (y, alpha) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::elu_grad(y, grad, alpha));
        }
    }
}

/// Backward of PReLU: input and slope gradients.
#[derive(Debug)]
struct PreluBackward;

impl<B: SisrGrads> Backward<B, 2> for PreluBackward {
    /// The forward's input and slopes.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_alpha] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, alpha) = ops.state;
        let (dx, dalpha) = B::prelu_grads(x, alpha, grad);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_alpha {
            grads.register::<B>(node.id, dalpha);
        }
    }
}

/// Backward of pixel shuffle: the inverse shuffle of the gradient.
#[derive(Debug)]
struct ShuffleBackward;

impl<B: SisrGrads> Backward<B, 1> for ShuffleBackward {
    /// The factor.
    type State = usize;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::pixel_unshuffle(grad, ops.state));
        }
    }
}

/// The convolution's inner tensors (input, weight, bias) on one backend.
type ConvInputs<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// `activation(conv2d_same(x, weight, bias))` on autodiff: where the convolution's inputs are
/// tracked, the tracked convolution then `activation` (tracked in turn); otherwise `fused`,
/// the inner backend's single call.
fn conv_then<B: SisrGrads, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    fused: impl FnOnce(ConvInputs<B>) -> FloatTensor<B>,
    activation: impl FnOnce(FloatTensor<Autodiff<B, C>>) -> FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match SameConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
            let out = B::conv2d_same(x.clone(), weight.clone(), bias.into_primitive());
            activation(prep.finish((x, weight), out))
        }
        OpsKind::UnTracked(prep) => prep.finish(fused((x.into_primitive(), weight.into_primitive(), bias.into_primitive()))),
    }
}

impl<B: SisrGrads, C: CheckpointStrategy> SisrBackend for Autodiff<B, C> {
    fn conv2d_same(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        conv_then::<B, C>(x, weight, bias, |(x, weight, bias)| B::conv2d_same(x, weight, bias), |y| y)
    }

    fn conv2d_same_elu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self> {
        conv_then::<B, C>(x, weight, bias, |(x, weight, bias)| B::conv2d_same_elu(x, weight, bias, alpha), |y| Self::elu(y, alpha))
    }

    fn conv2d_same_prelu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self> {
        if alpha.is_tracked() {
            // The slopes' gradient needs the convolution's output, which the fused call drops.
            return Self::prelu(Self::conv2d_same(x, weight, bias), alpha);
        }
        let slopes = alpha.primitive().clone();
        conv_then::<B, C>(x, weight, bias, |(x, weight, bias)| B::conv2d_same_prelu(x, weight, bias, slopes), |y| Self::prelu(y, alpha))
    }

    fn elu(x: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self> {
        match EluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::elu(x.into_primitive(), alpha);
                prep.finish((y.clone(), alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::elu(x.into_primitive(), alpha)),
        }
    }

    fn prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self> {
        match PreluBackward.prepare::<C>([x.node(), alpha.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, alpha) = (x.primitive().clone(), alpha.primitive().clone());
                let y = <B as SisrBackend>::prelu(x.clone(), alpha.clone());
                prep.finish((x, alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(<B as SisrBackend>::prelu(x.into_primitive(), alpha.into_primitive())),
        }
    }

    fn pixel_shuffle(x: FloatTensor<Self>, factor: usize) -> FloatTensor<Self> {
        match ShuffleBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(factor, B::pixel_shuffle(x.into_primitive(), factor)),
            OpsKind::UnTracked(prep) => prep.finish(B::pixel_shuffle(x.into_primitive(), factor)),
        }
    }
}
