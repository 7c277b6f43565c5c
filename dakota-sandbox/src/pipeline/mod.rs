//! The HTTP pipeline every request goes through, and what handlers build on: routing against
//! the spec's path templates ([`routes`]), authentication ([`auth`]), rate limits ([`rate`]),
//! body limits, request shapes against the spec's schemas ([`shape`]), idempotency
//! ([`idempotency`]), `X-Sandbox-*` fault injection ([`faults`]),
//! dispatch to the handler a resource area registered ([`registry`]), and RFC 9457 problem
//! rendering. Handlers see a [`Call`] and answer a [`Reply`]; this module knows no resource
//! area (they depend on it, never the other way round).

pub(crate) mod auth;
pub(crate) mod call;
pub(crate) mod faults;
pub(crate) mod idempotency;
pub(crate) mod query;
pub(crate) mod rate;
pub(crate) mod registry;
pub(crate) mod routes;
pub(crate) mod shape;
pub(crate) mod validate;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};

pub(crate) use call::{typed, Call, Reply};
pub(crate) use registry::Registry;

use crate::durable::{IdemRow, Op};
use crate::ids;
use crate::problem::{ApiError, PROBLEM_JSON};
use crate::state::SandboxState;
use auth::Principal;
use idempotency::{Idempotency, Stored};
use rate::{RateInfo, RateLimits};
use routes::{Matched, Route};

/// Header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Set to `true` on a response replayed from the idempotency store.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// Everything the pipeline holds besides the sandbox's state.
pub(crate) struct Pipeline {
    state: SandboxState,
    registry: Registry,
    rate: RateLimits,
    idempotency: Idempotency,
    faults: faults::Faults,
}

/// The axum router of a sandbox serving the operations of `registry`: every path goes
/// through the pipeline (so unknown routes, wrong methods and operations without a handler
/// get problem+json too).
pub(crate) fn router(state: SandboxState, registry: Registry) -> Router {
    let idempotency = Idempotency::default();
    // The answers a data dir kept (taken by the first router built over this state).
    idempotency.restore(std::mem::take(&mut *crate::state::lock(
        &state.inner.recovered_responses,
    )));
    let pipeline = Arc::new(Pipeline {
        state,
        registry,
        rate: RateLimits::default(),
        idempotency,
        faults: faults::Faults::default(),
    });
    Router::new().fallback(handle).with_state(pipeline)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        render(&self, "", "")
    }
}

/// Renders a problem+json response.
pub(crate) fn render(e: &ApiError, request_id: &str, instance: &str) -> Response {
    let problem = e.to_problem(request_id, instance);
    let encoded = problem.ok().and_then(|p| serde_json::to_vec(&p).ok());
    let body = encoded.unwrap_or_else(|| {
        format!(
            r#"{{"type":"about:blank","title":"Error","status":{}}}"#,
            e.status.as_u16()
        )
        .into_bytes()
    });
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = e.status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    for (k, v) in &e.headers {
        h.insert(k.clone(), v.clone());
    }
    resp
}

/// A `400` in the body the operation documents for it (see [`registry::BadRequestBody`]): the
/// problem's members are kept beside the documented ones.
fn render_own(
    e: &ApiError,
    f: registry::BadRequestBody,
    params: &[String],
    request_id: &str,
    instance: &str,
) -> Response {
    let problem = e
        .to_problem(request_id, instance)
        .ok()
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or_default();
    match f(&problem, params) {
        Ok(body) => {
            let mut resp = Response::new(Body::from(body.to_string()));
            *resp.status_mut() = e.status;
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (k, v) in &e.headers {
                h.insert(k.clone(), v.clone());
            }
            resp
        }
        Err(other) => render(&other, request_id, instance),
    }
}

