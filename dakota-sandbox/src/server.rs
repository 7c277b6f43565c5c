//! The request pipeline: routing, authentication, rate limits, body limits, idempotency,
//! `X-Sandbox-*` fault injection, dispatch, and problem rendering.

use std::panic::AssertUnwindSafe;
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
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::problem::{for_status, ApiError, FieldError, PROBLEM_JSON};
use crate::routes::{self, Auth, Matched, Route};
use crate::state::{lock, RateInfo, SandboxState, Stored};
use crate::{applications, customers, ids, sandbox_ops, webhooks};

/// Header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "x-idempotency-key";
/// Header carrying an application token.
pub const APPLICATION_TOKEN_HEADER: &str = "x-application-token";
/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Set to `true` on a response replayed from the idempotency store.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// Every sandbox scenario name the spec lists for `X-Sandbox-Scenario`.
pub const SCENARIOS: &[&str] = &[
    "happy_path",
    "delayed_settlement",
    "insufficient_funds",
    "compliance_block",
    "invalid_account",
    "provider_maintenance",
    "network_congestion",
    "kyb_manual_review",
    "kyb_rejected",
    "kyb_expired",
    "network_timeout",
    "intermittent_errors",
    "account_frozen",
    "document_expired",
    "invalid_swift",
];

const ERROR_STEPS: &[&str] = &[
    "transaction_processing",
    "compliance_check",
    "account_validation",
    "provider_call",
    "kyb_submission",
    "kyb_approval",
    "network_call",
];

/// The axum router of a sandbox: every path goes through the sandbox's own pipeline (so
/// unknown routes, wrong methods and unimplemented spec operations get problem+json too).
pub fn router(state: SandboxState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    Anonymous,
    ApiKey,
    Application(String),
}

impl Principal {
    /// Idempotency-key scope.
    fn scope(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::ApiKey => "api-key".into(),
            Principal::Application(id) => format!("application:{id}"),
        }
    }
}

/// A successful (or typed non-problem) answer of a handler.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// JSON body of a generated type.
    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ApiError::internal(format!("could not encode the response: {e}")))?;
        Ok(Self {
            status,
            content_type: Some("application/json"),
            body: Bytes::from(body),
        })
    }

    /// No body.
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            content_type: None,
            body: Bytes::new(),
        }
    }

    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        if let Some(ct) = self.content_type {
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        resp
    }
}

/// One request as handlers see it.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a SandboxState,
    pub(crate) params: &'a [String],
    pub(crate) parts: &'a Parts,
    pub(crate) body: &'a Bytes,
    pub(crate) now: DateTime<Utc>,
}

impl Call<'_> {
    /// A request header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A boolean sandbox header (`true`/`1`/`yes`; anything else is false, as documented).
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.header(name)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
            .unwrap_or(false)
    }

    /// The `i`-th path parameter, which must be a KSUID.
    pub(crate) fn id_param(&self, i: usize, name: &str) -> Result<&str, ApiError> {
        let raw = self.params.get(i).map(String::as_str).unwrap_or_default();
        if ids::is_ksuid(raw) {
            Ok(raw)
        } else {
            Err(ApiError::field(
                name,
                "invalid_format",
                "must be a KSUID (27 letters and digits)",
            ))
        }
    }

    /// Query pairs in order (duplicates kept).
    pub(crate) fn query_pairs(&self) -> Result<Vec<(String, String)>, ApiError> {
        let q = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&self.parts.uri)?;
        Ok(q.0)
    }

    /// The body as JSON: `415` unless it is declared as JSON, `400` when empty or malformed.
    pub(crate) fn json(&self) -> Result<Value, ApiError> {
        let ct = self.header(CONTENT_TYPE.as_str());
        match ct {
            None if self.body.is_empty() => return Err(body_required()),
            None => return Err(unsupported_media_type("none")),
            Some(ct) => {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                if essence != "application/json" && !essence.ends_with("+json") {
                    return Err(unsupported_media_type(&essence));
                }
            }
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(body_required());
        }
        serde_json::from_slice(self.body).map_err(|e| {
            let mut err = ApiError::bad_request(format!("malformed JSON body: {e}"));
            err.errors = vec![FieldError::new("body", "malformed_json", e.to_string())];
            err
        })
    }
}

