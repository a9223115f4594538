//! The networks against SPEC §1–2: parameter and MAC counts, shapes, pixel-shuffle order,
//! gradients, weight-file checks.

use burn::module::Param;
use burn::nn::PixelShuffleConfig;
use burn::prelude::*;
use sisr::models::{ModelKind, NamedVisitor};
use sisr::weights::{self, WeightsError, WeightsFile};
use std::path::Path;

mod common;

fn device() -> Device {
    sisr::default_device()
}

/// SPEC §2: (model, scale, params, convMAC/LR px, convMAC/HR px, DCSCN-cplx/LR px, DCSCN-cplx/HR px, GMACs@720p).
type Row = (&'static str, usize, usize, u64, u64, u64, u64, f64);
const TABLE: &[Row] = &[
    ("drfn", 2, 9_814_947, 9_793_024, 2_448_256, 9_819_084, 2_454_771, 2256.3),
    ("drfn", 3, 9_999_587, 9_985_984, 1_109_554, 10_012_379, 1_112_487, 1022.6),
    ("drfn", 4, 9_962_659, 10_403_584, 650_224, 10_430_704, 651_919, 599.3),
    ("drfn-5m", 2, 5_088_163, 5_074_432, 1_268_608, 5_088_204, 1_272_051, 1169.2),
    ("drfn-5m", 3, 5_272_803, 5_267_392, 585_266, 5_281_499, 586_833, 539.4),
    ("drfn-5m", 4, 5_235_875, 5_684_992, 355_312, 5_699_824, 356_239, 327.5),
    ("drn", 2, 2_898_227, 2_890_176, 722_544, 2_916_332, 729_083, 665.9),
    ("drn", 3, 3_082_867, 3_083_136, 342_571, 3_109_627, 345_514, 315.7),
    ("drn", 4, 3_341_363, 3_353_280, 209_580, 3_380_240, 211_265, 193.2),
    ("drn-plus", 2, 34_852_403, 34_823_616, 8_705_904, 34_891_244, 8_722_811, 8023.4),
    ("drn-plus", 3, 35_037_043, 35_016_576, 3_890_731, 35_084_539, 3_898_282, 3585.7),
    ("drn-plus", 4, 35_295_539, 35_286_720, 2_205_420, 35_355_152, 2_209_697, 2032.5),
    ("glrl", 2, 630_148, 2_810_880, 702_720, 2_821_644, 705_411, 647.6),
    ("glrl", 3, 630_148, 6_324_480, 702_720, 6_348_699, 705_411, 647.6),
    ("glrl", 4, 630_148, 11_243_520, 702_720, 11_286_576, 705_411, 647.6),
    ("glrl-128", 2, 2_513_668, 4 * 2_806_272, 2_806_272, 4 * 2_811_651, 2_811_651, 2586.3),
    ("dcscn", 2, 244_193, 243_117, 60_779, 244_193, 61_048, 56.0),
    ("dcscn", 3, 244_673, 243_597, 27_066, 244_673, 27_186, 24.9),
    ("dcscn", 4, 245_345, 244_269, 15_267, 245_345, 15_334, 14.1),
    ("dcscn-compact", 2, 26_172, 25_830, 6_458, 26_172, 6_543, 5.95),
    ("dcscn-compact", 3, 26_332, 25_990, 2_888, 26_332, 2_926, 2.66),
    ("dcscn-compact", 4, 26_556, 26_214, 1_638, 26_556, 1_660, 1.51),
];

#[test]
fn parameter_and_mac_counts_equal_the_spec() {
    for &(name, s, params, mac_lr, mac_hr, cplx_lr, cplx_hr, gmacs) in TABLE {
        let net = ModelKind::parse(name).unwrap().build(s, &device()).unwrap();
        let c = net.complexity();
        assert_eq!(c.params, params, "{name} x{s} params");
        assert_eq!(c.macs_per_lr_pixel, mac_lr, "{name} x{s} MAC/LR px");
        assert_eq!(c.macs_per_hr_pixel, mac_hr, "{name} x{s} MAC/HR px");
        assert_eq!(c.table3.per_lr_pixel, cplx_lr, "{name} x{s} cplx/LR px");
        assert_eq!(c.table3.per_hr_pixel, cplx_hr, "{name} x{s} cplx/HR px");
        // The spec prints GMACs rounded to 0.1 (0.01 below 10), sometimes after an intermediate rounding.
        assert!((c.gmacs_720p - gmacs).abs() <= 0.06, "{name} x{s} GMACs {} vs {gmacs}", c.gmacs_720p);
    }
}

#[test]
fn dcscn_filter_schedules_are_table_1() {
    use sisr::models::dcscn::DcscnConfig;
    assert_eq!(DcscnConfig::new(2).feature_filters(), vec![96, 76, 65, 55, 47, 39, 32]);
    assert_eq!(DcscnConfig::compact(2).feature_filters(), vec![32, 26, 22, 18, 14, 11, 8]);
}

#[test]
fn pixel_shuffle_uses_pytorch_ordering() {
    // out[c, y·r+i, x·r+j] = in[c·r² + i·r + j, y, x] with r = 2, 2 output channels, 1×2 input.
    let (r, c, h, w) = (2usize, 2usize, 1usize, 2usize);
    let input: Vec<f32> = (0..c * r * r * h * w).map(|v| v as f32).collect();
    let t = Tensor::<4>::from_data(TensorData::new(input.clone(), [1, c * r * r, h, w]), &device());
    let out = PixelShuffleConfig::new(r).init().forward(t).try_into_vec_as::<f32>().unwrap();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                for i in 0..r {
                    for j in 0..r {
                        let got = out[(ch * h * r + y * r + i) * w * r + x * r + j];
                        let want = input[((ch * r * r + i * r + j) * h + y) * w + x];
                        assert_eq!(got, want, "c{ch} y{y} x{x} i{i} j{j}");
                    }
                }
            }
        }
    }
}

