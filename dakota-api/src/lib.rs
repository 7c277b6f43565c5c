//! Generated Rust client and types for the Dakota Platform API.
//!
//! Everything in `generated` comes from `openapi/dakota.yaml` through `cargo xtask generate`
//! (progenitor, builder interface); never edit it by hand. This file, [`transport`] and
//! [`ksuid`] are the only hand-written parts: `transport` lets a higher layer (dakota-ext) run
//! every request through its own pipeline (auth, idempotency keys, retries, tracing) via
//! progenitor's `exec` hook; `ksuid` is the spec's `KSUID` schema as a validated type, which
//! the generator substitutes for the schema everywhere (`types::Ksuid` is the same type).
//!
//! Enums are forward-compatible: a value the spec does not list deserializes into the
//! `Unknown(String)` variant every enum has, instead of failing the response.

#![allow(missing_docs)]

/// One sample call per operation through the generated builders, with arguments from the
/// spec's examples: for wire-conformance tests of a [`transport::Transport`] (feature
/// `conformance`; dakota-ext's tests use it).
#[cfg(feature = "conformance")]
#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    missing_docs,
    rustdoc::all
)]
pub mod conformance;
#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    irrefutable_let_patterns,
    unreachable_patterns,
    unreachable_code,
    unused_variables,
    rustdoc::all
)]
mod generated;
pub mod ksuid;
/// Typed [httpmock](https://docs.rs/httpmock) helpers for every operation, generated with the
/// client: `server.get_customer(|when, then| { ... })` stubs `getCustomer` with typed
/// parameters and bodies. Enable the `mock` feature in your dev-dependencies.
#[cfg(feature = "mock")]
#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    missing_docs,
    rustdoc::all
)]
pub mod mock;
/// TS-SDK-style resource accessors generated with the client, one per operation:
/// `dakota.recipients().create(customer_id, body)` on anything implementing
/// [`resources::Dispatch`] (dakota-ext's `Dakota` does, through its pipeline).
#[allow(clippy::all, clippy::pedantic, rustdoc::all)]
pub mod resources;
pub mod transport;

pub use generated::*;
pub use ksuid::{Ksuid, KsuidError};