fn body_required() -> ApiError {
    ApiError::field("body", "required", "a JSON request body is required")
}

fn unsupported_media_type(got: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        format!("Content-Type must be application/json (got {got})"),
    )
}

/// Deserializes `value` into a generated type; the first mismatch becomes a field error.
pub(crate) fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let base = if path == "." { String::new() } else { path };
        let (field, code) = if let Some(rest) = msg.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            let f = if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}.{name}")
            };
            (f, "required")
        } else if msg.starts_with("invalid type") {
            (
                if base.is_empty() {
                    "body".to_owned()
                } else {
                    base
                },
                "invalid_type",
            )
        } else {
            (
                if base.is_empty() {
                    "body".to_owned()
                } else {
                    base
                },
                "invalid_value",
            )
        };
        ApiError::field(field, code, msg)
    })
}

async fn handle(State(state): State<SandboxState>, req: Request) -> Response {
    let request_id = ids::request_id();
    let (parts, body) = req.into_parts();
    let instance = format!("{}{}", state.base_url(), parts.uri.path());
    let mut rate: Option<RateInfo> = None;
    let mut delay: Option<Duration> = None;
    let outcome = process(&state, &parts, body, &mut rate, &mut delay).await;
    // Whatever the request changed (or a lazy read applied) goes out as webhook events now.
    state.flush_events();
    let mut resp = match outcome {
        Ok(r) => r,
        Err(e) => render(&e, &request_id, &instance),
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

fn api_key_state(state: &SandboxState, headers: &HeaderMap) -> (bool, bool) {
    match headers.get(API_KEY_HEADER) {
        None => (false, false),
        Some(v) => (
            true,
            constant_time_eq(v.as_bytes(), state.api_key().as_bytes()),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_from(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(APPLICATION_TOKEN_HEADER) {
        return v.to_str().ok().map(str::to_owned);
    }
    // The `application_url` carries the token as `?token=`; accept it there too.
    let q = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).ok()?;
    q.0.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn authenticate(
    state: &SandboxState,
    route: &Route,
    params: &[String],
    parts: &Parts,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    authenticate_inner(state, route, params, parts, now).map_err(|e| {
        if e.status == StatusCode::UNAUTHORIZED && route.auth_failure_is_403() {
            ApiError::forbidden(e.detail)
        } else {
            e
        }
    })
}

fn authenticate_inner(
    state: &SandboxState,
    route: &Route,
    params: &[String],
    parts: &Parts,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    let (key_present, key_ok) = api_key_state(state, &parts.headers);
    if route.auth == Auth::None {
        return Ok(if key_ok {
            Principal::ApiKey
        } else {
            Principal::Anonymous
        });
    }
    if key_ok {
        return Ok(Principal::ApiKey);
    }
    if key_present {
        return Err(ApiError::unauthorized(
            "The x-api-key header does not hold a valid API key",
        ));
    }
    match route.auth {
        Auth::None | Auth::ApiKey => Err(ApiError::unauthorized("Missing x-api-key header")),
        Auth::ApiKeyOrToken => {
            let Some(token) = token_from(parts) else {
                return Err(ApiError::unauthorized(
                    "Missing credentials: send x-api-key or X-Application-Token",
                ));
            };
            let mut store = lock(&state.inner.store);
            let Some(app_id) = store.tokens.get(&token).cloned() else {
                return Err(ApiError::unauthorized("Invalid application token"));
            };
            if params.first().map(String::as_str) != Some(app_id.as_str()) {
                return Err(ApiError::forbidden(
                    "The application token belongs to a different application",
                ));
            }
            if let Some(app) = store.app_mut(&app_id, now) {
                if app.expires_at <= now || app.is_expired() {
                    return Err(ApiError::forbidden("Invalid or expired token"));
                }
            }
            Ok(Principal::Application(app_id))
        }
    }
}

fn fingerprint(parts: &Parts, body: &Bytes) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    h.update(parts.uri.path().as_bytes());
    h.update([0]);
    h.update(parts.uri.query().unwrap_or_default().as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(raw) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Err(ApiError::field(
            IDEMPOTENCY_KEY_HEADER,
            "required",
            "The x-idempotency-key header is required on this request",
        ));
    };
    let parsed = raw
        .to_str()
        .ok()
        .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok());
    match parsed {
        Some(u) => Ok(u.hyphenated().to_string()),
        None => Err(ApiError::field(
            IDEMPOTENCY_KEY_HEADER,
            "invalid_format",
            "The x-idempotency-key header must be a UUID",
        )),
    }
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("The request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit") {
                return too_large();
            }
            source = s.source();
        }
        ApiError::bad_request(format!("could not read the request body: {e}"))
    })
}

