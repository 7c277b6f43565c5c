//! Constraints of the spec's request schemas that deserializing into the generated types does
//! not check: a `null` where the schema is not `nullable` (serde reads it as "absent"), the
//! `minItems`/`maxItems` of arrays, and query parameters whose schema an empty value does not
//! satisfy (an enum, a KSUID, a number, a date-time: handlers read an empty filter as
//! "absent"). The schemas come from `openapi/dakota.yaml` through the build script
//! (`shapes.json`), so the check follows the spec as it grows.
//!
//! Every finding is a real violation of the schema; where it cannot tell (a `oneOf` whose
//! branches all fail differently is reported, one any branch satisfies is accepted) it errs
//! on the side of accepting, and leaves the rest to the handler.

use std::sync::LazyLock;

use serde_json::Value;

use crate::problem::{ApiError, FieldError};

/// The request shapes (see the build script): `schemas`, `bodies`, `query`.
static SHAPES: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/shapes.json")))
        .unwrap_or(Value::Null)
});

/// Nesting followed at most (request bodies are bounded; `$ref` cycles end here).
const MAX_DEPTH: usize = 64;
/// Findings reported at most per request.
const MAX_FINDINGS: usize = 20;

/// Checks the query string of `op_id` (`raw`, undecoded): `400` naming each parameter given
/// empty where its schema needs a value.
pub(crate) fn check_query(op_id: &str, raw: Option<&str>) -> Result<(), ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let Some(names) = SHAPES
        .get("query")
        .and_then(|q| q.get(op_id))
        .and_then(Value::as_array)
    else {
        return Ok(());
    };
    let mut errors = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if v.is_empty()
            && errors.len() < MAX_FINDINGS
            && names.iter().any(|n| n.as_str() == Some(k.as_ref()))
        {
            errors.push(FieldError::new(
                k.into_owned(),
                "invalid_value",
                "an empty value is not a value of this parameter: leave it out instead",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Checks a JSON request body of `op_id` against its schema: `400` naming the fields.
pub(crate) fn check_body(op_id: &str, body: &Value) -> Result<(), ApiError> {
    let Some(schema) = SHAPES.get("bodies").and_then(|b| b.get(op_id)) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    walk(body, schema, "", 0, &mut errors);
    errors.truncate(MAX_FINDINGS);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// The schema a `$ref` names (component schemas only), or `s` itself.
fn resolve(s: &Value) -> &Value {
    let mut s = s;
    for _ in 0..16 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        let name = r.rsplit('/').next().unwrap_or_default();
        match SHAPES.get("schemas").and_then(|c| c.get(name)) {
            Some(t) => s = t,
            None => return s,
        }
    }
    s
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn field(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

/// Whether `null` satisfies `s` (OpenAPI 3.0: only a `nullable` schema, or one with no type
/// at all, takes it).
fn takes_null(s: &Value, depth: usize) -> bool {
    let s = resolve(s);
    if depth > MAX_DEPTH || s.get("nullable").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    if s.get("type").is_some() {
        return false;
    }
    let all = |k: &str| {
        s.get(k)
            .and_then(Value::as_array)
            .is_none_or(|bs| bs.iter().all(|b| takes_null(b, depth + 1)))
    };
    let any = |k: &str| {
        s.get(k)
            .and_then(Value::as_array)
            .is_none_or(|bs| bs.iter().any(|b| takes_null(b, depth + 1)))
    };
    all("allOf") && any("oneOf") && any("anyOf")
}

/// The branch of `branches` the discriminator of `s` picks for `v` (through its `mapping`, else
/// by component name), if it has one and `v` names one.
fn discriminated<'a>(v: &Value, s: &'a Value, branches: &'a [Value]) -> Option<&'a Value> {
    let d = s.get("discriminator")?;
    let tag = v.get(d.get("propertyName")?.as_str()?)?.as_str()?;
    let target = d
        .get("mapping")
        .and_then(|m| m.get(tag))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("#/components/schemas/{tag}"));
    branches
        .iter()
        .find(|b| b.get("$ref").and_then(Value::as_str) == Some(target.as_str()))
}

fn walk(v: &Value, s: &Value, path: &str, depth: usize, out: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH || out.len() >= MAX_FINDINGS {
        return;
    }
    let s = resolve(s);
    if v.is_null() {
        if !takes_null(s, depth) {
            out.push(FieldError::new(
                field(path),
                "invalid_type",
                "null is not a value of this field: leave it out instead",
            ));
        }
        return;
    }
    for b in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(v, b, path, depth + 1, out);
    }
    for k in ["oneOf", "anyOf"] {
        let Some(branches) = s.get(k).and_then(Value::as_array) else {
            continue;
        };
        // A discriminator names the one branch that applies.
        if let Some(branch) = discriminated(v, s, branches) {
            walk(v, branch, path, depth + 1, out);
            continue;
        }
        let mut fewest: Option<Vec<FieldError>> = None;
        for b in branches {
            let mut found = Vec::new();
            walk(v, b, path, depth + 1, &mut found);
            if found.is_empty() {
                fewest = None;
                break;
            }
            if fewest.as_ref().is_none_or(|f| found.len() < f.len()) {
                fewest = Some(found);
            }
        }
        out.extend(fewest.unwrap_or_default());
    }
    match v {
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64).filter(|m| n < *m) {
                out.push(FieldError::new(
                    field(path),
                    "min_items",
                    format!("at least {min} item(s) are required"),
                ));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64).filter(|m| n > *m) {
                out.push(FieldError::new(
                    field(path),
                    "max_items",
                    format!("at most {max} item(s) are allowed"),
                ));
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    walk(x, item, &format!("{path}[{i}]"), depth + 1, out);
                }
            }
        }
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let extra = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, x) in m {
                if let Some(sub) = props.and_then(|p| p.get(k)).or(extra) {
                    walk(x, sub, &child(path, k), depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(op: &str, body: Value) -> Vec<String> {
        match check_body(op, &body) {
            Ok(()) => Vec::new(),
            Err(e) => e.errors.iter().map(|f| f.field.clone()).collect(),
        }
    }

    #[test]
    fn the_table_holds_every_request_body_and_filter() {
        assert!(SHAPES
            .get("schemas")
            .and_then(Value::as_object)
            .is_some_and(|s| s.len() > 100));
        assert!(SHAPES.pointer("/bodies/createTransaction").is_some());
        let q = SHAPES
            .pointer("/query/listTransactions")
            .and_then(Value::as_array);
        let names: Vec<&str> = q.into_iter().flatten().filter_map(Value::as_str).collect();
        assert!(names.contains(&"source_network_id") && names.contains(&"customer_id"));
        // Plain strings may be empty.
        assert!(!names.contains(&"source_asset") && !names.contains(&"search"));
    }

    #[test]
    fn null_is_refused_unless_nullable() {
        let doc = json!({"document_type": "bank_statement", "description": null});
        assert_eq!(fields("createApplicationDocument", doc), ["description"]);
        let edd = json!({"account_usage_description": "x", "last_audit_date": null});
        assert!(fields("createOrUpdateEDD", edd).is_empty());
    }

    #[test]
    fn a_discriminator_picks_the_branch() {
        let iban = json!({"destination_type": "fiat_iban", "bank_address": {"postal_code": null}});
        assert_eq!(
            fields("createDestination", iban),
            ["bank_address.postal_code"]
        );
        let crypto = json!({"destination_type": "crypto", "bank_address": {"postal_code": null}});
        assert!(fields("createDestination", crypto).is_empty());
    }

    #[test]
    fn min_items_is_enforced_through_refs() {
        let p = json!({"source_of_wealth": [], "purpose_of_account": ["investing"]});
        assert_eq!(
            fields("updateAssociatedIndividual", p),
            ["source_of_wealth"]
        );
    }

    #[test]
    fn empty_filters_are_refused_where_the_schema_needs_a_value() {
        let e = check_query("listTransactions", Some("source_network_id=&source_asset="));
        let e = e
            .err()
            .map(|e| e.errors.iter().map(|f| f.field.clone()).collect::<Vec<_>>());
        assert_eq!(e, Some(vec!["source_network_id".to_owned()]));
        assert!(check_query("listTransactions", Some("search=&limit=5")).is_ok());
    }
}
