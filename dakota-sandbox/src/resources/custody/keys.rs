//! Signer keys and signatures.
//!
//! * A signer's key (`ES256`) is a P-256 public key as base64 DER SubjectPublicKeyInfo, or the
//!   same in PEM; the sandbox compares keys in their base64 DER form, so both spellings name
//!   the same signer. `WEBAUTHN` keys are accepted in the same encodings (the credential's
//!   P-256 key).
//! * A signature is ECDSA P-256 with SHA-256 (ES256), base64 (standard or URL-safe alphabet),
//!   as DER or as the 64-byte `r || s`, over the **canonical JSON** of the signed object: keys
//!   sorted, no whitespace, strings and numbers as `serde_json` writes them.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde_json::Value;

/// Longest public key or signature text accepted.
pub(crate) const MAX_KEY_LEN: usize = 4096;

fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines.iter().find_map(|e| e.decode(s).ok())
}

/// The P-256 key of `text` (base64 DER SPKI or PEM), if it is one.
pub(crate) fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    if text.len() > MAX_KEY_LEN {
        return None;
    }
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text).ok();
    }
    let der = b64(text)?;
    VerifyingKey::from_public_key_der(&der).ok()
}

/// The form keys are compared in: base64 DER SPKI for a P-256 key, else the text trimmed.
pub(crate) fn normalize(text: &str) -> String {
    parse_public_key(text)
        .and_then(|k| k.to_public_key_der().ok())
        .map(|der| base64::engine::general_purpose::STANDARD.encode(der.as_bytes()))
        .unwrap_or_else(|| text.trim().to_owned())
}

/// `value` as canonical JSON (sorted keys, no whitespace).
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether `signature` (base64, DER or `r || s`) is `key`'s ES256 signature of `message`.
pub(crate) fn verifies(key: &VerifyingKey, message: &[u8], signature: &str) -> bool {
    if signature.len() > MAX_KEY_LEN {
        return false;
    }
    let Some(bytes) = b64(signature) else {
        return false;
    };
    let sig = if bytes.len() == 64 {
        Signature::from_slice(&bytes).ok()
    } else {
        Signature::from_der(&bytes).ok()
    };
    sig.is_some_and(|s| key.verify(message, &s).is_ok())
}

/// A fresh P-256 key pair's public half, base64 DER SPKI (the private half is dropped: the
/// sandbox signs nothing with it).
pub(crate) fn fresh_public_key() -> Option<String> {
    use rand::Rng;
    for _ in 0..8 {
        let mut seed = [0u8; 32];
        rand::rng().fill(&mut seed);
        if let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&seed) {
            let der = sk.verifying_key().to_public_key_der().ok()?;
            return Some(base64::engine::general_purpose::STANDARD.encode(der.as_bytes()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use serde_json::json;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).expect("valid scalar")
    }

    fn spki(sk: &SigningKey) -> String {
        let der = sk.verifying_key().to_public_key_der().expect("der");
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": true, "y": null}], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}"#
        );
    }

    #[test]
    fn signatures_verify_in_der_and_raw_form() {
        let sk = key();
        let pk = parse_public_key(&spki(&sk)).expect("key parses");
        let msg = canonical_json(&json!({"wallet_id": "w", "idempotency_key": "k"}));
        let sig: Signature = sk.sign(msg.as_bytes());
        let der = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        let raw = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
        assert!(verifies(&pk, msg.as_bytes(), &der));
        assert!(verifies(&pk, msg.as_bytes(), &raw));
        assert!(!verifies(&pk, b"other", &der));
        assert!(!verifies(&pk, msg.as_bytes(), "not base64!"));
    }

    #[test]
    fn pem_and_der_normalize_alike() {
        let sk = key();
        let der = spki(&sk);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("pem");
        assert_eq!(normalize(&pem), der);
        assert_eq!(normalize(&der), der);
        assert!(parse_public_key("garbage").is_none());
        assert!(fresh_public_key()
            .and_then(|k| parse_public_key(&k))
            .is_some());
    }
}
