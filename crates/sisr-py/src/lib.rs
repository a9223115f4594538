//! The `sisr` Python package: NumPy arrays in and out over the same library functions as
//! the `sisr` command, so results are identical (MATLAB-exact resizing and metrics, the
//! shipped models, decoding and encoding).
//!
//! Arrays are HxW or HxWxC (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA). uint8 and uint16 are
//! taken as stored; float32/float64 are on [0, 1] as MATLAB's `im2double` and PyTorch
//! tensors, and come back in the same dtype.

use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sisr::models::ModelKind;
use sisr::upscale::{UpscaleOptions, upscale_image};
use sisr_image::Plane;
use sisr_image::color::{rgb_to_ycbcr, saturate_u8, saturate_u16, ycbcr_to_rgb};
use sisr_image::io::{DecodeLimits, Image, Layout, Samples};
use sisr_image::protocol::{Protocol, Sources, metric_y};
use sisr_image::resize::{imresize as resize_plane, modcrop as modcrop_plane, output_len};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An error as a Python exception: a missing file is `FileNotFoundError`, other I/O
/// failures `OSError`, everything else `ValueError`; the message is the CLI's.
fn py_err(e: &(dyn std::error::Error + 'static)) -> PyErr {
    let message = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                _ => PyOSError::new_err(message),
            };
        }
        cause = c.source();
    }
    PyValueError::new_err(message)
}

fn value_err(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// The thread pool set by `set_num_threads` (none: rayon's global pool, all cores).
static POOL: Mutex<Option<Arc<rayon::ThreadPool>>> = Mutex::new(None);

/// Runs `f` without the GIL, on the pool of `set_num_threads` when one was set.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    let pool = POOL.lock().expect("pool lock").clone();
    py.detach(|| match pool {
        Some(pool) => pool.install(f),
        None => f(),
    })
}

/// Pixel values of an array, in its own dtype.
enum Pixels {
    U8(Vec<u8>),
    U16(Vec<u16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// An image array: height, width, channels, whether it was 2-D, and its values (row-major HWC).
struct Array {
    h: usize,
    w: usize,
    c: usize,
    flat: bool,
    pixels: Pixels,
}

fn read_array(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    fn take<T: numpy::Element + Copy>(a: &Bound<'_, PyArrayDyn<T>>) -> (Vec<usize>, Vec<T>) {
        let r = a.readonly();
        (r.shape().to_vec(), r.as_array().iter().copied().collect())
    }
    let (shape, pixels) = if let Ok(a) = obj.cast::<PyArrayDyn<u8>>() {
        let (s, v) = take(a);
        (s, Pixels::U8(v))
    } else if let Ok(a) = obj.cast::<PyArrayDyn<u16>>() {
        let (s, v) = take(a);
        (s, Pixels::U16(v))
    } else if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        let (s, v) = take(a);
        (s, Pixels::F32(v))
    } else if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        let (s, v) = take(a);
        (s, Pixels::F64(v))
    } else {
        let kind = match obj.getattr("dtype") {
            Ok(d) => format!("a NumPy array of dtype {d}"),
            Err(_) => format!("a {}", obj.get_type().name()?),
        };
        return Err(PyTypeError::new_err(format!("{what}: expected a NumPy array of uint8, uint16, float32 or float64, got {kind}")));
    };
    let (h, w, c, flat) = match shape.as_slice() {
        [h, w] => (*h, *w, 1, true),
        [h, w, c] if (1..=4).contains(c) => (*h, *w, *c, false),
        other => return Err(value_err(format!("{what}: expected an HxW or HxWxC array with C of 1 to 4, got shape {other:?}"))),
    };
    if h == 0 || w == 0 {
        return Err(value_err(format!("{what}: the image is empty (shape {shape:?})")));
    }
    let range = |lo: f64, hi: f64| -> PyResult<()> {
        if !lo.is_finite() || !hi.is_finite() {
            return Err(value_err(format!("{what}: holds NaN or infinite values")));
        }
        // Bicubic overshoot stays well inside this; [0, 255] data does not.
        if lo < -0.5 || hi > 1.5 {
            return Err(value_err(format!(
                "{what}: float images are on [0, 1] (as im2double and PyTorch), this one spans [{lo}, {hi}]; divide by 255 (or 65535), or pass uint8/uint16"
            )));
        }
        Ok(())
    };
    match &pixels {
        Pixels::F32(v) => range(v.iter().fold(f64::INFINITY, |m, &x| m.min(f64::from(x))), v.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x))))?,
        Pixels::F64(v) => range(v.iter().fold(f64::INFINITY, |m, &x| m.min(x)), v.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x)))?,
        _ => {}
    }
    Ok(Array { h, w, c, flat, pixels })
}