fn random_input(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    random_in(c, h, w, seed, 0, 256)
}

/// Pseudo-random integers in [lo, lo + span) as f32.
fn random_in(c: usize, h: usize, w: usize, seed: u64, lo: u64, span: u64) -> Vec<f32> {
    let mut s = seed;
    (0..c * h * w)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (lo + (s >> 40) % span) as f32
        })
        .collect()
}

/// Every model at x2, x3, x4 on an odd-sized input gives an output exactly s times larger.
#[test]
fn every_model_runs_forward_with_the_right_shape() {
    let dev = device();
    for kind in ModelKind::ALL.into_iter().filter(|k| *k != ModelKind::Bicubic) {
        for s in [2, 3, 4] {
            let net = kind.build(s, &dev).unwrap();
            let c = kind.color_mode().channels();
            let (h, w) = (5, 7);
            let planes: Vec<sisr_image::Plane<f64>> =
                (0..c).map(|i| sisr_image::Plane::new(w, h, random_input(1, h, w, i as u64).iter().map(|&v| f64::from(v)).collect())).collect();
            let out = sisr::infer::run_planes(&net, &planes, &dev);
            assert_eq!(out.len(), c, "{kind} x{s}");
            assert_eq!((out[0].width, out[0].height), (w * s, h * s), "{kind} x{s}");
            assert!(out.iter().all(|p| p.data.iter().all(|v| v.is_finite())), "{kind} x{s}");
        }
    }
}

struct GradCheck<'a> {
    grads: &'a burn::optim::GradientsParams,
    bad: Vec<String>,
    count: usize,
}

impl NamedVisitor for GradCheck<'_> {
    fn param<const D: usize>(&mut self, name: &str, p: &Param<Tensor<D>>) {
        self.count += 1;
        match self.grads.get::<D>(p.id) {
            None => self.bad.push(format!("{name}: no gradient")),
            Some(g) => {
                let v = g.try_into_vec_as::<f32>().unwrap();
                if !v.iter().all(|x| x.is_finite()) {
                    self.bad.push(format!("{name}: non-finite gradient"));
                } else if v.iter().all(|&x| x == 0.0) {
                    self.bad.push(format!("{name}: zero gradient"));
                }
            }
        }
    }
}

