//! Training runs on tiny synthetic data: exact resume, NaN handling, run-folder safety.

use burn::tensor::{Tensor, TensorData};
use sisr::models::ModelKind;
use sisr::train::recipe::{Recipe, Schedule};
use sisr::train::{TrainError, TrainOptions, train};
use sisr::weights::WeightsFile;
use sisr_image::io::save;
use sisr_image::{Image, Layout};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod common;

fn synthetic_images(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let (w, h) = (40 + 4 * i, 36 + 2 * i);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let v = 120.0 + 70.0 * ((x as f64 * 0.3 + i as f64 + c as f64).sin() * (y as f64 * 0.2).cos()) + ((x * 5 + y * 3) % 11) as f64;
                    data.push(v.clamp(0.0, 255.0) as u8);
                }
            }
        }
        save(&Image::from_u8(w, h, Layout::Rgb, data), &dir.join(format!("t{i}.png"))).unwrap();
    }
}

fn options(root: &Path, out: &str, steps: u64, lr: f64) -> TrainOptions {
    let mut recipe = Recipe::quick(ModelKind::DcscnCompact).unwrap();
    recipe.steps = steps;
    recipe.lr = lr;
    recipe.batch = 4;
    recipe.patch = 12;
    recipe.val_every = 2;
    recipe.schedule = Schedule::Step { every: 3, gamma: 0.5 };
    TrainOptions {
        kind: ModelKind::DcscnCompact,
        scale: 2,
        train_dirs: vec![root.join("train")],
        val_dir: Some(root.join("val")),
        out: root.join(out),
        recipe,
        resume: false,
        init: None,
        limits: Default::default(),
        stop: Arc::new(AtomicBool::new(false)),
    }
}

fn weights_of(path: &Path) -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    WeightsFile::read(path).unwrap().tensors
}

/// burn's random generator is global per backend: training runs in parallel test threads
/// would draw each other's dropout masks, so the tests here take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> (std::sync::MutexGuard<'static, ()>, tempfile::TempDir) {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    synthetic_images(&root.path().join("train"), 4);
    synthetic_images(&root.path().join("val"), 2);
    (guard, root)
}

#[test]
fn resumed_run_equals_an_uninterrupted_one() {
    let (_serial, root) = setup();
    let dev = sisr::default_device();
    let first = options(root.path(), "split", 4, 1e-3);
    let s = train(&first, &dev, |_| {}).unwrap();
    assert_eq!(s.steps, 4);
    let resumed = TrainOptions { resume: true, recipe: Recipe { steps: 8, ..first.recipe.clone() }, ..first.clone() };
    let s = train(&resumed, &dev, |_| {}).unwrap();
    assert_eq!(s.steps, 8);
    let whole = options(root.path(), "whole", 8, 1e-3);
    train(&whole, &dev, |_| {}).unwrap();

    let a = weights_of(&root.path().join("split/checkpoint-last.safetensors"));
    let b = weights_of(&root.path().join("whole/checkpoint-last.safetensors"));
    assert_eq!(a.len(), b.len());
    // Weights to 1e-6 absolute; the optimizer's slots (Adam's v reaches 1e11 on [0, 255]
    // pixels) to 1e-6 relative.
    let (mut max_weight_diff, mut max_slot_rel) = (0.0f32, 0.0f32);
    for (name, (shape, values)) in &a {
        let (shape_b, values_b) = &b[name];
        assert_eq!(shape, shape_b, "{name}");
        for (x, y) in values.iter().zip(values_b) {
            if name.starts_with("optim.") {
                max_slot_rel = max_slot_rel.max((x - y).abs() / x.abs().max(y.abs()).max(1e-12));
            } else {
                max_weight_diff = max_weight_diff.max((x - y).abs());
            }
        }
    }
    assert!(max_weight_diff <= 1e-6, "max |weight diff| = {max_weight_diff}");
    assert!(max_slot_rel <= 1e-6, "max relative optimizer-state diff = {max_slot_rel}");
    // The weights did move: a run that learned nothing would also be "equal".
    let fresh = sisr::weights::to_bytes(&ModelKind::DcscnCompact.build(2, &dev).unwrap(), &Default::default());
    let fresh = WeightsFile::parse(&fresh, Path::new("fresh")).unwrap().tensors;
    assert_ne!(fresh["l.weight"].1, a["l.weight"].1);
    // The CSV log has one row per checkpoint, in order, without duplicates after the resume.
    let log = std::fs::read_to_string(root.path().join("split/log.csv")).unwrap();
    let steps: Vec<u64> = log.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, vec![2, 4, 6, 8]);
}