fn to_numpy<'py, T: numpy::Element>(py: Python<'py>, h: usize, w: usize, c: usize, flat: bool, data: Vec<T>) -> PyResult<Bound<'py, PyAny>> {
    let shape: Vec<usize> = if flat { vec![h, w] } else { vec![h, w, c] };
    let array = ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| value_err(e.to_string()))?;
    Ok(PyArrayDyn::from_owned_array(py, array).into_any())
}

fn planes<T: Copy>(v: &[T], h: usize, w: usize, c: usize) -> Vec<Plane<T>> {
    (0..c).map(|k| Plane::new(w, h, v.iter().skip(k).step_by(c).copied().collect())).collect()
}

/// `f` applied to every channel of row-major HWC values, interleaved again.
fn per_plane<T: Copy, U: Copy>(v: &[T], h: usize, w: usize, c: usize, f: impl Fn(&Plane<T>) -> Plane<U>) -> Vec<U> {
    interleave(&planes(v, h, w, c).iter().map(f).collect::<Vec<_>>())
}

fn interleave<T: Copy>(planes: &[Plane<T>]) -> Vec<T> {
    let n = planes[0].data.len();
    (0..n).flat_map(|i| planes.iter().map(move |p| p.data[i])).collect()
}

impl Array {
    fn back<'py>(&self, py: Python<'py>, h: usize, w: usize, pixels: Pixels) -> PyResult<Bound<'py, PyAny>> {
        match pixels {
            Pixels::U8(v) => to_numpy(py, h, w, self.c, self.flat, v),
            Pixels::U16(v) => to_numpy(py, h, w, self.c, self.flat, v),
            Pixels::F32(v) => to_numpy(py, h, w, self.c, self.flat, v),
            Pixels::F64(v) => to_numpy(py, h, w, self.c, self.flat, v),
        }
    }

    /// Colour planes on MATLAB's uint8 grid for the metrics: integers as stored (uint16 to
    /// 8 bit as `im2uint8`), floats as `im2uint8` (round(255·x)); alpha is refused.
    fn metric_planes(&self, what: &str) -> PyResult<Vec<Plane<u8>>> {
        if self.c == 2 || self.c == 4 {
            return Err(value_err(format!("{what}: has an alpha channel; the metrics take gray or RGB images")));
        }
        let v: Vec<u8> = match &self.pixels {
            Pixels::U8(v) => v.clone(),
            Pixels::U16(v) => v.iter().map(|&x| saturate_u8(f64::from(x) / 257.0)).collect(),
            Pixels::F32(v) => v.iter().map(|&x| saturate_u8(f64::from(x) * 255.0)).collect(),
            Pixels::F64(v) => v.iter().map(|&x| saturate_u8(x * 255.0)).collect(),
        };
        Ok(planes(&v, self.h, self.w, self.c))
    }
}

fn check_scale(scale: usize) -> PyResult<()> {
    if (2..=8).contains(&scale) { Ok(()) } else { Err(value_err(format!("scale {scale} is not supported (2 to 8)"))) }
}

/// MATLAB `imresize(img, scale, 'bicubic')`: bit-exact for uint8 (rounded after each pass,
/// as MATLAB stores them), in double precision for floats (returned in the input's dtype).
/// The output side is `ceil(side * scale)`.
#[pyfunction]
fn imresize<'py>(py: Python<'py>, img: &Bound<'py, PyAny>, scale: f64) -> PyResult<Bound<'py, PyAny>> {
    let a = read_array(img, "img")?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(value_err(format!("scale must be a positive number, got {scale}")));
    }
    let (oh, ow) = (output_len(a.h, scale), output_len(a.w, scale));
    const MAX_PIXELS: usize = 1 << 30;
    if oh == 0 || ow == 0 || oh.saturating_mul(ow).saturating_mul(a.c) > MAX_PIXELS {
        return Err(value_err(format!("a {}x{} image at scale {scale} would be {ow}x{oh}: empty or over 2^30 values", a.w, a.h)));
    }
    let (h, w, c) = (a.h, a.w, a.c);
    let pixels = run(py, || match &a.pixels {
        Pixels::U8(v) => Pixels::U8(per_plane(v, h, w, c, |p| resize_plane(p, scale))),
        Pixels::U16(v) => Pixels::U16(per_plane(v, h, w, c, |p| resize_plane(p, scale))),
        Pixels::F32(v) => Pixels::F32(per_plane(v, h, w, c, |p| resize_plane(&p.map(f64::from), scale).map(|x| x as f32))),
        Pixels::F64(v) => Pixels::F64(per_plane(v, h, w, c, |p| resize_plane(p, scale))),
    });
    a.back(py, oh, ow, pixels)
}

