//! `sisr models`: the shipped models with their measured scores, and the complexity chart.

use crate::chart::{ModelPoint, write_complexity_chart};
use anyhow::{Result, bail};
use sisr::models::ModelKind;
use sisr::zoo::{self, Listed, Score};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ModelsArgs {
    /// JSON on stdout: an array with one object per shipped model and scale.
    #[arg(long)]
    json: bool,
    /// Draw Set5 PSNR against parameters (log scale) of every shipped model at --scale, with
    /// the papers' published results, to this PNG file.
    #[arg(long, value_name = "PNG", requires = "scale")]
    chart: Option<PathBuf>,
    /// The scale of the chart.
    #[arg(long)]
    scale: Option<usize>,
}

fn chart(entries: &[Listed], scale: usize, out: &Path) -> Result<()> {
    let mut points: Vec<ModelPoint> = entries
        .iter()
        .filter(|e| e.scale == scale)
        .filter_map(|e| Some(ModelPoint { label: format!("{} (sisr)", e.model), params: e.params, psnr: e.scores.get("set5")?.psnr, measured: true }))
        .collect();
    if points.is_empty() {
        bail!("no shipped model at x{scale} has a Set5 score (shipped: {})", zoo::listing());
    }
    let device = sisr::default_device();
    for p in zoo::published().iter().filter(|p| p.scale == scale) {
        let Some(kind) = p.model.as_deref().and_then(ModelKind::parse) else { continue };
        let (Some(net), Some(set5)) = (kind.build(scale, &device), p.scores.get("set5")) else { continue };
        points.push(ModelPoint { label: format!("{} (paper)", p.method), params: net.num_params(), psnr: set5.psnr, measured: false });
    }
    write_complexity_chart(&points, out, &format!("Set5 x{scale}: PSNR against parameters (filled: sisr's models, hollow: papers)"))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn fmt_score(s: Option<&Score>) -> String {
    s.map_or("–".into(), |s| format!("{:.2}/{:.4}", s.psnr, s.ssim))
}

pub fn run(args: ModelsArgs) -> Result<ExitCode> {
    let entries = zoo::catalogue()?;
    if let Some(out) = &args.chart {
        chart(&entries, args.scale.expect("clap requires --scale"), out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<15} {:<8} {:>10} {:>14} {:>14} {:>14} {:>7} {:>9}  protocol", "model", "scale", "params", "Set5", "Set14", "B100", "steps", "size");
    for e in &entries {
        println!(
            "{:<15} {:<8} {:>10} {:>14} {:>14} {:>14} {:>7} {:>8.1}M  {}{}",
            e.model,
            format!("x{}", e.scale),
            e.params,
            fmt_score(e.scores.get("set5")),
            fmt_score(e.scores.get("set14")),
            fmt_score(e.scores.get("b100")),
            e.steps.map_or("–".into(), |s| s.to_string()),
            e.file_bytes as f64 / 1e6,
            e.protocol,
            if e.most_accurate { "  ← most accurate at this scale (Set5)" } else { "" }
        );
    }
    println!("PSNR dB / SSIM from `sisr eval --table` (weights/results.json); cards: weights/*.md. Use one with `sisr upscale --model NAME --scale S`.");
    Ok(ExitCode::SUCCESS)
}