/// One backward pass through each model: finite, non-zero gradients for every parameter.
/// The input is image-like (dark to mid-gray with texture): bright full-range noise drives DRFN's deep
/// attention sigmoids into saturation, where their gradient is exactly zero in f32.
#[test]
fn backward_reaches_every_parameter() {
    let dev = device().autodiff();
    for kind in ModelKind::ALL.into_iter().filter(|k| *k != ModelKind::Bicubic) {
        let s = 2;
        dev.seed(7);
        let net = common::random_network(kind, s, &dev);
        let c = kind.color_mode().channels();
        let (h, w) = (8, 8);
        // A batch of images of different colour balance, so that per-image paths (channel
        // attention's pooled descriptor through a ReLU) see more than one input.
        let n = 8;
        let batch = |seed: u64, side_h: usize, side_w: usize| {
            let v: Vec<f32> = (0..n as u64)
                .flat_map(|i| (0..c as u64).flat_map(move |ch| random_in(1, side_h, side_w, seed + 10 * i + ch, (i * 37 + ch * 53) % 120, 32)))
                .collect();
            Tensor::<4>::from_data(TensorData::new(v, [n, c, side_h, side_w]), &dev)
        };
        let (lr, up, target) = (batch(3, h, w), batch(4, h * s, w * s), batch(5, h * s, w * s));
        let out = net.forward(lr, Some(up));
        let loss = (out - target).square().mean();
        let grads = net.gradients(loss.backward());
        let mut check = GradCheck { grads: &grads, bad: vec![], count: 0 };
        net.visit_named(&mut check);
        assert!(check.count > 0);
        assert!(check.bad.is_empty(), "{kind}: {:?}", check.bad);
    }
}

/// Tensor name → (shape, values), as a weights file holds them.
type Tensors = std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>;

fn tensors_of(kind: ModelKind, scale: usize) -> (sisr::Network, Tensors) {
    let net = kind.build(scale, &device()).unwrap();
    let bytes = weights::to_bytes(&net, &Default::default());
    let file = WeightsFile::parse(&bytes, Path::new("w.safetensors")).unwrap();
    (net, file.tensors)
}

#[test]
fn weight_files_round_trip_and_are_checked() {
    let (net, tensors) = tensors_of(ModelKind::DcscnCompact, 2);
    // Round trip: the loaded network computes the same function.
    let loaded = weights::load_tensors(ModelKind::DcscnCompact.build(2, &device()).unwrap(), tensors.clone(), Path::new("w")).unwrap();
    let plane = sisr_image::Plane::new(6, 5, random_input(1, 5, 6, 9).iter().map(|&v| f64::from(v)).collect());
    let a = sisr::infer::run_planes(&net, std::slice::from_ref(&plane), &device());
    let b = sisr::infer::run_planes(&loaded, std::slice::from_ref(&plane), &device());
    assert_eq!(a, b);

    let mut missing = tensors.clone();
    missing.remove("a1.conv.bias");
    let e = weights::load_tensors(net.clone(), missing, Path::new("w.safetensors")).unwrap_err();
    assert!(matches!(e, WeightsError::Missing { .. }) && e.to_string().contains("a1.conv.bias"), "{e}");

    let mut wrong = tensors.clone();
    wrong.insert("feature.2.conv.weight".into(), (vec![1, 2, 3, 3], vec![0.0; 18]));
    let e = weights::load_tensors(net.clone(), wrong, Path::new("w.safetensors")).unwrap_err();
    assert!(matches!(e, WeightsError::Shape { .. }) && e.to_string().contains("feature.2.conv.weight"), "{e}");

    for bad in [f32::NAN, f32::INFINITY] {
        let mut diverged = tensors.clone();
        diverged.get_mut("feature.2.conv.weight").unwrap().1[3] = bad;
        let e = weights::load_tensors(net.clone(), diverged, Path::new("w.safetensors")).unwrap_err();
        assert!(e.to_string().contains("feature.2.conv.weight") && e.to_string().contains(&bad.to_string()), "{e}");
    }

    let mut extra = tensors;
    extra.insert("surprise.weight".into(), (vec![1], vec![0.0]));
    let e = weights::load_tensors(net, extra, Path::new("w.safetensors")).unwrap_err();
    assert!(e.to_string().contains("surprise.weight"), "{e}");
}

