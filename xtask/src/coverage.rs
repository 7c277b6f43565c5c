//! `cargo xtask coverage --against PATH`: what another spec (e.g. Dakota's newest published
//! one) has that ours lacks or states differently. Compares facts only: operations,
//! parameters, request/response schemas by name, component schemas, fields (type, format,
//! required-ness) and enum values. Descriptions and examples are ignored.

use crate::normalize::METHODS;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The comparison result.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Operations in both / in the other spec.
    pub operations: (usize, usize),
    /// Component schemas in both / in the other spec.
    pub schemas: (usize, usize),
    /// Everything missing or different, one line each.
    pub findings: Vec<String>,
}

fn ops(spec: &Value) -> BTreeMap<String, (String, String, Value)> {
    let mut out = BTreeMap::new();
    for (path, item) in spec
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let mut op = op.clone();
                if let Some(shared) = item.get("parameters").and_then(Value::as_array) {
                    let mut all = shared.clone();
                    all.extend(
                        op.get("parameters")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    );
                    op["parameters"] = Value::Array(all);
                }
                out.insert(id, (m.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| spec.pointer(p))
            .unwrap_or(v),
        None => v,
    }
}

/// A short fact string for a schema: `$ref` name, or type/format, enum count.
fn shape(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or("").to_string();
    }
    let mut parts = Vec::new();
    for k in ["type", "format"] {
        if let Some(v) = s.get(k).and_then(Value::as_str) {
            parts.push(v.to_string());
        }
    }
    if let Some(items) = s.get("items") {
        parts.push(format!("[{}]", shape(items)));
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        if let Some(a) = s.get(k).and_then(Value::as_array) {
            parts.push(format!(
                "{k}({})",
                a.iter().map(shape).collect::<Vec<_>>().join(",")
            ));
        }
    }
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(" ")
    }
}

fn params(spec: &Value, op: &Value) -> BTreeMap<String, (bool, String)> {
    op.get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| resolve(spec, p))
        .map(|p| {
            let key = format!(
                "{} {}",
                p.get("in").and_then(Value::as_str).unwrap_or("?"),
                p.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_ascii_lowercase()
            );
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            (
                key,
                (required, shape(p.get("schema").unwrap_or(&Value::Null))),
            )
        })
        .collect()
}

fn responses(spec: &Value, op: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (code, r) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let r = resolve(spec, r);
        let bodies: Vec<String> = r
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(media, m)| {
                format!(
                    "{media}: {}",
                    shape(m.get("schema").unwrap_or(&Value::Null))
                )
            })
            .collect();
        out.insert(code.clone(), bodies.join("; "));
    }
    out
}

fn compare_schema(name: &str, ours: &Value, theirs: &Value, findings: &mut Vec<String>) {
    let (a, b) = (shape(ours), shape(theirs));
    if a != b {
        findings.push(format!("schema {name}: shape {a:?} vs {b:?}"));
    }
    let enum_of = |s: &Value| -> BTreeSet<String> {
        s.get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| v.to_string())
            .collect()
    };
    let (ea, eb) = (enum_of(ours), enum_of(theirs));
    for missing in eb.difference(&ea) {
        findings.push(format!("schema {name}: enum value {missing} missing"));
    }
    for extra in ea.difference(&eb) {
        findings.push(format!(
            "schema {name}: enum value {extra} not in the other spec"
        ));
    }
    let req = |s: &Value| -> BTreeSet<String> {
        s.get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let (ra, rb) = (req(ours), req(theirs));
    let empty = serde_json::Map::new();
    let pa = ours
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let pb = theirs
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (field, tb) in pb {
        match pa.get(field) {
            None => findings.push(format!("schema {name}: field {field} missing")),
            Some(ta) => {
                compare_schema(&format!("{name}.{field}"), ta, tb, findings);
                if ra.contains(field) != rb.contains(field) {
                    findings.push(format!(
                        "schema {name}: field {field} required {} vs {}",
                        ra.contains(field),
                        rb.contains(field)
                    ));
                }
            }
        }
    }
    for field in pa.keys().filter(|f| !pb.contains_key(*f)) {
        findings.push(format!(
            "schema {name}: field {field} not in the other spec"
        ));
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        if let (Some(xa), Some(xb)) = (
            ours.get(k).and_then(Value::as_array),
            theirs.get(k).and_then(Value::as_array),
        ) {
            for (i, (sa, sb)) in xa.iter().zip(xb).enumerate() {
                compare_schema(&format!("{name}.{k}[{i}]"), sa, sb, findings);
            }
        }
    }
    if ours.get("items").is_some() || theirs.get("items").is_some() {
        compare_schema(
            &format!("{name}[]"),
            ours.get("items").unwrap_or(&Value::Null),
            theirs.get("items").unwrap_or(&Value::Null),
            findings,
        );
    }
    for k in [
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "pattern",
        "nullable",
    ] {
        if ours.get(k) != theirs.get(k) {
            findings.push(format!(
                "schema {name}: {k} {} vs {}",
                ours.get(k).unwrap_or(&Value::Null),
                theirs.get(k).unwrap_or(&Value::Null)
            ));
        }
    }
}

