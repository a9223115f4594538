//! `sisr bench`: inference and training-step times of a model on synthetic data, the rate
//! achieved against the machine's measured fp32 matrix-multiply rate, and (with --memory) the
//! peak memory of a real `sisr upscale` run on a large synthetic picture.

use crate::context::Globals;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use sisr::bench::{Timing, matmul_gflops, synthetic_image, time_forward, time_train_step, time_upscale};
use sisr::models::ModelKind;
use sisr::train::Recipe;
use sisr_image::Layout;
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value = sisr::zoo::DEFAULT_KIND.name(), value_parser = crate::context::model_parser())]
    model: ModelKind,
    #[arg(long, default_value_t = 2)]
    scale: usize,
    /// Output sizes WxH to time inference on (the input is WxH divided by the scale).
    #[arg(long, value_delimiter = ',', default_value = "256x256,1280x720")]
    size: Vec<String>,
    /// LR tile side of the tiled inference timing.
    #[arg(long, default_value_t = 128)]
    tile: usize,
    /// Training batch (default: the paper recipe's).
    #[arg(long)]
    batch: Option<usize>,
    /// Training patch side (default: the paper recipe's).
    #[arg(long)]
    patch: Option<usize>,
    /// Timed runs per figure (the median is reported), after one warm-up run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Skip the inference timings.
    #[arg(long)]
    no_infer: bool,
    /// Skip the training-step timing.
    #[arg(long)]
    no_train: bool,
    /// Time the network alone, not the whole and tiled `upscale` path.
    #[arg(long)]
    network_only: bool,
    /// Number format of the inference timings (training always runs f32).
    #[arg(long, default_value = "f32", value_parser = crate::context::precision_parser())]
    precision: sisr::Precision,
    /// Peak memory of `sisr upscale` (default model) on a synthetic RGB picture of this size, e.g. 6000x4000.
    #[arg(long)]
    memory: Option<String>,
    /// Compute threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Inference {
    size: String,
    network_s: f64,
    upscale_whole_s: Option<f64>,
    upscale_tiled_s: Option<f64>,
    tile: usize,
    /// Output megapixels per second of the whole `upscale` path (of the network alone with
    /// --network-only).
    megapixels_per_s: f64,
    gflops: f64,
    fraction_of_matmul: f64,
}

#[derive(Serialize)]
struct TrainStep {
    batch: usize,
    patch: usize,
    median_s: f64,
    min_s: f64,
    images_per_s: f64,
    gflops: f64,
    fraction_of_matmul: f64,
}

#[derive(Serialize)]
struct Memory {
    size: String,
    peak_rss_mib: f64,
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    scale: usize,
    backend: &'static str,
    /// Of the inference timings.
    precision: &'static str,
    /// Whether that precision runs by rounding f32 data (at f32's speed) on this CPU.
    emulated: bool,
    threads: usize,
    matmul_gflops: f64,
    inference: Vec<Inference>,
    train_step: Option<TrainStep>,
    memory: Option<Memory>,
}

fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (w, h) = s.split_once('x').with_context(|| format!("size {s:?}: expected WxH, e.g. 1280x720"))?;
    let parse = |v: &str| v.parse::<usize>().ok().filter(|&n| n > 0).with_context(|| format!("size {s:?}: {v:?} is not a positive number"));
    Ok((parse(w)?, parse(h)?))
}

