//! The papers' evaluation protocols (SPEC §3.2–3.3) and the per-image / per-dataset
//! scoring loop, independent of any network.
//!
//! * `y` (VDSR/DRRN test code; GLRL, DCSCN and the published bicubic rows): Y = uint8
//!   `rgb2ycbcr(HR)`, LR = `imresize(Y, 1/s)` in double, model output rounded to uint8,
//!   metrics on Y.
//! * `rgb` = P1 (RCAN/RDN/EDSR; DRN, DRFN): LR = uint8 `imresize(uint8 HR, 1/s)` (gray
//!   replicated to RGB), output rounded to uint8 RGB, metrics on the unrounded Y of
//!   `rgb2ycbcr(im2double(·))` taken to single precision as RCAN's `Evaluate_PSNR_SSIM.m`.
//! * `p2` (SelfExSR tables): as `rgb`, but the metrics use the rounded uint8 Y.
//!
//! Every protocol mod-crops the HR first and shaves `s` pixels per side.

use crate::color::{saturate_u8, y_plane_u8};
use crate::io::{self, DecodeLimits, Image, ImageIoError};
use crate::metrics::{psnr, ssim};
use crate::plane::Plane;
use crate::resize::{imresize, modcrop};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Y,
    Rgb,
    P2,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Y => "y",
            Protocol::Rgb => "rgb",
            Protocol::P2 => "p2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "y" => Some(Protocol::Y),
            "rgb" | "p1" => Some(Protocol::Rgb),
            "p2" => Some(Protocol::P2),
            _ => None,
        }
    }

    /// Whether the model sees the Y channel (double pipeline) rather than uint8 RGB.
    pub fn is_y(self) -> bool {
        self == Protocol::Y
    }
}

/// The low-resolution input a protocol hands to a model, on the [0, 255] scale.
#[derive(Debug, Clone, PartialEq)]
pub enum LowRes {
    /// Y channel in double precision (the "y" protocol).
    Y(Plane<f64>),
    /// uint8 RGB (the "rgb" and "p2" protocols).
    Rgb([Plane<u8>; 3]),
}

impl LowRes {
    pub fn size(&self) -> (usize, usize) {
        match self {
            LowRes::Y(p) => (p.width, p.height),
            LowRes::Rgb(p) => (p[0].width, p[0].height),
        }
    }

    /// The planes a model reads: Y, or R, G, B.
    pub fn planes(&self) -> Vec<Plane<f64>> {
        match self {
            LowRes::Y(p) => vec![p.clone()],
            LowRes::Rgb(p) => p.iter().map(|c| c.to_f64()).collect(),
        }
    }
}

/// A model's output on the [0, 255] scale, before the protocol quantises it.
#[derive(Debug, Clone, PartialEq)]
pub enum SuperRes {
    Y(Plane<f64>),
    Rgb([Plane<f64>; 3]),
}

impl SuperRes {
    pub fn size(&self) -> (usize, usize) {
        match self {
            SuperRes::Y(p) => (p.width, p.height),
            SuperRes::Rgb(p) => (p[0].width, p[0].height),
        }
    }

    /// The planes: Y, or R, G, B.
    pub fn into_planes(self) -> Vec<Plane<f64>> {
        match self {
            SuperRes::Y(p) => vec![p],
            SuperRes::Rgb(p) => p.into(),
        }
    }
}

/// RCAN's P1 Y: `single(rgb2ycbcr(im2double(rgb)))(:,:,1) * 255` on uint8 RGB.
fn y_p1(r: u8, g: u8, b: u8) -> f64 {
    let (r, g, b) = (f64::from(r) / 255.0, f64::from(g) / 255.0, f64::from(b) / 255.0);
    let y = 65.481 / 255.0 * r + 128.553 / 255.0 * g + 24.966 / 255.0 * b + 16.0 / 255.0;
    f64::from(y as f32 * 255.0f32)
}

