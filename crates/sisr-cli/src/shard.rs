//! Batch upscaling across machines with the schedulers people already run: which shard this
//! process is (Slurm array jobs, Kubernetes Indexed Jobs, AWS Batch array jobs, or `I/N`), the
//! plan every shard shares (`sisr-plan.json`), and the JSON-lines manifest each shard appends
//! to next to the outputs, so that a retried shard redoes only what it had not finished.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Shard `index` (from 0) of `count`: the planned images whose position modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

fn number(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<i64>> {
    match env(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).with_context(|| format!("{name}={v:?} is not a number")),
    }
}

impl Shard {
    /// `I/N` (1 ≤ I ≤ N), or `auto`: the scheduler's environment (`env` reads a variable).
    /// Kubernetes gives only the index, so `auto` there needs `shard_count`.
    pub fn parse(spec: &str, shard_count: Option<usize>, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard> {
        if spec != "auto" {
            let (i, n) = spec
                .split_once('/')
                .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
                .filter(|&(i, n)| i >= 1 && i <= n)
                .with_context(|| format!("--shard {spec:?} must be I/N with 1 ≤ I ≤ N, or auto"))?;
            return Ok(Shard { index: i - 1, count: n });
        }
        if let Some(id) = number(env, "SLURM_ARRAY_TASK_ID")? {
            let min = number(env, "SLURM_ARRAY_TASK_MIN")?.context("SLURM_ARRAY_TASK_ID without SLURM_ARRAY_TASK_MIN")?;
            let max = number(env, "SLURM_ARRAY_TASK_MAX")?.context("SLURM_ARRAY_TASK_ID without SLURM_ARRAY_TASK_MAX")?;
            let step = number(env, "SLURM_ARRAY_TASK_STEP")?.unwrap_or(1);
            let count = number(env, "SLURM_ARRAY_TASK_COUNT")?;
            // Only an evenly stepped range maps to dense indices: `--array=1,4,9` does not.
            let dense = step > 0 && max >= min && (max - min) % step == 0 && (id - min) % step == 0 && (min..=max).contains(&id);
            let n = if dense { (max - min) / step + 1 } else { 0 };
            if !dense || count.is_some_and(|c| c != n) {
                bail!(
                    "--shard auto: the Slurm array (ids {min}..{max} step {step}, {} tasks, this one {id}) is not an evenly stepped range; use --array=A-B or A-B:S, or --shard I/N",
                    count.map_or("?".into(), |c| c.to_string())
                );
            }
            return Ok(Shard { index: ((id - min) / step) as usize, count: n as usize });
        }
        if let Some(index) = number(env, "JOB_COMPLETION_INDEX")? {
            let count = shard_count.context("--shard auto in a Kubernetes Indexed Job needs --shard-count N (the Job's completions)")?;
            if index < 0 || index as usize >= count {
                bail!("JOB_COMPLETION_INDEX={index} is outside 0..{count} (--shard-count)");
            }
            return Ok(Shard { index: index as usize, count });
        }
        if let Some(index) = number(env, "AWS_BATCH_JOB_ARRAY_INDEX")? {
            let size = number(env, "AWS_BATCH_JOB_ARRAY_SIZE")?.context("AWS_BATCH_JOB_ARRAY_INDEX without AWS_BATCH_JOB_ARRAY_SIZE")?;
            if index < 0 || index >= size {
                bail!("AWS_BATCH_JOB_ARRAY_INDEX={index} is outside 0..{size}");
            }
            return Ok(Shard { index: index as usize, count: size as usize });
        }
        bail!(
            "--shard auto: no scheduler variables (Slurm SLURM_ARRAY_TASK_ID, Kubernetes JOB_COMPLETION_INDEX, AWS Batch AWS_BATCH_JOB_ARRAY_INDEX); use --shard I/N"
        )
    }

    pub fn select<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items.iter().enumerate().filter(|(k, _)| k % self.count == self.index).map(|(_, t)| t.clone()).collect()
    }

    /// This shard's manifest file name (1-based, as people count shards).
    pub fn manifest_name(&self) -> String {
        format!("sisr-shard-{:04}-of-{:04}.jsonl", self.index + 1, self.count)
    }
}

pub const PLAN_FILE: &str = "sisr-plan.json";

/// What every shard must agree on: the (input, output) pairs and the options that decide the
/// outputs' bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedPlan {
    /// sha256 of everything below.
    pub hash: String,
    pub options: String,
    pub pairs: Vec<(String, String)>,
}