pub fn run(args: BenchArgs, ctx: &Globals) -> Result<ExitCode> {
    let kind = args.model;
    if kind == ModelKind::Bicubic || !kind.scales().contains(&args.scale) {
        bail!("{kind} cannot be benchmarked at x{} (networks only; supported scales {:?})", args.scale, kind.scales());
    }
    if let Some(j) = args.jobs {
        rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global().context("--jobs: cannot set the thread count")?;
    }
    let sizes: Vec<(usize, usize)> = args.size.iter().map(|s| parse_size(s)).collect::<Result<_>>()?;
    if let Some(&(w, h)) = sizes.iter().find(|(w, h)| w / args.scale < 4 || h / args.scale < 4) {
        bail!("--size {w}x{h}: the input would be smaller than 4x4 pixels at x{}", args.scale);
    }
    if args.batch == Some(0) || args.patch.is_some_and(|p| p < 4) || args.runs == 0 {
        bail!("--batch and --runs must be at least 1, --patch at least 4");
    }
    let device = ctx.device.clone();
    let peak = matmul_gflops(1024, &device);
    let net = kind.build(args.scale, &device).expect("a network").valid().with_precision(args.precision);
    if let Some(notice) = args.precision.notice().filter(|_| !args.no_infer) {
        eprintln!("{notice}");
    }
    let complexity = net.complexity();
    let flops_per_hr_pixel = 2.0 * complexity.macs_per_hr_pixel as f64;

    let mut inference = Vec::new();
    if !args.no_infer {
        for &(w, h) in &sizes {
            let (lw, lh) = (w / args.scale, h / args.scale);
            let network = time_forward(&net, lw, lh, 1, args.runs, &device);
            let upscale = |tile| (!args.network_only).then(|| time_upscale(&net, w, h, tile, 1, args.runs, &device).median_s);
            let (whole, tiled) = (upscale(0), upscale(args.tile));
            let hr_pixels = (lw * lh * args.scale * args.scale) as f64;
            let gflops = flops_per_hr_pixel * hr_pixels / network.median_s / 1e9;
            inference.push(Inference {
                size: format!("{w}x{h}"),
                network_s: network.median_s,
                upscale_whole_s: whole,
                upscale_tiled_s: tiled,
                tile: args.tile,
                megapixels_per_s: hr_pixels / whole.unwrap_or(network.median_s) / 1e6,
                gflops,
                fraction_of_matmul: gflops / peak,
            });
        }
    }

    let train_step = if args.no_train {
        None
    } else {
        let mut recipe = Recipe::paper(kind).expect("a network (bicubic refused above)");
        recipe.batch = args.batch.unwrap_or(recipe.batch);
        recipe.patch = args.patch.unwrap_or(recipe.patch);
        let t: Timing = time_train_step(kind, args.scale, &recipe, 1, args.runs, &device).expect("a trainable network");
        let hr_side = if kind.takes_lr() { recipe.patch * args.scale } else { recipe.patch };
        // Forward + backward ≈ 3 × the forward's multiply-adds.
        let gflops = 3.0 * flops_per_hr_pixel * (recipe.batch * hr_side * hr_side) as f64 / t.median_s / 1e9;
        Some(TrainStep {
            batch: recipe.batch,
            patch: recipe.patch,
            median_s: t.median_s,
            min_s: t.min_s,
            images_per_s: recipe.batch as f64 / t.median_s,
            gflops,
            fraction_of_matmul: gflops / peak,
        })
    };

    let memory = args.memory.as_deref().map(|size| measure_upscale_memory(size, ctx.backend)).transpose()?;
    let report = Report {
        model: kind.name().into(),
        scale: args.scale,
        backend: ctx.backend.name(),
        precision: args.precision.name(),
        emulated: args.precision.emulated(),
        threads: rayon::current_num_threads(),
        matmul_gflops: peak,
        inference,
        train_step,
        memory,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report) {
    println!(
        "{} x{} on {} ({} threads, inference in {}); fp32 matmul 1024³: {:.1} GFLOP/s",
        r.model, r.scale, r.backend, r.threads, r.precision, r.matmul_gflops
    );
    for i in &r.inference {
        let upscale = match (i.upscale_whole_s, i.upscale_tiled_s) {
            (Some(whole), Some(tiled)) => format!(", upscale whole {whole:.3} s, tiled ({}) {tiled:.3} s", i.tile),
            _ => String::new(),
        };
        println!(
            "inference {:>9} output: network {:.3} s{upscale}; {:.2} MP/s, {:.1} GFLOP/s = {:.0}% of matmul",
            i.size,
            i.network_s,
            i.megapixels_per_s,
            i.gflops,
            100.0 * i.fraction_of_matmul
        );
    }
    if let Some(t) = &r.train_step {
        println!(
            "training step (batch {}, patch {}): {:.3} s (min {:.3}), {:.1} images/s, {:.1} GFLOP/s = {:.0}% of matmul",
            t.batch,
            t.patch,
            t.median_s,
            t.min_s,
            t.images_per_s,
            t.gflops,
            100.0 * t.fraction_of_matmul
        );
    }
    if let Some(m) = &r.memory {
        println!("sisr upscale of a {} RGB picture (default model): peak RSS {:.0} MiB, {:.1} s", m.size, m.peak_rss_mib, m.seconds);
    }
}

/// Runs `sisr upscale` with the default model on a synthetic RGB PNG in a child process and
/// reads the child's peak resident memory from the kernel.
fn measure_upscale_memory(size: &str, backend: sisr::Backend) -> Result<Memory> {
    let (w, h) = parse_size(size)?;
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let input = dir.path().join("input.png");
    sisr_image::io::save(&synthetic_image(w, h, Layout::Rgb, 5), &input)?;
    let output = dir.path().join("output.png");
    let exe = std::env::current_exe().context("cannot find the sisr executable")?;
    let start = Instant::now();
    let status =
        Command::new(exe).arg("--backend").arg(backend.name()).arg("upscale").arg(&input).arg("-o").arg(&output).status().context("cannot run sisr upscale")?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("sisr upscale of the {size} picture failed ({status})");
    }
    Ok(Memory { size: size.into(), peak_rss_mib: children_peak_rss_kib()? / 1024.0, seconds })
}

/// The largest resident set of any finished child process, in KiB (Linux `ru_maxrss`).
fn children_peak_rss_kib() -> Result<f64> {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        bail!("getrusage failed: {}", std::io::Error::last_os_error());
    }
    Ok(usage.ru_maxrss as f64)
}
