//! `sisr upscale` end to end: batches with a bad file, skipping, EXIF orientation, formats.

use sisr_image::io::{encode, open, save, OutputFormat};
use sisr_image::{Image, Layout};
use std::path::Path;
use std::process::{Command, Output};

fn sisr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sisr")).args(args).output().expect("run sisr")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn pattern(w: usize, h: usize, layout: Layout) -> Image {
    let n = layout.channels();
    let data = (0..w * h * n).map(|i| ((i * 37 + (i / (w * n)) * 11) % 251) as u8).collect();
    Image::from_u8(w, h, layout, data)
}

#[test]
fn the_default_model_upscales_the_readme_sample() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample.png");
    let out = dir.path().join("sample_x2.png");
    let o = sisr(&["upscale", sample.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (open(&sample, &Default::default()).unwrap(), open(&out, &Default::default()).unwrap());
    assert_eq!((b.width, b.height, b.layout), (2 * a.width, 2 * a.height, a.layout));
}

#[test]
fn a_corrupt_file_is_reported_the_others_written_and_reruns_skip() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for i in 0..3 {
        save(&pattern(20 + i, 18, Layout::Rgb), &input.join(format!("ok{i}.png"))).unwrap();
    }
    let bytes = encode(&pattern(30, 30, Layout::Rgb), OutputFormat::Png, Path::new("x")).unwrap();
    std::fs::write(input.join("bad.png"), &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let args = ["upscale", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--model", "bicubic", "--scale", "2"];
    let o = sisr(&args);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bad.png") && !stderr(&o).contains("panicked"), "{}", stderr(&o));
    for i in 0..3 {
        assert!(out.join(format!("ok{i}.png")).is_file());
    }
    assert!(!out.join("bad.png").exists());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    // A re-run skips what exists and still reports the bad file.
    let before = std::fs::metadata(out.join("ok0.png")).unwrap().modified().unwrap();
    let o = sisr(&args);
    assert!(stderr(&o).contains("3 skipped"), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(out.join("ok0.png")).unwrap().modified().unwrap(), before);
}

/// A JPEG whose EXIF says "rotate 90° clockwise" (orientation 6), made by inserting an APP1
/// segment after SOI.
fn exif_rotated_jpeg(img: &Image) -> Vec<u8> {
    let jpeg = encode(img, OutputFormat::Jpeg, Path::new("x.jpg")).unwrap();
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend(1u16.to_le_bytes()); // one IFD entry
    tiff.extend(0x0112u16.to_le_bytes()); // Orientation
    tiff.extend(3u16.to_le_bytes()); // SHORT
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(6u16.to_le_bytes());
    tiff.extend([0, 0]);
    tiff.extend(0u32.to_le_bytes()); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.jpg");
    std::fs::write(&path, exif_rotated_jpeg(&pattern(32, 20, Layout::Rgb))).unwrap();
    let out = dir.path().join("up.png");
    let o = sisr(&["upscale", path.to_str().unwrap(), "-o", out.to_str().unwrap(), "--model", "bicubic", "--scale", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let up = open(&out, &Default::default()).unwrap();
    assert_eq!((up.width, up.height), (40, 64), "the 32x20 picture is shown 20 wide, 32 high");
}

#[test]
fn outputs_never_replace_inputs_and_formats_follow_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.png");
    save(&pattern(16, 12, Layout::Rgba), &img).unwrap();
    let o = sisr(&["upscale", img.to_str().unwrap(), "-o", img.to_str().unwrap(), "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("overwrite the input"), "{}", stderr(&o));
    // Default name next to the input; webp keeps alpha.
    let o = sisr(&["upscale", img.to_str().unwrap(), "--model", "bicubic", "--format", "webp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let up = open(&dir.path().join("a_x2.webp"), &Default::default()).unwrap();
    assert_eq!((up.width, up.height, up.layout), (32, 24, Layout::Rgba));
}

#[test]
fn mismatched_weights_and_scales_are_refused() {
    // Pairs that are not shipped are refused before any input is read, naming the pair.
    let o = sisr(&["upscale", "whatever.png", "--scale", "5"]);
    assert!(!o.status.success() && stderr(&o).contains("dcscn x5: no shipped model"), "{}", stderr(&o));
    let o = sisr(&["upscale", "whatever.png", "--model", "drn-plus"]);
    assert!(!o.status.success() && stderr(&o).contains("drn-plus x2: no shipped model"), "{}", stderr(&o));
}
