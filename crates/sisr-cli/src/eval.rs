//! `sisr eval`: per-image and mean PSNR/SSIM as the papers' tables.

use crate::context::{Globals, LimitArgs};
use anyhow::{Result, bail};
use serde::Serialize;
use sisr::models::ModelKind;
use sisr::weights::WeightsFile;
use sisr_image::protocol::{Protocol, Sources};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model to evaluate (`bicubic` is the MATLAB bicubic baseline). With --weights it is
    /// read from the file's header when not given.
    #[arg(long, value_parser = crate::context::model_parser())]
    pub(crate) model: Option<ModelKind>,
    /// Trained weights (safetensors; sisr's own or the DCSCN authors' layout). Default: the
    /// shipped model of --model at --scale. With --table, extra rows (repeatable).
    #[arg(long)]
    pub(crate) weights: Vec<PathBuf>,
    /// Average the outputs of the 8 dihedral transforms (self-ensemble, "+").
    #[arg(long)]
    pub(crate) ensemble: bool,
    /// Upscaling factor.
    #[arg(long, required_unless_present = "table")]
    pub(crate) scale: Option<usize>,
    /// Folder of HR ground-truth images (with --table: several).
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) dataset: Vec<PathBuf>,
    /// The results table: bicubic, every shipped model and every --weights file at --scales
    /// on every --dataset, beside the papers' published numbers; markdown, or JSON with --json.
    #[arg(long, conflicts_with_all = ["model", "lr", "sr", "ensemble", "scale"])]
    pub(crate) table: bool,
    /// Scales of the table.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 3, 4], requires = "table")]
    pub(crate) scales: Vec<usize>,
    /// With --table: keep the rows of this results file whose weights (sha256), scale,
    /// protocol and datasets are unchanged, measure the rest, and write the new table to it.
    #[arg(long, requires = "table")]
    pub(crate) update: Option<PathBuf>,
    /// Evaluation protocol (default: the one of the model's paper).
    #[arg(long, value_parser = crate::context::protocol_parser())]
    pub(crate) protocol: Option<Protocol>,
    /// Folder of ready LR inputs named like the HR files (default: made with MATLAB bicubic).
    #[arg(long)]
    pub(crate) lr: Option<PathBuf>,
    /// Folder of existing SR outputs named like the HR files: score them, run no model.
    #[arg(long, conflicts_with = "lr")]
    pub(crate) sr: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Number format of the network's convolutions between feature maps (f32 accumulation;
    /// image-facing layers and skip connections stay f32).
    #[arg(long, default_value = "f32", value_parser = crate::context::precision_parser(), conflicts_with = "table")]
    pub(crate) precision: sisr::Precision,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Serialize)]
struct ImageJson {
    name: String,
    #[serde(serialize_with = "psnr_json")]
    psnr: f64,
    ssim: f64,
}

#[derive(Serialize)]
struct EvalJson {
    model: String,
    scale: usize,
    protocol: &'static str,
    ensemble: bool,
    precision: &'static str,
    dataset: String,
    #[serde(serialize_with = "psnr_json")]
    psnr: f64,
    ssim: f64,
    images: Vec<ImageJson>,
}

/// JSON has no infinity: identical images (PSNR = +inf) are written as the string "inf".
fn psnr_json<S: serde::Serializer>(psnr: &f64, s: S) -> Result<S::Ok, S::Error> {
    if psnr.is_finite() { s.serialize_f64(*psnr) } else { s.serialize_str(if *psnr > 0.0 { "inf" } else { "nan" }) }
}

pub fn run(args: EvalArgs, ctx: &Globals) -> Result<ExitCode> {
    if args.table {
        return crate::table::run(&args, ctx);
    }
    let scale = args.scale.expect("clap requires --scale without --table");
    let [dataset] = args.dataset.as_slice() else { bail!("one --dataset at a time (several with --table)") };
    if args.weights.len() > 1 {
        bail!("one --weights file at a time (several with --table)");
    }
    if !(2..=8).contains(&scale) {
        bail!("--scale {scale} is not supported (2 to 8)");
    }
    let requested = args.model;
    let device = ctx.device.clone();
    let network = match args.weights.first() {
        Some(path) => {
            let file = WeightsFile::read(path)?;
            let kind = match requested {
                Some(k) => k,
                None => file.model()?.0,
            };
            Some(file.into_network(Some((kind, scale)), &device)?.0)
        }
        None => match requested.unwrap_or(ModelKind::Bicubic) {
            ModelKind::Bicubic => None,
            kind => Some(sisr::zoo::load(kind, scale, &device)?.0),
        },
    };
    let kind = network.as_ref().map_or(ModelKind::Bicubic, |n| n.kind);
    let network = match network {
        Some(n) => Some(n.with_precision(args.precision)),
        None => {
            args.precision.for_bicubic().map_err(anyhow::Error::msg)?;
            None
        }
    };
    if let Some(notice) = args.precision.notice() {
        eprintln!("note: {notice}");
    }
    if !kind.scales().contains(&scale) {
        bail!("{kind} does not support x{scale} (supported: {:?})", kind.scales());
    }
    let protocol = args.protocol.unwrap_or(kind.default_protocol());
    let model_name = if args.sr.is_some() { "sr-folder".to_string() } else { kind.name().to_string() };
    let sources = Sources { lr_dir: args.lr.clone(), sr_dir: args.sr.clone() };
    let json = args.json;
    let ensemble = args.ensemble;
    let result = sisr::infer::evaluate(network.as_ref(), dataset, scale, protocol, &sources, &args.limits.limits(), ensemble, &device, |s| {
        if !json {
            println!("{:<24} {:>8.4} dB  {:.4}", s.name, s.psnr, s.ssim);
        }
    })?;
    if json {
        let out = EvalJson {
            model: model_name,
            scale,
            protocol: protocol.name(),
            ensemble,
            precision: args.precision.name(),
            dataset: dataset.display().to_string(),
            psnr: result.psnr,
            ssim: result.ssim,
            images: result.images.into_iter().map(|i| ImageJson { name: i.name, psnr: i.psnr, ssim: i.ssim }).collect(),
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let precision = if args.precision == sisr::Precision::F32 { String::new() } else { format!(" in {}", args.precision) };
        println!("{:<24} {:>8.2} dB  {:.4}   ({model_name}{precision}, x{scale}, protocol {})", "mean", result.psnr, result.ssim, protocol.name());
    }
    Ok(ExitCode::SUCCESS)
}
