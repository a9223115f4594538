//! `sisr upscale`: files, folders or stdin in; atomic outputs; one bad file never stops a batch.

use crate::context::{Globals, LimitArgs};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sisr::models::ModelKind;
use sisr::upscale::{UpscaleOptions, Upscaler, upscale_image};
use sisr::zoo;
use sisr_cli::plan::{Plan, Request, output_format, plan};
use sisr_cli::shard::{Manifest, Record, Shard, SharedPlan, Status, sha256_file};
use sisr_image::io::{self, OutputFormat};
use std::collections::HashSet;
use std::io::Write;
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
    #[arg(long, value_parser = crate::context::model_parser())]
    model: Option<ModelKind>,
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
    /// Number format of the network's convolutions between feature maps (f32 accumulation;
    /// image-facing layers and skip connections stay f32).
    #[arg(long, default_value = "f32", value_parser = crate::context::precision_parser())]
    precision: sisr::Precision,
    /// Process only shard I of N (1 ≤ I ≤ N) of the sorted inputs, e.g. `--shard 2/4`, or
    /// `auto`: the index and count of a Slurm array job, a Kubernetes Indexed Job (with
    /// --shard-count) or an AWS Batch array job. With `-o DIR`, each shard keeps a manifest
    /// there, so a retried shard redoes only what it had not finished (`sisr shards check DIR`).
    #[arg(long)]
    shard: Option<String>,
    /// The number of shards, where the scheduler gives only the index (Kubernetes).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    shard_count: Option<u32>,
    /// Descend into sub-folders of folder inputs.
    #[arg(short, long)]
    recursive: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

fn load_upscaler(args: &UpscaleArgs, ctx: &Globals) -> Result<(Upscaler, String)> {
    let (upscaler, mut description) = zoo::upscaler(args.model, args.scale, args.weights.as_deref(), &ctx.device)?;
    let upscaler = upscaler.with_precision(args.precision).map_err(anyhow::Error::msg)?;
    if let Some(notice) = args.precision.notice() {
        eprintln!("note: {notice}");
        description = format!("{description} in {}", args.precision);
    }
    Ok((upscaler, description))
}

/// The model's name for manifests.
fn upscaler_name(up: &Upscaler) -> String {
    match up {
        Upscaler::Bicubic { .. } => "bicubic".into(),
        Upscaler::Network(n) => n.kind.name().into(),
    }
}

/// Refuses an image whose result would not fit the memory limit, before any work on it.
fn check_output_size(name: &Path, image: &sisr_image::Image, scale: usize, limits: &LimitArgs) -> Result<()> {
    let bytes = sisr::upscale::result_bytes(image, scale);
    if bytes > limits.max_alloc_mb << 20 {
        bail!(
            "{}: the x{scale} result would be {}x{} ({} MiB), over the --max-alloc-mb limit of {} MiB",
            name.display(),
            image.width * scale,
            image.height * scale,
            bytes >> 20,
            limits.max_alloc_mb
        );
    }
    Ok(())
}