/// The Y plane the metrics of `protocol` compare, from uint8 colour planes (1 or 3).
pub fn metric_y(planes: &[Plane<u8>], protocol: Protocol) -> Plane<f64> {
    match (protocol, planes.len()) {
        // Gray images are their own Y, except in P1, where RCAN's script replicates them to RGB.
        (Protocol::Y | Protocol::P2, 1) => planes[0].to_f64(),
        (Protocol::Y | Protocol::P2, _) => {
            let rgb = replicate(planes);
            y_plane_u8(&rgb).to_f64()
        }
        (Protocol::Rgb, _) => {
            let [r, g, b] = replicate(planes);
            Plane::new(r.width, r.height, (0..r.data.len()).map(|i| y_p1(r.data[i], g.data[i], b.data[i])).collect())
        }
    }
}

/// R, G, B planes of colour planes (1 or 3): gray replicated to R = G = B.
pub fn replicate<T: Clone>(planes: &[Plane<T>]) -> [Plane<T>; 3] {
    match planes.len() {
        1 => [planes[0].clone(), planes[0].clone(), planes[0].clone()],
        _ => [planes[0].clone(), planes[1].clone(), planes[2].clone()],
    }
}

/// The uint8 colour planes (gray: 1, colour: 3) of an image, alpha dropped.
pub fn color_planes_u8(image: &Image) -> Vec<Plane<u8>> {
    (0..image.layout.color_channels()).map(|c| image.plane_u8(c)).collect()
}

/// The benchmark LR of an HR image's uint8 planes, as the `lr_matlab` files: mod-crop, then
/// MATLAB `imresize(·, 1/s)` of uint8 data (`sisr degrade`).
pub fn degrade(hr_planes: &[Plane<u8>], scale: usize) -> Vec<Plane<u8>> {
    hr_planes.iter().map(|p| imresize(&modcrop(p, scale), 1.0 / scale as f64)).collect()
}

/// The model input for a mod-cropped HR image.
pub fn make_lr(hr_planes: &[Plane<u8>], scale: usize, protocol: Protocol) -> LowRes {
    let inv = 1.0 / scale as f64;
    match protocol {
        Protocol::Y => LowRes::Y(imresize(&metric_y(hr_planes, Protocol::Y), inv)),
        Protocol::Rgb | Protocol::P2 => LowRes::Rgb(replicate(hr_planes).map(|p| imresize(&p, inv))),
    }
}

/// The model input read from a ready LR file (e.g. MATLAB-made).
pub fn lr_from_image(lr: &Image, protocol: Protocol) -> LowRes {
    let planes = color_planes_u8(lr);
    match protocol {
        Protocol::Y => LowRes::Y(metric_y(&planes, Protocol::Y)),
        Protocol::Rgb | Protocol::P2 => LowRes::Rgb(replicate(&planes)),
    }
}

/// Quantises a model output to uint8 planes as the protocol stores it.
pub fn quantize(sr: &SuperRes) -> Vec<Plane<u8>> {
    match sr {
        SuperRes::Y(p) => vec![p.map(saturate_u8)],
        SuperRes::Rgb(p) => p.iter().map(|c| c.map(saturate_u8)).collect(),
    }
}

/// MATLAB bicubic upscaling, the reference "model": double on Y, uint8 on RGB (rounded after
/// each pass, as `imresize` of a uint8 image).
pub fn bicubic(lr: &LowRes, scale: usize) -> SuperRes {
    let s = scale as f64;
    match lr {
        LowRes::Y(p) => SuperRes::Y(imresize(p, s)),
        LowRes::Rgb(p) => SuperRes::Rgb(std::array::from_fn(|c| imresize(&p[c], s).to_f64())),
    }
}

/// PSNR (dB) and SSIM of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub psnr: f64,
    pub ssim: f64,
}