/// Crops height and width down to multiples of `s` (top-left kept), as the papers' `modcrop`.
#[pyfunction]
fn modcrop<'py>(py: Python<'py>, img: &Bound<'py, PyAny>, s: usize) -> PyResult<Bound<'py, PyAny>> {
    let a = read_array(img, "img")?;
    if s == 0 || a.h < s || a.w < s {
        return Err(value_err(format!("cannot mod-crop a {}x{} image to multiples of {s}", a.w, a.h)));
    }
    let (h, w, c) = (a.h, a.w, a.c);
    let pixels = match &a.pixels {
        Pixels::U8(v) => Pixels::U8(per_plane(v, h, w, c, |p| modcrop_plane(p, s))),
        Pixels::U16(v) => Pixels::U16(per_plane(v, h, w, c, |p| modcrop_plane(p, s))),
        Pixels::F32(v) => Pixels::F32(per_plane(v, h, w, c, |p| modcrop_plane(p, s))),
        Pixels::F64(v) => Pixels::F64(per_plane(v, h, w, c, |p| modcrop_plane(p, s))),
    };
    a.back(py, h - h % s, w - w % s, pixels)
}

/// Applies a [0, 255]-scale colour transform to an RGB (or YCbCr) array of any dtype, with
/// MATLAB's storage rules (integers rounded and saturated).
fn convert_colour<'py>(py: Python<'py>, img: &Bound<'py, PyAny>, f: fn(f64, f64, f64) -> [f64; 3], name: &str) -> PyResult<Bound<'py, PyAny>> {
    let a = read_array(img, "img")?;
    if a.c != 3 {
        return Err(value_err(format!("{name}: expected an HxWx3 array, got {} channel(s)", a.c)));
    }
    fn apply<T: Copy>(v: &[T], to: impl Fn(T) -> f64, from: impl Fn(f64) -> T, f: fn(f64, f64, f64) -> [f64; 3]) -> Vec<T> {
        v.chunks_exact(3).flat_map(|p| f(to(p[0]), to(p[1]), to(p[2])).map(&from)).collect()
    }
    let pixels = match &a.pixels {
        Pixels::U8(v) => Pixels::U8(apply(v, f64::from, saturate_u8, f)),
        Pixels::U16(v) => Pixels::U16(apply(v, |x| f64::from(x) / 257.0, |x| saturate_u16(x * 257.0), f)),
        Pixels::F32(v) => Pixels::F32(apply(v, |x| f64::from(x) * 255.0, |x| (x / 255.0) as f32, f)),
        Pixels::F64(v) => Pixels::F64(apply(v, |x| x * 255.0, |x| x / 255.0, f)),
    };
    a.back(py, a.h, a.w, pixels)
}

/// MATLAB `rgb2ycbcr` (ITU-R BT.601, studio range): HxWx3 RGB → HxWx3 YCbCr, same dtype.
#[pyfunction]
fn rgb2ycbcr<'py>(py: Python<'py>, img: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    convert_colour(py, img, rgb_to_ycbcr, "rgb2ycbcr")
}

/// MATLAB `ycbcr2rgb`: HxWx3 YCbCr → HxWx3 RGB, same dtype.
#[pyfunction]
fn ycbcr2rgb<'py>(py: Python<'py>, img: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    convert_colour(py, img, |y, cb, cr| ycbcr_to_rgb([y, cb, cr]), "ycbcr2rgb")
}

fn protocol(name: &str) -> PyResult<Protocol> {
    Protocol::parse(name).ok_or_else(|| value_err(format!("unknown protocol {name:?} (y, rgb, p1, p2)")))
}

