//! `sisr upscale` end to end: batches with a bad file, skipping, EXIF orientation, formats.

use sisr_image::io::{OutputFormat, encode, open, save};
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
    assert!(!o.status.success() && stderr(&o).contains("overwrite an input"), "{}", stderr(&o));
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

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Issue 15: every output path is checked against the inputs and the other outputs before
/// anything is written, also when JPEG cannot hold alpha and the result becomes a PNG.
#[test]
fn no_output_replaces_an_input_another_output_or_a_user_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alpha = d.join("a.png");
    save(&pattern(12, 10, Layout::Rgba), &alpha).unwrap();
    let before = std::fs::read(&alpha).unwrap();
    // The PNG fallback of a.jpg would be the input itself.
    let o = sisr(&["upscale", s(&alpha), "-o", s(&d.join("a.jpg")), "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("replace an input"), "{}", stderr(&o));
    // ... or an unrelated existing file.
    let user = d.join("x.png");
    save(&pattern(5, 5, Layout::Rgb), &user).unwrap();
    let theirs = std::fs::read(&user).unwrap();
    let o = sisr(&["upscale", s(&alpha), "-o", s(&d.join("x.jpg")), "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("x.png: already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&user).unwrap(), theirs);
    assert_eq!(std::fs::read(&alpha).unwrap(), before);
    // Without a clash the fallback is written and said.
    let o = sisr(&["upscale", s(&alpha), "-o", s(&d.join("y.jpg")), "--model", "bicubic"]);
    assert!(o.status.success() && stderr(&o).contains("written as"), "{}", stderr(&o));
    assert_eq!(open(&d.join("y.png"), &Default::default()).unwrap().layout, Layout::Rgba);

    // One input's output is another input.
    save(&pattern(6, 6, Layout::Rgb), &d.join("a_x2.png")).unwrap();
    let o = sisr(&["upscale", s(&alpha), s(&d.join("a_x2.png")), "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("overwrite an input"), "{}", stderr(&o));

    // Two inputs, one output name: refused before anything is written, naming both.
    for sub in ["d1", "d2"] {
        std::fs::create_dir(d.join(sub)).unwrap();
        save(&pattern(8, 8, Layout::Rgb), &d.join(sub).join("p.png")).unwrap();
    }
    let out = d.join("out");
    let o = sisr(&["upscale", s(&d.join("d1/p.png")), s(&d.join("d2/p.png")), "-o", s(&out), "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("d1/p.png") && stderr(&o).contains("d2/p.png"), "{}", stderr(&o));
    assert!(!out.exists());
    save(&pattern(8, 8, Layout::Rgb), &d.join("d1/p.jpg")).unwrap();
    let o = sisr(&["upscale", s(&d.join("d1")), "-o", s(&out), "--format", "png", "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("p.jpg") && stderr(&o).contains("p.png"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn outputs_are_regular_files_or_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let img = d.join("i.png");
    save(&pattern(9, 7, Layout::Rgb), &img).unwrap();
    // An unwritable image extension is refused, not made a folder.
    let o = sisr(&["upscale", s(&img), "-o", s(&d.join("r.bmp")), "--model", "bicubic"]);
    assert!(!o.status.success() && stderr(&o).contains("cannot write .bmp"), "{}", stderr(&o));
    assert!(!d.join("r.bmp").exists());
    // `-o -` writes the image to standard output.
    let o = sisr(&["upscale", s(&img), "-o", "-", "--model", "bicubic", "--scale", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let up = sisr_image::io::decode(&o.stdout, Path::new("stdout"), &Default::default()).unwrap();
    assert_eq!((up.width, up.height), (27, 21));
    assert!(!d.join("-").exists());
    // A special file stays what it is, even with --overwrite.
    #[cfg(unix)]
    {
        let fifo = d.join("f.png");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let o = sisr(&["upscale", s(&img), "-o", s(&fifo), "--model", "bicubic", "--overwrite"]);
        assert!(!o.status.success() && stderr(&o).contains("not a regular file"), "{}", stderr(&o));
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    save(&pattern(6, 6, Layout::Rgb), &input.join("sub/q.png")).unwrap();
    std::os::unix::fs::symlink(&input, input.join("sub/loop")).unwrap();
    let out = dir.path().join("out");
    let o = sisr(&["upscale", s(&input), "-r", "-o", s(&out), "--model", "bicubic"]);
    assert!(o.status.success() && stderr(&o).contains("1 written"), "{}", stderr(&o));
    assert!(out.join("sub/q.png").is_file());
}

#[test]
fn standard_input_and_results_are_bounded_by_the_memory_limit() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sisr"))
        .args(["upscale", "-", "--model", "bicubic", "--max-alloc-mb", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // The reader stops at the limit and closes the pipe: later writes may fail.
        let _ = stdin.write_all(&vec![7u8; 3 << 20]);
    }
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("over the limit") && stderr(&o).contains("--max-alloc-mb"), "{}", stderr(&o));

    // A 600×600 gray input decodes in 1 MiB, its x2 result (1.4 MB) does not fit.
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("big.png");
    save(&pattern(600, 600, Layout::Gray), &img).unwrap();
    let o = sisr(&["upscale", s(&img), "--model", "bicubic", "--max-alloc-mb", "1"]);
    assert!(!o.status.success() && stderr(&o).contains("1200x1200") && stderr(&o).contains("--max-alloc-mb"), "{}", stderr(&o));
    assert!(!dir.path().join("big_x2.png").exists());
}

#[test]
fn reduced_precision_says_how_it_runs_and_stays_near_f32() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    save(&pattern(30, 24, Layout::Rgb), &input).unwrap();
    let run = |precision: &str| {
        let out = dir.path().join(format!("{precision}.png"));
        let o = sisr(&["upscale", s(&input), "--model", "drn", "--precision", precision, "-o", s(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        (open(&out, &Default::default()).unwrap(), stderr(&o))
    };
    let (exact, quiet) = run("f32");
    assert!(!quiet.contains("emulated"), "f32 needs no notice: {quiet}");
    for precision in ["f16", "bf16"] {
        let (reduced, notice) = run(precision);
        // Native where this CPU has the instructions (bf16 on AMX or AVX512-BF16), else emulated.
        assert!(notice.contains(&format!("{precision}: emulated")) || notice.contains(&format!("{precision}: native")), "{precision}: {notice}");
        assert!(max_level_diff(&exact, &reduced) <= 1, "{precision}: more than one level from f32");
    }
    let o = sisr(&["upscale", s(&input), "--model", "bicubic", "--precision", "bf16", "-o", s(&dir.path().join("b.png"))]);
    assert!(!o.status.success() && stderr(&o).contains("bicubic has none to run"), "{}", stderr(&o));
}

fn max_level_diff(a: &Image, b: &Image) -> i32 {
    match (&a.samples, &b.samples) {
        (sisr_image::Samples::U8(x), sisr_image::Samples::U8(y)) => x.iter().zip(y).map(|(p, q)| (i32::from(*p) - i32::from(*q)).abs()).max().unwrap_or(0),
        _ => panic!("8-bit expected"),
    }
}
