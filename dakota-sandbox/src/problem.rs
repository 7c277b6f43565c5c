//! RFC 9457 problem responses (`application/problem+json`, `types::ProblemDetails`).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use dakota_api::types;

/// Media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// One field-level validation error (`types::ValidationError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
    pub(crate) code: &'static str,
}

impl FieldError {
    pub(crate) fn new(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            code,
        }
    }
}

/// An error answer before the request-specific parts (`request_id`, `instance`) are filled in.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    /// Anchor of the problem type URI (`https://docs.dakota.xyz/api-reference/errors#{anchor}`).
    pub(crate) anchor: &'static str,
    pub(crate) title: String,
    pub(crate) detail: String,
    pub(crate) errors: Vec<FieldError>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        anchor: &'static str,
        title: &str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            anchor,
            title: title.to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 400 with a detail message.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    /// 400 listing field-level errors.
    pub(crate) fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "validation-error",
            "Validation failed",
            detail,
        );
        e.errors = errors;
        e
    }

    /// 400 for a single field.
    pub(crate) fn field(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication-error",
            "Unauthorized",
            detail,
        )
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("{what} not found"),
            format!("{what} not found: {id}"),
        )
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal server error",
            detail,
        )
    }

    /// Adds a response header (e.g. `Retry-After`, `Allow`).
    pub(crate) fn with_header(mut self, name: HeaderName, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((name, v));
        }
        self
    }

    /// The body as `types::ProblemDetails` (built through the generated builders; `None` only
    /// if the spec made a field we fill impossible to build, which the caller renders by hand).
    pub(crate) fn to_problem(
        &self,
        request_id: &str,
        instance: &str,
    ) -> Result<types::ProblemDetails, ApiError> {
        let errors = self
            .errors
            .iter()
            .map(|e| {
                build(
                    types::builder::ValidationError::default()
                        .field(e.field.clone())
                        .message(e.message.clone())
                        .code(Some(e.code.to_owned())),
                )
            })
            .collect::<Result<Vec<types::ValidationError>, ApiError>>()?;
        build(
            types::builder::ProblemDetails::default()
                .type_(format!(
                    "https://docs.dakota.xyz/api-reference/errors#{}",
                    self.anchor
                ))
                .title(self.title.clone())
                .status(i64::from(self.status.as_u16()))
                .detail(Some(self.detail.clone()))
                .instance(Some(instance.to_owned()))
                .request_id(Some(request_id.to_owned()))
                .errors(errors),
        )
    }
}

/// Finishes a generated builder (`types::builder::X`) into its type `T`. A builder that
/// cannot finish (a required field the sandbox left unset or a value the type refuses) is a
/// sandbox bug, answered `500` with the reason, never a panic.
pub(crate) fn build<T, B>(builder: B) -> Result<T, ApiError>
where
    T: TryFrom<B>,
    T::Error: std::fmt::Display,
{
    T::try_from(builder).map_err(|e| {
        tracing::error!(error = %e, ty = std::any::type_name::<T>(), "could not build a response value");
        ApiError::internal(format!(
            "the sandbox could not build a {}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("value")
        ))
    })
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("invalid query string: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(format!("invalid path parameter: {}", r.body_text()))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            ApiError::new(
                status,
                "unsupported-media-type",
                "Unsupported media type",
                r.body_text(),
            )
        } else if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload-too-large",
                "Payload too large",
                r.body_text(),
            )
        } else {
            ApiError::bad_request(r.body_text())
        }
    }
}

/// A problem for a status code injected by `X-Sandbox-Error-Status` or produced by a layer the
/// sandbox does not control: title from the canonical reason phrase.
pub(crate) fn for_status(status: StatusCode, detail: impl Into<String>) -> ApiError {
    let anchor = match status.as_u16() {
        400 => "invalid-request",
        401 => "authentication-error",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        409 => "conflict",
        413 => "payload-too-large",
        415 => "unsupported-media-type",
        422 => "unprocessable-entity",
        429 => "rate-limited",
        501 => "not-implemented",
        502 => "provider-error",
        503 => "service-unavailable",
        504 => "gateway-timeout",
        s if s >= 500 => "internal-error",
        _ => "invalid-request",
    };
    let title = status.canonical_reason().unwrap_or("Error");
    ApiError::new(status, anchor, title, detail)
}
