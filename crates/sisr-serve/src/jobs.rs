//! Jobs: a bounded queue, worker threads that run the network, results in a temporary folder
//! under opaque ids, and their expiry.

use crate::Config;
use rand::Rng;
use serde::Serialize;
use sisr::models::ModelKind;
use sisr::upscale::{UpscaleOptions, Upscaler, upscale_image_until};
use sisr_image::{Image, OutputFormat};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What the API shows of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: String,
    pub state: JobState,
    /// 0–1, from the tiling loop's stripes.
    pub progress: f64,
    pub error: Option<String>,
    pub model: String,
    pub scale: usize,
    pub input: [usize; 2],
    pub output: [usize; 2],
    /// The result's download name and MIME type.
    pub filename: String,
    pub mime: &'static str,
}

pub(crate) struct Job {
    pub view: JobView,
    result: Option<(PathBuf, u64)>,
    finished: Option<Instant>,
    cancel: Arc<AtomicBool>,
}

/// A job's work, handed to a worker.
pub(crate) struct Work {
    pub id: String,
    pub image: Image,
    pub kind: ModelKind,
    pub scale: usize,
    pub format: OutputFormat,
    pub opts: UpscaleOptions,
    cancel: Arc<AtomicBool>,
}

pub(crate) struct State {
    pub config: Config,
    /// `--weights` files by the (model, scale) pairs they serve.
    pub files: HashMap<(ModelKind, usize), PathBuf>,
    /// The address the server listens on (for the Host check).
    pub addr: SocketAddr,
    jobs: Mutex<HashMap<String, Job>>,
    queue: Mutex<Option<mpsc::Sender<Work>>>,
    dir: tempfile::TempDir,
    disk: AtomicU64,
}

/// Why a job could not be queued.
pub(crate) enum Refused {
    /// The queue is full (503, try again).
    Full,
    /// The server is stopping.
    Closed,
}

pub(crate) fn start(config: Config, addr: SocketAddr) -> anyhow::Result<(Arc<State>, Vec<std::thread::JoinHandle<()>>)> {
    let mut files = HashMap::new();
    for path in &config.weights {
        let file = sisr::weights::WeightsFile::read(path)?;
        let (kind, _) = file.model()?;
        for scale in file.scales()? {
            files.insert((kind, scale), path.clone());
        }
    }
    let dir = tempfile::Builder::new().prefix("sisr-serve-").tempdir()?;
    let (tx, rx) = mpsc::channel::<Work>(config.queue.max(1));
    let workers = config.workers.max(1);
    let state = Arc::new(State { config, files, addr, jobs: Mutex::new(HashMap::new()), queue: Mutex::new(Some(tx)), dir, disk: AtomicU64::new(0) });
    let rx = Arc::new(Mutex::new(rx));
    let handles = (0..workers)
        .map(|i| {
            let (state, rx) = (Arc::clone(&state), Arc::clone(&rx));
            std::thread::Builder::new().name(format!("sisr-worker-{i}")).spawn(move || worker(&state, &rx)).expect("a worker thread")
        })
        .collect();
    Ok((state, handles))
}

