//! Timing of inference and training steps on synthetic, image-like data, and the machine's
//! fp32 matrix-multiply rate, for `sisr bench`. Every figure is the median of several runs
//! after warm-up runs.

use crate::models::{ColorMode, ModelKind, Network};
use crate::train::data::Batch;
use crate::train::optim::OptimState;
use crate::train::{Recipe, train_step};
use crate::upscale::{UpscaleOptions, Upscaler, upscale_image};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sisr_image::{Image, Layout};
use std::time::Instant;

/// Seconds of repeated runs of one piece of work.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub runs: usize,
}

/// Runs `work` `warmup` times untimed, then `runs` times timed.
pub fn time_runs(warmup: usize, runs: usize, mut work: impl FnMut()) -> Timing {
    for _ in 0..warmup {
        work();
    }
    let mut seconds: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    Timing { median_s: seconds[seconds.len() / 2], min_s: seconds[0], runs: seconds.len() }
}

/// Smooth image-like values on [0, 255]: a gradient with seeded noise, so activations look
/// like those of real pictures (full-range noise would saturate attention branches).
fn image_like(len: usize, width: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            (96.0 + 48.0 * ((x * 0.07).sin() + (y * 0.05).cos()) + rng.random_range(-16.0..16.0)).clamp(0.0, 255.0)
        })
        .collect()
}

/// A training batch of the model's shape: `size` patches of `patch`×`patch` LR pixels (or of
/// HR pixels for GLRL, which takes only the bicubic upscale).
pub fn synthetic_batch(kind: ModelKind, scale: usize, size: usize, patch: usize, seed: u64) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let channels = kind.color_mode().channels();
    let takes_lr = kind.takes_lr();
    let (lr_side, hr_side) = if takes_lr { (patch, patch * scale) } else { (0, patch) };
    let hr_len = size * channels * hr_side * hr_side;
    Batch {
        size,
        channels,
        lr_side,
        hr_side,
        lr: image_like(size * channels * lr_side * lr_side, lr_side.max(1), &mut rng),
        up: if kind.uses_bicubic() { image_like(hr_len, hr_side, &mut rng) } else { vec![] },
        hr: image_like(hr_len, hr_side, &mut rng),
    }
}

/// An 8-bit image of image-like content.
pub fn synthetic_image(w: usize, h: usize, layout: Layout, seed: u64) -> Image {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c = layout.channels();
    let data = image_like(w * h * c, w * c, &mut rng).into_iter().map(|v| v as u8).collect();
    Image::from_u8(w, h, layout, data)
}

/// A network forward pass on one `[1, C, h, w]` LR input (plus its bicubic for Y models).
pub fn time_forward(net: &Network, lr_w: usize, lr_h: usize, warmup: usize, runs: usize, device: &Device) -> Timing {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let c = net.kind.color_mode().channels();
    let s = net.scale;
    let lr = Tensor::<4>::from_data(TensorData::new(image_like(c * lr_w * lr_h, lr_w, &mut rng), [1, c, lr_h, lr_w]), device);
    let up = net
        .kind
        .uses_bicubic()
        .then(|| Tensor::<4>::from_data(TensorData::new(image_like(c * lr_w * lr_h * s * s, lr_w * s, &mut rng), [1, c, lr_h * s, lr_w * s]), device));
    time_runs(warmup, runs, || {
        let out = net.forward(lr.clone(), up.clone());
        // Reading the result back forces lazy backends to finish the work.
        let _ = out.into_data();
    })
}

/// `sisr upscale`'s whole path (colour conversion, bicubic, tiles) on an image whose output
/// is `out_w`×`out_h`; `tile` 0 = whole image.
pub fn time_upscale(net: &Network, out_w: usize, out_h: usize, tile: usize, warmup: usize, runs: usize, device: &Device) -> Timing {
    let layout = if net.kind.color_mode() == ColorMode::Y { Layout::Gray } else { Layout::Rgb };
    let img = synthetic_image(out_w / net.scale, out_h / net.scale, layout, 2);
    let up = Upscaler::Network(Box::new(net.valid()));
    let opts = UpscaleOptions { tile, ensemble: false };
    time_runs(warmup, runs, || {
        let _ = upscale_image(&up, &img, &opts, device, |_, _| {});
    })
}

/// One training step (forward, backward, optimizer update) on a fixed synthetic batch.
pub fn time_train_step(kind: ModelKind, scale: usize, recipe: &Recipe, warmup: usize, runs: usize, device: &Device) -> Option<Timing> {
    let ad = device.clone().autodiff();
    let mut network = Some(kind.build(scale, &ad)?);
    let batch = synthetic_batch(kind, scale, recipe.batch, recipe.patch, 3);
    let mut state = OptimState::default();
    Some(time_runs(warmup, runs, || {
        let net = network.take().expect("a network between steps");
        let (updated, loss) = train_step(net, batch.clone(), recipe, &mut state, recipe.lr, device);
        network = Some(updated.unwrap_or_else(|| panic!("non-finite loss {loss} on the benchmark batch")));
    }))
}

/// The rate (GFLOP/s, 2 per multiply-add) of an n×n×n fp32 matrix product on `device`.
pub fn matmul_gflops(n: usize, device: &Device) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut make = || Tensor::<2>::from_data(TensorData::new((0..n * n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>(), [n, n]), device);
    let (a, b) = (make(), make());
    let t = time_runs(2, 7, || {
        let _ = a.clone().matmul(b.clone()).into_data();
    });
    2.0 * (n as f64).powi(3) / t.median_s / 1e9
}