impl SharedPlan {
    pub fn new(pairs: &[(PathBuf, PathBuf)], options: String) -> SharedPlan {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(i, o)| (i.display().to_string(), o.display().to_string())).collect();
        let mut h = Sha256::new();
        h.update(options.as_bytes());
        for (i, o) in &pairs {
            h.update(format!("\n{i}\t{o}").as_bytes());
        }
        SharedPlan { hash: format!("{:x}", h.finalize()), options, pairs }
    }

    /// Writes the plan into `dir`, or checks that the one there is the same.
    pub fn record(&self, dir: &Path) -> Result<()> {
        let path = dir.join(PLAN_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let there: SharedPlan = serde_json::from_slice(&bytes).with_context(|| format!("{}: not a sisr plan", path.display()))?;
                if there.hash != self.hash {
                    bail!(
                        "{}: this folder holds the outputs of another plan (other inputs or options: {}); give this run another -o folder",
                        path.display(),
                        there.options
                    );
                }
                Ok(())
            }
            Err(_) => {
                std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
                let bytes = serde_json::to_vec_pretty(self).expect("serialisable");
                sisr_image::io::write_atomic(&path, &bytes).with_context(|| format!("{}: cannot write", path.display()))
            }
        }
    }

    pub fn read(dir: &Path) -> Result<SharedPlan> {
        let path = dir.join(PLAN_FILE);
        let bytes = std::fs::read(&path).with_context(|| format!("{}: no sisr plan here (written by `sisr upscale --shard … -o DIR`)", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not a sisr plan", path.display()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// About to be written.
    Pending,
    Done,
    Failed,
    /// The output existed before the run and was not this run's to replace.
    Skipped,
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub plan: String,
    pub shard: usize,
    pub shards: usize,
    pub input: String,
    pub output: String,
    pub status: Status,
    pub model: String,
    pub scale: usize,
    /// Whether the output existed when the image was marked pending (then a retry must redo it).
    #[serde(default)]
    pub existed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The lines of a manifest. A torn line (a kill mid-append: not even JSON) is skipped; its
/// record was never acknowledged, and the next run completes the line.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let mut records = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let record = serde_json::from_value(value).with_context(|| format!("{}: line {} is not a manifest record", path.display(), k + 1))?;
        records.push(record);
    }
    Ok(records)
}

/// This shard's manifest: the last record of each input, and appends that reach the disk.
pub struct Manifest {
    path: PathBuf,
    file: std::fs::File,
    last: HashMap<String, Record>,
}

impl Manifest {
    pub fn open(dir: &Path, shard: Shard, plan: &str) -> Result<Manifest> {
        let path = dir.join(shard.manifest_name());
        let records = read_records(&path)?;
        if let Some(other) = records.iter().find(|r| r.plan != plan) {
            bail!("{}: written for another plan ({}), not this one ({plan})", path.display(), other.plan);
        }
        let mut last = HashMap::new();
        for r in records {
            last.insert(r.input.clone(), r);
        }
        // A torn last line is completed by the next record's own line.
        let text_ends_clean = std::fs::read(&path).map(|b| b.last().is_none_or(|&c| c == b'\n')).unwrap_or(true);
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("{}: cannot open", path.display()))?;
        if !text_ends_clean {
            file.write_all(b"\n")?;
        }
        Ok(Manifest { path, file, last })
    }

    pub fn last(&self, input: &str) -> Option<&Record> {
        self.last.get(input)
    }

    pub fn append(&mut self, record: Record) -> Result<()> {
        let mut line = serde_json::to_string(&record).expect("serialisable");
        line.push('\n');
        self.file.write_all(line.as_bytes()).and_then(|_| self.file.sync_data()).with_context(|| format!("{}: cannot append", self.path.display()))?;
        self.last.insert(record.input.clone(), record);
        Ok(())
    }
}

pub fn sha256_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:x}", Sha256::digest(&bytes)))
}

/// What `sisr shards check` finds.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub planned: usize,
    pub done: usize,
    pub shards: Vec<String>,
    /// Planned inputs no manifest records as done.
    pub missing: Vec<String>,
    /// Inputs recorded as done more than once.
    pub duplicated: Vec<String>,
    /// Inputs whose last record is a failure (with the error).
    pub failed: Vec<(String, String)>,
    /// Done outputs that are gone or whose bytes are no longer the recorded ones.
    pub changed: Vec<String>,
    /// Manifests of another plan.
    pub foreign: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty() && self.failed.is_empty() && self.changed.is_empty() && self.foreign.is_empty()
    }
}

