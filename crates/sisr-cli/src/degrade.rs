//! `sisr degrade`: MATLAB-bicubic LR files named like their HR files.

use crate::LimitArgs;
use anyhow::{bail, Context, Result};
use sisr_image::io::{list_images, open, save};
use sisr_image::protocol::{color_planes_u8, degrade};
use sisr_image::Image;
use std::path::PathBuf;
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

pub fn run(args: DegradeArgs) -> Result<ExitCode> {
    if !(2..=64).contains(&args.scale) {
        bail!("--scale must be between 2 and 64");
    }
    let files = list_images(&args.dataset)?;
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
        let name = hr_path.file_stem().unwrap_or_default();
        let out = args.out.join(name).with_extension("png");
        save(&Image::from_planes_u8(&lr), &out)?;
    }
    eprintln!("wrote {} LR images (x{}) to {}", files.len(), args.scale, args.out.display());
    Ok(ExitCode::SUCCESS)
}