async fn process(
    state: &SandboxState,
    parts: &Parts,
    body: Body,
    rate: &mut Option<RateInfo>,
    delay: &mut Option<Duration>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let cfg = state.config();
    let (route, params) = match routes::find(&parts.method, parts.uri.path()) {
        Matched::Found(r, p) => (r, p),
        Matched::NotFound => {
            *rate = Some(count(state, &anonymous_or_key(state, &parts.headers), now));
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("No route for {} {}", parts.method, parts.uri.path()),
            ));
        }
        Matched::MethodNotAllowed(allowed) => {
            *rate = Some(count(state, &anonymous_or_key(state, &parts.headers), now));
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

    let auth = authenticate(state, route, &params, parts, now);
    let info = count(state, auth.as_ref().unwrap_or(&Principal::Anonymous), now);
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
    if !route.implemented {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not-implemented",
            "Not implemented",
            format!(
                "The sandbox does not implement operation {} ({} {})",
                route.op_id, route.method, route.template
            ),
        ));
    }
    let limit = if route.op_id == routes::SANDBOX_UPLOAD {
        cfg.max_upload_bytes
    } else {
        cfg.max_body_bytes
    };
    let body = read_body(body, &parts.headers, limit).await?;

    if !route.needs_idempotency_key() {
        let reply = execute(
            state, route, &params, parts, &body, &principal, now, None, delay,
        )?;
        return Ok(reply.into_response());
    }
    let key = idempotency_key(&parts.headers)?;
    let slot = state.slot(&principal.scope(), &key);
    let mut guard = slot.lock_owned().await;
    let fp = fingerprint(parts, &body);
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
    let reply = execute(
        state,
        route,
        &params,
        parts,
        &body,
        &principal,
        now,
        Some(&key),
        delay,
    )?;
    if reply.status.is_success() {
        *guard = Some(Stored {
            fingerprint: fp,
            status: reply.status,
            content_type: reply.content_type.map(HeaderValue::from_static),
            body: reply.body.clone(),
        });
    }
    drop(guard);
    Ok(reply.into_response())
}

fn anonymous_or_key(state: &SandboxState, headers: &HeaderMap) -> Principal {
    if api_key_state(state, headers).1 {
        Principal::ApiKey
    } else {
        Principal::Anonymous
    }
}

fn count(state: &SandboxState, p: &Principal, now: DateTime<Utc>) -> RateInfo {
    let cfg = state.config();
    let t = now.timestamp();
    let window = i64::try_from(cfg.rate_limit_window.as_secs()).unwrap_or(60);
    match p {
        Principal::ApiKey => state.rate("api-key", cfg.rate_limit_per_minute, window, t),
        Principal::Application(id) => state.rate(
            &format!("application:{id}"),
            cfg.token_rate_limit_per_hour,
            3600,
            t,
        ),
        Principal::Anonymous => state.rate("anonymous", cfg.rate_limit_per_minute, window, t),
    }
}