#[test]
fn truncated_or_mismatched_weight_files_are_refused() {
    let net = ModelKind::Dcscn.build(3, &device()).unwrap();
    let bytes = weights::to_bytes(&net, &Default::default());
    assert!(matches!(WeightsFile::parse(&bytes[..bytes.len() - 100], Path::new("t.safetensors")), Err(WeightsError::Format { .. })));
    let file = WeightsFile::parse(&bytes, Path::new("w.safetensors")).unwrap();
    assert_eq!(file.model().unwrap(), (ModelKind::Dcscn, 3));
    let e = WeightsFile::parse(&bytes, Path::new("w.safetensors")).unwrap().into_network(Some((ModelKind::Dcscn, 2)), &device()).unwrap_err();
    assert!(matches!(e, WeightsError::ScaleMismatch { requested: 2, .. }), "{e}");
    let e = file.into_network(Some((ModelKind::Drn, 3)), &device()).unwrap_err();
    assert!(matches!(e, WeightsError::ModelMismatch { .. }), "{e}");
}

/// A fresh DCSCN starts from the bicubic skip (L = 0), so training does not begin with a
/// residual of ±160 grey levels that collapses the network (SPEC C6, deviation recorded).
#[test]
fn a_fresh_dcscn_outputs_its_bicubic_skip() {
    let dev = device();
    for kind in [ModelKind::Dcscn, ModelKind::DcscnCompact] {
        let net = kind.build(2, &dev).unwrap();
        let lr = Tensor::<4>::from_data(TensorData::new(random_input(1, 6, 6, 3), [1, 1, 6, 6]), &dev);
        let up = Tensor::<4>::from_data(TensorData::new(random_input(1, 12, 12, 4), [1, 1, 12, 12]), &dev);
        let out = net.forward(lr, Some(up.clone()));
        let diff: f32 = (out - up).abs().max().into_scalar();
        assert_eq!(diff, 0.0, "{kind}");
    }
}

/// DRFN's tail conv starts at zero (`DrfnConfig::tail_zero_init`): before training, every input
/// gives the same flat image, the mean colour of its MeanShift, inside the [0, 255] range.
#[test]
fn a_fresh_drfn_outputs_a_flat_mean_image() {
    let dev = device();
    for kind in [ModelKind::Drfn, ModelKind::Drfn5m] {
        let net = kind.build(2, &dev).unwrap();
        let input = |seed| Tensor::<4>::from_data(TensorData::new(random_input(3, 6, 6, seed), [1, 3, 6, 6]), &dev);
        let (a, b) = (net.forward(input(3), None), net.forward(input(4), None));
        assert_eq!(a.dims(), [1, 3, 12, 12]);
        let diff: f32 = (a.clone() - b).abs().max().into_scalar();
        assert_eq!(diff, 0.0, "{kind}: the output depends on the input");
        for c in 0..3 {
            let channel = a.clone().narrow(1, c, 1);
            let (lo, hi): (f32, f32) = (channel.clone().min().into_scalar(), channel.max().into_scalar());
            assert_eq!(lo, hi, "{kind}: channel {c} is not flat");
            assert!((50.0..200.0).contains(&lo), "{kind}: channel {c} = {lo}, not a mean colour");
        }
    }
}

/// The devices with sisr's own operations (`sisr::ops`): flex, and LibTorch's CPU in a `tch`
/// build; autodiff, so that the tests below check gradients too.
fn ops_devices() -> Vec<Device> {
    #[allow(unused_mut)]
    let mut devices = vec![Device::flex()];
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn marks its LibTorch backend deprecated
    devices.push(Device::libtorch());
    devices.into_iter().map(|d| d.autodiff()).collect()
}

