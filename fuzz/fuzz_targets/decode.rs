//! Image decoding through `sisr_image::io::decode`: any bytes give an image that fits the
//! limits or a named error, never a panic or an allocation past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sisr_image::io::{decode, DecodeLimits, Samples};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_width: 2048, max_height: 2048, max_alloc: 64 << 20 };
    if let Ok(image) = decode(data, Path::new("fuzz"), &limits) {
        assert!(image.width <= 2048 && image.height <= 2048);
        let n = image.width * image.height * image.layout.channels();
        match &image.samples {
            Samples::U8(d) => assert_eq!(d.len(), n),
            Samples::U16(d) => assert_eq!(d.len(), n),
        }
    }
});