async fn handle(State(p): State<Arc<Pipeline>>, req: Request) -> Response {
    let request_id = ids::request_id();
    let (parts, body) = req.into_parts();
    let instance = format!("{}{}", p.state.base_url(), parts.uri.path());
    let mut rate: Option<RateInfo> = None;
    let mut delay: Option<Duration> = None;
    let outcome = p
        .process(&parts, body, &request_id, &mut rate, &mut delay)
        .await;
    // No answer leaves before every change it could have seen is on disk (data dir only).
    let outcome = match p.state.inner.store.settle().await {
        Ok(()) => outcome,
        Err(e) => Err(e),
    };
    let mut resp = match outcome {
        Ok(r) => r,
        Err(e) => match routes::find(&parts.method, parts.uri.path()) {
            Matched::Found(route, params) => {
                let own = p.registry.bad_request_body_of(route.op_id);
                match own.filter(|_| e.status == StatusCode::BAD_REQUEST) {
                    Some(f) => render_own(&e, f, &params, &request_id, &instance),
                    None => {
                        let mut resp = render(&e, &request_id, &instance);
                        // A few operations document their problem bodies as plain JSON.
                        if route.problem_as_json() {
                            resp.headers_mut()
                                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        }
                        resp
                    }
                }
            }
            _ => render(&e, &request_id, &instance),
        },
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    if let Some(r) = rate {
        h.insert(
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(r.limit),
        );
        h.insert(
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(r.remaining),
        );
        h.insert(
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderValue::from(r.reset),
        );
    }
    if let Some(d) = delay {
        tracing::debug!(?d, "network_timeout scenario: holding the response back");
        tokio::time::sleep(d).await;
    }
    resp
}

fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
        format!("The request body exceeds the limit of {limit} bytes"),
    )
}

/// The declared `Content-Length`, if any and numeric.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Longest request target (path and query) accepted.
pub(crate) const MAX_URI_BYTES: usize = 16 * 1024;
/// Most header bytes (names and values) accepted.
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;

/// `414`/`431` as problems (hyper only answers them itself, with an empty body, beyond its
/// own much larger limits).
fn check_head(parts: &Parts) -> Result<(), ApiError> {
    let uri = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "URI too long",
            format!("The request target has {uri} bytes; at most {MAX_URI_BYTES} are accepted"),
        ));
    }
    let headers: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request header fields too large",
            format!("The headers have {headers} bytes; at most {MAX_HEADER_BYTES} are accepted"),
        ));
    }
    Ok(())
}

fn body_timeout(d: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "Request timeout",
        format!("The request body did not arrive within {} s", d.as_secs()),
    )
}

/// Reads the body (at most `limit` bytes, within `timeout`); with `count_only` the bytes
/// are counted and dropped as they arrive, so memory holds one chunk at a time.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
    count_only: bool,
) -> Result<(Bytes, usize), ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(payload_too_large(limit));
    }
    if count_only {
        let counted = tokio::time::timeout(timeout, async {
            use http_body_util::BodyExt as _;
            let mut body = body;
            let mut n = 0usize;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| {
                    ApiError::bad_request(format!("could not read the request body: {e}"))
                })?;
                if let Some(data) = frame.data_ref() {
                    n = n.saturating_add(data.len());
                    if n > limit {
                        return Err(payload_too_large(limit));
                    }
                }
            }
            Ok(n)
        })
        .await
        .map_err(|_| body_timeout(timeout))??;
        return Ok((Bytes::new(), counted));
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| body_timeout(timeout))?;
    let bytes = read.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit") {
                return payload_too_large(limit);
            }
            source = s.source();
        }
        ApiError::bad_request(format!("could not read the request body: {e}"))
    })?;
    let n = bytes.len();
    Ok((bytes, n))
}

