//! Helpers shared by the integration tests: the read-only shared data (`../shared/data` from
//! the repository root, or `$SISR_DATA`; tests that need it skip with a message when it is
//! absent, and fail when `SISR_REQUIRE_DATA=1`, as in CI) and networks with random weights. Each test crate uses a part of them.
#![allow(dead_code)]

use sisr::models::Net;
use sisr::models::dcscn::DcscnConfig;
use sisr::models::drfn::DrfnConfig;
use sisr::{ModelKind, Network};
use std::path::PathBuf;

pub fn shared_data() -> Option<PathBuf> {
    let dir = match std::env::var_os("SISR_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("SISR_REQUIRE_DATA").is_some_and(|v| v == "1") {
        panic!("shared data not found at {} and SISR_REQUIRE_DATA=1 (set SISR_DATA)", dir.display());
    } else {
        eprintln!("SKIPPED: shared data not found at {} (set SISR_DATA)", dir.display());
        None
    }
}

/// A network with random weights everywhere. DCSCN starts with L = 0 (its output is then
/// exactly the bicubic skip) and DRFN with a zero tail conv (a flat image), which would hide
/// the feature path from tests of gradients and tiling, so those layers are random here.
pub fn random_network(kind: ModelKind, scale: usize, device: &burn::tensor::Device) -> Network {
    let net = match kind {
        ModelKind::Dcscn => Net::Dcscn(DcscnConfig::new(scale).with_reconstruct_zero_init(false).init(device)),
        ModelKind::DcscnCompact => Net::Dcscn(DcscnConfig::compact(scale).with_reconstruct_zero_init(false).init(device)),
        ModelKind::Drfn | ModelKind::Drfn5m => Net::Drfn(DrfnConfig::of(kind, scale).with_tail_zero_init(false).init(device)),
        _ => return kind.build(scale, device).expect("a network"),
    };
    Network { kind, scale, net, precision: Default::default() }
}
