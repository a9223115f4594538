//! `sisr train`: progress, Ctrl-C and the summary over `sisr::train`.

use crate::context::{Globals, LimitArgs};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sisr::models::ModelKind;
use sisr::train::recipe::{Clip, Optimizer, Recipe, Schedule};
use sisr::train::{TrainEvent, TrainOptions, train};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(clap::Args)]
pub struct TrainArgs {
    #[arg(long, value_parser = crate::context::model_parser())]
    model: ModelKind,
    #[arg(long)]
    scale: usize,
    /// Folders of HR training images.
    #[arg(long, num_args = 1.., required = true)]
    train: Vec<PathBuf>,
    /// Folder of HR validation images (scored with the model's protocol).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Run folder: recipe, checkpoints, log, final model.
    #[arg(long)]
    out: PathBuf,
    /// `paper` (the paper's settings, the default) or `quick` (a short CPU recipe).
    #[arg(long)]
    recipe: Option<String>,
    /// Continue the run in --out from its last checkpoint, with the run's own recipe
    /// (its recipe.json); only --steps may change, to extend it.
    #[arg(long)]
    resume: bool,
    /// Start a new run from a trained model of the same kind, e.g. x3 from the x2 weights:
    /// tensors of matching name and shape are copied, the scale-specific ones start fresh.
    #[arg(long, value_name = "WEIGHTS", conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Overrides of the recipe.
    #[arg(long)]
    steps: Option<u64>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long)]
    patch: Option<usize>,
    #[arg(long)]
    val_every: Option<u64>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Optimizer instead of the recipe's: `adam` (β 0.9/0.999, ε 1e-8) or `sgd` (momentum 0.9).
    #[arg(long, value_parser = ["adam", "sgd"])]
    optimizer: Option<String>,
    /// Learning-rate multiplier of the biases.
    #[arg(long)]
    bias_lr_mult: Option<f64>,
    /// Clip the gradient's global norm to this value.
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Cosine decay to this learning rate instead of the recipe's schedule.
    #[arg(long)]
    cosine_min_lr: Option<f64>,
    /// Step decay: multiply the lr by --step-gamma every this many steps.
    #[arg(long)]
    step_every: Option<u64>,
    #[arg(long, default_value_t = 0.5)]
    step_gamma: f64,
    /// No progress bar (log lines instead).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl TrainArgs {
    /// Whether a flag changes the optimisation of the named recipe (its name then says so).
    fn tunes_recipe(&self) -> bool {
        self.lr.is_some()
            || self.batch.is_some()
            || self.patch.is_some()
            || self.weight_decay.is_some()
            || self.optimizer.is_some()
            || self.bias_lr_mult.is_some()
            || self.clip_norm.is_some()
            || self.cosine_min_lr.is_some()
            || self.step_every.is_some()
    }
}

/// The recipe of a resumed run: its own (recipe.json), with --steps if given. Any other
/// recipe flag is refused, so that a forgotten flag cannot change a run half-way.
fn resumed(args: &TrainArgs) -> Result<Recipe> {
    let path = args.out.join("recipe.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: no run to resume (no recipe.json)", args.out.display()))?;
    let saved: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not a run's recipe", path.display()))?;
    let mut r: Recipe = serde_json::from_value(saved["recipe"].clone()).with_context(|| format!("{}: not a run's recipe", path.display()))?;
    if args.recipe.is_some() || args.val_every.is_some() || args.seed.is_some() || args.tunes_recipe() {
        bail!("{}: --resume keeps the run's own recipe ({}); only --steps may change", args.out.display(), path.display());
    }
    if let Some(steps) = args.steps {
        r.steps = steps;
    }
    Ok(r)
}

