//! The imaging core against files MATLAB and the papers' authors produced (SPEC §3–4, §7).

mod common;

use sisr_image::DecodeLimits;
use sisr_image::io::{list_images, open};
use sisr_image::protocol::{Protocol, Sources, bicubic, color_planes_u8, evaluate_dataset, make_lr};
use sisr_image::resize::modcrop;
use std::collections::HashMap;
use std::path::Path;

/// `degrade` = modcrop + uint8 MATLAB imresize(1/s): every file of lr_matlab, 0 differing values.
#[test]
fn lr_matlab_files_are_reproduced_bit_exactly() {
    let Some(data) = common::shared_data() else { return };
    let limits = DecodeLimits::default();
    let mut compared = 0;
    for set in ["set5", "set14", "b100"] {
        for scale in [2usize, 3, 4] {
            for hr_path in list_images(&data.join("eval").join(set)).unwrap() {
                let hr = open(&hr_path, &limits).unwrap();
                let planes: Vec<_> = color_planes_u8(&hr).iter().map(|p| modcrop(p, scale)).collect();
                let lr = sisr_image::protocol::LowRes::Rgb(make_rgb(&planes, scale));
                let expected = open(&data.join(format!("lr_matlab/{set}/x{scale}")).join(hr_path.file_name().unwrap()), &limits).unwrap();
                let expected_planes = color_planes_u8(&expected);
                let sisr_image::protocol::LowRes::Rgb(got) = lr else { unreachable!() };
                for (c, e) in expected_planes.iter().enumerate() {
                    assert_eq!((got[c].width, got[c].height), (e.width, e.height), "{}", hr_path.display());
                    let diff = got[c].data.iter().zip(&e.data).filter(|(a, b)| a != b).count();
                    assert_eq!(diff, 0, "{set} x{scale} {} channel {c}: {diff} values differ", hr_path.display());
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 3 * (5 + 14 + 100));
}

fn make_rgb(planes: &[sisr_image::Plane<u8>], scale: usize) -> [sisr_image::Plane<u8>; 3] {
    match make_lr(planes, scale, Protocol::Rgb) {
        sisr_image::protocol::LowRes::Rgb(p) => p,
        _ => unreachable!(),
    }
}

fn bicubic_scores(data: &Path, set: &str, scale: usize, protocol: Protocol) -> sisr_image::protocol::DatasetScore {
    evaluate_dataset(&data.join("eval").join(set), scale, protocol, &Sources::default(), &DecodeLimits::default(), |lr| Ok(bicubic(lr, scale)), |_| {}).unwrap()
}

/// SPEC §4.1: the published bicubic rows.
#[test]
fn bicubic_baselines_match_the_published_tables() {
    let Some(data) = common::shared_data() else { return };
    let table = [
        ("set5", 2, 33.66, 0.9299, 0.005, 0.00005),
        ("set5", 3, 30.39, 0.8682, 0.005, 0.00005),
        ("set5", 4, 28.42, 0.8104, 0.005, 0.00005),
        ("set14", 2, 30.24, 0.8688, 0.01, 0.001),
        ("set14", 3, 27.55, 0.7742, 0.01, 0.001),
        ("set14", 4, 26.00, 0.7027, 0.01, 0.001),
        ("b100", 2, 29.56, 0.8431, 0.01, 0.0005),
        ("b100", 3, 27.21, 0.7385, 0.01, 0.0005),
        ("b100", 4, 25.96, 0.6675, 0.01, 0.0005),
    ];
    for (set, scale, p, s, tol_p, tol_s) in table {
        let r = bicubic_scores(&data, set, scale, Protocol::Y);
        eprintln!("{set} x{scale}: {:.4} / {:.5}", r.psnr, r.ssim);
        // Set5 must match at the printed precision: |x - printed| <= half a unit of the last digit.
        assert!((r.psnr - p).abs() <= tol_p + 1e-9, "{set} x{scale} PSNR {:.4} vs {p}", r.psnr);
        assert!((r.ssim - s).abs() <= tol_s + 1e-12, "{set} x{scale} SSIM {:.5} vs {s}", r.ssim);
    }
}

/// Parses RCAN's `PSNR_SSIM_Results_BI_model.txt` lines `x2 1 baby_RCAN_x2.png: PSNR= 38.979958 SSIM= 0.968184`
/// for one method (the first block).
fn parse_rcan_results(text: &str, method: &str) -> HashMap<(usize, String), (f64, f64)> {
    let mut out = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Method_") {
            current = rest.split(':').nth(1).unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
            continue;
        }
        if current != method || !line.starts_with('x') || line.contains(':') && line.split_whitespace().next().unwrap().ends_with(':') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let scale: usize = parts[0][1..].parse().unwrap();
        let name = parts[2].split('_').next().unwrap().to_string();
        let psnr: f64 = parts[4].parse().unwrap();
        let ssim: f64 = parts[6].parse().unwrap();
        out.insert((scale, name), (psnr, ssim));
    }
    out
}

/// SPEC §7: the published RCAN and RDN Set5 outputs scored with P1 (= "rgb").
#[test]
fn published_rcan_and_rdn_scores_are_reproduced() {
    let Some(data) = common::shared_data() else { return };
    for (method, dir) in [("RCAN", "rcan"), ("RDN", "rdn")] {
        let root = data.join("reference").join(dir);
        let expected = parse_rcan_results(&std::fs::read_to_string(root.join("PSNR_SSIM_Results_BI_model.txt")).unwrap(), method);
        let mut checked = 0;
        for scale in [2usize, 3, 4] {
            let sr_dir = root.join("set5").join(format!("x{scale}"));
            if !sr_dir.is_dir() {
                continue;
            }
            let sources = Sources { lr_dir: None, sr_dir: Some(sr_dir) };
            let r = evaluate_dataset(&data.join("eval/set5"), scale, Protocol::Rgb, &sources, &DecodeLimits::default(), |_| unreachable!(), |_| {}).unwrap();
            for img in &r.images {
                let (p, s) = expected[&(scale, img.name.clone())];
                assert!((img.psnr - p).abs() < 1e-4, "{method} x{scale} {}: {} vs {p}", img.name, img.psnr);
                assert!((img.ssim - s).abs() < 1e-5, "{method} x{scale} {}: {} vs {s}", img.name, img.ssim);
                checked += 1;
            }
        }
        assert_eq!(checked, 15, "{method}");
    }
}

fn read_csv_column(path: &Path) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap().to_string(), f.next().unwrap().parse().unwrap())
        })
        .collect()
}

