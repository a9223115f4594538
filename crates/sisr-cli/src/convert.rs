//! `sisr convert`: a weights file re-encoded in another storage precision, with sisr's
//! tensor names (the DCSCN authors' layout is converted) and its header kept.

use anyhow::{Context, Result, bail};
use sisr::weights::{KEY_SCALES, Metadata, StoreDtype, WeightsFile};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// Weights file to read.
    input: PathBuf,
    /// File to write (atomically; never the input).
    #[arg(short, long)]
    output: PathBuf,
    /// Storage precision: f32 (exact), f16 or bf16 (half the size; the network computes in f32).
    #[arg(long, default_value = "f16", value_parser = ["f32", "f16", "bf16"])]
    dtype: String,
    /// Record every scale the file serves, e.g. `2,3,4` for a GLRL model trained on all three.
    #[arg(long, value_delimiter = ',')]
    scales: Vec<usize>,
    /// Replace the output if it exists.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(args: ConvertArgs) -> Result<ExitCode> {
    let dtype = StoreDtype::parse(&args.dtype).expect("validated by clap");
    let same = |a: &PathBuf, b: &PathBuf| a == b || std::fs::canonicalize(a).ok().is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a));
    if same(&args.input, &args.output) {
        bail!("{}: the output would replace the input; choose another --output", args.output.display());
    }
    if args.output.exists() && !args.overwrite {
        bail!("{}: exists (pass --overwrite to replace it)", args.output.display());
    }
    let mut file = WeightsFile::read(&args.input)?;
    let mut meta = Metadata::new();
    meta.insert("sisr.dtype".into(), dtype.name().into());
    if !args.scales.is_empty() {
        let list: Vec<String> = args.scales.iter().map(|s| s.to_string()).collect();
        file.metadata.insert(KEY_SCALES.into(), list.join(","));
        file.scales()?;
    }
    let bytes = file.to_bytes(dtype, &meta)?;
    // The written file must load as the model it claims to be.
    let check = WeightsFile::parse(&bytes, &args.output)?;
    let (kind, scale) = check.model()?;
    check.into_network(Some((kind, scale)), &sisr::default_device())?;
    sisr_image::io::write_atomic(&args.output, &bytes).with_context(|| format!("{}: cannot write", args.output.display()))?;
    eprintln!("wrote {} ({kind} x{scale}, {}, {} bytes)", args.output.display(), dtype.name(), bytes.len());
    Ok(ExitCode::SUCCESS)
}
