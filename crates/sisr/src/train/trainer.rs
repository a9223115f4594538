//! The training loop with crash-safe checkpoints and exact resume.
//!
//! A run folder holds `recipe.json` (the resolved recipe), `checkpoint-last.safetensors`
//! and `checkpoint-best.safetensors` (weights + optimizer slots + loop state in the header,
//! one file written atomically, so a kill never leaves a half checkpoint), `log.csv`, and at
//! the end `model.safetensors` (best validation weights with their provenance).

use super::data::{Batch, TrainSet, prefetch};
use super::optim::{self, OptimState};
use super::recipe::{Loss, Recipe, Schedule};
use crate::infer::upscale_lowres;
use crate::models::{ModelKind, Network};
use crate::weights::{self, Metadata, WeightsError, WeightsFile};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sisr_image::DecodeLimits;
use sisr_image::protocol::{Sources, evaluate_dataset};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub const LAST: &str = "checkpoint-last.safetensors";
pub const BEST: &str = "checkpoint-best.safetensors";
pub const FINAL: &str = "model.safetensors";
const STATE_KEY: &str = weights::TRAIN_STATE_KEY;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Image(#[from] sisr_image::ImageIoError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Run { path: PathBuf, message: String },
    #[error("the loss became {loss} at step {step}; stopped, {}", match checkpoint {
        Some(c) => format!("the last good checkpoint is {} (lower --lr and --resume)", c.display()),
        None => "before the first checkpoint (lower --lr and start again)".to_string(),
    })]
    NonFinite { step: u64, loss: f32, checkpoint: Option<PathBuf> },
    #[error("validation failed: {0}")]
    Validation(String),
}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub kind: ModelKind,
    pub scale: usize,
    pub train_dirs: Vec<PathBuf>,
    pub val_dir: Option<PathBuf>,
    pub out: PathBuf,
    pub recipe: Recipe,
    pub resume: bool,
    /// A trained model of the same kind to start a new run from (see `weights::warm_start`).
    pub init: Option<PathBuf>,
    pub limits: DecodeLimits,
    /// Set (e.g. by Ctrl-C) to stop after the current step with a checkpoint.
    pub stop: Arc<AtomicBool>,
}

/// Progress reported to the caller.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    Started {
        start_step: u64,
        steps: u64,
        training_images: usize,
    },
    /// A new run started from `from`; the parameters in `kept_initial` had no match there.
    WarmStart {
        from: PathBuf,
        kept_initial: Vec<String>,
    },
    Step {
        step: u64,
        loss: f32,
        lr: f64,
        images_per_s: f64,
    },
    Validation {
        step: u64,
        psnr: f64,
        ssim: f64,
        best: bool,
    },
    Checkpoint {
        step: u64,
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub steps: u64,
    pub stopped_early: bool,
    pub interrupted: bool,
    pub best_psnr: Option<f64>,
    pub best_ssim: Option<f64>,
    pub seconds: f64,
    /// Fraction of the wall time the loop waited for data.
    pub data_wait_fraction: f64,
    pub model: Option<PathBuf>,
}

/// Loop state saved in every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct LoopState {
    step: u64,
    optim_t: u64,
    plateau_lr: f64,
    best_psnr: Option<f64>,
    best_ssim: Option<f64>,
    bad_validations: u32,
    seconds: f64,
    /// The model a new run started from (`--init`), kept for the final model's provenance.
    #[serde(default)]
    init: Option<PathBuf>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

fn write_checkpoint(path: &Path, network: &Network, state: &OptimState, ls: &LoopState, recipe: &Recipe) -> Result<(), TrainError> {
    let mut meta = Metadata::new();
    meta.insert(STATE_KEY.into(), serde_json::to_string(ls).expect("serialisable"));
    meta.insert("sisr.recipe".into(), serde_json::to_string(recipe).expect("serialisable"));
    if let Some(list) = scale_list(recipe) {
        meta.insert(weights::KEY_SCALES.into(), list);
    }
    let extra = state.export();
    let bytes = weights::to_bytes_with(network, &meta, &extra);
    sisr_image::io::write_atomic(path, &bytes).map_err(io_err(path))
}

/// The header's scale list of a model trained on several scales at once (GLRL).
fn scale_list(recipe: &Recipe) -> Option<String> {
    (!recipe.scales.is_empty()).then(|| recipe.scales.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","))
}

