//! The `sisr` command on bad input and on small synthetic datasets.

use sisr_image::io::{OutputFormat, encode, save};
use sisr_image::{Image, Layout};
use std::path::Path;
use std::process::{Command, Output};

fn sisr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sisr")).args(args).output().expect("run sisr")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A smooth synthetic RGB image (textured enough for SSIM to be meaningful).
fn synthetic(w: usize, h: usize, seed: usize) -> Image {
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let v = 128.0 + 60.0 * ((x as f64 * 0.21 + c as f64 + seed as f64).sin() * (y as f64 * 0.13).cos()) + ((x * 7 + y * 13 + seed) % 17) as f64;
                data.push(v.clamp(0.0, 255.0) as u8);
            }
        }
    }
    Image::from_u8(w, h, Layout::Rgb, data)
}

fn dataset(dir: &Path, n: usize) {
    for i in 0..n {
        save(&synthetic(48 + 5 * i, 40 + 3 * i, i), &dir.join(format!("img{i}.png"))).unwrap();
    }
}

/// One line naming the file, a non-zero exit, no panic.
fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error expected: {err}");
    assert!(err.contains(needle), "error should name {needle}: {err}");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn truncated_png_is_named() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path(), 2);
    let bytes = encode(&synthetic(64, 64, 9), OutputFormat::Png, Path::new("x")).unwrap();
    std::fs::write(dir.path().join("broken.png"), &bytes[..bytes.len() / 3]).unwrap();
    let o = sisr(&["eval", "--scale", "2", "--dataset", dir.path().to_str().unwrap()]);
    assert_clean_failure(&o, "broken.png");
}

#[test]
fn decompression_bomb_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A PNG whose IHDR claims 100000x100000 RGB pixels (30 GB) and holds almost nothing.
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    // One IDAT: a zlib stream with a single stored block of 16 zero bytes.
    let mut idat = b"IDAT".to_vec();
    idat.extend([0x78, 0x01, 0x01, 16, 0, !16u8, 0xFF]);
    idat.extend([0u8; 16]);
    idat.extend(0x0010_0001u32.to_be_bytes()); // Adler-32 of 16 zeros
    png.extend(((idat.len() - 4) as u32).to_be_bytes());
    png.extend(&idat);
    png.extend(crc32(&idat).to_be_bytes());
    png.extend(0u32.to_be_bytes());
    png.extend(b"IEND");
    png.extend(crc32(b"IEND").to_be_bytes());
    std::fs::write(dir.path().join("bomb.png"), &png).unwrap();
    let o = sisr(&["eval", "--scale", "2", "--dataset", dir.path().to_str().unwrap()]);
    assert_clean_failure(&o, "bomb.png");
    assert!(stderr(&o).contains("100000x100000") && stderr(&o).contains("--max-dimension"), "{}", stderr(&o));
}

#[test]
fn text_file_named_png_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.png"), "this is text, not an image").unwrap();
    let o = sisr(&["eval", "--scale", "2", "--dataset", dir.path().to_str().unwrap()]);
    assert_clean_failure(&o, "notes.png");
}

#[test]
fn empty_and_missing_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = sisr(&["eval", "--scale", "2", "--dataset", empty.to_str().unwrap()]);
    assert_clean_failure(&o, "empty");
    let missing = dir.path().join("missing");
    let o = sisr(&["eval", "--scale", "2", "--dataset", missing.to_str().unwrap()]);
    assert_clean_failure(&o, "missing");
    let o = sisr(&["degrade", "--scale", "2", "--dataset", missing.to_str().unwrap(), "--out", dir.path().join("o").to_str().unwrap()]);
    assert_clean_failure(&o, "missing");
}