fn resolve(args: &TrainArgs, kind: ModelKind) -> Result<Recipe> {
    if args.resume {
        return resumed(args);
    }
    let name = args.recipe.as_deref().unwrap_or("paper");
    let mut r = Recipe::named(kind, name).with_context(|| format!("unknown --recipe {name:?} (paper, quick)"))?;
    let modified = args.steps.is_some() || args.tunes_recipe();
    r.steps = args.steps.unwrap_or(r.steps);
    r.lr = args.lr.unwrap_or(r.lr);
    r.batch = args.batch.unwrap_or(r.batch);
    r.patch = args.patch.unwrap_or(r.patch);
    r.val_every = args.val_every.unwrap_or(r.val_every);
    r.seed = args.seed.unwrap_or(r.seed);
    r.weight_decay = args.weight_decay.unwrap_or(r.weight_decay);
    r.bias_lr_mult = args.bias_lr_mult.unwrap_or(r.bias_lr_mult);
    match args.optimizer.as_deref() {
        Some("adam") => r.optimizer = Optimizer::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        Some(_) => r.optimizer = Optimizer::Sgd { momentum: 0.9 },
        None => {}
    }
    if let Some(v) = args.clip_norm {
        r.clip = Clip::Norm { max_norm: v }
    }
    if let Some(v) = args.cosine_min_lr {
        r.schedule = Schedule::Cosine { min_lr: v }
    }
    if let Some(v) = args.step_every {
        r.schedule = Schedule::Step { every: v, gamma: args.step_gamma }
    }
    if modified {
        r.name = format!("{} (modified)", r.name);
    }
    if r.batch == 0 || r.patch < 4 || r.val_every == 0 || r.steps == 0 {
        bail!("--batch, --steps and --val-every must be ≥ 1, --patch ≥ 4");
    }
    let non_negative = |v: f64| v.is_finite() && v >= 0.0;
    if !(r.lr.is_finite() && r.lr > 0.0 && non_negative(r.weight_decay) && non_negative(r.bias_lr_mult)) {
        bail!("--lr must be a positive number, --weight-decay and --bias-lr-mult non-negative numbers (got {}, {}, {})", r.lr, r.weight_decay, r.bias_lr_mult);
    }
    Ok(r)
}

pub fn run(args: TrainArgs, ctx: &Globals) -> Result<ExitCode> {
    let kind = args.model;
    if kind == ModelKind::Bicubic || !kind.scales().contains(&args.scale) {
        bail!("{kind} cannot be trained at x{}", args.scale);
    }
    // Folders are checked now, not at the first validation after minutes of training.
    for dir in args.train.iter().chain(&args.val) {
        if !dir.is_dir() {
            bail!("{}: not a folder of images", dir.display());
        }
    }
    let recipe = resolve(&args, kind)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (Ctrl-C again to quit without a checkpoint)");
    })?;
    let opts = TrainOptions {
        kind,
        scale: args.scale,
        train_dirs: args.train.clone(),
        val_dir: args.val.clone(),
        out: args.out.clone(),
        recipe: recipe.clone(),
        resume: args.resume,
        init: args.init.clone(),
        limits: args.limits.limits(),
        stop,
    };
    eprintln!("training {kind} x{} with the {} recipe: {}", args.scale, recipe.name, serde_json::to_string(&recipe)?);
    let bar = ProgressBar::new(recipe.steps);
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]")?);
    // A hidden bar prints nothing, so quiet runs log their lines to stderr.
    let say = |line: String| if args.quiet { eprintln!("{line}") } else { bar.println(line) };
    let chart = opts.out.join("chart.png");
    let title = format!("{kind} x{} ({} recipe)", args.scale, recipe.name);
    let chart_failed = AtomicBool::new(false);
    let device = ctx.device.clone();
    let summary = train(&opts, &device, |e| match e {
        TrainEvent::Started { start_step, training_images, .. } => {
            bar.set_position(start_step);
            bar.reset_eta();
            say(format!("{training_images} training images, starting at step {start_step}"));
        }
        TrainEvent::WarmStart { from, kept_initial } => {
            say(format!(
                "started from {}; newly initialised: {}",
                from.display(),
                if kept_initial.is_empty() { "nothing".into() } else { kept_initial.join(", ") }
            ));
        }
        TrainEvent::Step { step, loss, lr, images_per_s } => {
            bar.set_position(step);
            bar.set_message(format!("loss {loss:.4} lr {lr:.2e} {images_per_s:.1} img/s"));
        }
        TrainEvent::Validation { step, psnr, ssim, best } => {
            say(format!("step {step}: validation {psnr:.4} dB / {ssim:.5}{}", if best { " (best)" } else { "" }));
        }
        TrainEvent::Checkpoint { .. } => {
            // The chart is a view of log.csv: a failure to draw it never stops training.
            if let Err(e) = crate::chart::write_chart(&opts.out.join("log.csv"), &chart, &title)
                && !chart_failed.swap(true, Ordering::Relaxed)
            {
                say(format!("warning: {e:#}"));
            }
        }
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{} after {} steps in {:.0} s; waited for data {:.1}% of the time{}",
        if summary.interrupted {
            "interrupted, checkpoint saved,"
        } else if summary.stopped_early {
            "stopped (lr below the minimum)"
        } else {
            "done"
        },
        summary.steps,
        summary.seconds,
        100.0 * summary.data_wait_fraction,
        summary.best_psnr.map(|p| format!("; best validation {p:.4} dB")).unwrap_or_default()
    );
    if let Some(m) = &summary.model {
        eprintln!("model: {}", m.display());
    }
    Ok(if summary.interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS })
}
