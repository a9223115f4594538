//! Locating the read-only shared data (`../shared/data` from the repository root, or
//! `$SISR_DATA`). Tests that need it skip with a message when it is absent.

use std::path::PathBuf;

pub fn shared_data() -> Option<PathBuf> {
    let dir = match std::env::var_os("SISR_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: shared data not found at {} (set SISR_DATA)", dir.display());
        None
    }
}