#[test]
fn eval_json_reports_every_image_and_their_mean() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path(), 3);
    let o = sisr(&["eval", "--model", "bicubic", "--scale", "2", "--dataset", dir.path().to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model"], "bicubic");
    assert_eq!(v["scale"], 2);
    assert_eq!(v["protocol"], "y");
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    let mean = images.iter().map(|i| i["psnr"].as_f64().unwrap()).sum::<f64>() / 3.0;
    assert!((v["psnr"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!(v["psnr"].as_f64().unwrap() > 20.0 && v["ssim"].as_f64().unwrap() < 1.0);
}

#[test]
fn degrade_writes_named_lr_files_and_scoring_them_as_lr_matches() {
    let dir = tempfile::tempdir().unwrap();
    let hr = dir.path().join("hr");
    let lr = dir.path().join("lr");
    std::fs::create_dir(&hr).unwrap();
    dataset(&hr, 2);
    let o = sisr(&["degrade", "--scale", "3", "--dataset", hr.to_str().unwrap(), "--out", lr.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let back = sisr_image::io::open(&lr.join("img1.png"), &Default::default()).unwrap();
    assert_eq!((back.width, back.height), (53 / 3, 43 / 3));
    // The p2 protocol with the written LR equals the one that makes its LR itself.
    let run = |extra: &[&str]| {
        let mut args = vec!["eval", "--scale", "3", "--protocol", "p2", "--dataset", hr.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let o = sisr(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["psnr"].as_f64().unwrap()
    };
    assert_eq!(run(&[]), run(&["--lr", lr.to_str().unwrap()]));
    // Protocol names are clap's to check: `p1` is `rgb`, an unknown one lists them.
    let protocol = |name: &str| sisr(&["eval", "--scale", "3", "--protocol", name, "--dataset", hr.to_str().unwrap(), "--json"]);
    let (p1, rgb) = (protocol("p1"), protocol("rgb"));
    assert!(p1.status.success(), "{}", stderr(&p1));
    let scores = |o: &std::process::Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["images"].clone();
    assert_eq!(scores(&p1), scores(&rgb));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&p1.stdout).unwrap()["protocol"], "rgb");
    let o = protocol("p3");
    assert!(!o.status.success() && stderr(&o).contains("possible values: y, rgb, p2"), "{}", stderr(&o));
    // The output folder may not be the input folder.
    let o = sisr(&["degrade", "--scale", "2", "--dataset", hr.to_str().unwrap(), "--out", hr.to_str().unwrap()]);
    assert_clean_failure(&o, "overwritten");
}

/// Issue 15: LR names are the HR names with the last extension made `png`; two HR files that
/// would share one refuse the run before anything is written.
#[test]
fn degrade_keeps_every_name_apart() {
    let dir = tempfile::tempdir().unwrap();
    let hr = dir.path().join("hr");
    std::fs::create_dir(&hr).unwrap();
    for name in ["a.b.png", "a.c.png"] {
        save(&synthetic(20, 16, name.len()), &hr.join(name)).unwrap();
    }
    let lr = dir.path().join("lr");
    let o = sisr(&["degrade", "--scale", "2", "--dataset", hr.to_str().unwrap(), "--out", lr.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lr.join("a.b.png").is_file() && lr.join("a.c.png").is_file());
    save(&synthetic(20, 16, 1), &hr.join("img.png")).unwrap();
    std::fs::write(hr.join("img.jpg"), encode(&synthetic(20, 16, 2), OutputFormat::Jpeg, Path::new("x")).unwrap()).unwrap();
    let fresh = dir.path().join("lr2");
    let o = sisr(&["degrade", "--scale", "2", "--dataset", hr.to_str().unwrap(), "--out", fresh.to_str().unwrap()]);
    assert_clean_failure(&o, "img.jpg");
    assert!(stderr(&o).contains("img.png"), "{}", stderr(&o));
    assert!(!fresh.exists());
}

#[test]
fn info_json_counts_from_the_built_network() {
    let o = sisr(&["info", "--model", "dcscn-compact", "--scale", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["params"], 26_172);
    assert_eq!(v["dcscn_complexity_per_lr_pixel"], 26_172);
    // An unknown model is refused by the argument parser, which lists the known ones.
    let o = sisr(&["info", "--model", "nonsense", "--scale", "2"]);
    assert!(!o.status.success() && stderr(&o).contains("'nonsense'") && stderr(&o).contains("possible values: bicubic, dcscn"), "{}", stderr(&o));
}

/// `--backend`: an unknown name lists the known ones; LibTorch in a build without the `tch`
/// feature says which feature to build with.
#[test]
fn backends_are_checked_before_any_work() {
    let o = sisr(&["--backend", "cuda", "info", "--model", "dcscn", "--scale", "2"]);
    assert!(!o.status.success() && stderr(&o).contains("possible values: flex, tch, tch-cuda"), "{}", stderr(&o));
    let o = sisr(&["info", "--model", "dcscn", "--scale", "2", "--backend", "flex", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(not(feature = "tch"))]
    assert_clean_failure(&sisr(&["--backend", "tch", "info", "--model", "dcscn", "--scale", "2"]), "--features tch");
}

/// An SR folder identical to the HR scores an infinite PSNR, which JSON cannot hold as a
/// number: it is written as the string "inf", never `null`.
#[test]
fn identical_images_score_inf_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let hr = dir.path().join("hr");
    std::fs::create_dir_all(&hr).unwrap();
    for (i, (w, h)) in [(48, 40), (52, 44)].into_iter().enumerate() {
        save(&synthetic(w, h, i), &hr.join(format!("img{i}.png"))).unwrap();
    }
    let o = sisr(&["eval", "--scale", "2", "--dataset", hr.to_str().unwrap(), "--sr", hr.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["psnr"], "inf");
    assert!(v["images"].as_array().unwrap().iter().all(|i| i["psnr"] == "inf" && i["ssim"].as_f64() == Some(1.0)), "{v}");
}

/// Out-of-range numbers are refused with a one-line error before any work, never a panic.
#[test]
fn out_of_range_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hr = dir.path().join("hr");
    std::fs::create_dir_all(&hr).unwrap();
    dataset(&hr, 1);
    let (h, out) = (hr.to_str().unwrap(), dir.path().join("out"));
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["bench", "--size", "1x1", "--no-train"], "4x4"),
        (&["bench", "--batch", "0", "--no-infer"], "--batch"),
        (&["bench", "--patch", "0", "--no-infer"], "--patch"),
        (&["degrade", "--scale", "1000", "--dataset", h, "--out", out], "--scale"),
        (&["degrade", "--scale", "60", "--dataset", h, "--out", out], "no x60 LR"),
        (&["train", "--model", "dcscn-compact", "--scale", "2", "--train", h, "--out", out, "--lr", "NaN"], "--lr"),
        (&["train", "--model", "dcscn-compact", "--scale", "2", "--train", h, "--out", out, "--lr=-1"], "--lr"),
        (&["train", "--model", "dcscn-compact", "--scale", "2", "--train", h, "--out", out, "--steps", "0"], "--steps"),
    ];
    for (args, needle) in cases {
        let o = sisr(args);
        let err = stderr(&o);
        assert!(!o.status.success() && !err.contains("panicked") && err.contains(needle), "{args:?}: {err}");
    }
    assert!(!dir.path().join("out").join("checkpoint-last.safetensors").exists());
}

/// A mistyped --train or --val folder is refused before training starts.
#[test]
fn missing_training_folders_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let hr = dir.path().join("hr");
    std::fs::create_dir_all(&hr).unwrap();
    dataset(&hr, 1);
    let (h, out) = (hr.to_str().unwrap(), dir.path().join("out"));
    let missing = dir.path().join("vall");
    let o = sisr(&[
        "train",
        "--model",
        "dcscn-compact",
        "--scale",
        "2",
        "--train",
        h,
        "--val",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "1",
    ]);
    assert_clean_failure(&o, "vall");
    assert!(!out.exists(), "nothing is written for a refused run");
}

/// A new training run never writes into a folder that holds anything: the user's files
/// (or a training folder) stay as they were.
#[test]
fn a_new_run_refuses_a_folder_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let hr = dir.path().join("hr");
    std::fs::create_dir_all(&hr).unwrap();
    dataset(&hr, 1);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("log.csv"), "mine").unwrap();
    let h = hr.to_str().unwrap();
    for target in [out.to_str().unwrap(), h] {
        let o = sisr(&["train", "--model", "dcscn-compact", "--scale", "2", "--train", h, "--out", target, "--steps", "1", "--recipe", "quick"]);
        let err = stderr(&o);
        assert!(!o.status.success() && !err.contains("panicked") && err.contains("is not empty"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(out.join("log.csv")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(&hr).unwrap().count(), 1);
}
