//! Signature and timestamp verification.

use super::error::{Field, WebhookError};
use super::event::Event;
use super::key::{unix_now, unix_seconds, WebhookKey};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use ed25519_dalek::Signature;
use std::time::{Duration, SystemTime};

/// Header carrying the base64 Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
/// Header carrying the Unix-seconds timestamp that is part of the signed message.
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";
/// Default allowed distance between the delivery timestamp and `now`, in either direction.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

const PAD_INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, PAD_INDIFFERENT);
const URL_SAFE_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, PAD_INDIFFERENT);

/// Where request headers come from. Implemented for [`http::HeaderMap`] (what axum, reqwest and
/// hyper use) and for slices, arrays and vectors of `(name, value)` pairs (names compared
/// case-insensitively), so any framework can be adapted.
pub trait HeaderSource {
    /// The first value of header `name` (given in lower case), as raw bytes.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderSource for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(http::HeaderValue::as_bytes)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> HeaderSource for [(K, V)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> HeaderSource for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> HeaderSource for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<T: HeaderSource + ?Sized> HeaderSource for &T {
    fn header(&self, name: &str) -> Option<&[u8]> {
        (**self).header(name)
    }
}

/// Verifies Dakota webhook deliveries.
///
/// ```
/// # use dakota_ext::webhook::{Verifier, WebhookKey};
/// # use std::time::Duration;
/// # fn demo(hex_from_dashboard: &str) -> Result<(), dakota_ext::webhook::WebhookError> {
/// let verifier = Verifier::new(WebhookKey::from_hex(hex_from_dashboard)?)
///     .tolerance(Duration::from_secs(120));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Verifier {
    keys: Vec<WebhookKey>,
    tolerance: Duration,
}

impl Verifier {
    /// A verifier for `key` with the default 300 s tolerance.
    pub fn new(key: WebhookKey) -> Self {
        Self {
            keys: vec![key],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Sets how far the delivery timestamp may be from `now`, in either direction.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Also accepts signatures by `key` (for rotating keys without dropping deliveries).
    pub fn also_accept(mut self, key: WebhookKey) -> Self {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
        self
    }

    /// The configured tolerance.
    pub fn tolerance_value(&self) -> Duration {
        self.tolerance
    }

    /// The accepted keys, the primary one first.
    pub fn keys(&self) -> &[WebhookKey] {
        &self.keys
    }

    /// Verifies a delivery and parses it into an [`Event`]: headers → timestamp tolerance →
    /// signature → JSON, in that order. `now` is the receiver's clock.
    pub fn verify<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        raw_body: &[u8],
        now: SystemTime,
    ) -> Result<Event, WebhookError> {
        self.verify_at(headers, raw_body, unix_seconds(now))
    }

    /// [`Verifier::verify`] against the system clock.
    pub fn verify_now<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        raw_body: &[u8],
    ) -> Result<Event, WebhookError> {
        self.verify_at(headers, raw_body, unix_now())
    }

    /// [`Verifier::verify`] with `now` given as Unix seconds.
    pub fn verify_at<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        raw_body: &[u8],
        now_unix: i64,
    ) -> Result<Event, WebhookError> {
        let body = self.verify_bytes_at(headers, raw_body, now_unix)?;
        Event::from_json(body).map_err(WebhookError::BadPayload)
    }

    /// Checks the signature only and hands back the verified body, unparsed (to store it
    /// verbatim, or to parse it into your own type).
    pub fn verify_bytes<'b, H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        raw_body: &'b [u8],
        now: SystemTime,
    ) -> Result<&'b [u8], WebhookError> {
        self.verify_bytes_at(headers, raw_body, unix_seconds(now))
    }

    /// [`Verifier::verify_bytes`] with `now` given as Unix seconds.
    pub fn verify_bytes_at<'b, H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        raw_body: &'b [u8],
        now_unix: i64,
    ) -> Result<&'b [u8], WebhookError> {
        let timestamp = headers
            .header(TIMESTAMP_HEADER)
            .ok_or(WebhookError::MissingHeader(TIMESTAMP_HEADER))?;
        let signature = headers
            .header(SIGNATURE_HEADER)
            .ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;
        self.verify_parts(timestamp, signature, raw_body, now_unix)?;
        Ok(raw_body)
    }

    /// The core check on the two header values as received, for stacks whose header type is
    /// not a [`HeaderSource`].
    pub fn verify_parts(
        &self,
        timestamp: impl AsRef<[u8]>,
        signature: impl AsRef<[u8]>,
        raw_body: &[u8],
        now_unix: i64,
    ) -> Result<(), WebhookError> {
        let ts_ascii = timestamp.as_ref().trim_ascii();
        let ts = parse_timestamp(ts_ascii)?;
        let sig = decode_signature(signature.as_ref())?;
        self.check_tolerance(ts, now_unix)?;

        let mut msg = Vec::with_capacity(ts_ascii.len() + raw_body.len());
        msg.extend_from_slice(ts_ascii);
        msg.extend_from_slice(raw_body);
        if self
            .keys
            .iter()
            .any(|k| k.verifying_key().verify_strict(&msg, &sig).is_ok())
        {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    fn check_tolerance(&self, ts: i64, now: i64) -> Result<(), WebhookError> {
        let diff = i128::from(now) - i128::from(ts);
        let secs =
            |d: i128| Duration::from_secs(u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX));
        if diff > 0 && secs(diff) > self.tolerance {
            return Err(WebhookError::Expired {
                age: secs(diff),
                tolerance: self.tolerance,
            });
        }
        if diff < 0 && secs(diff) > self.tolerance {
            return Err(WebhookError::InFuture {
                skew: secs(diff),
                tolerance: self.tolerance,
            });
        }
        Ok(())
    }
}

fn parse_timestamp(ascii: &[u8]) -> Result<i64, WebhookError> {
    let bad = |detail: &str| WebhookError::BadEncoding {
        field: Field::Timestamp,
        detail: detail.to_owned(),
    };
    if ascii.is_empty() {
        return Err(bad("empty"));
    }
    if !ascii.iter().all(u8::is_ascii_digit) {
        return Err(bad("not a decimal number of Unix seconds"));
    }
    // All ASCII digits, so valid UTF-8; the only possible parse failure is overflow.
    std::str::from_utf8(ascii)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| bad("out of range"))
}

fn decode_signature(raw: &[u8]) -> Result<Signature, WebhookError> {
    let s = raw.trim_ascii();
    if s.is_empty() {
        return Err(WebhookError::BadEncoding {
            field: Field::Signature,
            detail: "empty".to_owned(),
        });
    }
    let engine = if s.iter().any(|&b| b == b'-' || b == b'_') {
        &URL_SAFE_ANY_PAD
    } else {
        &STANDARD_ANY_PAD
    };
    let bytes = engine.decode(s).map_err(|e| WebhookError::BadEncoding {
        field: Field::Signature,
        detail: e.to_string(),
    })?;
    let arr: [u8; Signature::BYTE_SIZE] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| WebhookError::WrongLength {
                field: Field::Signature,
                expected: Signature::BYTE_SIZE,
                actual: bytes.len(),
            })?;
    Ok(Signature::from_bytes(&arr))
}
