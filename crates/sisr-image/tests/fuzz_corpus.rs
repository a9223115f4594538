//! Replays the `decode` fuzz target's corpus (`fuzz/corpus/decode`, minimised after the fuzz
//! runs) with the target's own checks, so that every input the fuzzer kept stays handled.

use sisr_image::io::{DecodeLimits, Samples, decode};
use std::path::Path;

#[test]
fn the_decode_fuzz_corpus_decodes_or_fails_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode");
    let limits = DecodeLimits { max_width: 2048, max_height: 2048, max_alloc: 64 << 20 };
    let (mut decoded, mut total) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        total += 1;
        if let Ok(image) = decode(&data, Path::new("corpus"), &limits) {
            decoded += 1;
            let n = image.width * image.height * image.layout.channels();
            match &image.samples {
                Samples::U8(d) => assert_eq!(d.len(), n),
                Samples::U16(d) => assert_eq!(d.len(), n),
            }
        }
    }
    // The seeds (one per format and layout) are in the corpus and decode.
    assert!(total >= 11 && decoded >= 11, "{decoded} of {total} decoded");
}