/// The metric Y planes of an SR/HR pair after the protocol's checks.
fn metric_pair(sr: &Bound<'_, PyAny>, hr: &Bound<'_, PyAny>, scale: usize, protocol_name: &str) -> PyResult<(Plane<f64>, Plane<f64>)> {
    let p = protocol(protocol_name)?;
    check_scale(scale)?;
    let (sr, hr) = (read_array(sr, "sr")?, read_array(hr, "hr")?);
    if (sr.h, sr.w) != (hr.h, hr.w) {
        return Err(value_err(format!("sr is {}x{} but hr is {}x{}: mod-crop the HR first (sisr.modcrop(hr, {scale}))", sr.w, sr.h, hr.w, hr.h)));
    }
    if sr.h <= 2 * scale + 10 || sr.w <= 2 * scale + 10 {
        return Err(value_err(format!("a {}x{} image is too small for the {scale}-pixel shave and SSIM's 11x11 window", sr.w, sr.h)));
    }
    Ok((metric_y(&sr.metric_planes("sr")?, p), metric_y(&hr.metric_planes("hr")?, p)))
}

/// PSNR (dB) of `sr` against `hr` as `sisr eval` computes it: both as uint8 (floats by
/// `im2uint8`), Y by the protocol (`y`: MATLAB `rgb2ycbcr` of uint8; `rgb`: RCAN's P1;
/// `p2`: SelfExSR), `scale` pixels shaved per side. Identical images give `inf`.
#[pyfunction]
#[pyo3(signature = (sr, hr, scale, protocol = "y"))]
fn psnr(py: Python<'_>, sr: &Bound<'_, PyAny>, hr: &Bound<'_, PyAny>, scale: usize, protocol: &str) -> PyResult<f64> {
    let (s, h) = metric_pair(sr, hr, scale, protocol)?;
    Ok(run(py, || sisr_image::metrics::psnr(&h, &s, scale)))
}

/// SSIM of `sr` against `hr` (Wang's `ssim_index`: 11x11 Gaussian, σ 1.5), same conventions
/// as [`psnr`].
#[pyfunction]
#[pyo3(signature = (sr, hr, scale, protocol = "y"))]
fn ssim(py: Python<'_>, sr: &Bound<'_, PyAny>, hr: &Bound<'_, PyAny>, scale: usize, protocol: &str) -> PyResult<f64> {
    let (s, h) = metric_pair(sr, hr, scale, protocol)?;
    Ok(run(py, || sisr_image::metrics::ssim(&h, &s, scale)))
}

/// The benchmark LR of an HR image, as `sisr degrade` and the `lr_matlab` files: mod-crop,
/// then MATLAB bicubic `imresize(·, 1/scale)` of uint8 data. uint8 in, uint8 out.
#[pyfunction]
fn degrade<'py>(py: Python<'py>, hr: &Bound<'py, PyAny>, scale: usize) -> PyResult<Bound<'py, PyAny>> {
    check_scale(scale)?;
    let a = read_array(hr, "hr")?;
    let Pixels::U8(v) = &a.pixels else { return Err(value_err("hr: degrade takes uint8 images (the benchmark LR is made from uint8 HR)")) };
    if a.h < 2 * scale || a.w < 2 * scale {
        return Err(value_err(format!("a {}x{} image is too small for x{scale}", a.w, a.h)));
    }
    let (h, w, c) = (a.h, a.w, a.c);
    let lr = run(py, || sisr_image::protocol::degrade(&planes(v, h, w, c), scale));
    let (lh, lw) = (lr[0].height, lr[0].width);
    a.back(py, lh, lw, Pixels::U8(interleave(&lr)))
}

fn layout(c: usize) -> Layout {
    match c {
        1 => Layout::Gray,
        2 => Layout::GrayAlpha,
        3 => Layout::Rgb,
        _ => Layout::Rgba,
    }
}

fn image_to_numpy<'py>(py: Python<'py>, img: Image) -> PyResult<Bound<'py, PyAny>> {
    let c = img.layout.channels();
    match img.samples {
        Samples::U8(v) => to_numpy(py, img.height, img.width, c, c == 1, v),
        Samples::U16(v) => to_numpy(py, img.height, img.width, c, c == 1, v),
    }
}

/// Decodes an image file exactly as the `sisr` command does (EXIF orientation applied,
/// 16-bit kept, the CLI's decode limits): uint8 or uint16, HxW for gray, else HxWxC.
#[pyfunction]
fn imread<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let img = run(py, || sisr_image::io::open(&path, &DecodeLimits::default())).map_err(|e| py_err(&e))?;
    image_to_numpy(py, img)
}

