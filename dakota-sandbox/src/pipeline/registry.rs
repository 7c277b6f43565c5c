//! The operations a sandbox serves: operationId → handler, filled in by the resource areas
//! (see [`crate::resources`]) and handed to [`super::router`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::call::{Call, Reply};
use crate::problem::ApiError;
use crate::state::SandboxState;

/// Handles one operation.
pub(crate) type Handler = fn(&Call<'_>) -> Result<Reply, ApiError>;

/// Resolves an application token for a route that accepts one: given the token and the
/// application id in the path, the id of the application it authorizes (`401` for an unknown
/// token, `403` for another application's or an expired one).
pub(crate) type TokenAuth =
    fn(&SandboxState, &str, Option<&str>, DateTime<Utc>) -> Result<String, ApiError>;

/// Decides whether a presented `x-api-key` is a live key of the organization (the configured
/// key unless revoked, or one issued through the API keys operations).
pub(crate) type KeyCheck = fn(&SandboxState, &str) -> bool;
/// Checks a request before its body is read (e.g. that an upload target exists), so a body
/// nobody wants is never buffered.
pub(crate) type Precheck = fn(
    &SandboxState,
    &[String],
    &axum::http::request::Parts,
    DateTime<Utc>,
) -> Result<(), ApiError>;

/// Renders the `400` problem of an operation whose spec documents its own `400` body (in place
/// of `application/problem+json`): given the problem document and the path parameters, the
/// `application/json` body to send, or another error to answer instead.
pub(crate) type BadRequestBody =
    fn(&serde_json::Value, &[String]) -> Result<serde_json::Value, ApiError>;

/// Operation handlers and the hooks the pipeline calls.
#[derive(Default)]
pub(crate) struct Registry {
    handlers: BTreeMap<&'static str, Handler>,
    token_auth: Option<TokenAuth>,
    key_check: Option<KeyCheck>,
    prechecks: BTreeMap<&'static str, Precheck>,
    /// Operations whose body is counted, not kept (the handler sees its length only).
    counted: Vec<&'static str>,
    bad_request_bodies: BTreeMap<&'static str, BadRequestBody>,
}

impl Registry {
    /// Registers the handler of `operation_id` (an operationId of the spec, or the sandbox's
    /// own upload route). Registering one twice keeps the last.
    pub(crate) fn add(&mut self, operation_id: &'static str, handler: Handler) -> &mut Self {
        if self.handlers.insert(operation_id, handler).is_some() {
            tracing::warn!(operation_id, "operation registered twice");
        }
        self
    }

    /// Sets how application tokens are checked.
    pub(crate) fn token_auth(&mut self, f: TokenAuth) -> &mut Self {
        self.token_auth = Some(f);
        self
    }

    /// Sets how API keys are checked (default: only the configured key).
    pub(crate) fn key_check(&mut self, f: KeyCheck) -> &mut Self {
        self.key_check = Some(f);
        self
    }

    pub(crate) fn key_checker(&self) -> Option<KeyCheck> {
        self.key_check
    }

    /// Checks requests of `operation_id` with `f` before their body is read.
    pub(crate) fn precheck(&mut self, operation_id: &'static str, f: Precheck) -> &mut Self {
        self.prechecks.insert(operation_id, f);
        self
    }

    /// The body of `operation_id` is streamed and counted, never held in memory.
    pub(crate) fn count_body(&mut self, operation_id: &'static str) -> &mut Self {
        self.counted.push(operation_id);
        self
    }

    /// Answers the `400`s of `operation_id` (the pipeline's too: a missing header, a malformed
    /// body) with the body `f` makes, as `application/json`.
    pub(crate) fn bad_request_body(
        &mut self,
        operation_id: &'static str,
        f: BadRequestBody,
    ) -> &mut Self {
        self.bad_request_bodies.insert(operation_id, f);
        self
    }

    pub(crate) fn bad_request_body_of(&self, operation_id: &str) -> Option<BadRequestBody> {
        self.bad_request_bodies.get(operation_id).copied()
    }

    pub(crate) fn precheck_of(&self, operation_id: &str) -> Option<Precheck> {
        self.prechecks.get(operation_id).copied()
    }

    pub(crate) fn counts_body(&self, operation_id: &str) -> bool {
        self.counted.contains(&operation_id)
    }

    pub(crate) fn handler(&self, operation_id: &str) -> Option<Handler> {
        self.handlers.get(operation_id).copied()
    }

    pub(crate) fn token_resolver(&self) -> Option<TokenAuth> {
        self.token_auth
    }

    /// Every registered operationId, sorted.
    pub(crate) fn operations(&self) -> Vec<&'static str> {
        self.handlers.keys().copied().collect()
    }
}
