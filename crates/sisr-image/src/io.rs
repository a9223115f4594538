//! Image files in and out: decoding under explicit limits (so a decompression bomb or a
//! truncated file is a clear error naming the file), 8 and 16 bit kept as such, gray /
//! gray+alpha / RGB / RGBA, EXIF orientation applied, ICC profile kept; atomic writes.

use crate::plane::Plane;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

/// File extensions the toolkit reads (lower case).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"];

#[derive(Debug, thiserror::Error)]
pub enum ImageIoError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not an image in a supported format (png, jpeg, bmp, tiff, webp)", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: image is {width}x{height}, over the decode limit of {max_width}x{max_height} pixels (raise it with --max-dimension)", path.display())]
    TooLarge { path: PathBuf, width: u32, height: u32, max_width: u32, max_height: u32 },
    #[error("{}: decoding needs more memory than the limit of {max_alloc} bytes (raise it with --max-alloc-mb)", path.display())]
    OverAllocationLimit { path: PathBuf, max_alloc: u64 },
    #[error("{}: the input is over the limit of {max_alloc} bytes (raise it with --max-alloc-mb)", path.display())]
    InputTooLarge { path: PathBuf, max_alloc: u64 },
    #[error("{}: corrupt or truncated image: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{}: unsupported image: {message}", path.display())]
    Unsupported { path: PathBuf, message: String },
    #[error("{}: cannot encode: {message}", path.display())]
    Encode { path: PathBuf, message: String },
    #[error("{}: folder not found", path.display())]
    MissingFolder { path: PathBuf },
    #[error("{}: no image files (png, jpg, bmp, tif, webp) in this folder", path.display())]
    EmptyFolder { path: PathBuf },
}

/// Decoding limits (image-rs `Limits`): width and height are strict, the allocation limit
/// bounds the decoder's buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    /// 20000×20000 pixels and 2 GiB: room for large photos, not for decompression bombs.
    fn default() -> Self {
        DecodeLimits { max_width: 20_000, max_height: 20_000, max_alloc: 2 << 30 }
    }
}

/// Channel layout of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::GrayAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
    pub fn has_alpha(self) -> bool {
        matches!(self, Layout::GrayAlpha | Layout::Rgba)
    }
    /// Number of colour channels (1 or 3), alpha excluded.
    pub fn color_channels(self) -> usize {
        if matches!(self, Layout::Gray | Layout::GrayAlpha) { 1 } else { 3 }
    }
}

/// Interleaved samples at their native depth.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// A decoded image: interleaved samples, layout, and the ICC profile it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub layout: Layout,
    pub samples: Samples,
    pub icc_profile: Option<Vec<u8>>,
}

impl Image {
    pub fn from_u8(width: usize, height: usize, layout: Layout, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width * height * layout.channels());
        Image { width, height, layout, samples: Samples::U8(data), icc_profile: None }
    }

    pub fn from_u16(width: usize, height: usize, layout: Layout, data: Vec<u16>) -> Self {
        assert_eq!(data.len(), width * height * layout.channels());
        Image { width, height, layout, samples: Samples::U16(data), icc_profile: None }
    }

    /// An 8-bit gray or RGB image from one or three planes.
    pub fn from_planes_u8(planes: &[Plane<u8>]) -> Self {
        let layout = match planes.len() {
            1 => Layout::Gray,
            2 => Layout::GrayAlpha,
            3 => Layout::Rgb,
            4 => Layout::Rgba,
            n => panic!("{n} planes do not make an image"),
        };
        let (w, h) = (planes[0].width, planes[0].height);
        let mut data = Vec::with_capacity(w * h * planes.len());
        for i in 0..w * h {
            data.extend(planes.iter().map(|p| p.data[i]));
        }
        Image::from_u8(w, h, layout, data)
    }

    pub fn is_16bit(&self) -> bool {
        matches!(self.samples, Samples::U16(_))
    }

    /// Largest sample value (255 or 65535).
    pub fn max_value(&self) -> f64 {
        if self.is_16bit() { 65535.0 } else { 255.0 }
    }

    /// Channel `c` as f64 at its native scale (0..255 or 0..65535).
    pub fn plane_f64(&self, c: usize) -> Plane<f64> {
        let n = self.layout.channels();
        assert!(c < n);
        let data = match &self.samples {
            Samples::U8(d) => d.iter().skip(c).step_by(n).map(|&v| f64::from(v)).collect(),
            Samples::U16(d) => d.iter().skip(c).step_by(n).map(|&v| f64::from(v)).collect(),
        };
        Plane::new(self.width, self.height, data)
    }

    /// Channel `c` as 8 bit (16-bit data converted as MATLAB `im2uint8`).
    pub fn plane_u8(&self, c: usize) -> Plane<u8> {
        let n = self.layout.channels();
        assert!(c < n);
        let data = match &self.samples {
            Samples::U8(d) => d.iter().skip(c).step_by(n).copied().collect(),
            Samples::U16(d) => d.iter().skip(c).step_by(n).map(|&v| crate::color::saturate_u8(f64::from(v) / 257.0)).collect(),
        };
        Plane::new(self.width, self.height, data)
    }

    /// The colour planes as 8 bit RGB; a gray image is replicated to three channels.
    pub fn rgb_u8(&self) -> [Plane<u8>; 3] {
        if self.layout.color_channels() == 1 {
            let g = self.plane_u8(0);
            [g.clone(), g.clone(), g]
        } else {
            std::array::from_fn(|c| self.plane_u8(c))
        }
    }
}

