//! The shipped models: every file loads as what the zoo says it is, `sisr upscale --model M
//! --scale S` serves every pair without --weights, and the scores of `sisr models` are the
//! ones `sisr eval` measures.

// The shared-data lookup of the imaging core's tests (one copy for the workspace).
#[path = "../../sisr-image/tests/common/mod.rs"]
mod common;

use serde_json::Value;
use sisr::weights::WeightsFile;
use sisr::zoo;
use sisr_image::io::{open, save};
use sisr_image::{DecodeLimits, Image, Layout};
use std::path::Path;
use std::process::{Command, Output};

fn sisr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sisr")).args(args).output().expect("run sisr")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "sisr failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn every_shipped_file_is_the_model_and_scales_the_zoo_lists() {
    for m in zoo::SHIPPED {
        let file = m.weights().unwrap();
        let (kind, scale) = file.model().unwrap();
        assert_eq!(kind, m.kind, "{}", m.file);
        assert!(m.scales.contains(&scale), "{}: header x{scale}", m.file);
        assert_eq!(file.scales().unwrap(), m.scales, "{}: header scales", m.file);
        for &s in m.scales {
            let net = m.network(s, &sisr::default_device()).unwrap();
            assert_eq!(net.num_params(), m.params().unwrap(), "{}", m.file);
        }
        assert!(zoo::find(m.kind, 5).is_none());
    }
    assert_eq!(zoo::find(zoo::DEFAULT_KIND, 2).unwrap().file, "weights/dcscn-x2.safetensors");
}

