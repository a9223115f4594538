//! `sisr train` as a process: killed (SIGKILL) at arbitrary moments, checkpoint writes
//! included, it resumes from its last complete checkpoint; its chart follows the log.

use sisr::weights::WeightsFile;
use sisr_image::DecodeLimits;
use sisr_image::io::save;
use sisr_image::{Image, Layout};
use std::path::Path;
use std::process::{Command, Stdio};

fn synthetic(w: usize, h: usize, seed: usize) -> Image {
    let data = (0..w * h * 3)
        .map(|i| {
            let (x, y, c) = ((i / 3) % w, i / 3 / w, i % 3);
            (128.0 + 60.0 * ((x as f64 * 0.21 + (c + seed) as f64).sin() * (y as f64 * 0.13).cos()) + ((x * 7 + y * 13 + seed) % 17) as f64) as u8
        })
        .collect();
    Image::from_u8(w, h, Layout::Rgb, data)
}

const STEPS: u64 = 200;

fn dataset(root: &Path) {
    for (dir, n) in [("train", 3), ("val", 1)] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for i in 0..n {
            save(&synthetic(40 + 4 * i, 36 + 2 * i, i), &root.join(dir).join(format!("{i}.png"))).unwrap();
        }
    }
}

fn train(root: &Path, resume: bool, steps: u64) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sisr"));
    cmd.args(["train", "--model", "dcscn-compact", "--scale", "2", "--quiet", "--steps", &steps.to_string()]);
    // A resumed run keeps its own recipe; only --steps may be given again.
    if !resume {
        cmd.args(["--recipe", "quick", "--batch", "4", "--patch", "12", "--val-every", "1"]);
    }
    cmd.arg("--train")
        .arg(root.join("train"))
        .arg("--val")
        .arg(root.join("val"))
        .arg("--out")
        .arg(root.join("run"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

/// The step a checkpoint holds, read from its header; the file must parse completely.
fn checkpoint_step(path: &Path) -> u64 {
    let file = WeightsFile::read(path).unwrap_or_else(|e| panic!("a truncated or corrupt checkpoint was left: {e}"));
    let state: serde_json::Value = serde_json::from_str(&file.metadata["sisr.train_state"]).unwrap();
    state["step"].as_u64().unwrap()
}

#[cfg(unix)]
#[test]
fn a_killed_run_resumes_from_its_last_complete_checkpoint() {
    use std::io::BufRead;
    let root = tempfile::tempdir().unwrap();
    dataset(root.path());
    let last = root.path().join("run/checkpoint-last.safetensors");
    // Every step validates and writes two checkpoints. Each round pauses the run at a named
    // point (inside an atomic write, after the log row, after the checkpoint) and kills it
    // there: the same places on every machine, whatever its speed.
    let pauses = ["checkpoint@1", "atomic-write@2", "log-row@1", "atomic-write@3", "checkpoint@2", "atomic-write@1", "log-row@3"];
    let mut resumed_from = Vec::new();
    for (round, pause) in pauses.iter().enumerate() {
        let mut child = train(root.path(), round > 0, STEPS).env("SISR_TEST_PAUSE", pause).spawn().unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        loop {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "round {round}: the run ended before pausing at {pause}: {said}");
            said.push_str(&line);
            if line.starts_with(sisr_image::pause::PAUSED) {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let step = checkpoint_step(&last);
        assert!(step < STEPS);
        for entry in std::fs::read_dir(root.path().join("run")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "safetensors") {
                checkpoint_step(&path);
            }
        }
        resumed_from.push(step);
    }
    // The pauses were at different places, so the runs got somewhere.
    assert!(resumed_from.last() > resumed_from.first(), "{resumed_from:?}");

    let before = checkpoint_step(&last);
    let out = train(root.path(), true, STEPS).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the final resume failed: {err}");
    assert!(err.contains(&format!("starting at step {before}")), "did not continue from step {before}: {err}");
    assert_eq!(checkpoint_step(&last), STEPS);
    assert!(resumed_from.windows(2).all(|w| w[0] <= w[1]), "a resume went backwards: {resumed_from:?}");
    let leftovers: Vec<_> = std::fs::read_dir(root.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left after the resume: {leftovers:?}");
    let log = std::fs::read_to_string(root.path().join("run/log.csv")).unwrap();
    let steps: Vec<u64> = log.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, (1..=STEPS).collect::<Vec<_>>(), "log rows lost or repeated");
}

#[test]
fn the_chart_is_drawn_from_the_log() {
    let root = tempfile::tempdir().unwrap();
    dataset(root.path());
    let out = train(root.path(), false, 4).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let chart = sisr_image::io::open(&root.path().join("run/chart.png"), &DecodeLimits::default()).unwrap();
    assert_eq!((chart.width, chart.height), (900, 640));
    // Blue loss and red PSNR lines are on the white canvas.
    let [r, g, b] = chart.rgb_u8();
    let has = |want: (u8, u8, u8)| (0..r.data.len()).any(|i| (r.data[i], g.data[i], b.data[i]) == want);
    assert!(has((0, 0, 255)) && has((255, 0, 0)), "the chart has no loss or PSNR line");
}

/// `sisr eval --weights` takes a training checkpoint as it takes the final model (the
/// optimizer's slots in the checkpoint are not weights): the best checkpoint is the model.
#[test]
fn a_checkpoint_evaluates_as_the_model_it_holds() {
    let root = tempfile::tempdir().unwrap();
    dataset(root.path());
    let out = train(root.path(), false, 3).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eval = |file: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_sisr"))
            .args(["eval", "--scale", "2", "--json", "--weights"])
            .arg(root.path().join("run").join(file))
            .arg("--dataset")
            .arg(root.path().join("val"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{file}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v["psnr"].as_f64().unwrap(), v["ssim"].as_f64().unwrap())
    };
    assert_eq!(eval("checkpoint-best.safetensors"), eval("model.safetensors"));
}

/// `--resume` keeps the run's recipe: a forgotten `--recipe quick` cannot turn it into the
/// paper's million steps, another recipe flag is refused, and `--steps` extends the run.
#[test]
fn a_resumed_run_keeps_its_own_recipe() {
    let root = tempfile::tempdir().unwrap();
    dataset(root.path());
    let out = train(root.path(), false, 2).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recipe = |root: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(root.join("run/recipe.json")).unwrap()).unwrap() };
    let before = recipe(root.path());
    let mut refused = train(root.path(), true, 3);
    let o = refused.args(["--lr", "0.5"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("keeps the run's own recipe"), "{err}");
    assert_eq!(checkpoint_step(&root.path().join("run/checkpoint-last.safetensors")), 2);
    let o = train(root.path(), true, 3).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = recipe(root.path());
    assert_eq!(after["recipe"]["name"], before["recipe"]["name"]);
    assert_eq!(after["recipe"]["batch"], 4);
    assert_eq!(after["recipe"]["lr"], before["recipe"]["lr"]);
    assert_eq!(after["recipe"]["steps"], 3);
    assert_eq!(checkpoint_step(&root.path().join("run/checkpoint-last.safetensors")), 3);
}
