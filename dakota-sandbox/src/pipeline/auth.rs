//! Who made a request: `x-api-key`, or an application token (`X-Application-Token` or the
//! `?token=` of an `application_url`) on the routes that accept one.

use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};

use super::registry::{KeyCheck, TokenAuth};
use super::routes::{Auth, Route};
use crate::problem::ApiError;
use crate::state::SandboxState;

/// Header carrying an application token.
pub const APPLICATION_TOKEN_HEADER: &str = "x-application-token";
/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    Anonymous,
    ApiKey,
    Application(String),
}

impl Principal {
    /// Scope of idempotency keys and rate limits.
    pub(crate) fn scope(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::ApiKey => "api-key".into(),
            Principal::Application(id) => format!("application:{id}"),
        }
    }
}

/// `(present, valid)` for the request's `x-api-key`: `keys` decides when set, else only the
/// configured key is valid.
pub(crate) fn api_key_state(
    state: &SandboxState,
    keys: Option<KeyCheck>,
    headers: &HeaderMap,
) -> (bool, bool) {
    match headers.get(API_KEY_HEADER) {
        None => (false, false),
        Some(v) => {
            let valid = match (keys, v.to_str()) {
                (Some(check), Ok(key)) => check(state, key),
                (Some(_), Err(_)) => false,
                (None, _) => constant_time_eq(v.as_bytes(), state.api_key().as_bytes()),
            };
            (true, valid)
        }
    }
}

/// The API key's principal if it is valid, else anonymous.
pub(crate) fn anonymous_or_key(
    state: &SandboxState,
    keys: Option<KeyCheck>,
    headers: &HeaderMap,
) -> Principal {
    if api_key_state(state, keys, headers).1 {
        Principal::ApiKey
    } else {
        Principal::Anonymous
    }
}

/// Whether two byte strings are equal, in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    let q = parts.uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Authenticates a request for `route`; failures are `401`, or `403` where the spec
/// documents no `401`.
pub(crate) fn authenticate(
    state: &SandboxState,
    keys: Option<KeyCheck>,
    tokens: Option<TokenAuth>,
    route: &Route,
    params: &[String],
    parts: &Parts,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    authenticate_inner(state, keys, tokens, route, params, parts, now).map_err(|e| {
        if e.status == StatusCode::UNAUTHORIZED && route.auth_failure_is_403() {
            ApiError::forbidden(e.detail)
        } else if e.status == StatusCode::UNAUTHORIZED && route.auth_failure_is_404() {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("Not available without valid credentials: {}", e.detail),
            )
        } else {
            e
        }
    })
}

fn authenticate_inner(
    state: &SandboxState,
    keys: Option<KeyCheck>,
    tokens: Option<TokenAuth>,
    route: &Route,
    params: &[String],
    parts: &Parts,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    let (key_present, key_ok) = api_key_state(state, keys, &parts.headers);
    let strict = state.config().strict_auth;
    if strict && route.auth == Auth::TokenOnly && key_present {
        return Err(ApiError::unauthorized(
            "This operation is authorized by an application token (X-Application-Token) only; \
             the sandbox runs with strict auth, so x-api-key is not accepted here",
        ));
    }
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
    match (route.auth, tokens) {
        (Auth::ApiKeyOrToken | Auth::TokenOnly, Some(resolve)) => {
            let Some(token) = token_from(parts) else {
                return Err(ApiError::unauthorized(
                    "Missing credentials: send x-api-key or X-Application-Token",
                ));
            };
            let app = resolve(state, &token, params.first().map(String::as_str), now)?;
            Ok(Principal::Application(app))
        }
        (Auth::TokenOnly, None) if strict => {
            Err(ApiError::unauthorized("Missing X-Application-Token header"))
        }
        _ => Err(ApiError::unauthorized("Missing x-api-key header")),
    }
}
