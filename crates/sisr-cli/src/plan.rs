//! Where `sisr upscale` writes: output names for files, folders and formats, checked before
//! anything is written (no output is an input, no two inputs share an output, only regular
//! files are replaced). A library module so that the fuzz target reaches it.

use anyhow::{Context, Result, bail};
use sisr_image::io::{OutputFormat, is_image_path};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What decides the outputs: the command line of `sisr upscale` without the model.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub inputs: Vec<PathBuf>,
    /// `-o`: a file (one input), or a folder.
    pub output: Option<PathBuf>,
    /// `--format`.
    pub format: Option<OutputFormat>,
    pub recursive: bool,
    pub scale: usize,
}

/// Image files under `dir`, sorted. A folder reached again through a symbolic link (a loop,
/// or two links to one folder) is walked once.
fn collect_folder(dir: &Path, recursive: bool, seen: &mut HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<()> {
    let real = dir.canonicalize().with_context(|| format!("{}: cannot read the folder", dir.display()))?;
    if !seen.insert(real) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot read the folder", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && recursive {
            collect_folder(&p, recursive, seen, out)?;
        } else if p.is_file() && is_image_path(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Extensions of image formats sisr does not write: an `-o` ending in one is a mistake, not a
/// folder name.
const UNWRITABLE_IMAGE_EXTENSIONS: &[&str] = &["bmp", "gif", "ico", "avif", "heic", "heif", "jxl", "exr", "hdr", "tga", "qoi", "pnm", "ppm", "pgm", "dds"];

/// A path as the file system resolves it (existing parents resolved, the name kept), so that
/// two spellings of one file compare equal.
pub fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Where a run may write: the planned outputs and the inputs they must never replace.
pub struct Plan {
    pub pairs: Vec<(PathBuf, PathBuf)>,
    pub inputs: HashSet<PathBuf>,
    pub outputs: HashSet<PathBuf>,
}

impl Plan {
    /// Why `path` may not receive `input`'s result (`None`: it may). Only regular files are
    /// ever replaced, and only with `--overwrite`; inputs and the other outputs of the run never.
    pub fn refusal(&self, input: &Path, path: &Path, planned: &Path, overwrite: bool) -> Option<String> {
        let r = resolved(path);
        if self.inputs.contains(&r) {
            return Some(format!("{}: the output would replace an input of this run", path.display()));
        }
        if path != planned && self.outputs.contains(&r) {
            return Some(format!("{}: the output of {} would replace another output of this run", path.display(), input.display()));
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if !m.file_type().is_file() => Some(format!("{}: exists and is not a regular file; sisr only writes regular files", path.display())),
            Ok(_) if !overwrite => Some(format!("{}: already exists (--overwrite replaces it)", path.display())),
            _ => None,
        }
    }
}

/// (input, output) pairs for every input image, checked before anything is written: no output
/// is an input, no two inputs share an output, no output is a special file.
pub fn plan(args: &Request) -> Result<Plan> {
    let suffix = format!("_x{}", args.scale);
    let forced = args.format;
    let with_format = |p: PathBuf| match forced {
        Some(f) => p.with_extension(f.extension()),
        None => p,
    };
    if let Some(o) = &args.output {
        let ext = o.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        if !o.is_dir() && UNWRITABLE_IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            bail!("{}: sisr cannot write .{ext} images; name the output .png, .jpg, .webp or .tif (or give a folder)", o.display());
        }
        match std::fs::metadata(o) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if !m.is_file() => bail!("{}: exists and is not a regular file; sisr only writes regular files", o.display()),
            Ok(_) if OutputFormat::from_extension(o).is_none() => {
                bail!("{}: an existing file that is neither a folder nor a .png, .jpg, .webp or .tif image", o.display())
            }
            _ => {}
        }
    }
    let single_file_out = args.output.as_ref().filter(|o| args.inputs.len() == 1 && args.inputs[0].is_file() && OutputFormat::from_extension(o).is_some());
    let mut pairs = Vec::new();
    let mut seen = HashSet::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            collect_folder(input, args.recursive, &mut seen, &mut files)?;
            if files.is_empty() {
                bail!("{}: no image files in this folder", input.display());
            }
            let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "images".into());
            let out_dir = args.output.clone().unwrap_or_else(|| input.with_file_name(format!("{name}{suffix}")));
            for f in files {
                let rel = f.strip_prefix(input).expect("inside the folder");
                pairs.push((f.clone(), with_format(out_dir.join(rel))));
            }
        } else if input.is_file() {
            let out = match (&args.output, single_file_out) {
                (_, Some(o)) => o.clone(),
                (Some(dir), None) => dir.join(input.file_name().expect("a file name")),
                (None, None) => {
                    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
                    let ext = input.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "png".into());
                    input.with_file_name(format!("{stem}{suffix}.{ext}"))
                }
            };
            pairs.push((input.clone(), if single_file_out.is_some() { out } else { with_format(out) }));
        } else if input.exists() {
            bail!("{}: not a regular file or folder", input.display());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    pairs.sort();
    pairs.dedup_by(|a, b| resolved(&a.0) == resolved(&b.0) && a.1 == b.1);
    let inputs: HashSet<PathBuf> = args.inputs.iter().map(|p| resolved(p)).chain(pairs.iter().map(|(i, _)| resolved(i))).collect();
    let mut owner: HashMap<PathBuf, &Path> = HashMap::new();
    for (input, output) in &pairs {
        let r = resolved(output);
        if inputs.contains(&r) {
            bail!("{}: the output for {} would overwrite an input; choose another -o", output.display(), input.display());
        }
        if let Some(other) = owner.insert(r, input) {
            bail!(
                "{}: both {} and {} would be written here; give them separate output folders (or rename one)",
                output.display(),
                other.display(),
                input.display()
            );
        }
    }
    let outputs = owner.into_keys().collect();
    Ok(Plan { pairs, inputs, outputs })
}