/// SPEC §7: SelfExSR per-image bicubic tables (P2), bicubic of the MATLAB LR files.
///
/// Set14 `bridge` is left out: our copy is single-channel and the table's value matches no
/// reading of it (gray used as Y gives 24.90 dB at x2, gray replicated to RGB 27.88 dB, the
/// table 26.57 dB), so the authors' copy of that image differs. The other 118 images agree.
#[test]
fn selfexsr_bicubic_tables_are_reproduced() {
    let Some(data) = common::shared_data() else { return };
    let mut failures = Vec::new();
    for (set, csv) in [("set5", "Set5"), ("set14", "Set14"), ("b100", "BSD100")] {
        for scale in [2usize, 3, 4] {
            let dir = data.join("reference/selfexsr_bicubic");
            let psnrs = read_csv_column(&dir.join(format!("{csv}_SRF_{scale}_PSNR.csv")));
            let ssims = read_csv_column(&dir.join(format!("{csv}_SRF_{scale}_SSIM.csv")));
            let sources = Sources { lr_dir: Some(data.join(format!("lr_matlab/{set}/x{scale}"))), sr_dir: None };
            let r =
                evaluate_dataset(&data.join("eval").join(set), scale, Protocol::P2, &sources, &DecodeLimits::default(), |lr| Ok(bicubic(lr, scale)), |_| {})
                    .unwrap();
            assert_eq!(r.images.len(), psnrs.len(), "{set}");
            for img in r.images.iter().filter(|i| i.name != "bridge") {
                let p = psnrs[&img.name];
                let s = ssims[&img.name];
                if (img.psnr - p).abs() >= 1e-3 || (img.ssim - s).abs() >= 1e-4 {
                    failures.push(format!("{set} x{scale} {}: {:.6}/{:.6} vs {p}/{s}", img.name, img.psnr, img.ssim));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
