//! ES256 signers for the tests: P-256 keys, canonical JSON and endorsed requests.

#![allow(dead_code)]

use base64::Engine;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use rand::Rng;
use serde_json::{json, Value};

/// A signer's key pair.
pub struct Key {
    pub sk: SigningKey,
}

impl Key {
    pub fn new() -> Key {
        loop {
            let mut seed = [0u8; 32];
            rand::rng().fill(&mut seed);
            if let Ok(sk) = SigningKey::from_slice(&seed) {
                return Key { sk };
            }
        }
    }

    /// Base64 DER SubjectPublicKeyInfo.
    pub fn public(&self) -> String {
        let der = self.sk.verifying_key().to_public_key_der().expect("der");
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
    }

    /// ES256 signature (base64 DER) of the canonical JSON of `v`.
    pub fn sign(&self, v: &Value) -> String {
        let sig: Signature = self.sk.sign(canonical(v).as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
    }
}

/// Canonical JSON: keys sorted at every level, no whitespace.
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

pub fn endorsed(intent: Value, keys: &[&Key]) -> Value {
    let signatures: Vec<String> = keys.iter().map(|k| k.sign(&intent)).collect();
    json!({"intent": intent, "signatures": signatures})
}
