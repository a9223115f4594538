//! `sisr upscale --shard auto` under each scheduler's variables: 4 shards over 40 images, one
//! killed mid-way at a pause point and retried; the union equals a single-process run byte for
//! byte, and the manifests list every image once as done.

use sisr_image::io::save;
use sisr_image::{Image, Layout};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn sisr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sisr"))
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// The variables a scheduler sets for shard `index` of 4.
fn scheduler_env(scheduler: &str, index: usize) -> Vec<(&'static str, String)> {
    match scheduler {
        // sbatch --array=0-6:2 → task ids 0, 2, 4, 6.
        "slurm" => vec![
            ("SLURM_ARRAY_TASK_ID", (2 * index).to_string()),
            ("SLURM_ARRAY_TASK_MIN", "0".into()),
            ("SLURM_ARRAY_TASK_MAX", "6".into()),
            ("SLURM_ARRAY_TASK_STEP", "2".into()),
            ("SLURM_ARRAY_TASK_COUNT", "4".into()),
        ],
        "kubernetes" => vec![("JOB_COMPLETION_INDEX", index.to_string())],
        _ => vec![("AWS_BATCH_JOB_ARRAY_INDEX", index.to_string()), ("AWS_BATCH_JOB_ARRAY_SIZE", "4".into())],
    }
}

fn shard_run(scheduler: &str, index: usize, input: &Path, out: &Path) -> Command {
    let mut cmd = sisr();
    cmd.args(["upscale", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--model", "bicubic", "--scale", "2", "--shard", "auto"]);
    if scheduler == "kubernetes" {
        cmd.args(["--shard-count", "4"]);
    }
    for (k, v) in scheduler_env(scheduler, index) {
        cmd.env(k, v);
    }
    cmd
}

fn manifest_records(out: &Path) -> Vec<serde_json::Value> {
    let mut records = Vec::new();
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    records.push(v);
                }
            }
        }
    }
    records
}

#[test]
fn shards_under_every_scheduler_add_up_to_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for k in 0..40 {
        let (w, h) = (8 + k % 5, 6 + k % 3);
        let data = (0..w * h * 3).map(|i| ((i * 31 + k * 17) % 256) as u8).collect();
        save(&Image::from_u8(w, h, Layout::Rgb, data), &input.join(format!("img{k:02}.png"))).unwrap();
    }
    let single = dir.path().join("single");
    let o = sisr().args(["upscale", input.to_str().unwrap(), "-o", single.to_str().unwrap(), "--model", "bicubic", "--scale", "2"]).output().unwrap();
    assert!(o.status.success());
    let expected = files(&single);
    assert_eq!(expected.len(), 40);

    for scheduler in ["slurm", "kubernetes", "aws"] {
        let out = dir.path().join(scheduler);
        for index in [0, 1, 3] {
            let o = shard_run(scheduler, index, &input, &out).output().unwrap();
            assert!(o.status.success(), "{scheduler} shard {index}: {}", String::from_utf8_lossy(&o.stderr));
        }
        // Shard 2 is killed after its 3rd output is written, before the manifest says done.
        let mut child = shard_run(scheduler, 2, &input, &out).env("SISR_TEST_PAUSE", "shard-output@3").stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        while !said.contains(sisr_image::pause::PAUSED) {
            assert!(stderr.read_line(&mut said).unwrap() > 0, "{scheduler}: the shard ended before pausing: {said}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The check sees the unfinished shard.
        let o = sisr().args(["shards", "check", out.to_str().unwrap(), "--json"]).output().unwrap();
        assert!(!o.status.success());
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["done"], 32, "{report}");
        assert_eq!(report["missing"].as_array().unwrap().len(), 8, "{report}");
        // The retry finishes it: the pending image adopted, the others written.
        let o = shard_run(scheduler, 2, &input, &out).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A second retry has nothing to do.
        let o = shard_run(scheduler, 2, &input, &out).output().unwrap();
        assert!(String::from_utf8_lossy(&o.stderr).contains("0 written, 10 skipped"), "{}", String::from_utf8_lossy(&o.stderr));

        assert_eq!(files(&out), expected, "{scheduler}: the shards' outputs differ from one run's");
        let mut done: HashMap<String, usize> = HashMap::new();
        let mut pending: HashMap<String, usize> = HashMap::new();
        for r in manifest_records(&out) {
            let input = r["input"].as_str().unwrap().to_string();
            match r["status"].as_str().unwrap() {
                "done" => *done.entry(input).or_default() += 1,
                "pending" => *pending.entry(input).or_default() += 1,
                other => panic!("{scheduler}: unexpected record {other}: {r}"),
            }
        }
        assert_eq!(done.len(), 40);
        assert!(done.values().all(|&n| n == 1), "{scheduler}: an image recorded done twice");
        // Each image was written once: one pending mark each, the killed one adopted.
        assert!(pending.values().all(|&n| n == 1), "{scheduler}: an image written twice");
        let o = sisr().args(["shards", "check", out.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        assert!(String::from_utf8_lossy(&o.stdout).contains("40 of 40 planned images done, in 4 manifest(s)"));
    }

    // Another plan (other options) in the same folder is refused; a changed output is reported.
    let out = dir.path().join("aws");
    let o = sisr()
        .args(["upscale", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--model", "bicubic", "--scale", "3", "--shard", "1/4"])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("another plan"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(out.join("img05.png"), b"not what was written").unwrap();
    let o = sisr().args(["shards", "check", out.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stdout).contains("img05.png"));
    let o = shard_run("aws", 1, &input, &out).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("changed since this shard wrote it"));
    assert_eq!(std::fs::read(out.join("img05.png")).unwrap(), b"not what was written");
    // Unmappable scheduler layouts and a missing -o are refused before any work.
    let o = sisr()
        .args(["upscale", input.to_str().unwrap(), "--model", "bicubic", "--shard", "auto"])
        .env("AWS_BATCH_JOB_ARRAY_INDEX", "0")
        .env("AWS_BATCH_JOB_ARRAY_SIZE", "2")
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("needs -o DIR"));
}
