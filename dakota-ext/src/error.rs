//! One error type for everything the SDK can fail with.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The cause behind a transport or decode error (a `reqwest::Error`, a `serde_json::Error`, an
/// I/O error), reachable through [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
#[non_exhaustive]
pub enum TransportKind {
    /// An attempt timed out.
    Timeout,
    /// The connection could not be established (other than a refusal).
    Connect,
    /// Nothing listens at the address (connection refused).
    ConnectionRefused,
    /// The peer reset or closed the connection mid-exchange.
    ConnectionReset,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The server's answer is not valid HTTP (garbage, oversized headers, bad chunking).
    Protocol,
    /// The connection broke while sending or receiving, for another reason.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::ConnectionRefused => "connection refused",
            TransportKind::ConnectionReset => "connection reset",
            TransportKind::Tls => "TLS failure",
            TransportKind::Protocol => "invalid HTTP response",
            TransportKind::Other => "connection failed",
        })
    }
}

/// Everything a Dakota call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error("{}: {kind}: {message}", .operation.unwrap_or("request"))]
    Transport {
        /// What kind of failure (refused, reset, timeout, TLS...).
        kind: TransportKind,
        /// Description from the HTTP stack, with its causes (never includes headers or URLs).
        message: String,
        /// The operation (the spec's operationId), when known.
        operation: Option<&'static str>,
        /// The idempotency key the request carried.
        idempotency_key: Option<String>,
        /// The underlying error (`reqwest::Error`, and through it the I/O or TLS error).
        #[source]
        source: Option<BoxError>,
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
        /// The parser's message (for JSON: what is wrong, at line:column).
        message: String,
        /// The parser's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A response body was larger than the configured limit; reading stopped there.
    #[error("{operation}: HTTP {status} response body exceeds the {limit}-byte limit ({which}); raise it with DakotaBuilder::{which}")]
    BodyTooLarge {
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// HTTP status of the response.
        status: u16,
        /// The limit in bytes.
        limit: usize,
        /// Which limit: `max_body_bytes` (successful JSON) or `max_error_body_bytes`.
        which: &'static str,
    },
    /// The operation needs a credential this client was not given; nothing was sent.
    #[error("{operation} needs {credential}, which this client was not given (nothing was sent)")]
    MissingCredential {
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// The credential it needs: `an API key (x-api-key)` or `an application token`.
        credential: &'static str,
    },
    /// The server redirected to another origin; the request was not repeated there, so no
    /// credential, idempotency key or body left for it.
    #[error("{operation}: HTTP {status} redirect to another origin ({}) refused", location.as_deref().unwrap_or("no location"))]
    Redirect {
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// The redirect status.
        status: u16,
        /// The `Location` the server gave.
        location: Option<String>,
    },
    /// The call's overall deadline passed (all attempts and waits together).
    #[error(
        "{operation}: no answer within the call deadline of {deadline:?} ({attempts} attempt(s))"
    )]
    Deadline {
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// The configured deadline.
        deadline: Duration,
        /// Attempts made.
        attempts: u32,
        /// The idempotency key the request carried: retry with it later.
        idempotency_key: Option<String>,
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
    /// Whether retrying the same call later (with the same idempotency key) may succeed: the
    /// statuses and transport failures the client's own retry loop retries
    /// ([`crate::retry::retryable_status`]), and a passed deadline.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => crate::retry::retryable_status(e.status),
            Error::RateLimited { .. } | Error::Deadline { .. } => true,
            Error::Transport { kind, .. } => *kind != TransportKind::Protocol,
            _ => false,
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
            }
            | Error::Deadline {
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
            Error::BodyTooLarge { status, .. } | Error::Redirect { status, .. } => Some(*status),
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

/// The cause of `c`. An `io::Error` wrapping another error reports that error's *source* as
/// its own, skipping the wrapped error itself (an inner `io::Error`, a TLS error): step into
/// it instead.
fn next_cause<'a>(
    c: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    match c
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
        None => c.source(),
    }
}

/// What kind of wire failure `e` is, from reqwest's flags and the I/O, hyper or TLS error
/// among its causes.
pub(crate) fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        return TransportKind::Timeout;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return TransportKind::ConnectionRefused,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return TransportKind::ConnectionReset
                }
                K::TimedOut => return TransportKind::Timeout,
                // While connecting, only the TLS layer reads data it can find invalid (rustls
                // reports a plain-HTTP answer or a corrupt record this way).
                K::InvalidData if e.is_connect() => return TransportKind::Tls,
                _ => {}
            }
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() {
                return TransportKind::Protocol;
            }
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
                return TransportKind::ConnectionReset;
            }
        }
        // rustls and native-tls errors are not nameable without their crates; their messages are.
        let text = c.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return TransportKind::Tls;
        }
        cause = next_cause(c);
    }
    if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    }
}

/// `e` and its causes as one line, each distinct message once (no URL: reqwest's own
/// message would carry the request URL, query string included).
fn chain_message(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = next_cause(c);
    }
    parts.join(": ")
}

/// A transport error for `operation`, keeping `e` as its source.
pub(crate) fn transport(
    e: reqwest::Error,
    operation: Option<&'static str>,
    idempotency_key: Option<String>,
) -> Error {
    let e = e.without_url();
    Error::Transport {
        kind: transport_kind(&e),
        message: chain_message(&e),
        operation,
        idempotency_key,
        source: Some(Box::new(e)),
    }
}
