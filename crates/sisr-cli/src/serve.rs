//! `sisr serve`: the web app (crate `sisr-serve`) with the command line's limits.

use crate::context::{Globals, LimitArgs};
use anyhow::Result;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default; any other address is reachable from the
    /// network (a warning is printed). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Open the page in the default browser.
    #[arg(long)]
    open: bool,
    /// Jobs that may wait; a full queue answers 503 with Retry-After.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    queue: u32,
    /// Jobs that run at once (each uses every core).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Largest upload (MiB).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    max_upload_mb: u64,
    /// Disk the results may use together (MiB).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    max_disk_mb: u64,
    /// Minutes a finished job's result is kept.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    ttl_minutes: u64,
    /// Also serve these weights files (e.g. your own `sisr train` result) for the model and
    /// scales their headers name; repeatable.
    #[arg(long)]
    weights: Vec<std::path::PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

pub fn run(args: ServeArgs, ctx: &Globals) -> Result<ExitCode> {
    let config = sisr_serve::Config {
        addr: args.addr,
        max_upload_bytes: (args.max_upload_mb << 20) as usize,
        limits: args.limits.limits(),
        queue: args.queue as usize,
        workers: args.workers as usize,
        ttl: Duration::from_secs(args.ttl_minutes * 60),
        max_disk_bytes: args.max_disk_mb << 20,
        weights: args.weights.clone(),
        device: ctx.device.clone(),
    };
    if !args.addr.ip().is_loopback() {
        eprintln!("warning: listening on {}, which other machines can reach; anyone who can connect can use this server", args.addr);
    }
    let open = args.open;
    sisr_serve::run(config, |addr| {
        let url = format!("http://{addr}/");
        println!("sisr serve: {url} (Ctrl-C stops)");
        let _ = std::io::stdout().flush();
        if open {
            open_browser(&url);
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(url).spawn() {
        eprintln!("note: cannot open a browser ({opener}: {e}); open {url} yourself");
    }
}
