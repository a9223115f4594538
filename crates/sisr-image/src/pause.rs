//! Pause points, so that tests can kill a process at an exact place (in the middle of an
//! atomic write, between a log row and its checkpoint) instead of after a guessed delay.
//!
//! `SISR_TEST_PAUSE=NAME@N` makes the N-th pass through point `NAME` print
//! `sisr: paused at NAME@N` on standard error and wait there until the process is killed.
//! Unset, a point costs one environment lookup per process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
static PASSES: AtomicU64 = AtomicU64::new(0);

/// The message a paused process prints.
pub const PAUSED: &str = "sisr: paused at ";

pub fn point(name: &str) {
    let target = TARGET.get_or_init(|| {
        let spec = std::env::var("SISR_TEST_PAUSE").ok()?;
        let (point, nth) = spec.rsplit_once('@')?;
        Some((point.to_string(), nth.parse().ok()?))
    });
    if let Some((point, nth)) = target
        && point == name
        && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *nth
    {
        eprintln!("{PAUSED}{name}@{nth}");
        loop {
            std::thread::park();
        }
    }
}
