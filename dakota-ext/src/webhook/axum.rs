//! A ready-made axum endpoint (feature `axum`): verify → deduplicate → dispatch → answer.
//!
//! | Situation                                             | Answer | Handler called |
//! |-------------------------------------------------------|--------|----------------|
//! | Handler returned `Ok(())`                             | 200    | yes            |
//! | Redelivery of an event already processed              | 200    | no             |
//! | Redelivery while the first attempt is still running   | 409    | no             |
//! | Missing/malformed headers, stale timestamp, bad signature, body not an event | 400 | no |
//! | Body larger than the limit (1 MiB by default)         | 413    | no             |
//! | Handler returned `Err` or panicked                    | 500    | yes            |
//! | Idempotency store failed                              | 503    | no             |
//!
//! Errors are `application/problem+json` with a machine-readable `code` (see
//! [`WebhookError::code`]). A failed handler releases the event id, so Dakota's retry runs the
//! handler again; only a 2xx tells Dakota the event was handled. The same happens when the
//! request is cancelled mid-handler (client gone): the claim is released in the background.
//!
//! ```no_run
//! use dakota_ext::webhook::{axum::WebhookEndpoint, Event, InMemoryStore, Payload, Verifier, WebhookKey};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(WebhookKey::from_hex(&std::env::var("DAKOTA_WEBHOOK_KEY")?)?);
//! let app = WebhookEndpoint::new(verifier, InMemoryStore::new(), |event: Event| async move {
//!     if let Payload::Customer(customer) = &event.payload {
//!         println!("{} {:?}", event.event_type, customer.id());
//!     }
//!     Ok::<(), std::io::Error>(())
//! })
//! .into_router("/webhooks/dakota");
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use super::{Event, IdempotencyStore, Verifier, WebhookError};
use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::http::{header, HeaderValue, StatusCode};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{post, MethodRouter};
use ::axum::Router;
use futures::{FutureExt as _, StreamExt as _};
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Default maximum request body size (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default time an event id is remembered after processing (72 hours, comfortably longer than
/// Dakota's retry window).
pub const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(72 * 3600);

/// Builds the webhook endpoint: a [`Verifier`], an [`IdempotencyStore`] and your handler
/// `Fn(Event) -> impl Future<Output = Result<(), E>>`.
#[must_use]
pub struct WebhookEndpoint<S, H> {
    verifier: Verifier,
    store: S,
    handler: H,
    body_limit: usize,
    dedup_ttl: Duration,
}

impl<S, H> std::fmt::Debug for WebhookEndpoint<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .field("dedup_ttl", &self.dedup_ttl)
            .finish_non_exhaustive()
    }
}

/// Shorthand for `WebhookEndpoint::new(verifier, store, handler).into_router(path)`.
pub fn router<S, H, Fut, E>(path: &str, verifier: Verifier, store: S, handler: H) -> Router
where
    S: IdempotencyStore + 'static,
    H: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    WebhookEndpoint::new(verifier, store, handler).into_router(path)
}

