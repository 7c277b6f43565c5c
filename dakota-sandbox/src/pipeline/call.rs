//! What a handler sees of a request ([`Call`]) and what it answers ([`Reply`]).

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::query::Query;
use crate::ids;
use crate::problem::{ApiError, FieldError};
use crate::state::SandboxState;
use crate::store::{Origin, Tables, Tx};

/// A successful (or typed non-problem) answer of a handler.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Bytes,
    /// Further response headers (e.g. a download's `Content-Disposition`).
    pub(crate) headers: Vec<(axum::http::HeaderName, HeaderValue)>,
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
            headers: Vec::new(),
        })
    }

    /// `200` with a JSON body.
    pub(crate) fn ok<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        Self::json(StatusCode::OK, value)
    }

    /// `201` with a JSON body.
    pub(crate) fn created<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        Self::json(StatusCode::CREATED, value)
    }

    /// No body.
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            content_type: None,
            body: Bytes::new(),
            headers: Vec::new(),
        }
    }

    /// `200` with raw bytes of a media type.
    pub(crate) fn bytes(content_type: &'static str, body: Bytes) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: Some(content_type),
            body,
            headers: Vec::new(),
        }
    }

    /// Adds a response header (values that are not valid header text are left out).
    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers
                .push((axum::http::HeaderName::from_static(name), v));
        }
        self
    }

    pub(crate) fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        if let Some(ct) = self.content_type {
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}

/// One request as handlers see it.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a SandboxState,
    /// The operation being served (its request schema is checked by [`Call::json`]).
    pub(crate) op_id: &'static str,
    pub(crate) params: &'a [String],
    pub(crate) parts: &'a Parts,
    pub(crate) body: &'a Bytes,
    /// Bytes the body had (for counted bodies, which are not kept).
    pub(crate) body_len: usize,
    pub(crate) now: DateTime<Utc>,
    pub(crate) request_id: &'a str,
    pub(crate) idempotency_key: Option<&'a str>,
}

impl Call<'_> {
    /// A request header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `X-Sandbox-Scenario` header, trimmed (the pipeline checked it names a scenario).
    pub(crate) fn scenario(&self) -> Option<&str> {
        self.header("x-sandbox-scenario").map(str::trim)
    }

    /// A boolean sandbox header (`true`/`1`/`yes`; anything else is false, as documented).
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.header(name)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
            .unwrap_or(false)
    }

    /// A boolean header as the spec types it: absent is `false`, `true`/`false` (any case) are
    /// themselves, anything else is a `400` naming the header.
    pub(crate) fn bool_header(&self, name: &str) -> Result<bool, ApiError> {
        match self.header(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(ApiError::field(
                name,
                "invalid_type",
                format!("{name} must be true or false"),
            )),
        }
    }

    /// The `i`-th path parameter as given.
    pub(crate) fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or_default()
    }

    /// The `i`-th path parameter, which must be a KSUID (`400` otherwise).
    pub(crate) fn id_param(&self, i: usize, name: &str) -> Result<&str, ApiError> {
        let raw = self.param(i);
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

    /// The `i`-th path parameter naming a record: anything that is not a KSUID cannot name
    /// one, so it is `404` like an unknown id (for operations that document no `400`).
    pub(crate) fn id_or_404(&self, i: usize, what: &str) -> Result<&str, ApiError> {
        let raw = self.param(i);
        if ids::is_ksuid(raw) {
            Ok(raw)
        } else {
            Err(ApiError::not_found(what, raw))
        }
    }

    /// The query string, parsed once (duplicates rejected, in linear time).
    pub(crate) fn query(&self) -> Result<Query, ApiError> {
        Query::parse(self.parts.uri.query().unwrap_or_default())
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
        let v: Value = serde_json::from_slice(self.body).map_err(|e| {
            let mut err = ApiError::bad_request(format!("malformed JSON body: {e}"));
            err.errors = vec![FieldError::new("body", "malformed_json", e.to_string())];
            err
        })?;
        super::shape::check_body(self.op_id, &v)?;
        Ok(v)
    }

    /// The body as a generated request type (a JSON object is required).
    pub(crate) fn body_as<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let v = self.json()?;
        super::validate::object(&v)?;
        typed(v)
    }

    /// Reads the store.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Tables) -> T) -> T {
        self.state.read(f)
    }

    /// Runs `f` as one atomic store transaction stamped with this request (its events carry
    /// the request id and idempotency key).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let origin = Origin {
            request_id: Some(self.request_id.to_owned()),
            idempotency_key: self.idempotency_key.map(str::to_owned),
        };
        self.state.write(self.now, Some(origin), f)
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
