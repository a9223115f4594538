//! The shipped models: sisr's own trained weights (cards in `weights/*.md`), built into the
//! library so that every front end finds them without configuration, and their measured
//! scores (`weights/results.json`, written by `sisr eval --table`).

use crate::models::{ModelKind, Network};
use crate::upscale::Upscaler;
use crate::weights::{WeightsError, WeightsFile};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One shipped weights file.
#[derive(Debug)]
pub struct Shipped {
    pub kind: ModelKind,
    /// Every scale the file serves (checked against its header by a test).
    pub scales: &'static [usize],
    /// Its path in the repository.
    pub file: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! shipped {
    ($kind:ident, [$($scale:literal),+], $file:literal) => {
        Shipped {
            kind: ModelKind::$kind,
            scales: &[$($scale),+],
            file: concat!("weights/", $file),
            bytes: include_bytes!(concat!("../../../weights/", $file)),
        }
    };
}

/// Every shipped model, in the order `sisr models` lists them.
pub static SHIPPED: &[Shipped] = &[
    shipped!(Dcscn, [2], "dcscn-x2.safetensors"),
    shipped!(Dcscn, [3], "dcscn-x3.safetensors"),
    shipped!(Dcscn, [4], "dcscn-x4.safetensors"),
    shipped!(DcscnCompact, [2], "dcscn-compact-x2.safetensors"),
    shipped!(DcscnCompact, [3], "dcscn-compact-x3.safetensors"),
    shipped!(DcscnCompact, [4], "dcscn-compact-x4.safetensors"),
    shipped!(Drn, [2], "drn-x2.safetensors"),
    shipped!(Drn, [3], "drn-x3.safetensors"),
    shipped!(Drn, [4], "drn-x4.safetensors"),
    shipped!(Glrl, [2, 3, 4], "glrl.safetensors"),
    shipped!(Drfn5m, [4], "drfn-5m-x4.safetensors"),
];

/// The model `sisr upscale` uses when none is named: the fastest shipped family.
pub const DEFAULT_KIND: ModelKind = ModelKind::Dcscn;

/// The shipped file serving `kind` at `scale`.
pub fn find(kind: ModelKind, scale: usize) -> Option<&'static Shipped> {
    SHIPPED.iter().find(|m| m.kind == kind && m.scales.contains(&scale))
}

/// Every shipped (model, scale) pair, e.g. "dcscn x2, glrl x2/x3/x4".
pub fn listing() -> String {
    SHIPPED.iter().map(|m| format!("{} {}", m.kind, scale_list(m.scales))).collect::<Vec<_>>().join(", ")
}

/// "x2/x3/x4".
pub fn scale_list(scales: &[usize]) -> String {
    scales.iter().map(|s| format!("x{s}")).collect::<Vec<_>>().join("/")
}

/// The shipped model for `kind` at `scale`, or an error naming what is shipped.
pub fn load(kind: ModelKind, scale: usize, device: &Device) -> Result<(Network, &'static Shipped), WeightsError> {
    let shipped = find(kind, scale).ok_or_else(|| WeightsError::Unknown {
        path: format!("{kind} x{scale}").into(),
        message: format!("no shipped model (shipped: {}; or pass --weights FILE)", listing()),
    })?;
    Ok((shipped.network(scale, device)?, shipped))
}

/// What `sisr upscale` (and every other front end) runs for a model name, a scale and an
/// optional weights file: bicubic by name; a weights file at its own (or the asked) scale;
/// otherwise the shipped model (default: [`DEFAULT_KIND`] at x2). Returns a description.
pub fn upscaler(model: Option<ModelKind>, scale: Option<usize>, weights: Option<&Path>, device: &Device) -> Result<(Upscaler, String), WeightsError> {
    if model == Some(ModelKind::Bicubic) {
        let scale = scale.unwrap_or(2);
        if !ModelKind::Bicubic.scales().contains(&scale) {
            return Err(WeightsError::Unknown { path: "bicubic".into(), message: format!("supports x2 to x8, not x{scale}") });
        }
        return Ok((Upscaler::Bicubic { scale }, format!("bicubic x{scale}")));
    }
    if let Some(path) = weights {
        let file = WeightsFile::read(path)?;
        let (kind, own) = file.model()?;
        let want = (model.unwrap_or(kind), scale.unwrap_or(own));
        let (net, _) = file.into_network(Some(want), device)?;
        return Ok((Upscaler::Network(Box::new(net)), format!("{} x{} from {}", want.0, want.1, path.display())));
    }
    let (kind, scale) = (model.unwrap_or(DEFAULT_KIND), scale.unwrap_or(2));
    let (net, shipped) = load(kind, scale, device)?;
    Ok((Upscaler::Network(Box::new(net)), format!("{kind} x{scale} from {} (built in)", shipped.file)))
}

