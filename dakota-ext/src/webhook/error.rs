//! Why a webhook delivery was rejected.

use std::fmt;
use std::time::Duration;

/// The input a [`WebhookError::BadEncoding`] or [`WebhookError::WrongLength`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The `x-webhook-signature` header.
    Signature,
    /// The `x-webhook-timestamp` header.
    Timestamp,
    /// The hex-encoded public key.
    Key,
}

impl Field {
    /// A stable, machine-readable name (`"signature"`, `"timestamp"`, `"key"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Signature => "signature",
            Field::Timestamp => "timestamp",
            Field::Key => "key",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Signature => "signature header `x-webhook-signature`",
            Field::Timestamp => "timestamp header `x-webhook-timestamp`",
            Field::Key => "webhook public key",
        })
    }
}

/// Why a delivery (or a key) was rejected. Every variant names the exact reason; none of them
/// echoes secret material or more than a short excerpt of attacker-controlled input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// The signature is not base64, the timestamp is not a decimal number, or the key is not hex.
    #[error("{field} is not validly encoded: {detail}")]
    BadEncoding {
        /// Which input.
        field: Field,
        /// What is wrong with it.
        detail: String,
    },
    /// The input decoded, but to the wrong number of bytes (signature ≠ 64, key ≠ 32).
    #[error("{field} decodes to {actual} bytes, expected {expected}")]
    WrongLength {
        /// Which input.
        field: Field,
        /// The length the input must have.
        expected: usize,
        /// The length it had.
        actual: usize,
    },
    /// The key has the right length but is not a usable Ed25519 public key (not a curve point,
    /// or a weak small-order point that would accept forged signatures).
    #[error("webhook public key is not a usable Ed25519 public key")]
    InvalidKey,
    /// The timestamp is older than the tolerance allows (a replay, or a very late delivery).
    #[error(
        "timestamp is {}s old, beyond the {}s tolerance",
        age.as_secs(),
        tolerance.as_secs()
    )]
    Expired {
        /// How old the timestamp is.
        age: Duration,
        /// The configured tolerance.
        tolerance: Duration,
    },
    /// The timestamp is further in the future than the tolerance allows (clock skew, or forged).
    #[error(
        "timestamp is {}s in the future, beyond the {}s tolerance",
        skew.as_secs(),
        tolerance.as_secs()
    )]
    InFuture {
        /// How far ahead of `now` the timestamp is.
        skew: Duration,
        /// The configured tolerance.
        tolerance: Duration,
    },
    /// The signature does not match the timestamp and body under any configured key.
    #[error("signature does not match the timestamp and body")]
    BadSignature,
    /// The signature checked out, but the body is not a valid Dakota event envelope.
    #[error("signed body is not a valid Dakota event: {0}")]
    BadPayload(#[source] serde_json::Error),
}

impl WebhookError {
    /// A stable, machine-readable code: `missing_header`, `bad_encoding`, `wrong_length`,
    /// `invalid_key`, `expired`, `in_future`, `bad_signature` or `bad_payload`.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MissingHeader(_) => "missing_header",
            WebhookError::BadEncoding { .. } => "bad_encoding",
            WebhookError::WrongLength { .. } => "wrong_length",
            WebhookError::InvalidKey => "invalid_key",
            WebhookError::Expired { .. } => "expired",
            WebhookError::InFuture { .. } => "in_future",
            WebhookError::BadSignature => "bad_signature",
            WebhookError::BadPayload(_) => "bad_payload",
        }
    }

    /// Whether the request itself proved authentic (the signature verified) and only its
    /// content was unusable.
    pub fn is_authentic(&self) -> bool {
        matches!(self, WebhookError::BadPayload(_))
    }
}
