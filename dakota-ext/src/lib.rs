//! Ergonomic Dakota Platform client on top of the generated `dakota-api` crate.
//!
//! Everything a signature of this crate mentions is reachable from here, so depending on
//! `dakota-ext` alone is enough: the generated request and response types are [`types`] (the
//! builders are [`types::builder`]), the generated client is [`api`], and the `chrono`, `url`,
//! `reqwest` and `secrecy` types that appear in signatures are re-exported ([`DateTime`],
//! [`Utc`], [`Url`], [`SecretString`], and the crates themselves).

mod auth;
pub mod body_limit;
pub mod client;
pub mod error;
pub mod ksuid;
#[cfg(all(feature = "customers", feature = "onboarding"))]
pub mod onboarding;
mod pacing;
// With some tags off, helpers only the missing list operations used go unused.
#[cfg_attr(not(feature = "full"), allow(unused_imports, unused_macros, dead_code))]
pub mod pagination;
#[cfg(feature = "redis")]
mod redis_conn;
pub mod resources;
pub mod retry;
pub mod send;
#[cfg(feature = "redis")]
pub mod shared_budget;
pub mod time;
mod tls;
// Feature `webhook` (default): verification needs ed25519; typed events need the `events`,
// `customers` and `onboarding` tags, which the feature turns on.
#[cfg(feature = "webhook")]
pub mod webhook;

pub use client::{CallOptions, Dakota, DakotaBuilder, Environment, Response};
pub use error::{ApiError, Error, FieldError, Problem, TransportKind};
pub use ksuid::Ksuid;
#[cfg(all(feature = "customers", feature = "onboarding"))]
pub use onboarding::{
    Decision, DecisionFeed, NewCustomer, Onboarding, OnboardingApi, Transition, WaitPolicy,
};
#[cfg(feature = "customers")]
pub use pagination::CustomerFilter;
pub use pagination::{ListOperation, LIST_OPERATIONS};
#[cfg(feature = "redis")]
pub use redis_conn::RedisUnavailable;
pub use resources::{Dispatch, Resources};
pub use retry::RetryPolicy;
pub use send::SendWith;
#[cfg(feature = "redis")]
pub use shared_budget::{SharedRateBudget, SharedRateBudgetBuilder};
pub use time::{UnixNanos, UnixSeconds};
/// The event type of webhook deliveries and of the events feed alike (the same type as
/// [`webhook::Event`]; feature `webhook`).
#[cfg(feature = "webhook")]
pub use webhook::Event;

/// The generated crate: the client ([`api::Client`], what [`Dakota::api`] returns), its
/// per-operation builders ([`api::builder`]) and the spec's types ([`api::types`]).
pub use dakota_api as api;
/// The spec's request and response types (`types::CustomerCreateRequest`, ...) and their
/// builders (`types::builder::...`).
pub use dakota_api::types;

pub use chrono::{self, DateTime, Utc};
pub use reqwest;
pub use secrecy::{self, SecretString};
pub use url::{self, Url};

/// The README's Rust code blocks, compiled (and run where they need no server) as doctests of
/// this crate: `cargo test -p dakota-ext --doc`, with `--all-features` for the blocks that use
/// the `axum` and `redis` features.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