/// An array as an Image (floats as 16-bit), and whether it came in as float32/float64.
fn to_image(a: &Array) -> (Image, Option<bool>) {
    let l = layout(a.c);
    match &a.pixels {
        Pixels::U8(v) => (Image::from_u8(a.w, a.h, l, v.clone()), None),
        Pixels::U16(v) => (Image::from_u16(a.w, a.h, l, v.clone()), None),
        Pixels::F32(v) => (Image::from_u16(a.w, a.h, l, v.iter().map(|&x| saturate_u16(f64::from(x) * 65535.0)).collect()), Some(false)),
        Pixels::F64(v) => (Image::from_u16(a.w, a.h, l, v.iter().map(|&x| saturate_u16(x * 65535.0)).collect()), Some(true)),
    }
}

/// Encodes and writes an image atomically, exactly as the `sisr` command does; the format
/// follows the extension (png, jpg, webp, tif; 16-bit where the format holds it). Floats are
/// written as 16-bit.
#[pyfunction]
fn imwrite(py: Python<'_>, path: PathBuf, img: &Bound<'_, PyAny>) -> PyResult<()> {
    let a = read_array(img, "img")?;
    let (image, _) = to_image(&a);
    run(py, || sisr_image::io::save(&image, &path)).map_err(|e| py_err(&e))
}

/// A model ready to upscale images: a shipped model by name (`sisr.models()`), or trained
/// weights (`weights=`), or `"bicubic"`; the same function as `sisr upscale`, so the result
/// equals the command's output for the same input and options.
#[pyclass(module = "sisr._sisr")]
struct Upscaler {
    inner: sisr::upscale::Upscaler,
    description: String,
    tile: usize,
    ensemble: bool,
}

#[pymethods]
impl Upscaler {
    /// `model`: a name (default `dcscn`, or the weights file's model); `scale`: 2, 3 or 4
    /// (default 2, or the weights file's); `tile`: LR tile side (0 = whole image; the result
    /// does not depend on it); `ensemble`: average the 8 dihedral transforms; `precision`:
    /// `f32`, `f16` or `bf16` (as `sisr upscale --precision`).
    #[new]
    #[pyo3(signature = (model = None, scale = None, weights = None, tile = 256, ensemble = false, precision = "f32"))]
    fn new(
        py: Python<'_>,
        model: Option<&str>,
        scale: Option<usize>,
        weights: Option<PathBuf>,
        tile: usize,
        ensemble: bool,
        precision: &str,
    ) -> PyResult<Self> {
        let precision = sisr::Precision::parse(precision).ok_or_else(|| {
            let known: Vec<&str> = sisr::Precision::ALL.iter().map(|p| p.name()).collect();
            value_err(format!("unknown precision {precision:?} (known: {})", known.join(", ")))
        })?;
        let kind = match model {
            Some(name) => Some(ModelKind::parse(name).ok_or_else(|| {
                let known: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                value_err(format!("unknown model {name:?} (known: {})", known.join(", ")))
            })?),
            None => None,
        };
        let (inner, description) = run(py, || sisr::zoo::upscaler(kind, scale, weights.as_deref(), &sisr::default_device())).map_err(|e| py_err(&e))?;
        let inner = inner.with_precision(precision).map_err(value_err)?;
        let description = if precision == sisr::Precision::F32 { description } else { format!("{description} in {precision}") };
        Ok(Upscaler { inner, description, tile, ensemble })
    }

    /// The upscaled image: same layout and dtype as `img` (alpha by bicubic, 16-bit kept;
    /// floats pass through 16 bit).
    fn upscale<'py>(&self, py: Python<'py>, img: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let a = read_array(img, "img")?;
        let s = self.inner.scale();
        if a.h.saturating_mul(a.w).saturating_mul(s * s) > 400_000_000 {
            return Err(value_err(format!("a {}x{} image at x{s} is over 400 megapixels", a.w, a.h)));
        }
        let (image, float) = to_image(&a);
        let opts = UpscaleOptions { tile: self.tile, ensemble: self.ensemble };
        let out = run(py, || upscale_image(&self.inner, &image, &opts, &sisr::default_device(), |_, _| {}));
        match (float, out.samples) {
            (Some(f64_out), Samples::U16(v)) => {
                let pixels = if f64_out {
                    Pixels::F64(v.iter().map(|&x| f64::from(x) / 65535.0).collect())
                } else {
                    Pixels::F32(v.iter().map(|&x| (f64::from(x) / 65535.0) as f32).collect())
                };
                a.back(py, out.height, out.width, pixels)
            }
            (_, Samples::U8(v)) => a.back(py, out.height, out.width, Pixels::U8(v)),
            (_, Samples::U16(v)) => a.back(py, out.height, out.width, Pixels::U16(v)),
        }
    }

    #[getter]
    fn scale(&self) -> usize {
        self.inner.scale()
    }

    fn __repr__(&self) -> String {
        format!("Upscaler({}, tile={}, ensemble={})", self.description, self.tile, if self.ensemble { "True" } else { "False" })
    }
}