/// Reads every manifest of `dir` against its plan.
pub fn check(dir: &Path) -> Result<Report> {
    let plan = SharedPlan::read(dir)?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("sisr-shard-") && n.ends_with(".jsonl")))
        .collect();
    names.sort();
    let mut report = Report { planned: plan.pairs.len(), ..Report::default() };
    let mut done: HashMap<String, Vec<Record>> = HashMap::new();
    let mut last: HashMap<String, Record> = HashMap::new();
    for path in &names {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let records = read_records(path)?;
        if records.iter().any(|r| r.plan != plan.hash) {
            report.foreign.push(name);
            continue;
        }
        report.shards.push(name);
        for r in records {
            if r.status == Status::Done {
                done.entry(r.input.clone()).or_default().push(r.clone());
            }
            last.insert(r.input.clone(), r);
        }
    }
    for (input, output) in &plan.pairs {
        match done.get(input).map(Vec::as_slice) {
            None | Some([]) => match last.get(input) {
                Some(r) if r.status == Status::Failed => report.failed.push((input.clone(), r.error.clone().unwrap_or_default())),
                _ => report.missing.push(input.clone()),
            },
            Some(records) => {
                report.done += 1;
                if records.len() > 1 {
                    report.duplicated.push(input.clone());
                }
                // The record names the file written (a PNG where JPEG could not hold alpha).
                let written = records.last().expect("not empty");
                let path = if written.output.is_empty() { output } else { &written.output };
                if written.sha256.is_none() || sha256_file(Path::new(path)) != written.sha256 {
                    report.changed.push(path.clone());
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn schedulers_map_to_dense_shards() {
        let s = |spec: &str, n: Option<usize>, vars: &'static [(&'static str, &'static str)]| Shard::parse(spec, n, &env(vars));
        assert_eq!(s("2/4", None, &[]).unwrap(), Shard { index: 1, count: 4 });
        assert!(s("0/4", None, &[]).is_err() && s("5/4", None, &[]).is_err() && s("x", None, &[]).is_err());
        // Slurm --array=10-40:10 → ids 10, 20, 30, 40.
        let slurm = &[
            ("SLURM_ARRAY_TASK_ID", "30"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_MAX", "40"),
            ("SLURM_ARRAY_TASK_STEP", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(s("auto", None, slurm).unwrap(), Shard { index: 2, count: 4 });
        // --array=1,4,9: three tasks that no step maps to 0..3.
        let sparse = &[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_MAX", "9"), ("SLURM_ARRAY_TASK_COUNT", "3")];
        assert!(s("auto", None, sparse).unwrap_err().to_string().contains("evenly stepped"));
        let k8s = &[("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(s("auto", Some(5), k8s).unwrap(), Shard { index: 3, count: 5 });
        assert!(s("auto", None, k8s).unwrap_err().to_string().contains("--shard-count"));
        assert!(s("auto", Some(3), k8s).is_err());
        let aws = &[("AWS_BATCH_JOB_ARRAY_INDEX", "0"), ("AWS_BATCH_JOB_ARRAY_SIZE", "2")];
        assert_eq!(s("auto", None, aws).unwrap(), Shard { index: 0, count: 2 });
        assert!(s("auto", None, &[]).unwrap_err().to_string().contains("no scheduler variables"));
        let shard = Shard { index: 1, count: 3 };
        assert_eq!(shard.select(&[0, 1, 2, 3, 4, 5, 6]), vec![1, 4]);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_completed() {
        let dir = tempfile::tempdir().unwrap();
        let shard = Shard { index: 0, count: 1 };
        let rec = |input: &str, status| Record {
            plan: "p".into(),
            shard: 1,
            shards: 1,
            input: input.into(),
            output: "o".into(),
            status,
            model: "m".into(),
            scale: 2,
            existed: false,
            sha256: None,
            seconds: None,
            error: None,
        };
        let mut m = Manifest::open(dir.path(), shard, "p").unwrap();
        m.append(rec("a", Status::Pending)).unwrap();
        drop(m);
        let path = dir.path().join(shard.manifest_name());
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"plan\":\"p\",\"sha").unwrap();
        let mut m = Manifest::open(dir.path(), shard, "p").unwrap();
        assert_eq!(m.last("a").unwrap().status, Status::Pending);
        m.append(rec("a", Status::Done)).unwrap();
        let records = read_records(&path).unwrap();
        assert_eq!(records.iter().map(|r| r.status).collect::<Vec<_>>(), [Status::Pending, Status::Done]);
        assert!(Manifest::open(dir.path(), shard, "q").is_err());
    }
}
