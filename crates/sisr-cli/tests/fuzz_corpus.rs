//! Replays the `plan` fuzz target's corpus (`fuzz/corpus/plan`): each input builds a folder
//! tree and an `upscale` request, whose plan must keep every promise.

use sisr_cli::plan::fuzzing;
use std::path::Path;

#[test]
fn the_plan_fuzz_corpus_keeps_the_plan_promises() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/plan");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let root = tempfile::tempdir().unwrap();
        fuzzing::check(&fuzzing::build(&data, root.path()));
        total += 1;
    }
    assert!(total >= 2, "{total} corpus inputs");
}
