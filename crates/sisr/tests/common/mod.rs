//! Helpers shared by the integration tests.

use sisr::models::dcscn::DcscnConfig;
use sisr::models::Net;
use sisr::{ModelKind, Network};

/// A network with random weights everywhere. DCSCN starts with L = 0 (its output is then
/// exactly the bicubic skip), which would hide the feature path from tests of gradients and
/// tiling, so its L is He-initialised here.
pub fn random_network(kind: ModelKind, scale: usize, device: &burn::tensor::Device) -> Network {
    let dcscn = match kind {
        ModelKind::Dcscn => DcscnConfig::new(scale),
        ModelKind::DcscnCompact => DcscnConfig::compact(scale),
        _ => return kind.build(scale, device).expect("a network"),
    };
    Network { kind, scale, net: Net::Dcscn(dcscn.with_reconstruct_zero_init(false).init(device)) }
}