/// Compare `ours` against `theirs`.
pub fn coverage(ours: &Value, theirs: &Value) -> Coverage {
    let mut c = Coverage::default();
    let (oa, ob) = (ops(ours), ops(theirs));
    c.operations = (ob.keys().filter(|k| oa.contains_key(*k)).count(), ob.len());
    for (id, (m, p, op_b)) in &ob {
        let Some((ma, pa, op_a)) = oa.get(id) else {
            c.findings.push(format!("operation {id} ({m} {p}) missing"));
            continue;
        };
        if (ma, pa) != (m, p) {
            c.findings
                .push(format!("operation {id}: {ma} {pa} vs {m} {p}"));
        }
        let (pa, pb) = (params(ours, op_a), params(theirs, op_b));
        for (k, v) in &pb {
            match pa.get(k) {
                None => c
                    .findings
                    .push(format!("operation {id}: parameter {k} missing")),
                Some(a) if a != v => c.findings.push(format!(
                    "operation {id}: parameter {k} (required, schema) {a:?} vs {v:?}"
                )),
                _ => {}
            }
        }
        for k in pa.keys().filter(|k| !pb.contains_key(*k)) {
            c.findings.push(format!(
                "operation {id}: parameter {k} not in the other spec"
            ));
        }
        let body = |spec: &Value, op: &Value| {
            op.get("requestBody").map(|b| resolve(spec, b)).map(|b| {
                b.get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(m, x)| {
                        format!("{m}: {}", shape(x.get("schema").unwrap_or(&Value::Null)))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        };
        if body(ours, op_a) != body(theirs, op_b) {
            c.findings.push(format!(
                "operation {id}: request body {:?} vs {:?}",
                body(ours, op_a),
                body(theirs, op_b)
            ));
        }
        let (ra, rb) = (responses(ours, op_a), responses(theirs, op_b));
        for (code, v) in &rb {
            match ra.get(code) {
                None => c
                    .findings
                    .push(format!("operation {id}: response {code} missing")),
                Some(a) if a != v => c
                    .findings
                    .push(format!("operation {id}: response {code} {a:?} vs {v:?}")),
                _ => {}
            }
        }
        let sec = |op: &Value, spec: &Value| {
            op.get("security")
                .or_else(|| spec.get("security"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        if sec(op_a, ours) != sec(op_b, theirs) {
            c.findings.push(format!(
                "operation {id}: security {} vs {}",
                sec(op_a, ours),
                sec(op_b, theirs)
            ));
        }
    }
    for id in oa.keys().filter(|k| !ob.contains_key(*k)) {
        c.findings
            .push(format!("operation {id} not in the other spec"));
    }
    let empty = serde_json::Map::new();
    let sa = ours
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let sb = theirs
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    c.schemas = (sb.keys().filter(|k| sa.contains_key(*k)).count(), sb.len());
    for (name, b) in sb {
        match sa.get(name) {
            None => c.findings.push(format!("schema {name} missing")),
            Some(a) => compare_schema(name, a, b, &mut c.findings),
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_missing_and_different_facts() {
        let theirs = json!({
            "paths": {"/c": {"get": {"operationId": "getC", "parameters": [{"in": "query", "name": "limit", "required": false, "schema": {"type": "integer"}}],
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/C"}}}}}}},
                "/d": {"post": {"operationId": "makeD", "responses": {"201": {}}}}},
            "components": {"schemas": {"C": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "status": {"type": "string", "enum": ["a", "b"]}}}}}
        });
        let mut ours = theirs.clone();
        assert!(coverage(&ours, &theirs).findings.is_empty());
        ours["paths"].as_object_mut().map(|p| p.remove("/d"));
        ours["components"]["schemas"]["C"]["properties"]["status"]["enum"] = json!(["a"]);
        ours["components"]["schemas"]["C"]["required"] = json!([]);
        ours["paths"]["/c"]["get"]["parameters"][0]["required"] = json!(true);
        let c = coverage(&ours, &theirs);
        let text = c.findings.join("\n");
        assert!(text.contains("operation makeD (POST /d) missing"), "{text}");
        assert!(text.contains("enum value \"b\" missing"), "{text}");
        assert!(text.contains("field id required false vs true"), "{text}");
        assert!(text.contains("parameter query limit"), "{text}");
        assert_eq!(c.operations, (1, 2));
    }
}
