//! `sisr degrade`: MATLAB-bicubic LR files named like their HR files.

use crate::context::LimitArgs;
use anyhow::{Context, Result, bail};
use sisr_image::Image;
use sisr_image::io::{list_images, open, save};
use sisr_image::protocol::{color_planes_u8, degrade};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DegradeArgs {
    /// Downscaling factor.
    #[arg(long)]
    scale: usize,
    /// Folder of HR images.
    #[arg(long)]
    dataset: PathBuf,
    /// Folder for the LR images (created if missing; PNG, same file stem as the HR).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    limits: LimitArgs,
}

/// The LR file of `hr`: its name with the last extension replaced by `png`.
fn lr_name(out: &Path, hr: &Path) -> PathBuf {
    let mut name = hr.file_stem().unwrap_or_default().to_os_string();
    name.push(".png");
    out.join(name)
}

pub fn run(args: DegradeArgs) -> Result<ExitCode> {
    if !(2..=64).contains(&args.scale) {
        bail!("--scale must be between 2 and 64");
    }
    let files = list_images(&args.dataset)?;
    // Every LR file is a PNG named by the HR file's stem: `a.png` and `a.jpg` (or `a.b.png`
    // and `a.c.png` cut at the wrong dot) must not silently share one.
    let mut owner: HashMap<PathBuf, &PathBuf> = HashMap::new();
    for hr_path in &files {
        let lr = lr_name(&args.out, hr_path);
        if std::fs::symlink_metadata(&lr).is_ok_and(|m| !m.file_type().is_file()) {
            bail!("{}: exists and is not a regular file; sisr only writes regular files", lr.display());
        }
        if let Some(other) = owner.insert(lr, hr_path) {
            bail!(
                "{} and {} would both be written as {}; move one of them out of the dataset folder",
                other.display(),
                hr_path.display(),
                lr_name(&args.out, hr_path).display()
            );
        }
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create the output folder", args.out.display()))?;
    if args.out.canonicalize()? == args.dataset.canonicalize()? {
        bail!("{}: the output folder is the input folder; choose another --out so no input is overwritten", args.out.display());
    }
    let limits = args.limits.limits();
    for hr_path in &files {
        let hr = open(hr_path, &limits)?;
        if hr.width < args.scale || hr.height < args.scale {
            bail!("{}: a {}x{} image has no x{} LR", hr_path.display(), hr.width, hr.height, args.scale);
        }
        let lr = degrade(&color_planes_u8(&hr), args.scale);
        save(&Image::from_planes_u8(&lr), &lr_name(&args.out, hr_path))?;
    }
    eprintln!("wrote {} LR images (x{}) to {}", files.len(), args.scale, args.out.display());
    Ok(ExitCode::SUCCESS)
}
