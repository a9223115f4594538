//! `sisr upscale`: files, folders or stdin in; atomic outputs; one bad file never stops a batch.

use crate::LimitArgs;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sisr::models::ModelKind;
use sisr::upscale::{upscale_image, UpscaleOptions, Upscaler};
use sisr::zoo;
use sisr_image::io::{self, is_image_path, OutputFormat};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct UpscaleArgs {
    /// Image files, folders, or `-` for standard input.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file (one input), folder, or `-` for standard output. Default: next to each
    /// input as NAME_xS.EXT (folders: a sibling folder NAME_xS).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Model: `bicubic`, or a model with shipped weights (`sisr models` lists them); default:
    /// the shipped dcscn at --scale.
    #[arg(long)]
    model: Option<String>,
    /// Trained weights (safetensors); the model and scale are read from the file.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Upscaling factor (default 2, or the --weights file's).
    #[arg(long)]
    scale: Option<usize>,
    /// LR tile side in pixels (tiles overlap by the network's receptive radius); 0 = whole image.
    #[arg(long, default_value_t = 256)]
    tile: usize,
    /// Average the 8 dihedral transforms (self-ensemble; 8x slower).
    #[arg(long)]
    ensemble: bool,
    /// Replace outputs that already exist (default: skip them).
    #[arg(long)]
    overwrite: bool,
    /// Output format (default: the input's, or png when it cannot hold the image).
    #[arg(long, value_parser = ["png", "jpg", "jpeg", "webp", "tif", "tiff"])]
    format: Option<String>,
    /// Compute threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Process only shard I of N (1 ≤ I ≤ N) of the sorted inputs, e.g. `--shard 2/4`.
    #[arg(long)]
    shard: Option<String>,
    /// Descend into sub-folders of folder inputs.
    #[arg(short, long)]
    recursive: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

fn load_upscaler(args: &UpscaleArgs) -> Result<(Upscaler, String)> {
    let requested = match &args.model {
        Some(name) => Some(ModelKind::parse(name).with_context(|| format!("unknown --model {name:?} (known: {})", crate::info::names()))?),
        None => None,
    };
    Ok(zoo::upscaler(requested, args.scale, args.weights.as_deref(), &crate::device())?)
}

fn collect_folder(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read the folder", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && recursive {
            collect_folder(&p, recursive, out)?;
        } else if p.is_file() && is_image_path(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// (input, output) pairs for every input image.
fn plan(args: &UpscaleArgs, scale: usize) -> Result<Vec<(PathBuf, PathBuf)>> {
    let suffix = format!("_x{scale}");
    let forced = args.format.as_deref().map(|f| OutputFormat::from_extension(Path::new(&format!("x.{f}"))).expect("validated by clap"));
    let with_format = |p: PathBuf| match forced {
        Some(f) => p.with_extension(f.extension()),
        None => p,
    };
    let single_file_out = args.output.as_ref().filter(|o| args.inputs.len() == 1 && args.inputs[0].is_file() && OutputFormat::from_extension(o).is_some());
    let mut pairs = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            collect_folder(input, args.recursive, &mut files)?;
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
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    pairs.sort();
    if let Some(shard) = &args.shard {
        let (i, n) = shard.split_once('/').and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?))).filter(|&(i, n)| i >= 1 && i <= n).with_context(|| format!("--shard {shard:?} must be I/N with 1 ≤ I ≤ N"))?;
        pairs = pairs.into_iter().enumerate().filter(|(k, _)| k % n == i - 1).map(|(_, p)| p).collect();
    }
    for (input, output) in &pairs {
        if output.canonicalize().ok().is_some_and(|o| input.canonicalize().ok() == Some(o)) || output == input {
            bail!("{}: the output would overwrite the input; choose another -o", input.display());
        }
    }
    Ok(pairs)
}

/// The format to write: the requested one, else the output's extension, falling back to PNG
/// when that format cannot hold the image (alpha in JPEG).
fn output_format(path: &Path, image: &sisr_image::Image, forced: Option<OutputFormat>) -> OutputFormat {
    let f = forced.or_else(|| OutputFormat::from_extension(path)).unwrap_or(OutputFormat::Png);
    if f == OutputFormat::Jpeg && image.layout.has_alpha() && forced.is_none() { OutputFormat::Png } else { f }
}

pub fn run(args: UpscaleArgs) -> Result<ExitCode> {
    if let Some(j) = args.jobs {
        rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global().context("--jobs: cannot set the thread count")?;
    }
    let (upscaler, description) = load_upscaler(&args)?;
    let opts = UpscaleOptions { tile: args.tile, ensemble: args.ensemble };
    let device = crate::device();
    let limits = args.limits.limits();
    let forced = args.format.as_deref().and_then(|f| OutputFormat::from_extension(Path::new(&format!("x.{f}"))));

    if args.inputs.len() == 1 && args.inputs[0] == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("<stdin>: cannot read")?;
        let image = io::decode(&bytes, Path::new("<stdin>"), &limits)?;
        let hr = upscale_image(&upscaler, &image, &opts, &device, |_, _| {});
        let target = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
        if target == Path::new("-") {
            let encoded = io::encode(&hr, forced.unwrap_or(OutputFormat::Png), Path::new("<stdout>"))?;
            std::io::stdout().write_all(&encoded).context("<stdout>: cannot write")?;
        } else {
            let f = output_format(&target, &hr, forced);
            io::write_atomic(&target, &io::encode(&hr, f, &target)?).with_context(|| format!("{}: cannot write", target.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let pairs = plan(&args, upscaler.scale())?;
    eprintln!("upscaling {} image(s) with {description}", pairs.len());
    let bar = ProgressBar::new(pairs.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg} [{elapsed_precise} < {eta_precise}]")?);
    let (mut written, mut skipped, mut failed) = (0, 0, 0);
    for (input, output) in &pairs {
        bar.set_message(input.display().to_string());
        if output.exists() && !args.overwrite {
            skipped += 1;
            bar.inc(1);
            continue;
        }
        let result = (|| -> Result<()> {
            let image = io::open(input, &limits)?;
            let hr = upscale_image(&upscaler, &image, &opts, &device, |_, _| {});
            if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
            }
            let f = output_format(output, &hr, forced);
            let path = if OutputFormat::from_extension(output) == Some(f) { output.clone() } else { output.with_extension(f.extension()) };
            io::write_atomic(&path, &io::encode(&hr, f, &path)?).with_context(|| format!("{}: cannot write", path.display()))?;
            Ok(())
        })();
        match result {
            Ok(()) => written += 1,
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("error: {e:#}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("{written} written, {skipped} skipped (already there; --overwrite to redo), {failed} failed");
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
