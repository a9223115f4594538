//! Training data: folders of HR images, mod-cropped, with their MATLAB-bicubic LR (and the
//! bicubic upscale of that LR for models that use it) computed once at load; random patches
//! with the 8 dihedral augmentations, drawn from an RNG seeded by (seed, step) so that a
//! resumed run sees exactly the batches it would have seen; a background thread prepares
//! batches ahead of the trainer.

use crate::models::ModelKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sisr_image::io::{list_images, open};
use sisr_image::protocol::{LowRes, bicubic, color_planes_u8, make_lr, metric_y, replicate};
use sisr_image::resize::modcrop;
use sisr_image::{DecodeLimits, Plane};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

/// One training image at one scale: HR, LR and bicubic-upscaled LR colour planes on [0, 255].
struct Sample {
    scale: usize,
    hr: Vec<Plane<f32>>,
    lr: Vec<Plane<f32>>,
    up: Vec<Plane<f32>>,
}

pub struct TrainSet {
    samples: Vec<Sample>,
    channels: usize,
    /// The model takes the LR patch (DCSCN, DRN, DRFN); GLRL takes only the upscale.
    uses_lr: bool,
    uses_up: bool,
}

/// A batch in NCHW order, f32 on [0, 255].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub size: usize,
    pub channels: usize,
    /// LR patch side (0 when the model does not take the LR).
    pub lr_side: usize,
    pub hr_side: usize,
    pub lr: Vec<f32>,
    pub up: Vec<f32>,
    pub hr: Vec<f32>,
}

fn to_f32(p: &Plane<f64>) -> Plane<f32> {
    p.map(|v| v as f32)
}

impl TrainSet {
    /// Loads every image of `dirs` for `kind` at each of `scales`.
    pub fn load(dirs: &[PathBuf], kind: ModelKind, scales: &[usize], limits: &DecodeLimits) -> Result<Self, sisr_image::ImageIoError> {
        let mut files = Vec::new();
        for d in dirs {
            files.extend(list_images(d)?);
        }
        let protocol = kind.default_protocol();
        let images: Vec<Vec<Plane<u8>>> = files.par_iter().map(|f| open(f, limits).map(|im| color_planes_u8(&im))).collect::<Result<_, _>>()?;
        let samples = images
            .par_iter()
            .flat_map_iter(|planes| {
                scales.iter().filter_map(move |&s| {
                    let hr: Vec<Plane<u8>> = planes.iter().map(|p| modcrop(p, s)).collect();
                    if hr[0].width / s < 8 || hr[0].height / s < 8 {
                        return None;
                    }
                    // The protocol of the paper's tables makes the LR: the Y protocol's
                    // double-precision pipeline for Y models, uint8 RGB for RGB models.
                    let lr = make_lr(&hr, s, protocol);
                    let hr_f = match lr {
                        LowRes::Y(_) => vec![metric_y(&hr, protocol)],
                        LowRes::Rgb(_) => replicate(&hr).iter().map(|p| p.to_f64()).collect(),
                    };
                    let up = if kind.uses_bicubic() { bicubic(&lr, s).into_planes() } else { vec![] };
                    let lr = lr.planes();
                    Some(Sample { scale: s, hr: hr_f.iter().map(to_f32).collect(), lr: lr.iter().map(to_f32).collect(), up: up.iter().map(to_f32).collect() })
                })
            })
            .collect();
        let uses_lr = kind.takes_lr();
        Ok(TrainSet { samples, channels: kind.color_mode().channels(), uses_lr, uses_up: kind.uses_bicubic() })
    }

    /// The indices of the samples a `patch` (LR side, or HR side for GLRL) fits in.
    pub fn fitting(&self, patch: usize) -> Vec<usize> {
        let fits = |p: &Plane<f32>| p.width >= patch && p.height >= patch;
        (0..self.samples.len()).filter(|&i| fits(if self.uses_lr { &self.samples[i].lr[0] } else { &self.samples[i].hr[0] })).collect()
    }

    /// The batch of `step`: a pure function of (seed, step), drawn from `fitting`, the
    /// non-empty [`TrainSet::fitting`] of `patch`.
    pub fn batch(&self, fitting: &[usize], seed: u64, step: u64, size: usize, patch: usize) -> Batch {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step);
        let c = self.channels;
        let picks: Vec<(usize, u32, u32, u8)> =
            (0..size).map(|_| (rng.random_range(0..fitting.len()), rng.random::<u32>(), rng.random::<u32>(), rng.random_range(0..8u8))).collect();
        // Every sample of a batch has one scale (the first pick's) so the patches line up.
        let scale = self.samples[fitting[picks[0].0]].scale;
        let (lr_side, hr_side) = if self.uses_lr { (patch, patch * scale) } else { (0, patch) };
        let mut batch = Batch { size, channels: c, lr_side, hr_side, lr: vec![], up: vec![], hr: vec![] };
        for (i, rx, ry, t) in picks {
            let mut pos = i;
            while self.samples[fitting[pos]].scale != scale {
                pos = (pos + 1) % fitting.len();
            }
            let sm = &self.samples[fitting[pos]];
            let (x, y) = if self.uses_lr {
                let (w, h) = (sm.lr[0].width, sm.lr[0].height);
                let (px, py) = ((rx as usize) % (w - patch + 1), (ry as usize) % (h - patch + 1));
                for p in &sm.lr {
                    batch.lr.extend(p.crop(px, py, patch, patch).dihedral(t).data);
                }
                (px * scale, py * scale)
            } else {
                let (w, h) = (sm.hr[0].width, sm.hr[0].height);
                ((rx as usize) % (w - hr_side + 1), (ry as usize) % (h - hr_side + 1))
            };
            for p in &sm.hr {
                batch.hr.extend(p.crop(x, y, hr_side, hr_side).dihedral(t).data);
            }
            if self.uses_up {
                for p in &sm.up {
                    batch.up.extend(p.crop(x, y, hr_side, hr_side).dihedral(t).data);
                }
            }
        }
        batch
    }
}

/// Prepares batches `start..end` on a background thread, `depth` ahead of the consumer.
pub fn prefetch(set: Arc<TrainSet>, seed: u64, start: u64, end: u64, size: usize, patch: usize, depth: usize) -> Receiver<(u64, Batch)> {
    let (tx, rx) = sync_channel(depth);
    std::thread::spawn(move || {
        let fitting = set.fitting(patch);
        for step in start..end {
            if tx.send((step, set.batch(&fitting, seed, step, size, patch))).is_err() {
                break;
            }
        }
    });
    rx
}
