//! Request validation beyond what deserializing into the generated types checks.
//!
//! The generated enums accept any string (their `Unknown` variant keeps forward compatibility
//! for responses); a request must use a value the spec lists, so every enum in a request body
//! is checked here, along with the documented rules the schema cannot express.

use serde_json::Value;

use crate::problem::{ApiError, FieldError};

/// Enums with an `Unknown(String)` catch-all.
pub(crate) trait Known {
    /// The unlisted value, if this is one.
    fn unknown(&self) -> Option<&str>;
}

/// Implements [`Known`] for generated enums (`known!(EnumA, EnumB)`), by name in
/// `dakota_api::types`.
macro_rules! known {
    ($($t:ident),* $(,)?) => {
        $(impl $crate::pipeline::validate::Known for dakota_api::types::$t {
            fn unknown(&self) -> Option<&str> {
                match self {
                    dakota_api::types::$t::Unknown(s) => Some(s.as_str()),
                    _ => None,
                }
            }
        })*
    };
}

pub(crate) use known;

/// Collects field errors.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<FieldError>);

impl Errors {
    pub(crate) fn push(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Flags an unlisted enum value.
    pub(crate) fn known<T: Known>(&mut self, field: &str, v: &T) {
        if let Some(s) = v.unknown() {
            self.push(
                field,
                "invalid_enum",
                format!("'{s}' is not an allowed value"),
            );
        }
    }

    /// Flags unlisted values in a list.
    pub(crate) fn known_all<T: Known>(&mut self, field: &str, vs: &[T]) {
        for (i, v) in vs.iter().enumerate() {
            self.known(&format!("{field}[{i}]"), v);
        }
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// The body must be a JSON object.
pub(crate) fn object(v: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| {
        ApiError::field(
            "body",
            "invalid_type",
            "the request body must be a JSON object",
        )
    })
}

/// A conservative e-mail check (ASCII `local@domain.tld`), strict enough that whatever it
/// accepts also passes JSON Schema's `email` format when echoed back.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    const LOCAL_EXTRA: &str = "!#$%&'*+/=?^_`{|}~-";
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || LOCAL_EXTRA.contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// An absolute URI (`scheme:rest`, ASCII, no spaces or characters URIs exclude).
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest_ok = !rest.is_empty()
        && rest.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
        });
    let pct_ok = {
        let b = rest.as_bytes();
        b.iter().enumerate().all(|(i, &c)| {
            c != b'%'
                || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        })
    };
    scheme_ok && rest_ok && pct_ok
}
