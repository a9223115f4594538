//! `sisr eval --table`: every shipped model (and bicubic, and any --weights file) scored by
//! the same evaluation as `sisr eval`, as markdown or as `weights/results.json`.

use crate::eval::EvalArgs;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use sisr::models::{ModelKind, Network};
use sisr::weights::WeightsFile;
use sisr::zoo::{self, ResultRow, Results, Score};
use sisr_image::DecodeLimits;
use sisr_image::protocol::{Protocol, Sources};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What one row scores: bicubic, or a weights file's network at one scale.
struct Candidate {
    source: String,
    sha256: String,
    kind: ModelKind,
    scale: usize,
    weights: Option<WeightsFile>,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn candidates(scales: &[usize], extra: &[PathBuf]) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for &scale in scales {
        out.push(Candidate { source: "bicubic".into(), sha256: String::new(), kind: ModelKind::Bicubic, scale, weights: None });
    }
    for m in zoo::SHIPPED {
        for &scale in m.scales.iter().filter(|s| scales.contains(s)) {
            out.push(Candidate { source: m.file.into(), sha256: sha256(m.bytes), kind: m.kind, scale, weights: Some(m.weights()?) });
        }
    }
    for path in extra {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let file = WeightsFile::parse(&bytes, path)?;
        let (kind, _) = file.model()?;
        for scale in file.scales()?.into_iter().filter(|s| scales.contains(s)) {
            let weights = Some(WeightsFile::parse(&bytes, path)?);
            out.push(Candidate { source: path.display().to_string(), sha256: sha256(&bytes), kind, scale, weights });
        }
    }
    Ok(out)
}

fn dataset_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_else(|| dir.display().to_string())
}

fn score(network: Option<&Network>, dir: &Path, scale: usize, protocol: Protocol, limits: &DecodeLimits, device: &sisr::Device) -> Result<Score> {
    let r = sisr::infer::evaluate(network, dir, scale, protocol, &Sources::default(), limits, false, device, |_| {})?;
    Ok(Score { psnr: r.psnr, ssim: r.ssim })
}

pub fn run(args: &EvalArgs, ctx: &crate::context::Globals) -> Result<ExitCode> {
    let (datasets, scales, update, limits, device) = (&args.dataset, &args.scales, args.update.as_deref(), &args.limits.limits(), &ctx.device);
    let earlier: Results = match update.filter(|p| p.exists()) {
        Some(p) => serde_json::from_slice(&std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?)
            .with_context(|| format!("{}: not a results table", p.display()))?,
        None => Results::default(),
    };
    let mut rows = Vec::new();
    for c in candidates(scales, &args.weights)? {
        let protocol = args.protocol.unwrap_or(c.kind.default_protocol());
        let kept = earlier.rows.iter().find(|r| r.source == c.source && r.sha256 == c.sha256 && r.scale == c.scale && r.protocol == protocol.name());
        let network = match c.weights {
            Some(file) => Some(file.into_network(Some((c.kind, c.scale)), device)?.0),
            None => None,
        };
        let mut scores = BTreeMap::new();
        for dir in datasets {
            let name = dataset_name(dir);
            let s = match kept.and_then(|r| r.scores.get(&name)) {
                Some(s) => *s,
                None => {
                    let s = score(network.as_ref(), dir, c.scale, protocol, limits, device)?;
                    eprintln!("{} x{} on {name}: {:.2} dB / {:.4}", c.source, c.scale, s.psnr, s.ssim);
                    s
                }
            };
            scores.insert(name, s);
        }
        let params = network.as_ref().map_or(0, Network::num_params);
        rows.push(ResultRow {
            model: c.kind.name().into(),
            source: c.source,
            sha256: c.sha256,
            scale: c.scale,
            protocol: protocol.name().into(),
            params,
            scores,
        });
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    let results = Results { command: format!("sisr {}", command.join(" ")), rows };
    let text = serde_json::to_string_pretty(&results)? + "\n";
    if let Some(path) = update {
        sisr_image::io::write_atomic(path, text.as_bytes()).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if args.json {
        print!("{text}");
    } else {
        let names: Vec<String> = datasets.iter().map(|d| dataset_name(d)).collect();
        print!("{}", zoo::markdown(&results, zoo::published(), &names));
    }
    Ok(ExitCode::SUCCESS)
}