fn classify(path: &Path, err: image::ImageError, limits: &DecodeLimits) -> ImageIoError {
    use image::ImageError as E;
    let path = path.to_path_buf();
    match err {
        E::Limits(_) => ImageIoError::OverAllocationLimit { path, max_alloc: limits.max_alloc },
        E::Unsupported(e) => match e.kind() {
            image::error::UnsupportedErrorKind::Format(_) => ImageIoError::UnknownFormat { path },
            _ => ImageIoError::Unsupported { path, message: e.to_string() },
        },
        E::IoError(e) => ImageIoError::Corrupt { path, message: e.to_string() },
        other => ImageIoError::Corrupt { path, message: other.to_string() },
    }
}

/// Reads and decodes an image file under `limits`.
pub fn open(path: &Path, limits: &DecodeLimits) -> Result<Image, ImageIoError> {
    let file = std::fs::File::open(path).map_err(|source| ImageIoError::Io { path: path.to_path_buf(), source })?;
    let bytes = read_limited(file, path, limits)?;
    decode(&bytes, path, limits)
}

/// Reads a whole file or stream (standard input) into memory, refusing one larger than the
/// allocation limit instead of growing without bound.
pub fn read_limited(reader: impl std::io::Read, name: &Path, limits: &DecodeLimits) -> Result<Vec<u8>, ImageIoError> {
    let mut bytes = Vec::new();
    reader.take(limits.max_alloc.saturating_add(1)).read_to_end(&mut bytes).map_err(|source| ImageIoError::Io { path: name.to_path_buf(), source })?;
    if bytes.len() as u64 > limits.max_alloc {
        return Err(ImageIoError::InputTooLarge { path: name.to_path_buf(), max_alloc: limits.max_alloc });
    }
    Ok(bytes)
}

