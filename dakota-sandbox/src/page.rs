//! Cursor pagination (`starting_after`, `ending_before`, `limit`) over KSUID ids.

use dakota_api::types;

use crate::ids;
use crate::problem::{build, ApiError};
use crate::validate::Errors;

/// Default and largest page sizes (spec: `limit` 1..=100, default 20).
pub(crate) const DEFAULT_LIMIT: usize = 20;
pub(crate) const MAX_LIMIT: usize = 100;

/// A parsed query string with the pagination parameters checked.
#[derive(Debug)]
pub(crate) struct PageQuery {
    pairs: Vec<(String, String)>,
    limit: usize,
    after: Option<String>,
    before: Option<String>,
}

impl PageQuery {
    /// Checks `limit`, the cursors, and that no parameter is repeated.
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut errs = Errors::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut repeated: Vec<&str> = Vec::new();
        for (k, _) in pairs {
            if !seen.contains(&k.as_str()) {
                seen.push(k);
            } else if !repeated.contains(&k.as_str()) {
                repeated.push(k);
                errs.push(
                    k.clone(),
                    "duplicate",
                    format!("query parameter '{k}' is given more than once"),
                );
            }
        }
        let get = |k: &str| pairs.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
        let limit = match get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT as i64).contains(&n) => {
                    usize::try_from(n).unwrap_or(DEFAULT_LIMIT)
                }
                Ok(_) => {
                    errs.push(
                        "limit",
                        "out_of_range",
                        format!("limit must be between 1 and {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
                Err(_) => {
                    errs.push("limit", "invalid_type", "limit must be an integer");
                    DEFAULT_LIMIT
                }
            },
        };
        let mut cursor = |name: &str| -> Option<String> {
            let v = get(name)?;
            if ids::is_ksuid(v) {
                Some(v.to_owned())
            } else {
                errs.push(
                    name,
                    "invalid_format",
                    "must be a KSUID (27 letters and digits)",
                );
                None
            }
        };
        let after = cursor("starting_after");
        let before = cursor("ending_before");
        if after.is_some() && before.is_some() {
            errs.push(
                "ending_before",
                "mutually_exclusive",
                "starting_after and ending_before cannot be combined",
            );
        }
        errs.finish()?;
        Ok(Self {
            pairs: pairs.to_vec(),
            limit,
            after,
            before,
        })
    }

    /// A query parameter's value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One page of `rows` (already filtered and ordered) with its `Meta`.
///
/// With `id_ascending` the rows are in KSUID order and a cursor need not exist any more (it
/// is compared as an id); otherwise the cursor must name a row of the list.
pub(crate) fn paginate<T>(
    rows: Vec<(String, T)>,
    q: &PageQuery,
    id_ascending: bool,
) -> Result<(Vec<T>, types::Meta), ApiError> {
    let n = rows.len();
    let position = |cursor: &str, field: &str| -> Result<usize, ApiError> {
        rows.iter().position(|(id, _)| id == cursor).ok_or_else(|| {
            ApiError::field(
                field,
                "unknown_cursor",
                "the cursor does not name an item of this list",
            )
        })
    };
    let (start, end) = if let Some(after) = &q.after {
        let start = if id_ascending {
            rows.partition_point(|(id, _)| id.as_str() <= after.as_str())
        } else {
            position(after, "starting_after")? + 1
        };
        (start, start.saturating_add(q.limit).min(n))
    } else if let Some(before) = &q.before {
        let end = if id_ascending {
            rows.partition_point(|(id, _)| id.as_str() < before.as_str())
        } else {
            position(before, "ending_before")?
        };
        (end.saturating_sub(q.limit), end)
    } else {
        (0, q.limit.min(n))
    };
    let meta: types::Meta = build(
        types::builder::Meta::default()
            .has_more_after(end < n)
            .has_more_before(start > 0)
            .total_count(i64::try_from(n).unwrap_or(i64::MAX)),
    )?;
    let data = rows
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .map(|(_, t)| t)
        .collect();
    Ok((data, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<PageQuery, ApiError> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        PageQuery::parse(&v)
    }

    fn rows(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("{i:0>27}"), i)).collect()
    }

    #[test]
    fn pages_forward_and_backward() {
        let (d, m) = paginate(rows(5), &q(&[("limit", "2")]).unwrap(), true).unwrap();
        assert_eq!(d, vec![0, 1]);
        assert!(m.has_more_after && !m.has_more_before);
        let after = format!("{:0>27}", 1);
        let (d, m) = paginate(
            rows(5),
            &q(&[("limit", "2"), ("starting_after", &after)]).unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(d, vec![2, 3]);
        assert!(m.has_more_after && m.has_more_before);
        let before = format!("{:0>27}", 2);
        let (d, m) = paginate(
            rows(5),
            &q(&[("limit", "5"), ("ending_before", &before)]).unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(d, vec![0, 1]);
        assert!(m.has_more_after && !m.has_more_before);
        assert_eq!(m.total_count, 5);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(q(&[("limit", "0")]).is_err());
        assert!(q(&[("limit", "101")]).is_err());
        assert!(q(&[("limit", "x")]).is_err());
        assert!(q(&[("limit", "99999999999999999999999")]).is_err());
        assert!(q(&[("starting_after", "short")]).is_err());
        assert!(q(&[("limit", "1"), ("limit", "2")]).is_err());
    }
}
