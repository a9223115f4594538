//! Reduced-precision inference: f16 and bf16 change the shipped models' outputs by no more
//! than their formats' rounding allows, and only where they apply.

use sisr::infer::run_planes;
use sisr::{ModelKind, Precision};
use sisr_image::Plane;

fn textured(w: usize, h: usize, channel: usize) -> Plane<f64> {
    let c = channel as f64;
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x as f64, y as f64)))
        .map(|(x, y)| (128.0 + 90.0 * ((x * 0.17 + c).sin() * (y * 0.11 + 0.5 * c).cos()) + ((x * 13.0 + y * 7.0 + c * 5.0) % 23.0)).clamp(0.0, 255.0))
        .collect();
    Plane::new(w, h, data)
}

/// Largest absolute difference and PSNR (peak 255) between two sets of planes.
fn compare(a: &[Plane<f64>], b: &[Plane<f64>]) -> (f64, f64) {
    let diffs: Vec<f64> = a.iter().zip(b).flat_map(|(p, q)| p.data.iter().zip(&q.data).map(|(x, y)| x - y)).collect();
    let mse = diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64;
    (diffs.iter().fold(0.0, |m, d| m.max(d.abs())), 10.0 * (255.0 * 255.0 / mse).log10())
}

#[test]
fn reduced_precision_stays_within_the_formats_rounding() {
    let device = sisr::default_device();
    // (model, scale, f16 and bf16 floors on the PSNR between the reduced and the f32 output):
    // f16 keeps 11 significant bits, bf16 8, so bf16 sits about 18 dB below f16 (measured on
    // a 2-core Intel Xeon with AMX, bf16 on the AMX kernel: dcscn 106.3 / 88.0 dB, drn 93.6 /
    // 75.1 dB; the floors leave ~8 dB).
    for (kind, scale, f16_floor, bf16_floor) in [(ModelKind::Dcscn, 2, 98.0, 80.0), (ModelKind::Drn, 2, 85.0, 64.0)] {
        let (network, _) = sisr::zoo::load(kind, scale, &device).unwrap();
        let planes: Vec<Plane<f64>> = (0..kind.color_mode().channels()).map(|c| textured(40, 32, c)).collect();
        let exact = run_planes(&network, &planes, &device);
        for (precision, floor) in [(Precision::F16, f16_floor), (Precision::Bf16, bf16_floor)] {
            let reduced = run_planes(&network.clone().with_precision(precision), &planes, &device);
            let (max, psnr) = compare(&exact, &reduced);
            eprintln!("{kind} x{scale} {precision}: max |Δ| {max:.4}, PSNR against f32 {psnr:.1} dB");
            assert!(max > 0.0, "{kind} {precision}: the output is f32's, the precision was not applied");
            assert!(psnr >= floor && max < 1.0, "{kind} {precision}: PSNR against f32 {psnr:.1} dB (floor {floor}), max |Δ| {max}");
        }
        // The precision belongs to the network it was set on, not to the thread.
        assert_eq!(run_planes(&network, &planes, &device), exact, "{kind}: f32 changed after a reduced-precision run");
    }
}

#[test]
fn image_facing_convolutions_stay_f32() {
    // A network whose every convolution has fewer than 16 channels in or out runs unchanged.
    let device = sisr::default_device();
    let network = tiny_network(&device);
    let planes = [textured(24, 20, 0)];
    let exact = run_planes(&network, &planes, &device);
    assert_eq!(run_planes(&network.with_precision(Precision::Bf16), &planes, &device), exact);
}

/// DCSCN with 8-filter layers only.
fn tiny_network(device: &sisr::Device) -> sisr::Network {
    use sisr::models::Net;
    use sisr::models::dcscn::DcscnConfig;
    let config =
        DcscnConfig::new(2).with_layers(3).with_filters(8).with_min_filters(4).with_nin_a_filters(8).with_nin_b_filters(4).with_reconstruct_zero_init(false);
    sisr::Network { kind: ModelKind::Dcscn, scale: 2, net: Net::Dcscn(config.init(device)), precision: Precision::F32 }
}

#[test]
fn precision_names_round_trip() {
    for p in Precision::ALL {
        assert_eq!(Precision::parse(p.name()), Some(p));
        assert_eq!(p.notice().is_some(), p != Precision::F32, "{p}: a reduced format says how it runs");
    }
    assert_eq!(Precision::parse("fp8"), None);
}
