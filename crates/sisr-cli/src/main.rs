//! The `sisr` command: argument parsing, progress and output over the `sisr` libraries.

mod bench;
mod chart;
mod context;
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
    #[arg(long, global = true, default_value = "flex", value_parser = context::backend_parser())]
    backend: sisr::Backend,
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
    let ctx = match context::Globals::new(cli.backend) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Upscale(args) => upscale::run(args, &ctx),
        Command::Eval(args) => eval::run(args, &ctx),
        Command::Degrade(args) => degrade::run(args),
        Command::Info(args) => info::run(args, &ctx),
        Command::Train(args) => train::run(args, &ctx),
        Command::Bench(args) => bench::run(args, &ctx),
        Command::Models(args) => models::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Serve(args) => serve::run(args, &ctx),
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
