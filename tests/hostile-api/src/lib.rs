//! Fixture crate: the client generated from `xtask/fixtures/hostile.yaml`, a spec made only of
//! shapes that break unmodified progenitor. It compiles with the workspace, so every
//! normalization rule is proven to produce code that builds.

#[allow(
    clippy::all,
    unused_imports,
    dead_code,
    unreachable_patterns,
    missing_docs
)]
mod generated;
/// The typed httpmock helpers generated beside the client.
#[allow(clippy::all, unused_imports, dead_code, missing_docs)]
pub mod mock;
/// Shared with `dakota-api`: the same hand-written transport hook.
#[path = "../../../dakota-api/src/transport.rs"]
pub mod transport;

pub use generated::*;