/// Scores two metric-Y planes with the shave of `scale`.
pub fn score(hr_y: &Plane<f64>, sr_y: &Plane<f64>, scale: usize) -> Score {
    Score { psnr: psnr(hr_y, sr_y, scale), ssim: ssim(hr_y, sr_y, scale) }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Image(#[from] ImageIoError),
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
    #[error("{}: the model failed: {message}", path.display())]
    Model { path: PathBuf, message: String },
}

/// Where the LR input or SR output of each HR image comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Folder of ready LR files named like the HR files (else the LR is made here).
    pub lr_dir: Option<PathBuf>,
    /// Folder of existing SR outputs to score (then no model runs).
    pub sr_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageScore {
    pub name: String,
    pub psnr: f64,
    pub ssim: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatasetScore {
    pub psnr: f64,
    pub ssim: f64,
    pub images: Vec<ImageScore>,
}

/// The file in `dir` with the same stem as `hr` (any supported extension).
pub fn matching_file(dir: &Path, hr: &Path) -> Result<PathBuf, EvalError> {
    let stem = hr.file_stem().unwrap_or_default();
    let found = io::list_images(dir)?.into_iter().find(|p| p.file_stem() == Some(stem));
    found.ok_or_else(|| EvalError::Mismatch {
        path: dir.join(hr.file_name().unwrap_or_default()),
        message: format!("no file named like {} in this folder", hr.display()),
    })
}

/// Scores one HR file: the SR comes from `sources.sr_dir` or from `model` applied to the LR.
pub fn evaluate_image<F>(
    hr_path: &Path,
    scale: usize,
    protocol: Protocol,
    sources: &Sources,
    limits: &DecodeLimits,
    model: &mut F,
) -> Result<ImageScore, EvalError>
where
    F: FnMut(&LowRes) -> Result<SuperRes, String>,
{
    let hr = io::open(hr_path, limits)?;
    let hr_planes: Vec<Plane<u8>> = color_planes_u8(&hr).iter().map(|p| modcrop(p, scale)).collect();
    let (w, h) = (hr_planes[0].width, hr_planes[0].height);
    if w / scale < 4 || h / scale < 4 || w <= 2 * scale + 10 || h <= 2 * scale + 10 {
        return Err(EvalError::Mismatch { path: hr_path.into(), message: format!("{w}x{h} is too small to evaluate at x{scale}") });
    }
    let sr_planes = if let Some(dir) = &sources.sr_dir {
        let sr_path = matching_file(dir, hr_path)?;
        let sr = io::open(&sr_path, limits)?;
        let planes = color_planes_u8(&sr);
        if (sr.width, sr.height) != (w, h) {
            return Err(EvalError::Mismatch { path: sr_path, message: format!("SR is {}x{}, the mod-cropped HR is {w}x{h}", sr.width, sr.height) });
        }
        planes
    } else {
        let lr = match &sources.lr_dir {
            Some(dir) => {
                let lr_path = matching_file(dir, hr_path)?;
                let lr = lr_from_image(&io::open(&lr_path, limits)?, protocol);
                if lr.size() != (w / scale, h / scale) {
                    let (lw, lh) = lr.size();
                    return Err(EvalError::Mismatch { path: lr_path, message: format!("LR is {lw}x{lh}, expected {}x{} for x{scale}", w / scale, h / scale) });
                }
                lr
            }
            None => make_lr(&hr_planes, scale, protocol),
        };
        let sr = model(&lr).map_err(|message| EvalError::Model { path: hr_path.into(), message })?;
        if sr.size() != (w, h) {
            let (sw, sh) = sr.size();
            return Err(EvalError::Model { path: hr_path.into(), message: format!("output is {sw}x{sh}, expected {w}x{h}") });
        }
        quantize(&sr)
    };
    let s = score(&metric_y(&hr_planes, protocol), &metric_y(&sr_planes, protocol), scale);
    let name = hr_path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    Ok(ImageScore { name, psnr: s.psnr, ssim: s.ssim })
}

/// Scores every image of `hr_dir` and averages PSNR and SSIM over images.
pub fn evaluate_dataset<F>(
    hr_dir: &Path,
    scale: usize,
    protocol: Protocol,
    sources: &Sources,
    limits: &DecodeLimits,
    mut model: F,
    mut progress: impl FnMut(&ImageScore),
) -> Result<DatasetScore, EvalError>
where
    F: FnMut(&LowRes) -> Result<SuperRes, String>,
{
    let mut images = Vec::new();
    for hr_path in io::list_images(hr_dir)? {
        let s = evaluate_image(&hr_path, scale, protocol, sources, limits, &mut model)?;
        progress(&s);
        images.push(s);
    }
    let n = images.len() as f64;
    Ok(DatasetScore { psnr: images.iter().map(|s| s.psnr).sum::<f64>() / n, ssim: images.iter().map(|s| s.ssim).sum::<f64>() / n, images })
}
