//! Bounded response bodies: whatever a server sends, the client buffers at most a configured
//! number of bytes of a JSON body (and fewer of an error body) before the generated code
//! parses it. Past the limit, reading stops and the call fails with
//! [`crate::Error::BodyTooLarge`] naming the operation and the limit.
//!
//! A body announced larger than the limit (`Content-Length`) is refused without reading a
//! byte; a body of unknown length (chunked) is counted as it streams. A body of known length
//! within the limit passes untouched: hyper never reads past `Content-Length`. Binary success
//! bodies (document downloads: PDF, images, octet streams) are never limited: the generated
//! client hands them out as a stream.

use futures::StreamExt;
use reqwest::header::CONTENT_TYPE;
use reqwest::ResponseBuilderExt;
use std::fmt;

/// The body of a response exceeded its limit. Travels as the source of the `reqwest::Error`
/// the generated code sees, and becomes [`crate::Error::BodyTooLarge`] in [`crate::Dakota::call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimitExceeded {
    /// The operation (the spec's operationId).
    pub operation: &'static str,
    /// HTTP status of the response.
    pub status: u16,
    /// The limit in bytes.
    pub limit: usize,
    /// Which limit applied: `max_body_bytes` or `max_error_body_bytes`.
    pub which: &'static str,
}

impl fmt::Display for BodyLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: HTTP {} response body exceeds the {}-byte limit ({})",
            self.operation, self.status, self.limit, self.which
        )
    }
}

impl std::error::Error for BodyLimitExceeded {}

/// The limits of one client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest successful JSON body.
    pub(crate) body: usize,
    /// Largest error body.
    pub(crate) error_body: usize,
}

/// Whether a success body of this content type is parsed as JSON by the generated code (and
/// so buffered whole): JSON, `+json`, or no content type at all.
fn buffered(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    // Compared without allocating: this runs on every response.
    let essence = ct.split(';').next().unwrap_or("").trim().as_bytes();
    let ends_with = |suffix: &[u8]| {
        essence.len() >= suffix.len()
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    let starts_with = |prefix: &[u8]| {
        essence.len() >= prefix.len() && essence[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    essence.eq_ignore_ascii_case(b"application/json")
        || ends_with(b"+json")
        || starts_with(b"text/")
}

/// Put `resp`'s body under the limit that applies to it.
pub(crate) fn limit(
    resp: reqwest::Response,
    operation: &'static str,
    limits: Limits,
) -> reqwest::Response {
    let status = resp.status();
    let (limit, which) = if status.is_success() {
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if !buffered(ct) {
            return resp;
        }
        (limits.body, "max_body_bytes")
    } else {
        (limits.error_body, "max_error_body_bytes")
    };
    let exceeded = BodyLimitExceeded {
        operation,
        status: status.as_u16(),
        limit,
        which,
    };
    match resp.content_length() {
        Some(n) if n <= limit as u64 => resp,
        Some(_) => rebuild(resp, |_| {
            futures::stream::once(async move { Err::<bytes::Bytes, _>(exceeded) }).boxed()
        }),
        None => rebuild(resp, |resp| {
            resp.bytes_stream()
                .scan((0usize, false), move |(seen, failed), chunk| {
                    let item = if *failed {
                        None
                    } else {
                        Some(match chunk {
                            Ok(c) => {
                                *seen = seen.saturating_add(c.len());
                                if *seen > limit {
                                    *failed = true;
                                    Err(Box::new(exceeded) as crate::error::BoxError)
                                } else {
                                    Ok(c)
                                }
                            }
                            Err(e) => Err(Box::new(e) as crate::error::BoxError),
                        })
                    };
                    futures::future::ready(item)
                })
                .boxed()
        }),
    }
}

/// A response with the same status, version, headers and URL as `resp` and the body `body`
/// makes of it.
fn rebuild<S, E>(
    resp: reqwest::Response,
    body: impl FnOnce(reqwest::Response) -> S,
) -> reqwest::Response
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: Into<crate::error::BoxError> + 'static,
{
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let url = resp.url().clone();
    let body = reqwest::Body::wrap_stream(body(resp));
    let mut out = match http::Response::builder().url(url).body(()) {
        Ok(r) => r.map(|()| body),
        Err(_) => http::Response::new(body),
    };
    *out.status_mut() = status;
    *out.version_mut() = version;
    *out.headers_mut() = headers;
    reqwest::Response::from(out)
}

/// The [`BodyLimitExceeded`] somewhere in `e`'s chain of causes.
pub(crate) fn find(mut e: &(dyn std::error::Error + 'static)) -> Option<BodyLimitExceeded> {
    loop {
        if let Some(x) = e.downcast_ref::<BodyLimitExceeded>() {
            return Some(*x);
        }
        e = e.source()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_text_are_buffered_binaries_are_not() {
        assert!(buffered(None));
        assert!(buffered(Some("application/json")));
        assert!(buffered(Some("application/problem+json; charset=utf-8")));
        assert!(buffered(Some("text/html")));
        assert!(buffered(Some("Application/JSON")));
        assert!(buffered(Some(" TEXT/plain ; charset=utf-8")));
        assert!(!buffered(Some("json")));
        assert!(!buffered(Some("")));
        assert!(!buffered(Some("application/pdf")));
        assert!(!buffered(Some("image/png")));
        assert!(!buffered(Some("application/octet-stream")));
    }
}