/// A JPEG's entropy-coded data cannot hold the end-of-image marker (0xFF is stuffed), so a
/// complete file has one after its last start-of-scan; the decoder itself fills missing rows
/// with grey instead of failing.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    last_scan.is_some_and(|at| bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// Decodes an in-memory image; `name` is used in errors (a path, or "<stdin>").
pub fn decode(bytes: &[u8], name: &Path, limits: &DecodeLimits) -> Result<Image, ImageIoError> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|source| ImageIoError::Io { path: name.to_path_buf(), source })?;
    match reader.format() {
        None => return Err(ImageIoError::UnknownFormat { path: name.to_path_buf() }),
        Some(image::ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            return Err(ImageIoError::Corrupt { path: name.to_path_buf(), message: "the JPEG data ends before its end-of-image marker".into() });
        }
        Some(_) => {}
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc);
    let mut decoder = reader.into_decoder().map_err(|e| classify(name, e, limits))?;
    let (width, height) = decoder.dimensions();
    if width > limits.max_width || height > limits.max_height {
        return Err(ImageIoError::TooLarge { path: name.to_path_buf(), width, height, max_width: limits.max_width, max_height: limits.max_height });
    }
    // `ImageReader::decode` reserves the decoded size against the limit; decoding through
    // `from_decoder` must do it itself.
    image_limits.reserve(decoder.total_bytes()).map_err(|e| classify(name, e, limits))?;
    decoder.set_limits(image_limits).map_err(|e| classify(name, e, limits))?;
    let icc_profile = decoder.icc_profile().ok().flatten();
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut dynamic = DynamicImage::from_decoder(decoder).map_err(|e| classify(name, e, limits))?;
    dynamic.apply_orientation(orientation);
    let (w, h) = (dynamic.width() as usize, dynamic.height() as usize);
    let mut image = match dynamic {
        DynamicImage::ImageLuma8(b) => Image::from_u8(w, h, Layout::Gray, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => Image::from_u8(w, h, Layout::GrayAlpha, b.into_raw()),
        DynamicImage::ImageRgb8(b) => Image::from_u8(w, h, Layout::Rgb, b.into_raw()),
        DynamicImage::ImageRgba8(b) => Image::from_u8(w, h, Layout::Rgba, b.into_raw()),
        DynamicImage::ImageLuma16(b) => Image::from_u16(w, h, Layout::Gray, b.into_raw()),
        DynamicImage::ImageLumaA16(b) => Image::from_u16(w, h, Layout::GrayAlpha, b.into_raw()),
        DynamicImage::ImageRgb16(b) => Image::from_u16(w, h, Layout::Rgb, b.into_raw()),
        DynamicImage::ImageRgba16(b) => Image::from_u16(w, h, Layout::Rgba, b.into_raw()),
        // Float images (TIFF) are kept at 16 bit, the deepest integer depth we write.
        other if other.color().has_alpha() => Image::from_u16(w, h, Layout::Rgba, other.into_rgba16().into_raw()),
        other => Image::from_u16(w, h, Layout::Rgb, other.into_rgb16().into_raw()),
    };
    image.icc_profile = icc_profile;
    Ok(image)
}

/// Output file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Jpeg,
    Webp,
    Tiff,
}

impl OutputFormat {
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "png" => OutputFormat::Png,
            "jpg" | "jpeg" => OutputFormat::Jpeg,
            "webp" => OutputFormat::Webp,
            "tif" | "tiff" => OutputFormat::Tiff,
            _ => return None,
        })
    }

    /// The format of encoded `bytes` if sisr writes it (PNG, JPEG, WebP, TIFF; not BMP).
    pub fn of_bytes(bytes: &[u8]) -> Option<Self> {
        Some(match image::guess_format(bytes).ok()? {
            image::ImageFormat::Png => OutputFormat::Png,
            image::ImageFormat::Jpeg => OutputFormat::Jpeg,
            image::ImageFormat::WebP => OutputFormat::Webp,
            image::ImageFormat::Tiff => OutputFormat::Tiff,
            _ => return None,
        })
    }

    /// The MIME type of the format.
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Webp => "image/webp",
            OutputFormat::Tiff => "image/tiff",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Webp => "webp",
            OutputFormat::Tiff => "tif",
        }
    }
}

fn color_type(layout: Layout, sixteen: bool) -> image::ExtendedColorType {
    use image::ExtendedColorType as C;
    match (layout, sixteen) {
        (Layout::Gray, false) => C::L8,
        (Layout::GrayAlpha, false) => C::La8,
        (Layout::Rgb, false) => C::Rgb8,
        (Layout::Rgba, false) => C::Rgba8,
        (Layout::Gray, true) => C::L16,
        (Layout::GrayAlpha, true) => C::La16,
        (Layout::Rgb, true) => C::Rgb16,
        (Layout::Rgba, true) => C::Rgba16,
    }
}

