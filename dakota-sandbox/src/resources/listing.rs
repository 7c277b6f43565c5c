//! Query parameters the list operations of several areas share: time ranges, sort keys and
//! directions, comma-separated enum filters.

use chrono::{DateTime, Utc};

use crate::pipeline::query::Query;
use crate::pipeline::validate::Errors;

/// An RFC 3339 date-time parameter; a malformed one goes to `errs`.
pub(crate) fn datetime(errs: &mut Errors, q: &Query, field: &str) -> Option<DateTime<Utc>> {
    // An empty value is not a date-time (unlike an empty filter, it cannot mean "any").
    let raw = q.get(field)?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            errs.push(
                field,
                "invalid_format",
                format!("must be an RFC 3339 date-time ({e})"),
            );
            None
        }
    }
}

/// A parameter that must be one of `allowed` (absent: `None`).
pub(crate) fn one_of<'q>(
    errs: &mut Errors,
    q: &'q Query,
    field: &str,
    allowed: &[&str],
) -> Option<&'q str> {
    let raw = q.filter(field)?;
    if allowed.contains(&raw) {
        Some(raw)
    } else {
        errs.push(
            field,
            "invalid_enum",
            format!("expected one of: {}", allowed.join(", ")),
        );
        None
    }
}

/// `sort_dir`: `true` for descending; `default_desc` when absent.
pub(crate) fn descending(errs: &mut Errors, q: &Query, default_desc: bool) -> bool {
    match one_of(errs, q, "sort_dir", &["asc", "desc"]) {
        Some("desc") => true,
        Some(_) => false,
        None => default_desc,
    }
}

/// A comma-separated list whose items must be in `allowed` (absent or empty: `None`).
pub(crate) fn list_of(
    errs: &mut Errors,
    q: &Query,
    field: &str,
    allowed: &[&str],
) -> Option<Vec<String>> {
    let raw = q.filter(field)?;
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if allowed.contains(&part) {
            out.push(part.to_owned());
        } else {
            errs.push(
                field,
                "invalid_enum",
                format!("'{part}' is not one of: {}", allowed.join(", ")),
            );
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `t` lies in `[from, to]` (either bound may be open).
pub(crate) fn within(
    t: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> bool {
    from.is_none_or(|f| t >= f) && to.is_none_or(|x| t <= x)
}