/// sisr's convolution (`blocks::Apply` for `Conv2d`: host kernels on flex, ATen's on LibTorch, each
/// with its own backward) against burn's `Conv2d` on the same device: same values, same
/// gradients for the input, the weight and the bias, for 1×1, 3×3 and 5×5 kernels, with and
/// without bias. The 3×3 case is taller than one work band of the flex kernel.
#[test]
fn sisr_same_convolution_matches_burns_values_and_gradients() {
    for dev in ops_devices() {
        same_convolution_matches_burn(&dev);
    }
}

fn same_convolution_matches_burn(dev: &Device) {
    use sisr::models::blocks::{Apply, Init, conv};
    let dev = dev.clone();
    for (i, &(cin, cout, k, bias, h, w)) in [(3, 5, 3, true, 70, 40), (4, 2, 1, true, 6, 9), (2, 3, 5, false, 7, 3), (1, 6, 3, true, 9, 8)].iter().enumerate() {
        dev.seed(11 + i as u64);
        let c = conv(&dev, cin, cout, k, bias, Init::PyTorchDefault);
        let x = Tensor::<4>::from_data(TensorData::new(random_in(2 * cin, h, w, 5 + i as u64, 0, 256), [2, cin, h, w]), &dev);
        let g = Tensor::<4>::from_data(TensorData::new(random_in(2 * cout, h, w, 9 + i as u64, 0, 7), [2, cout, h, w]), &dev);
        let run = |ours: bool| {
            let x = x.clone().require_grad();
            let y = if ours { c.apply(x.clone()) } else { c.forward(x.clone()) };
            let grads = (y.clone() * g.clone()).sum().backward();
            let grad = |t: Option<Tensor<4>>| t.map(|t| t.try_into_vec_as::<f32>().unwrap());
            let bias_grad = c.bias.as_ref().map(|b| b.val().grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap());
            (y.inner().try_into_vec_as::<f32>().unwrap(), grad(x.grad(&grads)), grad(c.weight.val().grad(&grads)), bias_grad)
        };
        let (ours, burns) = (run(true), run(false));
        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len());
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (j, (p, q)) in a.iter().zip(b).enumerate() {
                assert!((p - q).abs() <= 1e-5 * scale, "{dev:?} case {i} {what}[{j}]: {p} vs {q}");
            }
        };
        close(&ours.0, &burns.0, "output");
        close(ours.1.as_ref().expect("input gradient"), burns.1.as_ref().unwrap(), "input gradient");
        close(ours.2.as_ref().expect("weight gradient"), burns.2.as_ref().unwrap(), "weight gradient");
        assert_eq!(ours.3.is_some(), bias);
        if let (Some(a), Some(b)) = (&ours.3, &burns.3) {
            close(a, b, "bias gradient");
        }
    }
}

/// sisr's ELU and PReLU (one host pass each way on flex, ATen's kernels on LibTorch) against
/// burn's composed operations: same values, same input and slope gradients.
#[test]
fn sisr_activations_match_burns_values_and_gradients() {
    for dev in ops_devices() {
        activations_match_burn(&dev);
    }
}

