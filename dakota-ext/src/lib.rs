//! Ergonomic Dakota Platform client on top of the generated `dakota-api` crate.

mod auth;
pub mod body_limit;
pub mod client;
pub mod error;
pub mod ksuid;
pub mod onboarding;
mod pacing;
pub mod pagination;
pub mod retry;
pub mod time;
pub mod webhook;

pub use client::{CallOptions, Dakota, DakotaBuilder, Environment, Response};
pub use error::{ApiError, Error, FieldError, Problem, TransportKind};
pub use ksuid::Ksuid;
pub use onboarding::{Decision, DecisionFeed, NewCustomer, Onboarding, Transition, WaitPolicy};
pub use pagination::{CustomerFilter, ListOperation, LIST_OPERATIONS};
pub use retry::RetryPolicy;
pub use time::{UnixNanos, UnixSeconds};