fn worker(state: &State, rx: &Mutex<mpsc::Receiver<Work>>) {
    let device = state.config.device.clone();
    // Each worker keeps the networks it has loaded.
    let mut loaded: HashMap<(ModelKind, usize), Upscaler> = HashMap::new();
    loop {
        let Some(work) = rx.lock().expect("queue lock").blocking_recv() else { return };
        if work.cancel.load(Ordering::SeqCst) {
            continue;
        }
        state.update(&work.id, |j| j.view.state = JobState::Running);
        sisr_image::pause::point("serve-job");
        let up = match loaded.entry((work.kind, work.scale)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match sisr::zoo::upscaler(Some(work.kind), Some(work.scale), state.files.get(&(work.kind, work.scale)).map(PathBuf::as_path), &device) {
                    Ok((up, _)) => e.insert(up),
                    Err(err) => {
                        state.fail(&work.id, err.to_string());
                        continue;
                    }
                }
            }
        };
        let hr = upscale_image_until(up, &work.image, &work.opts, &device, |done, total| {
            state.update(&work.id, |j| j.view.progress = done as f64 / total.max(1) as f64);
            if work.cancel.load(Ordering::SeqCst) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        let Some(hr) = hr else { continue };
        match sisr_image::io::encode(&hr, work.format, std::path::Path::new(&work.id)) {
            Ok(bytes) => state.store(&work.id, &bytes),
            Err(e) => state.fail(&work.id, e.to_string()),
        }
    }
}

/// A fresh id: 128 random bits, so that ids cannot be guessed or enumerated.
fn new_id() -> String {
    let v: u128 = rand::rng().random();
    format!("{v:032x}")
}

impl State {
    /// Queues `work` (its id is assigned here) under `view`; a full queue refuses it and
    /// nothing is kept.
    pub fn submit(&self, mut view: JobView, make: impl FnOnce(String, Arc<AtomicBool>) -> Work) -> Result<JobView, Refused> {
        let id = new_id();
        view.id = id.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let work = make(id.clone(), Arc::clone(&cancel));
        let queue = self.queue.lock().expect("queue lock");
        let Some(tx) = queue.as_ref() else { return Err(Refused::Closed) };
        // The record exists before a worker can see the work.
        self.jobs.lock().expect("jobs lock").insert(id.clone(), Job { view: view.clone(), result: None, finished: None, cancel });
        match tx.try_send(work) {
            Ok(()) => Ok(view),
            Err(e) => {
                self.jobs.lock().expect("jobs lock").remove(&id);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => Refused::Full,
                    mpsc::error::TrySendError::Closed(_) => Refused::Closed,
                })
            }
        }
    }

    pub fn view(&self, id: &str) -> Option<JobView> {
        self.jobs.lock().expect("jobs lock").get(id).map(|j| j.view.clone())
    }

    /// The result's bytes, once the job is done.
    pub fn result(&self, id: &str) -> Option<Result<(JobView, Vec<u8>), JobView>> {
        let (view, path) = {
            let jobs = self.jobs.lock().expect("jobs lock");
            let job = jobs.get(id)?;
            match &job.result {
                Some((path, _)) => (job.view.clone(), path.clone()),
                None => return Some(Err(job.view.clone())),
            }
        };
        match std::fs::read(&path) {
            Ok(bytes) => Some(Ok((view, bytes))),
            Err(_) => None,
        }
    }

    /// Cancels a job that has not finished and forgets it, deleting its result.
    pub fn delete(&self, id: &str) -> bool {
        let Some(job) = self.jobs.lock().expect("jobs lock").remove(id) else { return false };
        job.cancel.store(true, Ordering::SeqCst);
        self.discard(job);
        true
    }

    fn discard(&self, job: Job) {
        if let Some((path, size)) = job.result {
            let _ = std::fs::remove_file(path);
            self.disk.fetch_sub(size, Ordering::SeqCst);
        }
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().expect("jobs lock").get_mut(id) {
            f(job);
        }
    }

    fn fail(&self, id: &str, message: String) {
        self.update(id, |j| {
            j.view.state = JobState::Failed;
            j.view.error = Some(message);
            j.finished = Some(Instant::now());
        });
    }

    /// Writes a result under the job's id, within the disk budget.
    fn store(&self, id: &str, bytes: &[u8]) {
        let size = bytes.len() as u64;
        let used = self.disk.fetch_add(size, Ordering::SeqCst);
        if used + size > self.config.max_disk_bytes {
            self.disk.fetch_sub(size, Ordering::SeqCst);
            return self.fail(
                id,
                format!(
                    "the results already use {} MiB of the server's {} MiB; download and delete some, or wait for them to expire",
                    used >> 20,
                    self.config.max_disk_bytes >> 20
                ),
            );
        }
        let path = self.dir.path().join(id);
        if let Err(e) = sisr_image::io::write_atomic(&path, bytes) {
            self.disk.fetch_sub(size, Ordering::SeqCst);
            return self.fail(id, format!("cannot store the result: {e}"));
        }
        let mut jobs = self.jobs.lock().expect("jobs lock");
        match jobs.get_mut(id) {
            Some(job) => {
                job.view.state = JobState::Done;
                job.view.progress = 1.0;
                job.result = Some((path, size));
                job.finished = Some(Instant::now());
            }
            // Deleted while it ran.
            None => {
                drop(jobs);
                let _ = std::fs::remove_file(path);
                self.disk.fetch_sub(size, Ordering::SeqCst);
            }
        }
    }

    /// Forgets jobs finished longer than the time to live ago.
    fn expire(&self) {
        let ttl = self.config.ttl;
        let old: Vec<Job> = {
            let mut jobs = self.jobs.lock().expect("jobs lock");
            let ids: Vec<String> = jobs.iter().filter(|(_, j)| j.finished.is_some_and(|t| t.elapsed() >= ttl)).map(|(id, _)| id.clone()).collect();
            ids.iter().filter_map(|id| jobs.remove(id)).collect()
        };
        old.into_iter().for_each(|j| self.discard(j));
    }

    /// Stops taking jobs and cancels every unfinished one.
    pub fn shut_down(&self) {
        self.queue.lock().expect("queue lock").take();
        for job in self.jobs.lock().expect("jobs lock").values_mut() {
            if matches!(job.view.state, JobState::Queued | JobState::Running) {
                job.cancel.store(true, Ordering::SeqCst);
                job.view.state = JobState::Cancelled;
            }
        }
    }
}

/// Expires old results every few seconds.
pub(crate) async fn sweep(state: Arc<State>) {
    let every = (state.config.ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        state.expire();
    }
}

impl Work {
    pub fn new(id: String, cancel: Arc<AtomicBool>, image: Image, kind: ModelKind, scale: usize, format: OutputFormat, opts: UpscaleOptions) -> Self {
        Work { id, image, kind, scale, format, opts, cancel }
    }
}
