//! The weights loader (sisr's own files and the DCSCN authors' TF layout): any bytes are a
//! model whose every tensor matched its shape, or a named error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sisr::models::ModelKind;
use sisr::weights::WeightsFile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = WeightsFile::parse(data, Path::new("fuzz.safetensors")) else { return };
    let _ = file.scales();
    let Ok((kind, scale)) = file.model() else { return };
    assert!(kind.scales().contains(&scale));
    // Building the 35M-parameter variants on every input would only slow the search.
    if !matches!(kind, ModelKind::DrnPlus | ModelKind::Glrl128 | ModelKind::Drfn) {
        let _ = file.into_network(None, &sisr::default_device());
    }
});
