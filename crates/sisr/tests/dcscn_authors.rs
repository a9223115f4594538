//! SPEC §7: the DCSCN authors' trained x2 weights reproduce their quality through our code.

mod common;

use sisr::infer::upscale_lowres;
use sisr::weights::WeightsFile;
use sisr_image::protocol::{DatasetScore, Sources, evaluate_dataset};
use sisr_image::{DecodeLimits, Protocol};

fn score(file: &str, ensemble: bool) -> Option<DatasetScore> {
    let data = common::shared_data()?;
    let dev = sisr::default_device();
    let (net, _) = WeightsFile::read(&data.join("weights").join(file)).unwrap().into_network(None, &dev).unwrap();
    Some(
        evaluate_dataset(
            &data.join("eval/set5"),
            2,
            Protocol::Y,
            &Sources::default(),
            &DecodeLimits::default(),
            |lr| upscale_lowres(&net, lr, ensemble, &dev),
            |_| {},
        )
        .unwrap(),
    )
}

#[test]
fn authors_dcscn_weights_give_the_published_quality() {
    let Some(r) = score("dcscn_paper_x2.safetensors", false) else { return };
    assert!((r.psnr - 37.56).abs() <= 0.01, "{}", r.psnr);
    assert!((r.ssim - 0.9585).abs() <= 0.0005, "{}", r.ssim);
    let per_image = [("baby", 38.7501), ("bird", 42.5660), ("butterfly", 34.4577), ("head", 35.9248), ("woman", 36.0774)];
    for (img, (name, p)) in r.images.iter().zip(per_image) {
        assert_eq!(img.name, name);
        assert!((img.psnr - p).abs() < 1e-3, "{name}: {}", img.psnr);
    }
    let plus = score("dcscn_paper_x2.safetensors", true).unwrap();
    assert!(plus.psnr >= r.psnr && plus.ssim >= r.ssim, "ensemble {} / {}", plus.psnr, plus.ssim);
}

#[test]
fn authors_compact_weights_give_the_published_quality() {
    let Some(r) = score("dcscn_compact_paper_x2.safetensors", false) else { return };
    assert!((r.psnr - 37.06).abs() <= 0.01, "{}", r.psnr);
    assert!((r.ssim - 0.9563).abs() <= 0.0005, "{}", r.ssim);
    let plus = score("dcscn_compact_paper_x2.safetensors", true).unwrap();
    assert!(plus.psnr >= r.psnr && plus.ssim >= r.ssim, "ensemble {} / {}", plus.psnr, plus.ssim);
}
