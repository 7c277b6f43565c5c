//! Which credential each operation carries, decided from the spec's `security` for that
//! operation (the generated registry), and the checks a credential passes at `build()`.
//!
//! Rules, per operation:
//! * `ApiKeyAuth` only: the API key (`x-api-key`).
//! * `ApplicationTokenAuth` only: the application token when one is configured (per call,
//!   else on the builder); otherwise the API key, as Dakota's own playground and its
//!   TypeScript SDK send it there.
//! * Both: the token when one is configured, else the key.
//! * No security at all: nothing.
//!
//! Exactly one credential leaves with a request: a token-authorized call never also carries
//! the API key. When the operation needs a credential the client does not have, nothing is
//! sent ([`crate::Error::MissingCredential`]).

use crate::error::Error;
use secrecy::SecretString;

/// Security scheme name of the API key in the spec.
pub(crate) const API_KEY_SCHEME: &str = "ApiKeyAuth";
/// Security scheme name of the application token in the spec.
pub(crate) const TOKEN_SCHEME: &str = "ApplicationTokenAuth";

/// Which credential a request carries (the pipeline holds the values, their header values
/// made once at `build()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// `x-api-key`.
    ApiKey,
    /// `X-Application-Token`.
    Token,
    /// The operation takes none.
    None,
}

/// Choose the credential for an operation whose spec `security` lists `schemes`; `Err` names
/// the credential that is missing.
pub(crate) fn choose(
    schemes: &[&str],
    key: Option<&SecretString>,
    token: Option<&SecretString>,
) -> Result<Credential, &'static str> {
    let takes_key = schemes.contains(&API_KEY_SCHEME);
    let takes_token = schemes.contains(&TOKEN_SCHEME);
    match (takes_key, takes_token, key, token) {
        (_, true, _, Some(_)) => Ok(Credential::Token),
        (_, true, Some(_), None) | (true, false, Some(_), _) => Ok(Credential::ApiKey),
        (false, false, _, _) => Ok(Credential::None),
        (true, false, None, _) => Err("an API key (x-api-key)"),
        (_, true, None, None) => Err("an application token or an API key"),
    }
}

/// Refuse a credential that cannot travel in a header as given: empty, or with whitespace or
/// control characters (a trailing newline from a file or an environment variable, say).
/// The message names the credential and the position, never the value.
pub(crate) fn validate(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::Config(format!("{what} is empty")));
    }
    if let Some((at, c)) = value
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        let kind = if c.is_whitespace() {
            "whitespace"
        } else if c.is_control() {
            "a control character"
        } else {
            "a non-ASCII character"
        };
        return Err(Error::Config(format!(
            "{what} contains {kind} at byte {at} of {}: check for a stray newline or space",
            value.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_string())
    }

    fn which(c: Result<Credential, &'static str>) -> &'static str {
        match c {
            Ok(Credential::ApiKey) => "key",
            Ok(Credential::Token) => "token",
            Ok(Credential::None) => "none",
            Err(_) => "missing",
        }
    }

    #[test]
    fn the_spec_security_decides() {
        let (k, t) = (s("k"), s("t"));
        let key_only = &[API_KEY_SCHEME][..];
        let token_only = &[TOKEN_SCHEME][..];
        let both = &[API_KEY_SCHEME, TOKEN_SCHEME][..];
        assert_eq!(which(choose(key_only, Some(&k), Some(&t))), "key");
        assert_eq!(which(choose(key_only, None, Some(&t))), "missing");
        assert_eq!(which(choose(token_only, Some(&k), Some(&t))), "token");
        assert_eq!(which(choose(token_only, Some(&k), None)), "key");
        assert_eq!(which(choose(token_only, None, None)), "missing");
        assert_eq!(which(choose(both, Some(&k), Some(&t))), "token");
        assert_eq!(which(choose(both, Some(&k), None)), "key");
        assert_eq!(which(choose(both, None, Some(&t))), "token");
        assert_eq!(which(choose(&[], Some(&k), Some(&t))), "none");
    }

    #[test]
    fn bad_credentials_are_refused_without_echoing_them() {
        for bad in ["", "sk_live_abc\n", " sk", "sk\u{7f}x", "sk\tx", "sk\u{e9}"] {
            let e = validate("API key", bad).expect_err(bad);
            let msg = e.to_string();
            assert!(msg.contains("API key"), "{msg}");
            if !bad.trim().is_empty() {
                assert!(!msg.contains(bad.trim()), "{msg} leaks the value");
            }
        }
        validate("API key", "sk_test_abcDEF123-_.").expect("a plain key is fine");
    }
}