#[test]
fn a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint() {
    let (_serial, root) = setup();
    let dev = sisr::default_device();
    let mut opts = options(root.path(), "nan", 50, 1e3);
    opts.recipe.val_every = 1;
    opts.recipe.schedule = Schedule::Step { every: 1000, gamma: 0.5 };
    let err = train(&opts, &dev, |_| {}).unwrap_err();
    let TrainError::NonFinite { step, loss, .. } = &err else { panic!("expected a non-finite loss, got {err}") };
    assert!(!loss.is_finite());
    assert!(err.to_string().contains(&format!("step {step}")), "{err}");
    let last = root.path().join("nan/checkpoint-last.safetensors");
    let file = WeightsFile::read(&last).unwrap();
    let state: serde_json::Value = serde_json::from_str(&file.metadata["sisr.train_state"]).unwrap();
    assert_eq!(state["step"].as_u64().unwrap(), step - 1, "the checkpoint is the step before the NaN");
    assert!(file.tensors.values().all(|(_, v)| v.iter().all(|x| x.is_finite())));
}

#[test]
fn runs_refuse_to_overwrite_or_to_resume_from_nothing() {
    let (_serial, root) = setup();
    let dev = sisr::default_device();
    let opts = options(root.path(), "run", 2, 1e-3);
    let e = train(&TrainOptions { resume: true, ..opts.clone() }, &dev, |_| {}).unwrap_err();
    assert!(e.to_string().contains("no checkpoint"), "{e}");
    train(&opts, &dev, |_| {}).unwrap();
    let e = train(&opts, &dev, |_| {}).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    // A corrupt checkpoint is an error, never a silent restart.
    let last = root.path().join("run/checkpoint-last.safetensors");
    let bytes = std::fs::read(&last).unwrap();
    std::fs::write(&last, &bytes[..bytes.len() / 2]).unwrap();
    let e = train(&TrainOptions { resume: true, ..opts }, &dev, |_| {}).unwrap_err();
    assert!(e.to_string().contains("checkpoint-last.safetensors"), "{e}");
}

#[test]
fn the_final_model_carries_its_provenance() {
    let (_serial, root) = setup();
    let dev = sisr::default_device();
    let s = train(&options(root.path(), "final", 2, 1e-3), &dev, |_| {}).unwrap();
    let model = s.model.unwrap();
    let file = WeightsFile::read(&model).unwrap();
    assert_eq!(file.model().unwrap(), (ModelKind::DcscnCompact, 2));
    for key in ["sisr.recipe", "sisr.steps", "sisr.train_data", "sisr.validation"] {
        assert!(file.metadata.contains_key(key), "{key} missing");
    }
    assert!(!file.tensors.keys().any(|k| k.starts_with("optim.")));
}

