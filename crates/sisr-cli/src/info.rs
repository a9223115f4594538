//! `sisr info`: parameters and multiply-adds counted from the built networks.

use crate::context::Globals;
use anyhow::{Result, bail};
use sisr::complexity::Complexity;
use sisr::models::ModelKind;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Model name (see `--all` for the list).
    #[arg(long, required_unless_present = "all", value_parser = crate::context::model_parser())]
    model: Option<ModelKind>,
    /// Upscaling factor.
    #[arg(long, required_unless_present = "all")]
    scale: Option<usize>,
    /// Every model at every scale.
    #[arg(long)]
    all: bool,
    /// JSON on stdout (an object, or an array with --all).
    #[arg(long)]
    json: bool,
}

fn complexity(kind: ModelKind, scale: usize, device: &sisr::Device) -> Result<Complexity> {
    if !kind.scales().contains(&scale) {
        bail!("{kind} does not support x{scale} (supported: {:?})", kind.scales());
    }
    match kind.build(scale, device) {
        Some(net) => Ok(net.complexity()),
        None => Ok(Complexity::new(kind.name(), scale, 0, Default::default())),
    }
}

pub fn run(args: InfoArgs, ctx: &Globals) -> Result<ExitCode> {
    let rows: Vec<Complexity> = if args.all {
        ModelKind::ALL.into_iter().filter(|k| *k != ModelKind::Bicubic).flat_map(|k| [2, 3, 4].map(|s| complexity(k, s, &ctx.device))).collect::<Result<_>>()?
    } else {
        let kind = args.model.expect("required unless --all");
        vec![complexity(kind, args.scale.unwrap_or_default(), &ctx.device)?]
    };
    if args.json {
        if args.all {
            println!("{}", serde_json::to_string(&rows)?);
        } else {
            println!("{}", serde_json::to_string(&rows[0])?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:>2} {:>12} {:>12} {:>11} {:>12} {:>11} {:>10}",
        "model", "s", "params", "MAC/LR px", "MAC/HR px", "cplx/LR px", "cplx/HR px", "GMAC@720p"
    );
    for r in rows {
        println!(
            "{:<14} {:>2} {:>12} {:>12} {:>11} {:>12} {:>11} {:>10.2}",
            r.model, r.scale, r.params, r.macs_per_lr_pixel, r.macs_per_hr_pixel, r.table3.per_lr_pixel, r.table3.per_hr_pixel, r.gmacs_720p
        );
    }
    Ok(ExitCode::SUCCESS)
}
