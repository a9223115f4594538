//! Replays the `weights` fuzz target's corpus (`fuzz/corpus/weights`) with its checks.

use sisr::models::ModelKind;
use sisr::weights::WeightsFile;
use std::path::Path;

#[test]
fn the_weights_fuzz_corpus_loads_or_fails_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/weights");
    let (mut loaded, mut total) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        total += 1;
        let Ok(file) = WeightsFile::parse(&data, Path::new("corpus.safetensors")) else { continue };
        let _ = file.scales();
        let Ok((kind, scale)) = file.model() else { continue };
        assert!(kind.scales().contains(&scale));
        if !matches!(kind, ModelKind::DrnPlus | ModelKind::Glrl128 | ModelKind::Drfn) && file.into_network(None, &sisr::default_device()).is_ok() {
            loaded += 1;
        }
    }
    // At least the f16 copy of the shipped c-DCSCN x2 seed loads.
    assert!(total >= 4 && loaded >= 1, "{loaded} of {total} loaded");
}
