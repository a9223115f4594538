//! `sisr serve`: a local web app over the sisr library. One embedded page and a small JSON
//! API; uploads become jobs in a bounded queue, run by a fixed number of workers (the CPU is
//! the bottleneck), and their results are the bytes `sisr upscale` writes for the same input
//! and options, because both decode, upscale and encode with the same library functions.
//!
//! Safety: loopback by default; requests whose `Host` is not the server's (DNS rebinding) and
//! cross-origin writes are refused; no CORS; uploads, decoded sizes, results, the queue and
//! the disk the results use are bounded; no request names a file: results live under opaque
//! job ids in a temporary folder that is deleted on shutdown.

mod api;
mod jobs;

use sisr_image::DecodeLimits;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use jobs::JobState;

/// How the server runs and what it allows.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Largest request body (the image and the form fields).
    pub max_upload_bytes: usize,
    /// Decoding limits of uploads (the CLI's `--max-dimension`, `--max-alloc-mb`); the
    /// allocation limit bounds each result's samples too.
    pub limits: DecodeLimits,
    /// Jobs waiting to run; a full queue answers 503 with Retry-After.
    pub queue: usize,
    /// Jobs running at once.
    pub workers: usize,
    /// How long a finished job and its result are kept.
    pub ttl: Duration,
    /// Disk the results may use together.
    pub max_disk_bytes: u64,
    /// Weights files served besides (or instead of) the shipped models, for the model and
    /// scales their headers name.
    pub weights: Vec<std::path::PathBuf>,
    /// Where the networks run (the CLI's `--backend`).
    pub device: sisr::Device,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_upload_bytes: 64 << 20,
            device: sisr::default_device(),
            limits: DecodeLimits::default(),
            queue: 16,
            workers: 1,
            ttl: Duration::from_secs(3600),
            max_disk_bytes: 2 << 30,
            weights: Vec::new(),
        }
    }
}

/// Binds `config.addr` and serves until `shutdown` completes; `on_listening` receives the bound
/// address (port 0 picks a free one). Queued jobs are cancelled at shutdown, the running ones
/// stop at their next stripe, and the results folder is deleted.
pub async fn serve(
    config: Config,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| anyhow::anyhow!("{}: cannot listen: {e}", config.addr))?;
    let addr = listener.local_addr()?;
    let (state, workers) = jobs::start(config, addr)?;
    let app = api::router(Arc::clone(&state));
    let sweeper = tokio::spawn(jobs::sweep(Arc::clone(&state)));
    on_listening(addr);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    sweeper.abort();
    state.shut_down();
    for w in workers {
        let _ = tokio::task::spawn_blocking(move || w.join()).await;
    }
    drop(state);
    Ok(())
}

/// Runs the server on its own runtime until Ctrl-C (what `sisr serve` calls).
pub fn run(config: Config, on_listening: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(serve(config, on_listening, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
}