fn read_checkpoint(path: &Path, kind: ModelKind, scale: usize, device: &Device) -> Result<(Network, OptimState, LoopState), TrainError> {
    if !path.is_file() {
        return Err(TrainError::Run { path: path.into(), message: "no checkpoint to resume from".into() });
    }
    let mut file = WeightsFile::read(path)?;
    let ls: LoopState = file
        .metadata
        .get(STATE_KEY)
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| TrainError::Run { path: path.into(), message: "not a training checkpoint (no loop state in the header)".into() })?;
    let optim_tensors: HashMap<String, (Vec<usize>, Vec<f32>)> =
        file.tensors.iter().filter(|(k, _)| k.starts_with("optim.")).map(|(k, v)| (k.clone(), v.clone())).collect();
    file.tensors.retain(|k, _| !k.starts_with("optim."));
    let (network, _) = file.into_network(Some((kind, scale)), device)?;
    let state = OptimState::import(ls.optim_t, &optim_tensors, &device.clone().without_autodiff());
    Ok((network, state, ls))
}

fn to_tensor(values: Vec<f32>, n: usize, c: usize, side: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [n, c, side, side]), device)
}

fn loss_of(recipe: &Recipe, out: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let diff = out - target;
    match recipe.loss {
        Loss::L1 => diff.abs().mean(),
        Loss::Mse => diff.square().mean(),
        Loss::Euclidean => {
            let n = diff.dims()[0] as f64;
            diff.div_scalar(255.0).square().sum().div_scalar(2.0 * n)
        }
    }
}

/// One optimisation step of `network` (parameters on an autodiff device) on `batch` (inputs
/// made on `device`): the updated network and the batch loss, or no network when the loss
/// is not finite (nothing updated).
pub fn train_step(network: Network, batch: Batch, recipe: &Recipe, state: &mut OptimState, lr: f64, device: &Device) -> (Option<Network>, f32) {
    let (n, c) = (batch.size, batch.channels);
    let lr_t = (batch.lr_side > 0).then(|| to_tensor(batch.lr, n, c, batch.lr_side, device));
    let up_t = (!batch.up.is_empty()).then(|| to_tensor(batch.up, n, c, batch.hr_side, device));
    let hr_t = to_tensor(batch.hr, n, c, batch.hr_side, device);
    let input = lr_t.unwrap_or_else(|| up_t.clone().expect("a model input"));
    let output = network.forward(input, up_t);
    let loss = loss_of(recipe, output, hr_t);
    let loss_value: f32 = loss.clone().into_scalar();
    if !loss_value.is_finite() {
        return (None, loss_value);
    }
    let grads = network.gradients(loss.backward());
    let updated = optim::step(network, grads, recipe, state, lr);
    (Some(updated), loss_value)
}

/// Seed of a step's dropout masks, so a resumed run draws the same ones.
fn step_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0xD1B5_4A32_D192_ED03).wrapping_add(step.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn validate(network: &Network, val_dir: &Path, scale: usize, limits: &DecodeLimits, device: &Device) -> Result<(f64, f64), TrainError> {
    let net = network.valid();
    let protocol = network.kind.default_protocol();
    let r = evaluate_dataset(val_dir, scale, protocol, &Sources::default(), limits, |lr| upscale_lowres(&net, lr, false, device), |_| {})
        .map_err(|e| TrainError::Validation(e.to_string()))?;
    Ok((r.psnr, r.ssim))
}

const CSV_HEADER: &str = "step,loss,lr,val_psnr,val_ssim,images_per_s,seconds";

/// Keeps the log rows up to `step` (a resumed run rewrites what came after its checkpoint).
fn truncate_log(path: &Path, step: u64) -> Result<(), TrainError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for line in text.lines().skip(1) {
        // A row cut short by a kill has fewer fields than the header: dropped.
        let complete = line.split(',').count() == CSV_HEADER.split(',').count();
        if complete && line.split(',').next().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= step) {
            out.push_str(line);
            out.push('\n');
        }
    }
    sisr_image::io::write_atomic(path, out.as_bytes()).map_err(io_err(path))
}

fn append_log(path: &Path, row: &str) -> Result<(), TrainError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(io_err(path))?;
    writeln!(f, "{row}").map_err(io_err(path))
}