impl Shipped {
    pub fn weights(&self) -> Result<WeightsFile, WeightsError> {
        WeightsFile::parse(self.bytes, Path::new(self.file))
    }

    /// The network at `scale` (one of [`Shipped::scales`]).
    pub fn network(&self, scale: usize, device: &Device) -> Result<Network, WeightsError> {
        Ok(self.weights()?.into_network(Some((self.kind, scale)), device)?.0)
    }

    /// The file's header (provenance: steps, recipe, validation).
    pub fn metadata(&self) -> Result<crate::weights::Metadata, WeightsError> {
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(self.bytes).map_err(|e| WeightsError::Format { path: self.file.into(), message: e.to_string() })?;
        Ok(meta.metadata().clone().unwrap_or_default().into_iter().collect())
    }

    /// Parameters, counted from the file's tensor shapes.
    pub fn params(&self) -> Result<usize, WeightsError> {
        let st = safetensors::SafeTensors::deserialize(self.bytes).map_err(|e| WeightsError::Format { path: self.file.into(), message: e.to_string() })?;
        Ok(st.tensors().iter().map(|(_, v)| v.shape().iter().product::<usize>()).sum())
    }

    /// Training steps recorded in the header.
    pub fn steps(&self) -> Option<u64> {
        self.metadata().ok()?.get("sisr.steps")?.parse().ok()
    }

    /// Scores measured by `sisr eval --table` at `scale`, by dataset name.
    pub fn scores(&self, scale: usize) -> Option<&'static BTreeMap<String, Score>> {
        results().rows.iter().find(|r| r.source == self.file && r.scale == scale).map(|r| &r.scores)
    }
}

/// One shipped model at one scale, as `sisr models --json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub model: &'static str,
    pub scale: usize,
    /// Every scale the file serves.
    pub scales: Vec<usize>,
    pub file: &'static str,
    pub file_bytes: usize,
    pub params: usize,
    pub steps: Option<u64>,
    pub protocol: &'static str,
    /// Measured by `sisr eval --table` (weights/results.json), by dataset.
    pub scores: BTreeMap<String, Score>,
    /// The highest Set5 PSNR of the shipped models at this scale.
    pub most_accurate: bool,
}

/// Every shipped model at each of its scales, with its measured scores.
pub fn catalogue() -> Result<Vec<Listed>, WeightsError> {
    let mut out = Vec::new();
    for m in SHIPPED {
        let params = m.params()?;
        for &scale in m.scales {
            out.push(Listed {
                model: m.kind.name(),
                scale,
                scales: m.scales.to_vec(),
                file: m.file,
                file_bytes: m.bytes.len(),
                params,
                steps: m.steps(),
                protocol: m.kind.default_protocol().name(),
                scores: m.scores(scale).cloned().unwrap_or_default(),
                most_accurate: false,
            });
        }
    }
    let set5 = |e: &Listed| e.scores.get("set5").map(|s| s.psnr);
    for i in 0..out.len() {
        let best = out.iter().filter(|e| e.scale == out[i].scale).filter_map(set5).fold(f64::NEG_INFINITY, f64::max);
        out[i].most_accurate = set5(&out[i]) == Some(best);
    }
    Ok(out)
}

/// Mean PSNR (dB) and SSIM on one dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub psnr: f64,
    pub ssim: f64,
}

/// One row of the results table: a model (or bicubic, or a weights file) at one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub model: String,
    /// `weights/…` of a shipped model, a weights file, or `bicubic`.
    pub source: String,
    /// sha256 of the weights file (empty for bicubic): a row is re-measured when it changes.
    pub sha256: String,
    pub scale: usize,
    pub protocol: String,
    pub params: usize,
    /// By dataset folder name (`set5`, `set14`, `b100`).
    pub scores: BTreeMap<String, Score>,
}

