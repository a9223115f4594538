//! sisr's own tensor operations, plugged into burn through its backend-extension API.
//!
//! One operation so far: the stride-1 "same" convolution that every network is made of, run on
//! flex by [`same_conv`]'s host kernels (forward and backward) instead of burn-flex's general
//! convolution. Other backends (LibTorch) keep burn's own convolution: the caller routes only
//! flex tensors here (see `models::blocks::conv_forward`).

pub mod same_conv;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};
use same_conv::SameConv;

/// Backends with sisr's "same" convolution.
#[backend_extension(Flex, Autodiff)]
pub trait SameConvBackend: Backend {
    /// `x` [N, Cin, H, W], `weight` [Cout, Cin, k, k] (k odd), `bias` [Cout] → [N, Cout, H, W];
    /// stride 1, dilation 1, one group, (k − 1)/2 zero padding on every side.
    fn conv2d_same(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// [`SameConvBackend::conv2d_same`] on high-level tensors (flex devices, plain or autodiff).
pub fn conv2d_same(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as SameConvBackend>::conv2d_same(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
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

fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl SameConvBackend for Flex {
    fn conv2d_same(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let s = shape_of(&x, &weight);
        let (x, weight, bias) = (host(&x), host(&weight), host(&bias));
        let out = s.forward(x.storage(), weight.storage(), Some(bias.storage()));
        flex_tensor(out, [s.batch, s.cout, s.height, s.width])
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

impl<C: CheckpointStrategy> SameConvBackend for Autodiff<Flex, C> {
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
}
