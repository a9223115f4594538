//! Locating the read-only shared data (`../shared/data` from the repository root, or
//! `$SISR_DATA`). Tests that need it skip with a message when it is absent,
//! and fail when `SISR_REQUIRE_DATA=1` (as in CI).

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
