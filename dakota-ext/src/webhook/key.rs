//! The webhook public key (verification side) and a signer (for tests and the local sandbox).

use super::error::{Field, WebhookError};
use super::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// Dakota's Ed25519 webhook public key (32 bytes; hex in the dashboard).
///
/// Construction rejects anything that is not a valid, non-weak Ed25519 point, so a
/// `WebhookKey` can always be used to verify. `Debug` shows only a short fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WebhookKey(VerifyingKey);

impl WebhookKey {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// Parses the hex form shown in the Dakota dashboard (64 hex digits, either case).
    /// Surrounding whitespace and a `0x` prefix are tolerated.
    pub fn from_hex(hex_key: &str) -> Result<Self, WebhookError> {
        let s = hex_key.trim();
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        let bytes = hex::decode(s).map_err(|e| WebhookError::BadEncoding {
            field: Field::Key,
            detail: e.to_string(),
        })?;
        let arr: [u8; Self::LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| WebhookError::WrongLength {
                    field: Field::Key,
                    expected: Self::LEN,
                    actual: bytes.len(),
                })?;
        Self::from_bytes(arr)
    }

    /// Builds the key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, WebhookError> {
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| WebhookError::InvalidKey)?;
        if key.is_weak() {
            return Err(WebhookError::InvalidKey);
        }
        Ok(Self(key))
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Lower-case hex, as the dashboard shows it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The first 8 hex digits: enough to tell keys apart in logs.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.0.as_bytes()[..4])
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookKey({}…)", self.fingerprint())
    }
}

impl FromStr for WebhookKey {
    type Err = WebhookError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// Signs deliveries exactly as Dakota does. Used by tests and by the local sandbox, which signs
/// its own deliveries; a receiver never needs one.
///
/// `Debug` shows only the public key's fingerprint; the secret is zeroized on drop.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// A signer from a 32-byte Ed25519 secret (seed). Deterministic: the same bytes always give
    /// the same key pair, which makes fixed test vectors possible.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// A fresh random signer (from the thread-local CSPRNG, seeded by the OS).
    pub fn generate() -> Self {
        let mut seed: [u8; 32] = rand::random();
        let signer = Self::from_secret_bytes(seed);
        seed.fill(0);
        signer
    }

    /// The matching public key.
    pub fn public_key(&self) -> WebhookKey {
        // The public key of a clamped secret scalar is never a small-order point.
        WebhookKey(self.key.verifying_key())
    }

    /// The public key in hex, as the dashboard would show it.
    pub fn public_key_hex(&self) -> String {
        self.public_key().to_hex()
    }

    /// Signs `body` at `timestamp` (Unix seconds). Returns the values for
    /// `(x-webhook-timestamp, x-webhook-signature)`; the signature uses standard, padded base64.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> (String, String) {
        let ts = timestamp.to_string();
        let sig = self.sign_raw(ts.as_bytes(), body);
        (ts, base64::engine::general_purpose::STANDARD.encode(sig))
    }

    /// Like [`Signer::sign`], at the current time.
    pub fn sign_now(&self, body: &[u8]) -> (String, String) {
        self.sign(unix_now(), body)
    }

    /// The raw 64-byte signature over `timestamp_ascii ‖ body`.
    pub fn sign_raw(&self, timestamp_ascii: &[u8], body: &[u8]) -> [u8; 64] {
        let mut msg = Vec::with_capacity(timestamp_ascii.len() + body.len());
        msg.extend_from_slice(timestamp_ascii);
        msg.extend_from_slice(body);
        self.key.sign(&msg).to_bytes()
    }

    /// Both headers, ready to attach to a request (plus `content-type: application/json`).
    pub fn headers(&self, timestamp: i64, body: &[u8]) -> http::HeaderMap {
        let (ts, sig) = self.sign(timestamp, body);
        let mut headers = http::HeaderMap::new();
        // Decimal digits and base64 are always valid header values.
        if let Ok(v) = http::HeaderValue::from_str(&ts) {
            headers.insert(TIMESTAMP_HEADER, v);
        }
        if let Ok(v) = http::HeaderValue::from_str(&sig) {
            headers.insert(SIGNATURE_HEADER, v);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Current Unix time in seconds (negative before 1970, saturating far outside i64).
pub(crate) fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// `t` as Unix seconds (negative before 1970, saturating far outside i64).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
