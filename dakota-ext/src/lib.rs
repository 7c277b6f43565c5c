//! Ergonomic Dakota Platform client on top of the generated `dakota-api` crate.

mod auth;
pub mod body_limit;
pub mod client;
pub mod error;
pub mod ksuid;
pub mod onboarding;
mod pacing;
pub mod pagination;
#[cfg(feature = "redis")]
mod redis_conn;
pub mod retry;
#[cfg(feature = "redis")]
pub mod shared_budget;
pub mod time;
pub mod webhook;

pub use client::{CallOptions, Dakota, DakotaBuilder, Environment, Response};
pub use error::{ApiError, Error, FieldError, Problem, TransportKind};
pub use ksuid::Ksuid;
pub use onboarding::{Decision, DecisionFeed, NewCustomer, Onboarding, Transition, WaitPolicy};
pub use pagination::{CustomerFilter, ListOperation, LIST_OPERATIONS};
#[cfg(feature = "redis")]
pub use redis_conn::RedisUnavailable;
pub use retry::RetryPolicy;
#[cfg(feature = "redis")]
pub use shared_budget::{SharedRateBudget, SharedRateBudgetBuilder};
pub use time::{UnixNanos, UnixSeconds};