fn json_to_py<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// The shipped models, one dict per model and scale, as `sisr models --json`: name, scales,
/// parameters, Set5/Set14/B100 PSNR/SSIM (measured by `sisr eval --table`), training
/// steps, file, and whether it is the most accurate at its scale.
#[pyfunction]
fn models(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let list = sisr::zoo::catalogue().map_err(|e| py_err(&e))?;
    json_to_py(py, &serde_json::to_string(&list).map_err(|e| value_err(e.to_string()))?)
}

/// Scores a model on a folder of HR images as `sisr eval`: a dict with the mean `psnr` and
/// `ssim` and the per-image `images`. `model` is a shipped model's name or `"bicubic"`;
/// `weights` a trained file; `protocol` defaults to the model's paper's (`y` or `rgb`).
#[pyfunction]
#[pyo3(signature = (model, dataset_dir, scale, protocol = None, weights = None, ensemble = false))]
fn evaluate<'py>(
    py: Python<'py>,
    model: &str,
    dataset_dir: PathBuf,
    scale: usize,
    protocol: Option<&str>,
    weights: Option<PathBuf>,
    ensemble: bool,
) -> PyResult<Bound<'py, PyAny>> {
    check_scale(scale)?;
    let kind = ModelKind::parse(model).ok_or_else(|| value_err(format!("unknown model {model:?}")))?;
    let p = match protocol {
        Some(name) => self::protocol(name)?,
        None => kind.default_protocol(),
    };
    let device = sisr::default_device();
    let result = run(py, || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
        let (up, _) = sisr::zoo::upscaler(Some(kind), Some(scale), weights.as_deref(), &device)?;
        let network = match &up {
            sisr::upscale::Upscaler::Network(n) => Some(n.as_ref()),
            sisr::upscale::Upscaler::Bicubic { .. } => None,
        };
        Ok(sisr::infer::evaluate(network, &dataset_dir, scale, p, &Sources::default(), &DecodeLimits::default(), ensemble, &device, |_| {})?)
    })
    .map_err(|e| py_err(e.as_ref()))?;
    let out = PyDict::new(py);
    out.set_item("model", kind.name())?;
    out.set_item("scale", scale)?;
    out.set_item("protocol", p.name())?;
    out.set_item("ensemble", ensemble)?;
    out.set_item("dataset", dataset_dir.display().to_string())?;
    out.set_item("psnr", result.psnr)?;
    out.set_item("ssim", result.ssim)?;
    let images = PyList::empty(py);
    for i in &result.images {
        let d = PyDict::new(py);
        d.set_item("name", &i.name)?;
        d.set_item("psnr", i.psnr)?;
        d.set_item("ssim", i.ssim)?;
        images.append(d)?;
    }
    out.set_item("images", images)?;
    Ok(out.into_any())
}

/// Compute threads for every later call (default: all cores).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(value_err("set_num_threads: n must be at least 1"));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| value_err(e.to_string()))?;
    *POOL.lock().expect("pool lock") = Some(Arc::new(pool));
    Ok(())
}

#[pymodule]
fn _sisr(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(imresize, m)?)?;
    m.add_function(wrap_pyfunction!(modcrop, m)?)?;
    m.add_function(wrap_pyfunction!(rgb2ycbcr, m)?)?;
    m.add_function(wrap_pyfunction!(ycbcr2rgb, m)?)?;
    m.add_function(wrap_pyfunction!(psnr, m)?)?;
    m.add_function(wrap_pyfunction!(ssim, m)?)?;
    m.add_function(wrap_pyfunction!(degrade, m)?)?;
    m.add_function(wrap_pyfunction!(imread, m)?)?;
    m.add_function(wrap_pyfunction!(imwrite, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_class::<Upscaler>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