fn activations_match_burn(dev: &Device) {
    use sisr::models::blocks::{Apply, elu};
    let dev = dev.clone();
    let shape = [2, 3, 5, 4];
    let values = |seed: u64, span: u64| {
        // Off zero, where the composed ELU's gradient is 1 + α (both clamps pass) and the
        // kernel's is α, PyTorch's value.
        let v: Vec<f32> = random_in(6, 5, 4, seed, 0, span).iter().map(|v| v / 16.0 - 4.0 + 1.0 / 32.0).collect();
        Tensor::<4>::from_data(TensorData::new(v, shape), &dev)
    };
    let (x, g) = (values(3, 128), values(4, 128));
    let vec = |t: Tensor<4>| t.inner().try_into_vec_as::<f32>().unwrap();
    let close = |a: &[f32], b: &[f32], what: &str| {
        assert_eq!(a.len(), b.len());
        for (j, (p, q)) in a.iter().zip(b).enumerate() {
            assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{dev:?} {what}[{j}]: {p} vs {q}");
        }
    };

    let elu_run = |ours: bool| {
        let x = x.clone().require_grad();
        let y = if ours { elu(x.clone(), 0.2) } else { x.clone().clamp_min(0.0) + x.clone().clamp_max(0.0).exp().sub_scalar(1.0).mul_scalar(0.2) };
        let grads = (y.clone() * g.clone()).sum().backward();
        (vec(y), vec(x.grad(&grads).unwrap()))
    };
    let (ours, burns) = (elu_run(true), elu_run(false));
    close(&ours.0, &burns.0, "elu");
    close(&ours.1, &burns.1, "elu input gradient");

    for slopes in [vec![0.1f32, -0.3, 0.7], vec![0.25]] {
        let mut p = sisr::models::blocks::prelu(&dev, slopes.len(), 0.25);
        p.alpha = Param::from_tensor(Tensor::<1>::from_data(TensorData::new(slopes.clone(), [slopes.len()]), &dev));
        let run = |ours: bool| {
            let x = x.clone().require_grad();
            let y = if ours { p.apply(x.clone()) } else { p.forward(x.clone()) };
            let grads = (y.clone() * g.clone()).sum().backward();
            let alpha_grad = p.alpha.val().grad(&grads).expect("slope gradient").try_into_vec_as::<f32>().unwrap();
            (vec(y), vec(x.grad(&grads).unwrap()), alpha_grad)
        };
        let (ours, burns) = (run(true), run(false));
        close(&ours.0, &burns.0, "prelu");
        close(&ours.1, &burns.1, "prelu input gradient");
        close(&ours.2, &burns.2, "prelu slope gradient");
    }
}

/// A convolution with its activation fused (`conv_elu`, `conv_prelu`) against the two
/// operations apart: the same values untracked (where the fused kernel runs) and tracked, the
/// same gradients for the input, the weight, the bias and the slopes. An activation that runs
/// in place on flex leaves a tensor that is still shared untouched.
#[test]
fn fused_convolution_activations_match_the_operations_apart() {
    #[allow(unused_mut)]
    let mut plain = vec![Device::flex()];
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn marks its LibTorch backend deprecated
    plain.push(Device::libtorch());
    for dev in plain {
        fused_activations_match(&dev, false);
    }
    for dev in ops_devices() {
        fused_activations_match(&dev, true);
    }
}