/// `weights/results.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The command that wrote the file.
    pub command: String,
    pub rows: Vec<ResultRow>,
}

const RESULTS_JSON: &str = include_str!("../../../weights/results.json");

/// The measured scores shipped with the models.
pub fn results() -> &'static Results {
    static RESULTS: std::sync::OnceLock<Results> = std::sync::OnceLock::new();
    RESULTS.get_or_init(|| serde_json::from_str(RESULTS_JSON).expect("weights/results.json is valid (checked by a test)"))
}

/// A published result (SPEC §4), from `weights/published.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// The method as its paper names it.
    pub method: String,
    /// The sisr model it corresponds to (`bicubic`, `dcscn`, …), if any.
    pub model: Option<String>,
    pub scale: usize,
    /// Where the number is printed (SPEC §4 section and the paper's table).
    pub source: String,
    /// By dataset folder name; SSIM may be absent where the paper prints PSNR only.
    pub scores: BTreeMap<String, PublishedScore>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PublishedScore {
    pub psnr: f64,
    pub ssim: Option<f64>,
}

const PUBLISHED_JSON: &str = include_str!("../../../weights/published.json");

/// The papers' published numbers, typed once from SPEC §4.
pub fn published() -> &'static [Published] {
    static PUBLISHED: std::sync::OnceLock<Vec<Published>> = std::sync::OnceLock::new();
    PUBLISHED.get_or_init(|| serde_json::from_str(PUBLISHED_JSON).expect("weights/published.json is valid (checked by a test)"))
}

/// "Set5" for `set5`, "B100" for `b100`; other names as they are.
pub fn dataset_title(name: &str) -> String {
    match name {
        "set5" => "Set5".into(),
        "set14" => "Set14".into(),
        "b100" | "bsd100" => "B100".into(),
        other => other.into(),
    }
}

fn cell(psnr: f64, ssim: Option<f64>) -> String {
    match ssim {
        Some(s) => format!("{psnr:.2} / {s:.4}"),
        None => format!("{psnr:.2}"),
    }
}

/// The results table in markdown, one block of rows per scale: measured PSNR / SSIM on each
/// of `datasets`, and beside them the paper's published numbers for the same model and scale
/// (published rows of methods sisr does not implement follow each block).
pub fn markdown(results: &Results, published: &[Published], datasets: &[String]) -> String {
    let titles: Vec<String> = datasets.iter().map(|d| dataset_title(d)).collect();
    let mut out = format!("| scale | model | weights | protocol | params | {} | published {} |\n", titles.join(" | "), titles.join(" | published "));
    out += &format!("|---|---|---|---|---:|{}\n", "---|".repeat(2 * datasets.len()));
    let mut scales: Vec<usize> = results.rows.iter().map(|r| r.scale).collect();
    scales.sort_unstable();
    scales.dedup();
    for scale in scales {
        for r in results.rows.iter().filter(|r| r.scale == scale) {
            let paper = published.iter().find(|p| p.model.as_deref() == Some(r.model.as_str()) && p.scale == scale);
            let measured: Vec<String> = datasets.iter().map(|d| r.scores.get(d).map_or("–".into(), |s| cell(s.psnr, Some(s.ssim)))).collect();
            let quoted: Vec<String> = datasets.iter().map(|d| paper.and_then(|p| p.scores.get(d)).map_or(String::new(), |s| cell(s.psnr, s.ssim))).collect();
            let params = if r.params == 0 { "–".to_string() } else { r.params.to_string() };
            out += &format!("| x{scale} | {} | {} | {} | {params} | {} | {} |\n", r.model, r.source, r.protocol, measured.join(" | "), quoted.join(" | "));
        }
        for p in published.iter().filter(|p| p.model.is_none() && p.scale == scale) {
            let quoted: Vec<String> = datasets.iter().map(|d| p.scores.get(d).map_or(String::new(), |s| cell(s.psnr, s.ssim))).collect();
            out += &format!("| x{scale} | {} (published) | | | | {} | {} |\n", p.method, vec!["–"; datasets.len()].join(" | "), quoted.join(" | "));
        }
    }
    out
}
