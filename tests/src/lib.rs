//! Integration tests live in `tests/tests/`; this library only holds shared helpers.

use std::path::PathBuf;

/// The workspace root (parent of this crate). `cargo test` sets `CARGO_MANIFEST_DIR` at run
/// time too, which names this checkout even when the test binary was built by another
/// checkout sharing `CARGO_TARGET_DIR`; the compile-time value is the fallback.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Read a file relative to the workspace root.
pub fn read(rel: &str) -> String {
    let path = workspace_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
