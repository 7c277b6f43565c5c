//! dakota-rs maintainer tasks: the spec normalization pass, client generation with progenitor,
//! and the API-surface listing the snapshot tests guard. `src/main.rs` is the `cargo xtask` CLI.

pub mod conformance;
pub mod coverage;
pub mod evolve;
pub mod features;
pub mod generate;
pub mod lean_decode;
pub mod normalize;
pub mod open_enums;
pub mod resources;
pub mod stable;
pub mod surface;
pub mod synthetic;
pub mod union_constructors;
pub mod workspace;

pub use generate::{generate, Generated};