/// `X-Sandbox-*` fault injection, before the operation runs.
fn faults(
    state: &SandboxState,
    parts: &Parts,
    principal: &Principal,
    key: Option<&str>,
    delay: &mut Option<Duration>,
) -> Result<(), ApiError> {
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(s) = parts.headers.get("x-sandbox-scenario") {
        let s = s.to_str().unwrap_or_default().trim();
        if !SCENARIOS.contains(&s) {
            return Err(ApiError::field(
                "X-Sandbox-Scenario",
                "invalid_enum",
                format!(
                    "unknown scenario; expected one of: {}",
                    SCENARIOS.join(", ")
                ),
            ));
        }
        match s {
            "provider_maintenance" => {
                return Err(for_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The verification provider is down for scheduled maintenance (sandbox scenario provider_maintenance)",
                )
                .with_header(RETRY_AFTER, 30));
            }
            "intermittent_errors" => {
                let counter = format!(
                    "{}\u{0}{}\u{0}{}",
                    principal.scope(),
                    parts.uri.path(),
                    key.unwrap_or("-")
                );
                if state.intermittent_should_fail(&counter) {
                    return Err(for_status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Transient upstream failure (sandbox scenario intermittent_errors: every other attempt fails)",
                    )
                    .with_header(RETRY_AFTER, 1));
                }
            }
            "network_timeout" => *delay = Some(state.config().network_timeout_delay),
            _ => {}
        }
    }
    if let Some(status) = header("x-sandbox-error-status").and_then(|s| s.parse::<u16>().ok()) {
        if (400..=599).contains(&status) {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let step = header("x-sandbox-error-step")
                .filter(|s| ERROR_STEPS.contains(s))
                .unwrap_or("provider_call");
            let message = header("x-sandbox-error-message")
                .filter(|m| !m.is_empty() && m.chars().count() <= 500)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Injected sandbox error at step {step}"));
            let mut err = for_status(status, message);
            if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS
            {
                err = err.with_header(RETRY_AFTER, 1);
            }
            return Err(err);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn execute(
    state: &SandboxState,
    route: &Route,
    params: &[String],
    parts: &Parts,
    body: &Bytes,
    principal: &Principal,
    now: DateTime<Utc>,
    key: Option<&str>,
    delay: &mut Option<Duration>,
) -> Result<Reply, ApiError> {
    if route.takes_fault_headers() {
        faults(state, parts, principal, key, delay)?;
    }
    let call = Call {
        state,
        params,
        parts,
        body,
        now,
    };
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| dispatch(route.op_id, &call)));
    match run {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(op = route.op_id, "handler panicked");
            Err(ApiError::internal(
                "The sandbox failed while handling this request",
            ))
        }
    }
}

fn dispatch(op: &str, call: &Call<'_>) -> Result<Reply, ApiError> {
    match op {
        "createCustomer" => customers::create(call),
        "listCustomers" => customers::list(call),
        "getCustomer" => customers::get(call),
        "listApplications" => applications::list(call),
        "getApplication" => applications::get(call),
        "createApplicationSubmission" => applications::submit(call),
        "updateBusinessApplicationDetails" => applications::put_business(call),
        "updateIndividualApplicationDetails" => applications::put_individual(call),
        "addAssociatedIndividual" => applications::add_associated(call),
        "updateAssociatedIndividual" => applications::update_associated(call),
        "deleteAssociatedIndividual" => applications::delete_associated(call),
        "submitAttestation" => applications::attest(call),
        "getEDD" => applications::get_edd(call),
        "createOrUpdateEDD" => applications::put_edd(call),
        "createApplicationDocumentUpload" => applications::application_upload(call),
        "createAssociatedIndividualDocumentUpload" => applications::individual_upload(call),
        "simulateOnboarding" => sandbox_ops::simulate(call),
        "listSandboxScenarios" => sandbox_ops::scenarios(call),
        "createWebhookTarget" => webhooks::create_target(call),
        "listWebhookTargets" => webhooks::list_targets(call),
        "getWebhookTarget" => webhooks::get_target(call),
        "updateWebhookTarget" => webhooks::update_target(call),
        "deleteWebhookTarget" => webhooks::delete_target(call),
        "listWebhookHistory" => webhooks::list_history(call),
        "getWebhookDelivery" => webhooks::get_delivery(call),
        "replayWebhookDelivery" => webhooks::replay(call),
        routes::SANDBOX_UPLOAD => sandbox_ops::receive_upload(call),
        other => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not-implemented",
            "Not implemented",
            format!("The sandbox does not implement operation {other}"),
        )),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        render(&self, "", "")
    }
}
