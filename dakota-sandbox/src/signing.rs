//! Webhook signing, straight from `ed25519-dalek` (the sandbox does not depend on the client
//! crate): Ed25519 over the timestamp's decimal digits followed by the raw body, sent as
//! `x-webhook-timestamp` and `x-webhook-signature` (standard padded base64).

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};

/// Header carrying the delivery's Unix timestamp (decimal seconds).
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";
/// Header carrying the base64 Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// The key that signs a sandbox's webhook deliveries. `Debug` shows only the public key; the
/// secret is zeroized on drop.
#[derive(Clone)]
pub struct WebhookSigner {
    key: SigningKey,
    /// Made by [`WebhookSigner::generate`]: a data dir's stored key takes its place.
    generated: bool,
}

impl WebhookSigner {
    /// The key pair of a 32-byte Ed25519 seed (the same seed always gives the same keys).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
            generated: false,
        }
    }

    /// A fresh random key (from the thread-local CSPRNG, seeded by the OS).
    pub fn generate() -> Self {
        let mut seed: [u8; 32] = rand::random();
        let mut signer = Self::from_seed(seed);
        signer.generated = true;
        seed.fill(0);
        signer
    }

    /// The 32-byte seed (kept in a data dir so the key survives restarts) and whether it
    /// was generated at random rather than given.
    pub(crate) fn seed(&self) -> ([u8; 32], bool) {
        (self.key.to_bytes(), self.generated)
    }

    /// Hex of the public key (what Dakota's dashboard shows; receivers verify with it).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// `(x-webhook-timestamp, x-webhook-signature)` for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> (String, String) {
        let ts = timestamp.to_string();
        let mut msg = Vec::with_capacity(ts.len() + body.len());
        msg.extend_from_slice(ts.as_bytes());
        msg.extend_from_slice(body);
        let sig = self.key.sign(&msg).to_bytes();
        (ts, base64::engine::general_purpose::STANDARD.encode(sig))
    }
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn signature_covers_timestamp_then_body() {
        let s = WebhookSigner::from_seed([7; 32]);
        let (ts, sig) = s.sign(1_700_000_000, br#"{"a":1}"#);
        assert_eq!(ts, "1700000000");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .expect("base64");
        let sig = Signature::from_slice(&raw).expect("64 bytes");
        let key = VerifyingKey::from_bytes(
            &hex::decode(s.public_key_hex())
                .expect("hex")
                .try_into()
                .expect("32 bytes"),
        )
        .expect("key");
        assert!(key.verify(b"1700000000{\"a\":1}", &sig).is_ok());
        assert!(key.verify(b"1700000001{\"a\":1}", &sig).is_err());
        assert!(!format!("{s:?}").contains("secret"));
    }
}