impl Pipeline {
    fn count(&self, p: &Principal, now: DateTime<Utc>) -> RateInfo {
        let cfg = self.state.config();
        let t = now.timestamp();
        let window = i64::try_from(cfg.rate_limit_window.as_secs()).unwrap_or(60);
        match p {
            Principal::ApiKey => self
                .rate
                .count("api-key", cfg.rate_limit_per_minute, window, t),
            Principal::Application(id) => self.rate.count(
                &format!("application:{id}"),
                cfg.token_rate_limit_per_hour,
                3600,
                t,
            ),
            Principal::Anonymous => {
                self.rate
                    .count("anonymous", cfg.rate_limit_per_minute, window, t)
            }
        }
    }

    async fn process(
        &self,
        parts: &Parts,
        body: Body,
        request_id: &str,
        rate: &mut Option<RateInfo>,
        delay: &mut Option<Duration>,
    ) -> Result<Response, ApiError> {
        let now = Utc::now();
        let state = &self.state;

        let (route, params) = match routes::find(&parts.method, parts.uri.path()) {
            Matched::Found(r, p) => (r, p),
            Matched::NotFound => {
                *rate = Some(self.count(
                    &auth::anonymous_or_key(state, self.registry.key_checker(), &parts.headers),
                    now,
                ));
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not found",
                    format!("No route for {} {}", parts.method, parts.uri.path()),
                ));
            }
            Matched::MethodNotAllowed(allowed) => {
                *rate = Some(self.count(
                    &auth::anonymous_or_key(state, self.registry.key_checker(), &parts.headers),
                    now,
                ));
                let allow = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    "Method not allowed",
                    format!(
                        "{} is not allowed on {}; allowed: {allow}",
                        parts.method,
                        parts.uri.path()
                    ),
                )
                .with_header(ALLOW, allow));
            }
        };

        self.serve(route, &params, parts, body, request_id, now, rate, delay)
            .await
            .map_err(|mut e| {
                // Only statuses the spec documents for the operation.
                let documented = route.documented_status(e.status.as_u16());
                if documented != e.status.as_u16() {
                    if let Ok(s) = StatusCode::from_u16(documented) {
                        tracing::debug!(op = route.op_id, from = %e.status, to = %s, "undocumented status mapped");
                        e.status = s;
                    }
                }
                e
            })
    }

    #[allow(clippy::too_many_arguments)]
    async fn serve(
        &self,
        route: &'static Route,
        params: &[String],
        parts: &Parts,
        body: Body,
        request_id: &str,
        now: DateTime<Utc>,
        rate: &mut Option<RateInfo>,
        delay: &mut Option<Duration>,
    ) -> Result<Response, ApiError> {
        let state = &self.state;
        let cfg = state.config();
        let auth = auth::authenticate(
            state,
            self.registry.key_checker(),
            self.registry.token_resolver(),
            route,
            params,
            parts,
            now,
        );
        let info = self.count(auth.as_ref().unwrap_or(&Principal::Anonymous), now);
        *rate = Some(info);
        if info.exceeded {
            let wait = (info.reset - now.timestamp()).max(1);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "Rate limit of {} requests exceeded; retry in {wait} s",
                    info.limit
                ),
            )
            .with_header(RETRY_AFTER, wait));
        }
        let principal = auth?;
        let Some(handler) = self.registry.handler(route.op_id) else {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not-implemented",
                "Not implemented",
                format!(
                    "The sandbox does not implement operation {} ({} {})",
                    route.op_id, route.method, route.template
                ),
            ));
        };
        let limit = if route.op_id == routes::SANDBOX_UPLOAD {
            cfg.max_upload_bytes
        } else {
            cfg.max_body_bytes
        };
        check_head(parts)?;
        shape::check_query(route.op_id, parts.uri.query())?;
        if let Some(check) = self.registry.precheck_of(route.op_id) {
            check(state, params, parts, now)?;
        }
        let (body, body_len) = read_body(
            body,
            &parts.headers,
            limit,
            cfg.body_read_timeout,
            self.registry.counts_body(route.op_id),
        )
        .await?;
        let req = Req {
            route,
            handler,
            params,
            parts,
            body: &body,
            body_len,
            principal: &principal,
            now,
            request_id,
        };

        if !route.needs_idempotency_key() {
            let reply = self.execute(&req, None, delay)?;
            return Ok(reply.into_response());
        }
        let key = idempotency::key_of(&parts.headers)?;
        let scope = principal.scope();
        let slot = self.idempotency.slot(&scope, &key);
        let mut guard = slot.clone().lock_owned().await;
        let fp = idempotency::fingerprint(parts, &body);
        if let Some(stored) = guard.as_ref() {
            if stored.fingerprint != fp {
                return Err(ApiError::new(
                    StatusCode::from_u16(route.idempotency_conflict_status())
                        .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                    "idempotency-key-reused",
                    "Idempotency key reused",
                    "This x-idempotency-key was already used with a different request",
                ));
            }
            let mut resp = Reply {
                status: stored.status,
                content_type: None,
                body: stored.body.clone(),
                headers: Vec::new(),
            }
            .into_response();
            if let Some(ct) = &stored.content_type {
                resp.headers_mut().insert(CONTENT_TYPE, ct.clone());
            }
            resp.headers_mut().insert(
                HeaderName::from_static(IDEMPOTENT_REPLAYED_HEADER),
                HeaderValue::from_static("true"),
            );
            return Ok(resp);
        }
        // With a data dir, the stored answer is saved in the same SQLite transaction as the
        // changes the handler makes: the committer cannot pass this reserved entry until it
        // is filled (see `crate::durable`).
        let mut ticket = self.state.inner.store.reserve();
        let reply = self.execute(&req, Some(&key), delay);
        let stored = match &reply {
            Ok(r) if r.status.is_success() => {
                let slot_name = idempotency::slot_key(&scope, &key);
                if let Some(t) = ticket.as_mut() {
                    t.push(Op::IdemPut(IdemRow {
                        slot: slot_name,
                        stored_at: now,
                        fingerprint: fp,
                        status: r.status.as_u16(),
                        content_type: r.content_type.map(str::to_owned),
                        body: r.body.to_vec(),
                    }));
                }
                *guard = Some(Stored {
                    fingerprint: fp,
                    status: r.status,
                    content_type: r.content_type.map(HeaderValue::from_static),
                    body: r.body.clone(),
                });
                true
            }
            _ => false,
        };
        if stored {
            for slot in self.idempotency.stored(&scope, &key, now) {
                if let Some(t) = ticket.as_mut() {
                    t.push(Op::IdemDelete { slot });
                }
            }
        }
        drop(ticket);
        // A request waiting on the same key sees the answer only once it is on disk.
        let settled = self.state.inner.store.settle().await;
        drop(guard);
        if !stored {
            // A failed request stores nothing: its slot is given back.
            self.idempotency.release(&scope, &key, slot);
        }
        settled?;
        Ok(reply?.into_response())
    }

    fn execute(
        &self,
        req: &Req<'_>,
        key: Option<&str>,
        delay: &mut Option<Duration>,
    ) -> Result<Reply, ApiError> {
        if req.route.takes_fault_headers() {
            self.faults.apply(
                req.parts,
                &req.principal.scope(),
                key,
                self.state.config().network_timeout_delay,
                delay,
            )?;
        }
        let call = Call {
            state: &self.state,
            op_id: req.route.op_id,
            params: req.params,
            parts: req.parts,
            body: req.body,
            body_len: req.body_len,
            now: req.now,
            request_id: req.request_id,
            idempotency_key: key,
        };
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| (req.handler)(&call)));
        match run {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(op = req.route.op_id, "handler panicked");
                Err(ApiError::internal(
                    "The sandbox failed while handling this request",
                ))
            }
        }
    }
}

/// One routed, authenticated request.
struct Req<'a> {
    route: &'static Route,
    handler: registry::Handler,
    params: &'a [String],
    parts: &'a Parts,
    body: &'a Bytes,
    body_len: usize,
    principal: &'a Principal,
    now: DateTime<Utc>,
    request_id: &'a str,
}
