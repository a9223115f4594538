//! `sisr upscale`'s output planning over a folder tree the input describes: no panic, no
//! output that replaces an input, no two inputs sharing an output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sisr_cli::plan::fuzzing;

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().expect("a temporary folder");
    fuzzing::check(&fuzzing::build(data, root.path()));
});