pub fn run(args: UpscaleArgs, ctx: &Globals) -> Result<ExitCode> {
    if let Some(j) = args.jobs {
        rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global().context("--jobs: cannot set the thread count")?;
    }
    let (upscaler, description) = load_upscaler(&args, ctx)?;
    let opts = UpscaleOptions { tile: args.tile, ensemble: args.ensemble };
    let device = ctx.device.clone();
    let limits = args.limits.limits();
    let forced = args.format.as_deref().and_then(|f| OutputFormat::from_extension(Path::new(&format!("x.{f}"))));

    let stdout = args.output.as_deref() == Some(Path::new("-"));
    let stdin = args.inputs.len() == 1 && args.inputs[0] == Path::new("-");
    if stdin || stdout {
        // One image in, one out: standard input and/or output.
        let (name, bytes) = match args.inputs.as_slice() {
            [_] if stdin => (PathBuf::from("<stdin>"), io::read_limited(std::io::stdin().lock(), Path::new("<stdin>"), &limits)?),
            [one] if one.is_file() => {
                (one.clone(), io::read_limited(std::fs::File::open(one).with_context(|| format!("{}: cannot read", one.display()))?, one, &limits)?)
            }
            [one] => bail!("{}: -o - writes one image file to standard output, not a folder", one.display()),
            _ => bail!("-o - writes one image to standard output; give exactly one input"),
        };
        let image = io::decode(&bytes, &name, &limits)?;
        check_output_size(&name, &image, upscaler.scale(), &args.limits)?;
        let hr = upscale_image(&upscaler, &image, &opts, &device, |_, _| {});
        let target = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
        if target == Path::new("-") {
            let f = forced
                .or_else(|| OutputFormat::from_extension(&name).filter(|&f| f != OutputFormat::Jpeg || !hr.layout.has_alpha()))
                .unwrap_or(OutputFormat::Png);
            let encoded = io::encode(&hr, f, Path::new("<stdout>"))?;
            std::io::stdout().write_all(&encoded).context("<stdout>: cannot write")?;
        } else {
            let f = output_format(&target, &hr, forced);
            let plan = Plan { pairs: vec![], inputs: HashSet::new(), outputs: HashSet::new() };
            if let Some(why) = plan.refusal(&name, &target, &target, args.overwrite) {
                bail!(why);
            }
            io::write_atomic(&target, &io::encode(&hr, f, &target)?).with_context(|| format!("{}: cannot write", target.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let request = Request { inputs: args.inputs.clone(), output: args.output.clone(), format: forced, recursive: args.recursive, scale: upscaler.scale() };
    let plan = plan(&request)?;
    let shard = match &args.shard {
        Some(spec) => Some(Shard::parse(spec, args.shard_count.map(|n| n as usize), &|name| std::env::var(name).ok())?),
        None => None,
    };
    let out_dir = args.output.as_ref().filter(|o| o.is_dir() || OutputFormat::from_extension(o).is_none());
    let (mut manifest, plan_hash) = match (shard, out_dir) {
        (Some(shard), Some(dir)) => {
            let options = format!("{description}; tile {}; ensemble {}; format {:?}", args.tile, args.ensemble, args.format);
            let shared = SharedPlan::new(&plan.pairs, options);
            shared.record(dir)?;
            (Some(Manifest::open(dir, shard, &shared.hash)?), shared.hash)
        }
        (Some(_), None) if args.shard.as_deref() == Some("auto") => bail!("--shard auto needs -o DIR: the shards' manifests are kept with the outputs"),
        _ => (None, String::new()),
    };
    let pairs = match shard {
        Some(s) => s.select(&plan.pairs),
        None => plan.pairs.clone(),
    };
    let model_name = upscaler_name(&upscaler);
    let record = |input: &Path, output: &Path, status: Status| Record {
        plan: plan_hash.clone(),
        shard: shard.map_or(0, |s| s.index + 1),
        shards: shard.map_or(1, |s| s.count),
        input: input.display().to_string(),
        output: output.display().to_string(),
        status,
        model: model_name.clone(),
        scale: upscaler.scale(),
        existed: false,
        sha256: None,
        seconds: None,
        error: None,
    };
    if let Some(s) = shard {
        eprintln!("shard {} of {}: {} of {} image(s)", s.index + 1, s.count, pairs.len(), plan.pairs.len());
    }
    eprintln!("upscaling {} image(s) with {description}", pairs.len());
    let bar = ProgressBar::new(pairs.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg} [{elapsed_precise} < {eta_precise}]")?);
    let (mut written, mut skipped, mut failed) = (0, 0, 0);
    for (input, output) in &pairs {
        bar.set_message(input.display().to_string());
        // A retried shard: what its manifest and the output agree are done is skipped, what it
        // had pending is redone (the only files it may replace), a finished write adopted.
        let mut replace = args.overwrite;
        if let Some(m) = manifest.as_mut() {
            match m.last(&input.display().to_string()).cloned() {
                Some(r) if r.status == Status::Done && r.sha256.is_some() && sha256_file(Path::new(&r.output)) == r.sha256 => {
                    skipped += 1;
                    bar.inc(1);
                    continue;
                }
                Some(r) if r.status == Status::Done && Path::new(&r.output).exists() => {
                    failed += 1;
                    bar.suspend(|| eprintln!("error: {}: changed since this shard wrote it; not replaced", r.output));
                    bar.inc(1);
                    continue;
                }
                Some(r) if r.status == Status::Pending && !r.existed && sha256_file(Path::new(&r.output)).is_some() => {
                    let sha256 = sha256_file(Path::new(&r.output));
                    m.append(Record { status: Status::Done, sha256, existed: false, ..r })?;
                    written += 1;
                    bar.inc(1);
                    continue;
                }
                Some(r) if r.status == Status::Pending => replace = true,
                _ => {}
            }
        }
        if std::fs::symlink_metadata(output).is_ok_and(|m| m.file_type().is_file()) && !replace {
            if let Some(m) = manifest.as_mut() {
                m.append(Record { error: Some("the output existed before this run".into()), ..record(input, output, Status::Skipped) })?;
            }
            skipped += 1;
            bar.inc(1);
            continue;
        }
        let started = std::time::Instant::now();
        let result = (|| -> Result<PathBuf> {
            if let Some(why) = plan.refusal(input, output, output, replace) {
                bail!(why);
            }
            let image = io::open(input, &limits)?;
            check_output_size(input, &image, upscaler.scale(), &args.limits)?;
            if args.tile != 0 && upscaler.effective_tile(image.width, image.height, args.tile) != 0 && !upscaler.tiles_exactly() {
                bar.suspend(|| eprintln!("note: {}: over {} LR pixels, so run in tiles, which differ slightly from a whole-image run for this model (--tile 0 runs it whole, with more memory)", input.display(), sisr::upscale::WHOLE_IMAGE_PIXELS));
            }
            // The format (and so the name) is known once the image is: check the final path.
            let f = output_format(output, &image, forced);
            let path = if OutputFormat::from_extension(output) == Some(f) { output.clone() } else { output.with_extension(f.extension()) };
            if path != *output {
                if let Some(why) = plan.refusal(input, &path, output, replace) {
                    bail!(
                        "{why} ({} cannot hold the alpha channel of {}, so its result would be written as {})",
                        output.display(),
                        input.display(),
                        path.display()
                    );
                }
                bar.suspend(|| eprintln!("note: {} has alpha, which JPEG cannot hold: written as {}", input.display(), path.display()));
            }
            let hr = upscale_image(&upscaler, &image, &opts, &device, |_, _| {});
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
            }
            let bytes = io::encode(&hr, f, &path)?;
            if let Some(m) = manifest.as_mut() {
                m.append(Record { existed: path.exists(), ..record(input, &path, Status::Pending) })?;
            }
            io::write_atomic(&path, &bytes).with_context(|| format!("{}: cannot write", path.display()))?;
            sisr_image::pause::point("shard-output");
            Ok(path)
        })();
        match result {
            Ok(path) => {
                written += 1;
                if let Some(m) = manifest.as_mut() {
                    let done = Record { sha256: sha256_file(&path), seconds: Some(started.elapsed().as_secs_f64()), ..record(input, &path, Status::Done) };
                    m.append(done)?;
                }
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("error: {e:#}"));
                if let Some(m) = manifest.as_mut() {
                    m.append(Record { error: Some(format!("{e:#}")), ..record(input, output, Status::Failed) })?;
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("{written} written, {skipped} skipped (already there; --overwrite to redo), {failed} failed");
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