/// Encodes an image. JPEG and WebP store 8 bit only (16-bit data is reduced); JPEG has no
/// alpha channel, so an image with alpha is refused rather than silently flattened.
pub fn encode(image: &Image, format: OutputFormat, name: &Path) -> Result<Vec<u8>, ImageIoError> {
    let err = |message: String| ImageIoError::Encode { path: name.to_path_buf(), message };
    let eight_bit_only = matches!(format, OutputFormat::Jpeg | OutputFormat::Webp);
    if format == OutputFormat::Jpeg && image.layout.has_alpha() {
        return Err(err("JPEG cannot store the alpha channel; write png, webp or tiff instead".into()));
    }
    let reduced;
    let image = if eight_bit_only && image.is_16bit() {
        let planes: Vec<Plane<u8>> = (0..image.layout.channels()).map(|c| image.plane_u8(c)).collect();
        reduced = Image { icc_profile: image.icc_profile.clone(), ..Image::from_planes_u8(&planes) };
        &reduced
    } else {
        image
    };
    let bytes: Vec<u8> = match &image.samples {
        Samples::U8(d) => d.clone(),
        // The encoders take native-endian bytes for 16-bit data.
        Samples::U16(d) => d.iter().flat_map(|v| v.to_ne_bytes()).collect(),
    };
    let (w, h) = (image.width as u32, image.height as u32);
    let ct = color_type(image.layout, image.is_16bit());
    let mut out = Vec::new();
    macro_rules! write_with {
        ($enc:expr) => {{
            let mut enc = $enc;
            if let Some(icc) = &image.icc_profile {
                // Formats without ICC support drop the profile rather than fail.
                let _ = enc.set_icc_profile(icc.clone());
            }
            enc.write_image(&bytes, w, h, ct).map_err(|e| err(e.to_string()))?;
        }};
    }
    match format {
        OutputFormat::Png => write_with!(image::codecs::png::PngEncoder::new(&mut out)),
        OutputFormat::Jpeg => write_with!(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)),
        OutputFormat::Webp => write_with!(image::codecs::webp::WebPEncoder::new_lossless(&mut out)),
        OutputFormat::Tiff => {
            let mut cursor = Cursor::new(&mut out);
            write_with!(image::codecs::tiff::TiffEncoder::new(&mut cursor))
        }
    }
    Ok(out)
}

/// Name prefix and suffix of the temporary file of an unfinished [`write_atomic`].
pub const PARTIAL_PREFIX: &str = ".sisr-";
pub const PARTIAL_SUFFIX: &str = ".part";

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then
/// renamed over the destination, so a reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(PARTIAL_PREFIX).suffix(PARTIAL_SUFFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // Temporary files are created 0600; the result is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    crate::pause::point("atomic-write");
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Encodes and writes an image atomically; the format follows the file extension.
pub fn save(image: &Image, path: &Path) -> Result<(), ImageIoError> {
    let format = OutputFormat::from_extension(path)
        .ok_or_else(|| ImageIoError::Encode { path: path.to_path_buf(), message: "unknown output extension (use png, jpg, webp or tif)".into() })?;
    let bytes = encode(image, format, path)?;
    write_atomic(path, &bytes).map_err(|source| ImageIoError::Io { path: path.to_path_buf(), source })
}

pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The image files of a folder (not recursive), sorted by name. A missing folder or one
/// without images is an error naming it.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, ImageIoError> {
    if !dir.is_dir() {
        return Err(ImageIoError::MissingFolder { path: dir.to_path_buf() });
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ImageIoError::Io { path: dir.to_path_buf(), source })?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_image_path(p)).collect();
    files.sort();
    if files.is_empty() {
        return Err(ImageIoError::EmptyFolder { path: dir.to_path_buf() });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_rgb() -> Image {
        Image::from_u8(5, 3, Layout::Rgb, (0..45).map(|v| (v * 5) as u8).collect())
    }

    #[test]
    fn png_round_trip_keeps_depth_layout_and_icc() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image::from_u16(4, 2, Layout::GrayAlpha, (0..16).map(|v| v * 4000 + 7).collect());
        img.icc_profile = Some(b"not a real profile but carried as bytes".to_vec());
        let path = dir.path().join("a.png");
        save(&img, &path).unwrap();
        let back = open(&path, &DecodeLimits::default()).unwrap();
        assert_eq!(back, img);
    }

    #[test]
    fn truncated_png_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode(&sample_rgb(), OutputFormat::Png, Path::new("x")).unwrap();
        let path = dir.path().join("cut.png");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = open(&path, &DecodeLimits::default()).unwrap_err();
        assert!(matches!(e, ImageIoError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("cut.png"));
    }

    #[test]
    fn a_truncated_file_is_an_error_in_every_format() {
        // Noise, so that every format's compressed stream spans the whole image.
        let mut state = 12345u32;
        let data: Vec<u8> = (0..64 * 48 * 3)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        let image = Image::from_u8(64, 48, Layout::Rgb, data);
        let mut bmp = Vec::new();
        image::codecs::bmp::BmpEncoder::new(&mut bmp)
            .encode(
                match &image.samples {
                    Samples::U8(d) => d,
                    Samples::U16(_) => unreachable!(),
                },
                64,
                48,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let mut files = vec![("bmp", bmp)];
        for f in [OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp, OutputFormat::Tiff] {
            files.push((f.extension(), encode(&image, f, Path::new("x")).unwrap()));
        }
        for (ext, bytes) in files {
            assert!(decode(&bytes, Path::new("whole"), &DecodeLimits::default()).is_ok(), "{ext}");
            // A JPEG cut just before its end marker may have lost entropy data: refused too.
            let last = if ext == "jpg" { bytes.len() - 2 } else { bytes.len() / 2 };
            for keep in [bytes.len() / 2, bytes.len() * 3 / 4, last] {
                let name = format!("cut.{ext}");
                match decode(&bytes[..keep], Path::new(&name), &DecodeLimits::default()) {
                    Ok(_) => panic!("{ext} cut to {keep} of {} bytes was accepted", bytes.len()),
                    Err(e) => assert!(e.to_string().contains(&name), "{e}"),
                }
            }
        }
    }

    #[test]
    fn reading_stops_at_the_allocation_limit() {
        let limits = DecodeLimits { max_alloc: 1000, ..DecodeLimits::default() };
        let endless = std::io::repeat(7);
        let e = read_limited(endless, Path::new("<stdin>"), &limits).unwrap_err();
        assert!(matches!(e, ImageIoError::InputTooLarge { max_alloc: 1000, .. }), "{e:?}");
        assert_eq!(read_limited(&[1u8; 1000][..], Path::new("x"), &limits).unwrap().len(), 1000);
        // The decoded size counts too: the 5×3 RGB sample needs 45 bytes.
        let bytes = encode(&sample_rgb(), OutputFormat::Png, Path::new("x")).unwrap();
        let tight = DecodeLimits { max_alloc: 44, ..DecodeLimits::default() };
        assert!(matches!(decode(&bytes, Path::new("x.png"), &tight), Err(ImageIoError::OverAllocationLimit { .. })));
    }

    #[test]
    fn dimensions_over_the_limit_are_refused_before_decoding() {
        let bytes = encode(&sample_rgb(), OutputFormat::Png, Path::new("x")).unwrap();
        let limits = DecodeLimits { max_width: 4, ..DecodeLimits::default() };
        let e = decode(&bytes, Path::new("wide.png"), &limits).unwrap_err();
        assert!(matches!(e, ImageIoError::TooLarge { width: 5, height: 3, .. }), "{e:?}");
    }

    #[test]
    fn text_is_not_an_image() {
        let e = decode(b"hello, I am text", Path::new("t.png"), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(e, ImageIoError::UnknownFormat { .. }), "{e:?}");
    }

    #[test]
    fn jpeg_refuses_alpha_and_reduces_16_bit() {
        let rgba = Image::from_u8(2, 2, Layout::Rgba, vec![9; 16]);
        assert!(encode(&rgba, OutputFormat::Jpeg, Path::new("a.jpg")).is_err());
        let deep = Image::from_u16(8, 8, Layout::Rgb, vec![65535; 192]);
        let bytes = encode(&deep, OutputFormat::Jpeg, Path::new("a.jpg")).unwrap();
        let back = decode(&bytes, Path::new("a.jpg"), &DecodeLimits::default()).unwrap();
        assert!(!back.is_16bit());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn folder_listing_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(list_images(dir.path()), Err(ImageIoError::EmptyFolder { .. })));
        assert!(matches!(list_images(&dir.path().join("nope")), Err(ImageIoError::MissingFolder { .. })));
    }
}