/// `--init`: an x3 run starts from x2 weights; only the scale-specific upsampler starts fresh.
#[test]
fn a_new_scale_starts_from_the_weights_of_another() {
    let (_serial, root) = setup();
    let dev = sisr::default_device();
    let x2 = train(&options(root.path(), "x2", 2, 1e-3), &dev, |_| {}).unwrap().model.unwrap();
    let mut kept = None;
    let x3 = TrainOptions { scale: 3, init: Some(x2.clone()), ..options(root.path(), "x3", 1, 0.0) };
    let s = train(&x3, &dev, |e| {
        if let sisr::train::TrainEvent::WarmStart { kept_initial, .. } = e {
            kept = Some(kept_initial);
        }
    })
    .unwrap();
    let kept = kept.expect("a WarmStart event");
    let x3_model = s.model.unwrap();
    assert_eq!(WeightsFile::read(&x3_model).unwrap().metadata.get("sisr.init"), Some(&x2.display().to_string()));
    // A resumed run keeps the provenance (--init is not given again).
    let more = TrainOptions { resume: true, init: None, recipe: Recipe { steps: 2, ..x3.recipe.clone() }, ..x3.clone() };
    let resumed = train(&more, &dev, |_| {}).unwrap().model.unwrap();
    assert_eq!(WeightsFile::read(&resumed).unwrap().metadata.get("sisr.init"), Some(&x2.display().to_string()));
    let (from, to) = (weights_of(&x2), weights_of(&x3_model));
    assert!(!kept.is_empty(), "the x3 upsampler cannot come from x2");
    for (name, (shape, values)) in &to {
        if kept.contains(name) {
            assert_ne!(from.get(name).map(|t| &t.0), Some(shape), "{name} has x2's shape yet was not copied");
        } else {
            // lr 0: the copied tensors are still x2's after a step.
            assert_eq!(values, &from[name].1, "{name} was not copied from x2");
        }
    }
    // Another model kind is refused, naming the file.
    let drn = TrainOptions { kind: ModelKind::Drn, out: root.path().join("drn"), ..x3 };
    let e = train(&drn, &dev, |_| {}).unwrap_err().to_string();
    assert!(e.contains("x2") && e.contains("model.safetensors"), "{e}");
}

/// At x3 the 4 synthetic images have LR heights 12, 12, 13 and 14: a 13-pixel patch trains
/// on the two it fits in; a 15-pixel patch fits none and is a clear error, not a panic.
#[test]
fn patches_come_only_from_images_they_fit_in() {
    let (_serial, root) = setup();
    let dev = sisr::default_device();
    let mut opts = TrainOptions { scale: 3, ..options(root.path(), "x3", 3, 1e-3) };
    opts.recipe.patch = 13;
    let mut images = 0;
    let s = train(&opts, &dev, |e| {
        if let sisr::train::TrainEvent::Started { training_images, .. } = e {
            images = training_images;
        }
    })
    .unwrap();
    assert_eq!((s.steps, images), (3, 2));
    opts.recipe.patch = 15;
    opts.out = root.path().join("too-large");
    let e = train(&opts, &dev, |_| {}).unwrap_err().to_string();
    assert!(e.contains("15-pixel patches at x3"), "{e}");
}

/// DCSCN's dropout (C4): on a device that trains, the device's seed alone fixes the masks
/// (exact resume) and two seeds differ; `valid()` turns it off. On flex, and on LibTorch's CPU
/// in a `tch` build (both draw the mask on the host).
#[test]
fn dcscn_dropout_follows_the_device_seed_and_is_off_for_inference() {
    let (_serial, _root) = setup();
    #[allow(unused_mut)]
    let mut devices = vec![sisr::default_device()];
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn marks its LibTorch backend deprecated
    devices.push(burn::tensor::Device::libtorch());
    for inner in devices {
        dropout_follows_the_device_seed(inner);
    }
}

fn dropout_follows_the_device_seed(inner: burn::tensor::Device) {
    let dev = inner.clone().autodiff();
    // DCSCN starts with L = 0 (its output is then the bicubic skip alone): random weights.
    let net = common::random_network(ModelKind::Dcscn, 2, &dev);
    let lr: Vec<f32> = (0..16 * 16).map(|i| ((i * 37) % 251) as f32).collect();
    let up: Vec<f32> = (0..32 * 32).map(|i| ((i * 53) % 241) as f32).collect();
    let run = |net: &sisr::Network, dev: &burn::tensor::Device, seed: Option<u64>| -> Vec<f32> {
        if let Some(s) = seed {
            dev.seed(s);
        }
        let lr = Tensor::<4>::from_data(TensorData::new(lr.clone(), [1, 1, 16, 16]), dev);
        let up = Tensor::<4>::from_data(TensorData::new(up.clone(), [1, 1, 32, 32]), dev);
        net.forward(lr, Some(up)).try_into_vec_as::<f32>().unwrap()
    };
    // burn initialises parameters lazily, from the device's generator, at their first use.
    run(&net, &dev, None);
    assert_eq!(run(&net, &dev, Some(1)), run(&net, &dev, Some(1)));
    assert_ne!(run(&net, &dev, Some(1)), run(&net, &dev, Some(2)));
    let valid = net.valid();
    assert_eq!(run(&valid, &inner, Some(1)), run(&valid, &inner, Some(2)));
}