/// On a plain device nothing is tracked, so the fused kernels run; on an autodiff one the
/// parameters are tracked and the gradients are compared too.
fn fused_activations_match(dev: &Device, autodiff: bool) {
    use sisr::models::blocks::{Apply, Init, conv, conv_elu, conv_prelu, conv_prelu_pair, elu, prelu};
    let dev = dev.clone();
    let vec = |t: Tensor<4>| t.inner().try_into_vec_as::<f32>().unwrap();
    // A 3×3 wide enough for Winograd, a 1×1 and a narrow 3×3 (direct), with values of both signs.
    for (i, &(cin, cout, k, h, w)) in [(16, 18, 3, 9, 11), (20, 17, 1, 5, 6), (3, 4, 3, 6, 5)].iter().enumerate() {
        dev.seed(40 + i as u64);
        let c = conv(&dev, cin, cout, k, true, Init::PyTorchDefault);
        let mut p = prelu(&dev, cout, 0.25);
        let slopes: Vec<f32> = (0..cout).map(|j| 0.3 - 0.05 * j as f32).collect();
        p.alpha = Param::from_tensor(Tensor::<1>::from_data(TensorData::new(slopes, [cout]), &dev));
        let x = Tensor::<4>::from_data(
            TensorData::new(random_in(cin, h, w, 60 + i as u64, 0, 256).iter().map(|v| v / 128.0 - 1.0).collect::<Vec<f32>>(), [1, cin, h, w]),
            &dev,
        );
        let g = Tensor::<4>::from_data(TensorData::new(random_in(cout, h, w, 70 + i as u64, 0, 7), [1, cout, h, w]), &dev);

        let fused_elu = vec(conv_elu(&c, x.clone(), 0.2));
        let plain = c.apply(x.clone());
        let before = vec(plain.clone());
        let apart_elu = vec(elu(plain.clone(), 0.2));
        assert!(before.iter().any(|&v| v < 0.0), "{dev:?} case {i}: no negative output");
        // Compared whole, not printed: the vectors are long.
        assert!(vec(plain.clone()) == before, "{dev:?} case {i}: ELU changed a shared input");
        assert!(fused_elu == apart_elu, "{dev:?} case {i}: fused ELU differs");
        assert!(vec(conv_prelu(&c, &p, x.clone())) == vec(p.apply(plain.clone())), "{dev:?} case {i}: fused PReLU differs");
        assert!(vec(plain) == before, "{dev:?} case {i}: PReLU changed a shared input");

        let gradients = |fused: bool, use_prelu: bool| {
            let x = x.clone().require_grad();
            let y = match (fused, use_prelu) {
                (true, false) => conv_elu(&c, x.clone(), 0.2),
                (false, false) => elu(c.apply(x.clone()), 0.2),
                (true, true) => conv_prelu(&c, &p, x.clone()),
                (false, true) => p.apply(c.apply(x.clone())),
            };
            let grads = (y.clone() * g.clone()).sum().backward();
            let flat = |t: Tensor<1>| t.try_into_vec_as::<f32>().unwrap();
            let slope_grad = use_prelu.then(|| flat(p.alpha.val().grad(&grads).expect("slope gradient")));
            (
                vec(y),
                vec(x.grad(&grads).expect("input gradient")),
                c.weight.val().grad(&grads).expect("weight gradient").try_into_vec_as::<f32>().unwrap(),
                slope_grad,
            )
        };
        // Two convolutions of one input run as one: each output as its own convolution gives
        // it, up to the order of the sums; a shared slope is spread over its channels.
        let c2 = conv(&dev, cin, 5, k, true, Init::PyTorchDefault);
        let p2 = prelu(&dev, 1, -0.4);
        let (a, b) = conv_prelu_pair((&c, &p), (&c2, &p2), x.clone());
        for (pair, alone, what) in [(a, conv_prelu(&c, &p, x.clone()), "first"), (b, conv_prelu(&c2, &p2, x.clone()), "second")] {
            assert_eq!(pair.dims(), alone.dims(), "{dev:?} case {i}: {what} of a pair");
            let (pair, alone) = (vec(pair), vec(alone));
            let worst = pair.iter().zip(&alone).map(|(p, q)| (p - q).abs() / (1.0 + q.abs())).fold(0f32, f32::max);
            assert!(worst <= 1e-6, "{dev:?} case {i}: {what} of a pair is {worst} off");
        }

        for use_prelu in [false, true].into_iter().filter(|_| autodiff) {
            assert!(gradients(true, use_prelu) == gradients(false, use_prelu), "{dev:?} case {i}: tracked, PReLU {use_prelu}: values or gradients differ");
        }
    }
}

/// sisr's pixel shuffle (host kernel on flex, ATen's on LibTorch) against burn's
/// `PixelShuffle`: same values and input gradient.
#[test]
fn sisr_pixel_shuffle_matches_burns_values_and_gradients() {
    for dev in ops_devices() {
        pixel_shuffle_matches_burn(&dev);
    }
}

fn pixel_shuffle_matches_burn(dev: &Device) {
    use sisr::models::blocks::Apply;
    let dev = dev.clone();
    for r in [2, 3] {
        let ps = PixelShuffleConfig::new(r).init();
        let shape = [2, 2 * r * r, 3, 4];
        let n = shape.iter().product::<usize>();
        let x = Tensor::<4>::from_data(TensorData::new(random_in(1, 1, n, r as u64, 0, 256), shape), &dev);
        let g = Tensor::<4>::from_data(TensorData::new(random_in(1, 1, n, 7 + r as u64, 0, 9), [2, 2, 3 * r, 4 * r]), &dev);
        let run = |ours: bool| {
            let x = x.clone().require_grad();
            let y = if ours { ps.apply(x.clone()) } else { ps.forward(x.clone()) };
            let grads = (y.clone() * g.clone()).sum().backward();
            (y.inner().try_into_vec_as::<f32>().unwrap(), x.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap())
        };
        assert_eq!(run(true), run(false), "{dev:?} factor {r}");
    }
}