impl<S, H, Fut, E> WebhookEndpoint<S, H>
where
    S: IdempotencyStore + 'static,
    H: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    /// An endpoint with a 1 MiB body limit and a 72 h deduplication window.
    pub fn new(verifier: Verifier, store: S, handler: H) -> Self {
        Self {
            verifier,
            store,
            handler,
            body_limit: DEFAULT_BODY_LIMIT,
            dedup_ttl: DEFAULT_DEDUP_TTL,
        }
    }

    /// Maximum accepted body size in bytes; larger requests get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long a processed event id is remembered.
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// A `POST` method router, to mount with `Router::route(path, …)` in your own app.
    pub fn into_method_router<St>(self) -> MethodRouter<St>
    where
        St: Clone + Send + Sync + 'static,
    {
        let inner = Arc::new(self);
        post(move |req: Request| {
            let inner = Arc::clone(&inner);
            async move { inner.serve(req).await }
        })
    }

    /// A router serving the endpoint at `path` (taken literally: `{`/`}` are not captures; a
    /// missing leading `/` is added). Merge it into your app with `Router::merge`.
    pub fn into_router(self, path: &str) -> Router {
        Router::new().route(&literal_path(path), self.into_method_router())
    }

    /// The whole pipeline for one request.
    async fn serve(self: Arc<Self>, req: Request) -> Response {
        let (parts, body) = req.into_parts();

        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.body_limit as u64) {
            return too_large(self.body_limit);
        }
        let body = match read_limited(body, self.body_limit).await {
            Ok(b) => b,
            Err(ReadError::TooLarge) => return too_large(self.body_limit),
            Err(ReadError::Io) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "body_unreadable",
                    "the request body could not be read",
                )
            }
        };

        let event = match self
            .verifier
            .verify(&parts.headers, &body, SystemTime::now())
        {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "rejected webhook delivery");
                return rejected(&e);
            }
        };
        let id = event.id.clone();

        match self.store.check_and_insert(&id, self.dedup_ttl).await {
            Ok(true) => {}
            Ok(false) => {
                return match self.store.is_done(&id).await {
                    Ok(true) => {
                        tracing::debug!(event_id = %id, "duplicate webhook delivery acknowledged");
                        ok_json("duplicate", &id)
                    }
                    Ok(false) => problem(
                        StatusCode::CONFLICT,
                        "in_progress",
                        "this event is still being processed; retry later",
                    ),
                    Err(e) => store_failed(&id, &e),
                }
            }
            Err(e) => return store_failed(&id, &e),
        }

        // From here on this request owns the event id: release it unless the handler succeeds,
        // even if this future is dropped halfway.
        let mut claim = Claim {
            endpoint: Some(Arc::clone(&self)),
            id: id.clone(),
        };
        let handler = &self.handler;
        let outcome = AssertUnwindSafe(async move { handler(event).await })
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(())) => {
                claim.endpoint = None;
                if let Err(e) = self.store.mark_done(&id, self.dedup_ttl).await {
                    // Handled: answer 2xx so Dakota does not deliver it again. The claim stays
                    // until its lease expires.
                    tracing::error!(event_id = %id, error = %e, "webhook event handled but could not be marked done");
                }
                ok_json("processed", &id)
            }
            Ok(Err(e)) => {
                tracing::error!(event_id = %id, error = %e, "webhook handler failed; Dakota will retry");
                self.release(&mut claim).await;
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "handler_failed",
                    "the event handler failed; the event was not marked as received",
                )
            }
            Err(_) => {
                tracing::error!(event_id = %id, "webhook handler panicked; Dakota will retry");
                self.release(&mut claim).await;
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "handler_failed",
                    "the event handler panicked; the event was not marked as received",
                )
            }
        }
    }

    async fn release(&self, claim: &mut Claim<S, H>) {
        if let Err(e) = self.store.remove(&claim.id).await {
            tracing::warn!(event_id = %claim.id, error = %e, "could not release webhook event id");
        }
        claim.endpoint = None;
    }
}

/// Releases an event id if dropped while still armed (request cancelled mid-handler).
struct Claim<S: IdempotencyStore + 'static, H: Send + Sync + 'static> {
    endpoint: Option<Arc<WebhookEndpoint<S, H>>>,
    id: String,
}

impl<S: IdempotencyStore + 'static, H: Send + Sync + 'static> Drop for Claim<S, H> {
    fn drop(&mut self) {
        let Some(endpoint) = self.endpoint.take() else {
            return;
        };
        let id = std::mem::take(&mut self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = endpoint.store.remove(&id).await {
                    tracing::warn!(event_id = %id, error = %e, "could not release webhook event id");
                }
            });
        }
    }
}

enum ReadError {
    TooLarge,
    Io,
}

async fn read_limited(body: Body, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ReadError::Io)?;
        if chunk.len() > limit.saturating_sub(buf.len()) {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Escapes axum's capture syntax so `path` is matched literally, and adds a leading `/`.
fn literal_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    for c in path.chars() {
        match c {
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
    out
}

fn rejected(e: &WebhookError) -> Response {
    problem(StatusCode::BAD_REQUEST, e.code(), &e.to_string())
}

fn too_large(limit: usize) -> Response {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        &format!("the request body exceeds {limit} bytes"),
    )
}

fn store_failed(id: &str, e: &super::StoreError) -> Response {
    // `e` carries the backend's reason (e.g. "Redis claim (SET NX PX): no answer within 1s").
    tracing::error!(event_id = %id, error = %e, "webhook idempotency store failed; answering 503 so Dakota retries");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the idempotency store is unavailable; retry later",
    )
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )],
        body.to_string(),
    )
        .into_response()
}

fn ok_json(status: &str, id: &str) -> Response {
    let body = serde_json::json!({ "status": status, "event_id": id });
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}
