//! One error type for everything the SDK can fail with.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A field-level validation message from a 400 problem body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct FieldError {
    /// The offending field (JSON path as Dakota reports it).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// A machine-readable code, when given.
    #[serde(default)]
    pub code: Option<String>,
}

/// An RFC 9457 problem body as Dakota sends it (`application/problem+json`). Every field is
/// optional here so a partial or non-conforming body still yields what it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Problem {
    /// Problem type URI.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Short summary.
    #[serde(default)]
    pub title: Option<String>,
    /// HTTP status the server put in the body.
    #[serde(default)]
    pub status: Option<u16>,
    /// Human-readable explanation of this occurrence.
    #[serde(default)]
    pub detail: Option<String>,
    /// URI of this occurrence.
    #[serde(default)]
    pub instance: Option<String>,
    /// Dakota's request id; quote it to Dakota support.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Field-level validation errors.
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// An error response from the API: a documented or undocumented non-2xx status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The body parsed as a problem, when it looks like one.
    pub problem: Option<Problem>,
    /// The body as JSON, when it is JSON (e.g. `ApplicationNotReadyError`,
    /// `InsufficientCreditsError`); read it with [`ApiError::body_as`].
    pub body: Option<serde_json::Value>,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
    /// Request id from the body or the `x-request-id` header.
    pub request_id: Option<String>,
    /// The idempotency key the request carried, so it can be reused or persisted.
    pub idempotency_key: Option<String>,
}

impl ApiError {
    /// Deserialize the JSON body into a specific error type of the spec.
    pub fn body_as<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.body
            .as_ref()
            .and_then(|b| serde_json::from_value(b.clone()).ok())
    }
}

/// What went wrong on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The request or the whole call timed out.
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The connection broke while sending or receiving.
    Other,
}

/// Everything a Dakota call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{}", describe_api(.0))]
    Api(Box<ApiError>),
    /// 429 after the retry policy gave up (or would have had to wait too long).
    #[error("rate limited by Dakota (HTTP 429){}", .retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long the server asked to wait.
        retry_after: Option<Duration>,
        /// Request id, when known.
        request_id: Option<String>,
        /// The idempotency key the request carried.
        idempotency_key: Option<String>,
    },
    /// The request never got a complete response.
    #[error("transport error ({kind:?}): {message}")]
    Transport {
        /// Timeout, connect, or other.
        kind: TransportKind,
        /// Description from the HTTP stack (never includes headers).
        message: String,
        /// The idempotency key the request carried.
        idempotency_key: Option<String>,
    },
    /// A response arrived but its body is not what the spec says.
    #[error("cannot decode HTTP {status} response ({}): {message}; body starts: {snippet:?}", content_type.as_deref().unwrap_or("no content type"))]
    Decode {
        /// HTTP status, 0 when unknown.
        status: u16,
        /// `Content-Type` of the response.
        content_type: Option<String>,
        /// The first bytes of the body (at most 200), lossily as text.
        snippet: String,
        /// The parser's message.
        message: String,
    },
    /// Rejected before any request was sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Configuration problem (bad base URL, unknown environment...).
    #[error("configuration error: {0}")]
    Config(String),
    /// Waiting (e.g. for an onboarding decision) took longer than allowed.
    #[error("timed out after {0:?} waiting for {1}")]
    WaitTimeout(Duration, &'static str),
}

fn describe_api(e: &ApiError) -> String {
    let mut s = format!("Dakota API error: HTTP {}", e.status);
    if let Some(p) = &e.problem {
        if let Some(t) = &p.title {
            s.push_str(&format!(": {t}"));
        }
        if let Some(d) = &p.detail {
            s.push_str(&format!(" ({d})"));
        }
        for f in &p.errors {
            s.push_str(&format!("; {}: {}", f.field, f.message));
        }
    }
    if let Some(id) = &e.request_id {
        s.push_str(&format!(" [request_id {id}]"));
    }
    s
}

impl Error {
    /// Whether retrying the same call (with the same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => matches!(e.status, 408 | 409 | 425 | 429 | 500 | 502 | 503 | 504),
            Error::RateLimited { .. } | Error::Transport { .. } => true,
            Error::Decode { status, .. } => *status >= 500,
            Error::InvalidInput(_) | Error::Config(_) | Error::WaitTimeout(..) => false,
        }
    }

    /// Dakota's request id, when the server gave one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::RateLimited { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The idempotency key the failed request carried: persist it and retry with it to be
    /// sure nothing is created twice.
    pub fn idempotency_key(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.idempotency_key.as_deref(),
            Error::RateLimited {
                idempotency_key, ..
            }
            | Error::Transport {
                idempotency_key, ..
            } => idempotency_key.as_deref(),
            _ => None,
        }
    }

    /// HTTP status, when a response was received.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::RateLimited { .. } => Some(429),
            Error::Decode { status, .. } if *status != 0 => Some(*status),
            _ => None,
        }
    }

    /// The parsed problem body, for API errors.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Api(e) => e.problem.as_ref(),
            _ => None,
        }
    }
}

/// At most `max` bytes of `body` as text, for error messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    String::from_utf8_lossy(cut).into_owned()
}

/// A redacting wrapper for secrets in `Debug` output.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}
