//! The `sisr` command: argument parsing, progress and output over the `sisr` libraries.

mod bench;
mod chart;
mod convert;
mod degrade;
mod eval;
mod info;
mod models;
mod serve;
mod shards;
mod table;
mod train;
mod upscale;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "sisr", version, about = "Single-image super-resolution: upscale, evaluate, train, inspect")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Compute backend: flex (pure Rust, CPU), tch or tch-cuda (LibTorch; a `--features tch` build).
    #[arg(long, global = true, default_value = "flex", value_parser = parse_backend)]
    backend: sisr::Backend,
}

fn parse_backend(name: &str) -> Result<sisr::Backend, String> {
    let known = sisr::Backend::ALL.map(|b| b.name()).join(", ");
    sisr::Backend::parse(name).ok_or_else(|| format!("unknown backend {name:?} (known: {known})"))
}

/// `--model NAME`: one of the models' names, listed in `--help` and checked by clap.
pub fn model_parser() -> impl clap::builder::TypedValueParser<Value = sisr::models::ModelKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(sisr::models::ModelKind::ALL.map(|k| k.name()))
        .map(|name| sisr::models::ModelKind::parse(&name).expect("one of the possible values"))
}

static BACKEND: std::sync::OnceLock<sisr::Backend> = std::sync::OnceLock::new();

/// The backend chosen on the command line.
pub fn backend() -> sisr::Backend {
    *BACKEND.get().unwrap_or(&sisr::Backend::Flex)
}

/// The device of the chosen backend (checked in `main` before any command runs).
pub fn device() -> sisr::Device {
    backend().device().expect("checked in main")
}

#[derive(Subcommand)]
enum Command {
    /// Upscale images (files, folders, or stdin) with the shipped model or given weights.
    Upscale(upscale::UpscaleArgs),
    /// Score a model (or a folder of SR outputs) on a folder of HR images, as the papers' tables.
    Eval(eval::EvalArgs),
    /// Write the MATLAB-bicubic LR images of a folder of HR images.
    Degrade(degrade::DegradeArgs),
    /// Parameters and multiply-adds of a model, counted from the built network.
    Info(info::InfoArgs),
    /// Train a model from folders of HR images with a paper's recipe.
    Train(train::TrainArgs),
    /// Time inference and training steps, and measure upscaling memory.
    Bench(bench::BenchArgs),
    /// The shipped models with their scores (and a PSNR-against-parameters chart).
    Models(models::ModelsArgs),
    /// A local web app: upload images, compare before/after, download the results.
    Serve(serve::ServeArgs),
    /// Batch runs across machines: check the manifests of `sisr upscale --shard … -o DIR`.
    Shards(shards::ShardsArgs),
    /// Re-encode a weights file (f16/bf16 storage halves its size; sisr's names and header).
    Convert(convert::ConvertArgs),
}

/// Decode limits shared by every command that reads images.
#[derive(clap::Args, Clone, Copy)]
pub struct LimitArgs {
    /// Largest width or height an input may have (pixels).
    #[arg(long, default_value_t = 20_000)]
    pub max_dimension: u32,
    /// Largest allocation a decoder may make (MiB).
    #[arg(long, default_value_t = 2048)]
    pub max_alloc_mb: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> sisr_image::DecodeLimits {
        sisr_image::DecodeLimits { max_width: self.max_dimension, max_height: self.max_dimension, max_alloc: self.max_alloc_mb << 20 }
    }
}

/// glibc hands large freed blocks back to the kernel at once (blocks above an mmap threshold,
/// at most 32 MiB, and the heap top past a trim threshold), so each layer's new output buffer
/// costs page faults and kernel zeroing again: a quarter of DCSCN's 256² inference time on
/// flex, and a third of its 1280×720 time, whose feature maps are larger than any threshold,
/// on flex and LibTorch. Serve every block from the heap (no mmap) and keep freed memory for
/// reuse. Resident memory stays at the peak until exit.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    if let Err(e) = cli.backend.device() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    BACKEND.set(cli.backend).expect("set once");
    let result = match cli.command {
        Command::Upscale(args) => upscale::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Degrade(args) => degrade::run(args),
        Command::Info(args) => info::run(args),
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Models(args) => models::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Shards(args) => shards::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