/// Deletes the temporary files of writes that a killed run left unfinished (never read).
fn remove_partial_writes(dir: &Path) -> Result<(), TrainError> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with(sisr_image::io::PARTIAL_PREFIX) && name.ends_with(sisr_image::io::PARTIAL_SUFFIX) {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

impl LoopState {
    fn new(recipe: &Recipe, init: Option<PathBuf>) -> Self {
        LoopState { step: 0, optim_t: 0, plateau_lr: recipe.lr, best_psnr: None, best_ssim: None, bad_validations: 0, seconds: 0.0, init }
    }

    /// Records a validation score: whether it is the best so far, and (plateau schedule) the
    /// learning-rate cut after more than `patience` validations without a new best; returns
    /// (best, the schedule's lr fell under its floor).
    fn record_validation(&mut self, psnr: f64, ssim: f64, schedule: &Schedule) -> (bool, bool) {
        let improved = self.best_psnr.is_none_or(|b| psnr > b);
        if improved {
            (self.best_psnr, self.best_ssim) = (Some(psnr), Some(ssim));
            self.bad_validations = 0;
        } else {
            self.bad_validations += 1;
        }
        let mut finished = false;
        if let Schedule::Plateau { patience, factor, min_lr } = *schedule
            && self.bad_validations > patience
        {
            self.plateau_lr *= factor;
            self.bad_validations = 0;
            finished = self.plateau_lr < min_lr;
        }
        (improved, finished)
    }
}

/// The run folder: a resumed run's checkpoint, or a new run's fresh (or `--init`) network in an
/// empty folder; then the resolved `recipe.json` and the log cut back to the starting step.
fn open_run(opts: &TrainOptions, ad: &Device, on_event: &mut impl FnMut(TrainEvent)) -> Result<(Network, OptimState, LoopState), TrainError> {
    let (recipe, out) = (&opts.recipe, &opts.out);
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let (network, state, ls) = if opts.resume {
        remove_partial_writes(out)?;
        read_checkpoint(&out.join(LAST), opts.kind, opts.scale, ad)?
    } else {
        if out.join(LAST).exists() {
            return Err(TrainError::Run { path: out.clone(), message: "already holds a run; pass --resume to continue it or choose another --out".into() });
        }
        // A new run writes log.csv, recipe.json, chart.png and model.safetensors: never over
        // files of the user's, an older run's best checkpoint, or a training folder.
        if std::fs::read_dir(out).map_err(io_err(out))?.next().is_some() {
            return Err(TrainError::Run { path: out.clone(), message: "is not empty; a new run needs a new or empty --out folder".into() });
        }
        ad.seed(recipe.seed);
        let mut network =
            opts.kind.build(opts.scale, ad).ok_or_else(|| TrainError::Run { path: out.clone(), message: "bicubic has nothing to train".into() })?;
        if let Some(init) = &opts.init {
            let kept_initial;
            (network, kept_initial) = weights::warm_start(network, &WeightsFile::read(init)?)?;
            on_event(TrainEvent::WarmStart { from: init.clone(), kept_initial });
        }
        (network, OptimState::default(), LoopState::new(recipe, opts.init.clone()))
    };
    let resolved = serde_json::json!({
        "model": opts.kind.name(), "scale": opts.scale, "recipe": recipe,
        "train": opts.train_dirs, "val": opts.val_dir, "init": ls.init,
    });
    sisr_image::io::write_atomic(&out.join("recipe.json"), serde_json::to_string_pretty(&resolved).expect("json").as_bytes()).map_err(io_err(out))?;
    truncate_log(&out.join("log.csv"), ls.step)?;
    Ok((network, state, ls))
}

/// The training images at every scale of the recipe, refused when no patch fits any of them.
fn load_data(opts: &TrainOptions) -> Result<Arc<TrainSet>, TrainError> {
    let recipe = &opts.recipe;
    let scales = if recipe.scales.is_empty() { vec![opts.scale] } else { recipe.scales.clone() };
    let set = TrainSet::load(&opts.train_dirs, opts.kind, &scales, &opts.limits)?;
    if set.fitting(recipe.patch).is_empty() {
        return Err(TrainError::Run {
            path: opts.train_dirs[0].clone(),
            message: format!("no training image is large enough for {}-pixel patches at x{}", recipe.patch, opts.scale),
        });
    }
    Ok(Arc::new(set))
}

/// The final model: the best validated checkpoint's weights (the last one without
/// validation) with the run's provenance in the header.
fn finalise(opts: &TrainOptions, ls: &LoopState, device: &Device) -> Result<PathBuf, TrainError> {
    let (recipe, out) = (&opts.recipe, &opts.out);
    let best = out.join(BEST);
    let source = if best.exists() { best } else { out.join(LAST) };
    let (net, _, final_state) = read_checkpoint(&source, opts.kind, opts.scale, device)?;
    let mut meta = Metadata::new();
    meta.insert("sisr.recipe".into(), serde_json::to_string(recipe).expect("json"));
    meta.insert("sisr.steps".into(), final_state.step.to_string());
    if let Some(list) = scale_list(recipe) {
        meta.insert(weights::KEY_SCALES.into(), list);
    }
    meta.insert("sisr.train_data".into(), opts.train_dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(";"));
    if let (Some(p), Some(s)) = (final_state.best_psnr, final_state.best_ssim) {
        meta.insert(
            "sisr.validation".into(),
            format!("{} x{}: {p:.4} dB / {s:.5}", opts.val_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(), opts.scale),
        );
    }
    if let Some(init) = &ls.init {
        meta.insert("sisr.init".into(), init.display().to_string());
    }
    meta.insert("sisr.train_seconds".into(), format!("{:.0}", ls.seconds));
    let path = out.join(FINAL);
    weights::save(&net, &path, &meta)?;
    Ok(path)
}

/// Trains a model as `opts` says; `on_event` receives progress.
pub fn train(opts: &TrainOptions, device: &Device, mut on_event: impl FnMut(TrainEvent)) -> Result<TrainSummary, TrainError> {
    let (recipe, out) = (&opts.recipe, &opts.out);
    let (last, best_path, log) = (out.join(LAST), out.join(BEST), out.join("log.csv"));
    let ad = device.clone().autodiff();
    let (mut network, mut state, mut ls) = open_run(opts, &ad, &mut on_event)?;
    let set = load_data(opts)?;
    on_event(TrainEvent::Started { start_step: ls.step, steps: recipe.steps, training_images: set.fitting(recipe.patch).len() });

    let batches = prefetch(set, recipe.seed, ls.step, recipe.steps, recipe.batch, recipe.patch, 4);
    let started = Instant::now();
    let seconds_before = ls.seconds;
    let mut waited = 0.0f64;
    let mut loss_sum = 0.0f64;
    let mut loss_count = 0u64;
    let mut interval_start = Instant::now();
    let mut stopped_early = false;
    let mut interrupted = false;

    while ls.step < recipe.steps {
        let wait = Instant::now();
        let (step, batch): (u64, Batch) = batches.recv().map_err(|_| TrainError::Run { path: out.clone(), message: "the data loader stopped".into() })?;
        waited += wait.elapsed().as_secs_f64();
        debug_assert_eq!(step, ls.step);
        let lr = recipe.scheduled_lr(ls.step, ls.plateau_lr);

        ad.seed(step_seed(recipe.seed, step));
        let n = batch.size;
        let (updated, loss_value) = train_step(network, batch, recipe, &mut state, lr, device);
        let Some(updated) = updated else {
            return Err(TrainError::NonFinite { step: step + 1, loss: loss_value, checkpoint: last.is_file().then(|| last.clone()) });
        };
        network = updated;
        ls.step += 1;
        ls.optim_t = state.t;
        loss_sum += f64::from(loss_value);
        loss_count += 1;
        let ips = (n as f64) / interval_start.elapsed().as_secs_f64().max(1e-9) * loss_count as f64;
        on_event(TrainEvent::Step { step: ls.step, loss: loss_value, lr, images_per_s: ips });

        let stop = opts.stop.load(Ordering::SeqCst);
        let at_validation = ls.step % recipe.val_every == 0 || ls.step == recipe.steps;
        if at_validation || stop {
            ls.seconds = seconds_before + started.elapsed().as_secs_f64();
            let (mut vp, mut vs) = (String::new(), String::new());
            if at_validation && let Some(val) = &opts.val_dir {
                let (psnr, ssim) = validate(&network, val, opts.scale, &opts.limits, device)?;
                let improved;
                (improved, stopped_early) = ls.record_validation(psnr, ssim, &recipe.schedule);
                on_event(TrainEvent::Validation { step: ls.step, psnr, ssim, best: improved });
                (vp, vs) = (format!("{psnr:.4}"), format!("{ssim:.5}"));
                if improved {
                    write_checkpoint(&best_path, &network, &state, &ls, recipe)?;
                }
            }
            // The row before the checkpoint: a kill between the two leaves a row past the
            // checkpoint, which the resume drops and writes again; the other order lost it.
            let row = format!("{},{:.6},{:.3e},{vp},{vs},{:.2},{:.1}", ls.step, loss_sum / loss_count.max(1) as f64, lr, ips, ls.seconds);
            append_log(&log, &row)?;
            sisr_image::pause::point("log-row");
            write_checkpoint(&last, &network, &state, &ls, recipe)?;
            sisr_image::pause::point("checkpoint");
            on_event(TrainEvent::Checkpoint { step: ls.step, path: last.clone() });
            loss_sum = 0.0;
            loss_count = 0;
            interval_start = Instant::now();
            if stop {
                interrupted = true;
                break;
            }
            if stopped_early {
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let model = if interrupted { None } else { Some(finalise(opts, &ls, device)?) };
    Ok(TrainSummary {
        steps: ls.step,
        stopped_early,
        interrupted,
        best_psnr: ls.best_psnr,
        best_ssim: ls.best_ssim,
        seconds: ls.seconds.max(seconds_before + elapsed),
        data_wait_fraction: waited / elapsed.max(1e-9),
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::recipe::Loss;

    /// The three losses on a known difference: two images of 2×2 pixels, errors of 0, 51, 102
    /// and 255 grey levels in each.
    #[test]
    fn losses_match_their_definitions() {
        let device = crate::default_device();
        let out = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 51.0, 102.0, 255.0, 0.0, 51.0, 102.0, 255.0], [2, 1, 2, 2]), &device);
        let target = Tensor::<4>::zeros([2, 1, 2, 2], &device);
        let value = |loss| {
            let recipe = Recipe { loss, ..Recipe::paper(crate::models::SMALLEST).unwrap() };
            f64::from(loss_of(&recipe, out.clone(), target.clone()).into_scalar::<f32>())
        };
        assert!((value(Loss::L1) - 102.0).abs() < 1e-4);
        assert!((value(Loss::Mse) - (51.0f64.powi(2) + 102.0f64.powi(2) + 255.0f64.powi(2)) / 4.0).abs() < 1e-2);
        // Caffe's EuclideanLoss on [0, 1] pixels: 1/(2N) Σ‖x − y‖², N = the batch size.
        let per_image = 0.2f64.powi(2) + 0.4f64.powi(2) + 1.0;
        assert!((value(Loss::Euclidean) - 2.0 * per_image / 4.0).abs() < 1e-6);
    }

    /// The plateau schedule: a new best resets the count; more than `patience` validations
    /// without one cut the lr by `factor`; a cut under `min_lr` finishes the run.
    #[test]
    fn plateau_cuts_the_lr_and_finishes_under_its_floor() {
        let schedule = Schedule::Plateau { patience: 1, factor: 0.5, min_lr: 0.3 };
        let recipe = Recipe { lr: 1.0, schedule, ..Recipe::paper(crate::models::SMALLEST).unwrap() };
        let mut ls = LoopState::new(&recipe, None);
        assert_eq!(ls.record_validation(30.0, 0.9, &schedule), (true, false));
        assert_eq!(ls.record_validation(29.0, 0.8, &schedule), (false, false));
        assert_eq!(ls.plateau_lr, 1.0, "one bad validation is within the patience");
        assert_eq!(ls.record_validation(30.0, 0.9, &schedule), (false, false), "equal is not better");
        assert_eq!(ls.plateau_lr, 0.5);
        assert_eq!(ls.record_validation(31.0, 0.95, &schedule), (true, false));
        assert_eq!((ls.best_psnr, ls.best_ssim, ls.bad_validations), (Some(31.0), Some(0.95), 0));
        assert_eq!(ls.record_validation(30.0, 0.9, &schedule), (false, false));
        assert_eq!(ls.record_validation(30.0, 0.9, &schedule), (false, true), "0.25 is under the floor 0.3");
        assert_eq!(ls.plateau_lr, 0.25);
        // Other schedules keep the lr whatever the scores.
        let step = Schedule::Step { every: 10, gamma: 0.5 };
        let mut ls = LoopState::new(&recipe, None);
        for psnr in [30.0, 29.0, 28.0, 27.0] {
            ls.record_validation(psnr, 0.5, &step);
        }
        assert_eq!((ls.plateau_lr, ls.best_psnr), (1.0, Some(30.0)));
    }
}