#[test]
fn every_shipped_pair_has_a_current_row_in_the_results_table() {
    for m in zoo::SHIPPED {
        for &s in m.scales {
            let scores = m.scores(s).unwrap_or_else(|| panic!("{} x{s}: no row in weights/results.json (run `sisr eval --table --update`)", m.file));
            for set in ["set5", "set14", "b100"] {
                assert!(scores.contains_key(set), "{} x{s}: no {set} score", m.file);
            }
        }
    }
    // A row describes the file as it is now: its hash is the shipped file's.
    let models: Value = serde_json::from_str(&ok(&sisr(&["models", "--json"]))).unwrap();
    for row in &zoo::results().rows {
        if let Some(m) = zoo::SHIPPED.iter().find(|m| m.file == row.source) {
            use sha2::Digest;
            let hash: String = sha2::Sha256::digest(m.bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(row.sha256, hash, "{}: weights/results.json was measured on another version of the file", m.file);
        }
    }
    assert_eq!(models.as_array().unwrap().len(), zoo::SHIPPED.iter().map(|m| m.scales.len()).sum::<usize>());
}

#[test]
fn published_numbers_parse_and_name_known_models() {
    assert!(!zoo::published().is_empty());
    for p in zoo::published() {
        if let Some(m) = &p.model {
            assert!(sisr::ModelKind::parse(m).is_some(), "{}: unknown model {m}", p.method);
        }
        assert!(p.source.starts_with("SPEC §4"), "{}: cite SPEC §4", p.method);
    }
}

/// `sisr models --json` scores are what `sisr eval --model M --scale S` (no --weights)
/// measures on Set5 now, for every shipped pair.
#[test]
fn models_scores_are_reproduced_by_eval() {
    let Some(data) = common::shared_data() else { return };
    let set5 = data.join("eval/set5");
    let models: Value = serde_json::from_str(&ok(&sisr(&["models", "--json"]))).unwrap();
    for e in models.as_array().unwrap() {
        let (name, scale) = (e["model"].as_str().unwrap(), e["scale"].as_u64().unwrap().to_string());
        let out: Value =
            serde_json::from_str(&ok(&sisr(&["eval", "--model", name, "--scale", &scale, "--dataset", set5.to_str().unwrap(), "--json"]))).unwrap();
        let listed = &e["scores"]["set5"];
        for key in ["psnr", "ssim"] {
            let (a, b) = (out[key].as_f64().unwrap(), listed[key].as_f64().unwrap());
            let tol = if key == "psnr" { 0.005 } else { 0.0001 };
            assert!((a - b).abs() < tol, "{name} x{scale} Set5 {key}: eval {a}, models {b}");
        }
    }
}

#[test]
fn upscale_serves_every_shipped_pair_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let data: Vec<u8> = (0..40 * 30 * 3).map(|i| ((i * 37) % 251) as u8).collect();
    save(&Image::from_u8(40, 30, Layout::Rgb, data), &input).unwrap();
    for m in zoo::SHIPPED {
        for &s in m.scales {
            let out = dir.path().join(format!("{}-x{s}.png", m.kind));
            ok(&sisr(&["upscale", input.to_str().unwrap(), "--model", m.kind.name(), "--scale", &s.to_string(), "-o", out.to_str().unwrap()]));
            let img = open(&out, &DecodeLimits::default()).unwrap();
            assert_eq!((img.width, img.height), (40 * s, 30 * s), "{} x{s}", m.kind);
        }
    }
    // No --model: the shipped DCSCN of that scale.
    let out = dir.path().join("default-x3.png");
    let o = sisr(&["upscale", input.to_str().unwrap(), "--scale", "3", "-o", out.to_str().unwrap()]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("dcscn x3"), "{}", String::from_utf8_lossy(&o.stderr));
    // A pair that is not shipped is refused, naming what is.
    let o = sisr(&["upscale", input.to_str().unwrap(), "--model", "drn-plus", "--scale", "2", "-o", dir.path().join("x.png").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("drn-plus x2: no shipped model") && err.contains("dcscn x2"), "{err}");
}

#[test]
fn convert_to_f16_halves_the_file_and_keeps_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let m = zoo::find(sisr::ModelKind::DcscnCompact, 2).unwrap();
    let f32_path = dir.path().join("compact.safetensors");
    std::fs::write(&f32_path, m.bytes).unwrap();
    let f16_path = dir.path().join("compact-f16.safetensors");
    ok(&sisr(&["convert", f32_path.to_str().unwrap(), "-o", f16_path.to_str().unwrap(), "--dtype", "f16"]));
    let (a, b) = (WeightsFile::read(&f32_path).unwrap(), WeightsFile::read(&f16_path).unwrap());
    assert!(std::fs::metadata(&f16_path).unwrap().len() * 10 < std::fs::metadata(&f32_path).unwrap().len() * 6);
    assert_eq!(b.model().unwrap(), a.model().unwrap());
    assert_eq!(b.metadata["sisr.dtype"], "f16");
    assert_eq!(b.metadata["sisr.steps"], a.metadata["sisr.steps"], "provenance kept");
    for (name, (shape, values)) in &a.tensors {
        let (s16, v16) = &b.tensors[name];
        assert_eq!(s16, shape);
        for (x, y) in values.iter().zip(v16) {
            assert!((x - y).abs() <= x.abs() * 1e-3 + 1e-7, "{name}: {x} vs {y}");
        }
    }
    // Never onto its input, never over an existing file without --overwrite.
    let o = sisr(&["convert", f32_path.to_str().unwrap(), "-o", f32_path.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("replace the input"));
    let o = sisr(&["convert", f32_path.to_str().unwrap(), "-o", f16_path.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
    assert_eq!(std::fs::read(&f32_path).unwrap(), m.bytes);
}

/// A training checkpoint converts to a model file: the optimizer slots go, the loop state
/// becomes the provenance a finished run writes, the network is unchanged.
#[test]
fn convert_turns_a_checkpoint_into_a_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let net = sisr::models::SMALLEST.build(2, &sisr::default_device()).unwrap();
    let mut meta = sisr::weights::Metadata::new();
    let state = r#"{"step":7,"optim_t":7,"plateau_lr":0.001,"best_psnr":30.12345,"best_ssim":0.912346,"bad_validations":0,"seconds":12.4,"init":"runs/init/a.safetensors"}"#;
    meta.insert(sisr::weights::TRAIN_STATE_KEY.into(), state.into());
    let slots = vec![("optim.0.l.weight".to_string(), vec![0.5f32; 8])];
    let checkpoint = dir.path().join("checkpoint-best.safetensors");
    std::fs::write(&checkpoint, sisr::weights::to_bytes_with(&net, &meta, &slots)).unwrap();
    let model = dir.path().join("model.safetensors");
    ok(&sisr(&["convert", checkpoint.to_str().unwrap(), "-o", model.to_str().unwrap(), "--dtype", "f32"]));
    let file = WeightsFile::read(&model).unwrap();
    assert!(file.tensors.keys().all(|k| !k.starts_with("optim.")), "optimizer slots dropped");
    assert!(!file.metadata.contains_key(sisr::weights::TRAIN_STATE_KEY));
    assert_eq!(file.metadata["sisr.steps"], "7");
    assert_eq!(file.metadata["sisr.validation"], "x2: 30.1234 dB / 0.91235");
    assert_eq!(file.metadata["sisr.init"], "runs/init/a.safetensors");
    assert_eq!(file.metadata["sisr.train_seconds"], "12");
    let expected = WeightsFile::parse(&sisr::weights::to_bytes(&net, &Default::default()), Path::new("net.safetensors")).unwrap();
    assert_eq!(file.tensors, expected.tensors);
}

/// A file that lists several scales serves each of them and refuses others; headers with
/// scales the model does not have are refused before anything is built.
#[test]
fn header_scales_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let device = sisr::default_device();
    let glrl = sisr::ModelKind::Glrl.build(3, &device).unwrap();
    let path = dir.path().join("glrl.safetensors");
    let mut meta = sisr::weights::Metadata::new();
    meta.insert(sisr::weights::KEY_SCALES.into(), "2,3,4".into());
    sisr::weights::save(&glrl, &path, &meta).unwrap();
    for s in [2, 3, 4] {
        let (net, _) = WeightsFile::read(&path).unwrap().into_network(Some((sisr::ModelKind::Glrl, s)), &device).unwrap();
        assert_eq!(net.scale, s);
    }
    let e = WeightsFile::read(&path).unwrap().into_network(Some((sisr::ModelKind::Glrl, 5)), &device).unwrap_err().to_string();
    assert!(e.contains("x2/x3/x4") && e.contains("not x5"), "{e}");
    let bytes = std::fs::read(&path).unwrap();
    for (key, value, needle) in [("sisr.scale", "100000", "x100000"), ("sisr.scales", "2,3,9", "sisr.scales")] {
        let mut file = WeightsFile::parse(&bytes, Path::new("w.safetensors")).unwrap();
        file.metadata.insert(key.into(), value.into());
        let e = file.into_network(Some((sisr::ModelKind::Glrl, 2)), &device).unwrap_err().to_string();
        assert!(e.contains(needle), "{key}={value}: {e}");
    }
}

/// The results table regenerates a trained model's row with `sisr eval`: a row with a
/// dataset missing is measured again, and gives the shipped number.
#[test]
fn the_table_regenerates_a_trained_models_row() {
    let Some(data) = common::shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut results = zoo::results().clone();
    let source = "weights/dcscn-compact-x2.safetensors";
    let row = results.rows.iter_mut().find(|r| r.source == source && r.scale == 2).expect("a row of the compact model");
    let shipped = row.scores.remove("set5").expect("a Set5 score");
    let path = dir.path().join("results.json");
    std::fs::write(&path, serde_json::to_string(&results).unwrap()).unwrap();
    let set5 = data.join("eval/set5");
    let o = sisr(&["eval", "--table", "--dataset", set5.to_str().unwrap(), "--scales", "2", "--update", path.to_str().unwrap()]);
    let markdown = ok(&o);
    // Only the row without its Set5 score was measured.
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    let measured: Vec<&str> = log.lines().filter(|l| l.contains(" on set5: ")).map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(measured, [source], "{log}");
    let updated: zoo::Results = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let again = updated.rows.iter().find(|r| r.source == source && r.scale == 2).unwrap().scores["set5"];
    assert!((again.psnr - shipped.psnr).abs() < 0.005 && (again.ssim - shipped.ssim).abs() < 1e-4, "{again:?} vs {shipped:?}");
    assert!(markdown.contains(&format!("| x2 | dcscn-compact | {source} | y | 26172 | {:.2} / {:.4} |", again.psnr, again.ssim)), "{markdown}");
}

/// README.md and weights/README.md show the table of weights/results.json as generated.
#[test]
fn the_readme_tables_are_the_generated_table() {
    let table = zoo::markdown(zoo::results(), zoo::published(), &["set5".into(), "set14".into(), "b100".into()]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in ["README.md", "weights/README.md"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(text.contains(&table), "{file}: the results table differs from weights/results.json; paste `sisr eval --table` output");
    }
}

/// A file in the DCSCN authors' layout with kernels of the wrong rank, or a reconstruction
/// that is no supported scale, is refused with the tensor's name, never a panic.
#[test]
fn malformed_dcscn_authors_files_are_refused() {
    let tensor = |shape: Vec<usize>| {
        let n = shape.iter().product();
        (shape, vec![0.0f32; n])
    };
    for (conv0, l, needle) in
        [(vec![3, 3], vec![1, 1, 8, 4], "conv0/conv_W"), (vec![3, 3, 1, 96], vec![1, 1, 8, 5], "L/conv_W"), (vec![3, 3, 1, 96], vec![1, 1, 8, 0], "L/conv_W")]
    {
        let mut tensors = std::collections::HashMap::new();
        tensors.insert("conv0/conv_W".to_string(), tensor(conv0));
        tensors.insert("L/conv_W".to_string(), tensor(l));
        let file = WeightsFile { path: "authors.safetensors".into(), tensors, metadata: Default::default() };
        let e = file.model().unwrap_err().to_string();
        assert!(e.contains("authors.safetensors") && e.contains(needle), "{e}");
        assert!(file.into_network(None, &sisr::default_device()).is_err());
    }
}