/// The format to write: the requested one, else the output's extension, falling back to PNG
/// when that format cannot hold the image (alpha in JPEG).
pub fn output_format(path: &Path, image: &sisr_image::Image, forced: Option<OutputFormat>) -> OutputFormat {
    let f = forced.or_else(|| OutputFormat::from_extension(path)).unwrap_or(OutputFormat::Png);
    if f == OutputFormat::Jpeg && image.layout.has_alpha() && forced.is_none() { OutputFormat::Png } else { f }
}

/// Fuzzing support: a small folder tree and a request over it, built from arbitrary bytes,
/// and the properties every plan must have. Used by `fuzz/fuzz_targets/plan.rs` and by the
/// test that replays its corpus.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    const NAMES: &[&str] = &["a", "a.b", "b", "c.d", "sub", "a_x2"];
    const EXTENSIONS: &[&str] = &["png", "jpg", "PNG", "jpeg", "bmp", "tif", "webp", "txt", ""];

    fn name(i: u8, e: u8) -> String {
        let (n, e) = (NAMES[i as usize % NAMES.len()], EXTENSIONS[e as usize % EXTENSIONS.len()]);
        if e.is_empty() { n.into() } else { format!("{n}.{e}") }
    }

    /// Interprets `bytes` as steps that make files, folders and symbolic links under `root`
    /// and fill in a [`Request`] over them.
    pub fn build(bytes: &[u8], root: &Path) -> Request {
        let mut dirs = vec![root.to_path_buf()];
        let mut paths: Vec<PathBuf> = vec![root.join("missing.png")];
        let mut request = Request { scale: 2, ..Request::default() };
        for step in bytes.chunks(3) {
            let [op, a, b] = [step[0], *step.get(1).unwrap_or(&0), *step.get(2).unwrap_or(&0)];
            let dir = dirs[a as usize % dirs.len()].clone();
            match op % 7 {
                0 => {
                    let p = dir.join(name(a / 8, b));
                    if std::fs::write(&p, b"x").is_ok() {
                        paths.push(p);
                    }
                }
                1 => {
                    let p = dir.join(name(b, 8));
                    if std::fs::create_dir_all(&p).is_ok() {
                        dirs.push(p.clone());
                        paths.push(p);
                    }
                }
                #[cfg(unix)]
                2 => {
                    let p = dir.join(name(b, 8));
                    let target = &dirs[b as usize % dirs.len()];
                    if std::os::unix::fs::symlink(target, &p).is_ok() {
                        paths.push(p);
                    }
                }
                3 => request.inputs.push(paths[b as usize % paths.len()].clone()),
                4 => {
                    request.output = match b % 4 {
                        0 => None,
                        1 => Some(dir.join(name(a, b / 4))),
                        2 => Some(paths[a as usize % paths.len()].clone()),
                        _ => Some(PathBuf::from("-")),
                    }
                }
                5 => {
                    request.format =
                        [None, Some(OutputFormat::Png), Some(OutputFormat::Jpeg), Some(OutputFormat::Webp), Some(OutputFormat::Tiff)][b as usize % 5];
                    request.recursive = a % 2 == 1;
                }
                _ => request.scale = 2 + (a as usize + b as usize) % 3,
            }
        }
        request
    }

    /// Plans `request` and checks what a plan promises: no panic, no output that is an input,
    /// no output shared by two inputs, every input an existing image file.
    pub fn check(request: &Request) {
        let Ok(plan) = plan(request) else { return };
        let mut seen = HashSet::new();
        for (input, output) in &plan.pairs {
            assert!(input.is_file(), "{} is not a file", input.display());
            let r = resolved(output);
            assert!(!plan.inputs.contains(&r), "{} would replace an input", output.display());
            assert!(resolved(input) != r, "{} is its own output", input.display());
            assert!(seen.insert(r), "{} is planned twice", output.display());
        }
    }
}
