//! sisr's own tensor operations, plugged into burn through its backend-extension API.
//!
//! The stride-1 "same" convolution that every network is made of ([`same_conv`]), the ELU
//! and PReLU activations ([`activation`]) and pixel shuffle ([`shuffle`]), run on flex by host
//! kernels, forward and backward, instead of burn-flex's general convolution and burn's
//! composed operations; on LibTorch (`tch` feature) by ATen's own kernels, forward and backward
//! (`torch`). The callers in `models::blocks` route f32 tensors of these two backends here.

// burn marks its LibTorch backend deprecated (the `LibTorch` routes the extension macro writes);
// it is still the way to PyTorch's kernels.
#![cfg_attr(feature = "tch", allow(deprecated))]

pub mod activation;
pub mod same_conv;
pub mod shuffle;
#[cfg(feature = "tch")]
mod torch;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Shape, Tensor, TensorData};
use activation::PreluShape;
use same_conv::SameConv;
use shuffle::Shuffle;

/// Backends with sisr's operations.
#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait SisrBackend: Backend {
    /// `x` [N, Cin, H, W], `weight` [Cout, Cin, k, k] (k odd), `bias` [Cout] → [N, Cout, H, W];
    /// stride 1, dilation 1, one group, (k − 1)/2 zero padding on every side.
    fn conv2d_same(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;

    /// ELU_α, element-wise.
    fn elu(x: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self>;

    /// PReLU of `x` [N, C, …] with `alpha` [C] (one slope per channel) or [1].
    fn prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Pixel shuffle by `factor`: [N, C·r², H, W] → [N, C, rH, rW].
    fn pixel_shuffle(x: FloatTensor<Self>, factor: usize) -> FloatTensor<Self>;
}

/// [`SisrBackend::conv2d_same`] on high-level tensors (flex or LibTorch, plain or autodiff).
pub fn conv2d_same(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as SisrBackend>::conv2d_same(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
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
        let s = shape_of(&x, &weight);
        let (x, weight, bias) = (host(&x), host(&weight), host(&bias));
        let out = s.forward(x.storage(), weight.storage(), Some(bias.storage()));
        flex_tensor(out, [s.batch, s.cout, s.height, s.width])
    }

    fn elu(x: FlexTensor, alpha: f64) -> FlexTensor {
        assert!(x.dtype() == DType::F32, "elu runs on f32 tensors only");
        let x = host(&x);
        flex_tensor(activation::elu(x.storage(), alpha as f32), x.shape())
    }

    fn prelu(x: FlexTensor, alpha: FlexTensor) -> FlexTensor {
        let s = prelu_shape(&x, &alpha);
        let (x, alpha) = (host(&x), host(&alpha));
        flex_tensor(s.forward(x.storage(), alpha.storage()), x.shape())
    }

    fn pixel_shuffle(x: FlexTensor, factor: usize) -> FlexTensor {
        let (s, shape) = shuffle_of(&x, factor);
        flex_tensor(s.forward(host(&x).storage()), shape)
    }
}

/// Backward of the convolution: input gradient, and weight and bias gradients, each computed
/// only when its parent is tracked.
#[derive(Debug)]
struct SameConvBackward;

impl Backward<Flex, 3> for SameConvBackward {
    /// The forward's input and weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = host(&grads.consume::<Flex>(&ops.node));
        let (x, weight) = ops.state;
        let s = shape_of(&x, &weight);
        if let Some(node) = node_x {
            let dx = s.input_grad(host(&weight).storage(), grad.storage());
            grads.register::<Flex>(node.id, flex_tensor(dx, [s.batch, s.cin, s.height, s.width]));
        }
        if node_weight.is_some() || node_bias.is_some() {
            let (dw, db) = s.weight_grad(host(&x).storage(), grad.storage());
            if let Some(node) = node_weight {
                grads.register::<Flex>(node.id, flex_tensor(dw, [s.cout, s.cin, s.k, s.k]));
            }
            if let Some(node) = node_bias {
                grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, [s.cout])));
            }
        }
    }
}

/// Backward of ELU, from its output.
#[derive(Debug)]
struct EluBackward;

impl Backward<Flex, 1> for EluBackward {
    /// The forward's output and α.
    type State = (FlexTensor, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = host(&grads.consume::<Flex>(&ops.node));
        let (y, alpha) = ops.state;
        if let Some(node) = node_x {
            let y = host(&y);
            grads.register::<Flex>(node.id, flex_tensor(activation::elu_grad(y.storage(), grad.storage(), alpha as f32), y.shape()));
        }
    }
}

/// Backward of PReLU: input and slope gradients.
#[derive(Debug)]
struct PreluBackward;

impl Backward<Flex, 2> for PreluBackward {
    /// The forward's input and slopes.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_alpha] = ops.parents;
        let grad = host(&grads.consume::<Flex>(&ops.node));
        let (x, alpha) = ops.state;
        let s = prelu_shape(&x, &alpha);
        let (x, alpha) = (host(&x), host(&alpha));
        let (dx, dalpha) = s.backward(x.storage(), alpha.storage(), grad.storage());
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(dx, x.shape()));
        }
        if let Some(node) = node_alpha {
            grads.register::<Flex>(node.id, flex_tensor(dalpha, alpha.shape()));
        }
    }
}

/// Backward of pixel shuffle: the inverse shuffle of the gradient.
#[derive(Debug)]
struct ShuffleBackward;

impl Backward<Flex, 1> for ShuffleBackward {
    /// The forward's input shape and factor.
    type State = (Shape, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = host(&grads.consume::<Flex>(&ops.node));
        let (shape, factor) = ops.state;
        if let Some(node) = node_x {
            let [n, c, height, width] = shape.dims();
            let s = Shuffle { planes: n * c / (factor * factor), height, width, factor };
            grads.register::<Flex>(node.id, flex_tensor(s.inverse(grad.storage()), shape));
        }
    }
}

impl<C: CheckpointStrategy> SisrBackend for Autodiff<Flex, C> {
    fn conv2d_same(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        match SameConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let out = Flex::conv2d_same(x.clone(), weight.clone(), bias.into_primitive());
                prep.finish((x, weight), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::conv2d_same(x.into_primitive(), weight.into_primitive(), bias.into_primitive()))
            }
        }
    }

    fn elu(x: FloatTensor<Self>, alpha: f64) -> FloatTensor<Self> {
        match EluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = Flex::elu(x.into_primitive(), alpha);
                prep.finish((y.clone(), alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::elu(x.into_primitive(), alpha)),
        }
    }

    fn prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self> {
        match PreluBackward.prepare::<C>([x.node(), alpha.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, alpha) = (x.primitive().clone(), alpha.primitive().clone());
                let y = Flex::prelu(x.clone(), alpha.clone());
                prep.finish((x, alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::prelu(x.into_primitive(), alpha.into_primitive())),
        }
    }

    fn pixel_shuffle(x: FloatTensor<Self>, factor: usize) -> FloatTensor<Self> {
        match ShuffleBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let shape = x.primitive().shape();
                prep.finish((shape, factor), Flex::pixel_shuffle(x.into_primitive(), factor))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::pixel_shuffle(x.into_primitive(), factor)),
        }
    }
}
