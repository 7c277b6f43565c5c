//! Reads `openapi/dakota.yaml` and writes, per operation, the response statuses the spec
//! documents and whether it takes an `x-idempotency-key`, so the pipeline answers only with
//! documented statuses (see `src/pipeline/routes.rs`).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // `dakota.yaml` beside this file is a symlink to the workspace's `openapi/dakota.yaml`;
    // `cargo package` follows it, so the published crate carries the spec too. A checkout
    // without symlink support has a text file there instead: then the workspace path is read.
    let candidates = [
        manifest.join("dakota.yaml"),
        manifest.join("../openapi/dakota.yaml"),
    ];
    for c in &candidates {
        println!("cargo:rerun-if-changed={}", c.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    let mut out = String::from(
        "/// Per operationId: the statuses its responses document (`default` included) and\n\
         /// whether it lists the `x-idempotency-key` header.\n\
         pub(crate) static DOCUMENTED: &[(&str, &[&str], bool)] = &[\n",
    );
    // Without the spec the sandbox would silently lose its documented-status and request-shape
    // tables: refuse to build instead.
    let spec: serde_yaml::Value = candidates
        .iter()
        .filter_map(|c| std::fs::read_to_string(c).ok())
        .filter_map(|text| serde_yaml::from_str::<serde_yaml::Value>(&text).ok())
        .find(|v| v.get("paths").and_then(|p| p.as_mapping()).is_some())
        .unwrap_or_else(|| {
            panic!(
                "dakota-sandbox needs the OpenAPI spec at {} or {}",
                candidates[0].display(),
                candidates[1].display()
            )
        });
    let mut rows: Vec<(String, Vec<String>, bool)> = Vec::new();
    if let Some(paths) = spec.get("paths").and_then(|p| p.as_mapping()) {
        for (_, item) in paths {
            let Some(item) = item.as_mapping() else {
                continue;
            };
            for (_, op) in item {
                let Some(id) = op.get("operationId").and_then(|v| v.as_str()) else {
                    continue;
                };
                let codes: Vec<String> = op
                    .get("responses")
                    .and_then(|r| r.as_mapping())
                    .map(|m| {
                        m.keys()
                            .map(|k| match k {
                                serde_yaml::Value::Number(n) => n.to_string(),
                                other => other.as_str().unwrap_or_default().to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let idempotent = op
                    .get("parameters")
                    .and_then(|p| p.as_sequence())
                    .into_iter()
                    .flatten()
                    .any(|p| {
                        p.get("$ref").and_then(|r| r.as_str())
                            == Some("#/components/parameters/IdempotencyKeyHeader")
                    });
                rows.push((id.to_owned(), codes, idempotent));
            }
        }
    }
    rows.sort();
    for (id, codes, idem) in rows {
        let codes: Vec<String> = codes.iter().map(|c| format!("{c:?}")).collect();
        let _ = writeln!(out, "    ({id:?}, &[{}], {idem}),", codes.join(", "));
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let dest = out_dir.join("documented.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=could not write {}: {e}", dest.display());
    }
    let dest = out_dir.join("shapes.json");
    if let Err(e) = std::fs::write(&dest, shapes(&spec)) {
        println!("cargo:warning=could not write {}: {e}", dest.display());
    }
}

/// Schema keywords the sandbox's shape check reads (`src/pipeline/shape.rs`); the rest
/// (prose, examples, formats, patterns, enums: checked by the generated types and handlers)
/// is left out to keep the embedded table small.
const SHAPE_KEYWORDS: [&str; 12] = [
    "$ref",
    "discriminator",
    "type",
    "nullable",
    "properties",
    "items",
    "additionalProperties",
    "allOf",
    "oneOf",
    "anyOf",
    "minItems",
    "maxItems",
];

/// `schema` with only [`SHAPE_KEYWORDS`], recursively (property names are kept as they are).
fn strip(schema: &serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    let Some(m) = schema.as_mapping() else {
        return J::Null;
    };
    let mut out = serde_json::Map::new();
    for (k, v) in m {
        let Some(k) = k.as_str() else { continue };
        if !SHAPE_KEYWORDS.contains(&k) {
            continue;
        }
        let value = match k {
            "properties" => J::Object(
                v.as_mapping()
                    .into_iter()
                    .flatten()
                    .filter_map(|(n, s)| Some((n.as_str()?.to_owned(), strip(s))))
                    .collect(),
            ),
            "items" | "additionalProperties" if v.is_mapping() => strip(v),
            "allOf" | "oneOf" | "anyOf" => {
                J::Array(v.as_sequence().into_iter().flatten().map(strip).collect())
            }
            _ => serde_json::to_value(v).unwrap_or(J::Null),
        };
        out.insert(k.to_owned(), value);
    }
    J::Object(out)
}

/// Follows a local `$ref` (`#/components/...`) within the spec.
fn resolve<'a>(spec: &'a serde_yaml::Value, v: &'a serde_yaml::Value) -> &'a serde_yaml::Value {
    let mut v = v;
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(|r| r.as_str()) else {
            return v;
        };
        let mut target = spec;
        for part in r.trim_start_matches("#/").split('/') {
            match target.get(part) {
                Some(t) => target = t,
                None => return v,
            }
        }
        v = target;
    }
    v
}

/// Whether a query parameter of schema `s` can be given as an empty string: only a plain
/// string (no enum, pattern, format or minimum length) can.
fn empty_allowed(spec: &serde_yaml::Value, s: &serde_yaml::Value) -> bool {
    let s = resolve(spec, s);
    let is = |k: &str| s.get(k).is_some();
    s.get("type").and_then(|t| t.as_str()) == Some("string")
        && !is("enum")
        && !is("pattern")
        && !is("format")
        && s.get("minLength")
            .and_then(|n| n.as_u64())
            .is_none_or(|n| n == 0)
}

/// The request shapes of the spec as JSON: `schemas` (the component schemas, stripped),
/// `bodies` (per operationId, its `application/json` request body schema) and `query` (per
/// operationId, the query parameters an empty value does not satisfy).
fn shapes(spec: &serde_yaml::Value) -> String {
    use serde_json::{json, Map};
    let schemas: Map<String, serde_json::Value> = spec
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(|s| s.as_mapping())
        .into_iter()
        .flatten()
        .filter_map(|(n, s)| Some((n.as_str()?.to_owned(), strip(s))))
        .collect();
    let mut bodies = Map::new();
    let mut query = Map::new();
    for (_, item) in spec
        .get("paths")
        .and_then(|p| p.as_mapping())
        .into_iter()
        .flatten()
    {
        let common: Vec<&serde_yaml::Value> = item
            .get("parameters")
            .and_then(|p| p.as_sequence())
            .into_iter()
            .flatten()
            .collect();
        for (_, op) in item.as_mapping().into_iter().flatten() {
            let Some(id) = op.get("operationId").and_then(|v| v.as_str()) else {
                continue;
            };
            if let Some(schema) = op
                .get("requestBody")
                .map(|b| resolve(spec, b))
                .and_then(|b| b.get("content"))
                .and_then(|c| c.get("application/json"))
                .and_then(|c| c.get("schema"))
            {
                bodies.insert(id.to_owned(), strip(schema));
            }
            let own = op.get("parameters").and_then(|p| p.as_sequence());
            let no_empty: Vec<serde_json::Value> = common
                .iter()
                .copied()
                .chain(own.into_iter().flatten())
                .map(|p| resolve(spec, p))
                .filter(|p| p.get("in").and_then(|i| i.as_str()) == Some("query"))
                .filter(|p| !p.get("schema").is_some_and(|s| empty_allowed(spec, s)))
                .filter_map(|p| p.get("name").and_then(|n| n.as_str()).map(|n| json!(n)))
                .collect();
            if !no_empty.is_empty() {
                query.insert(id.to_owned(), serde_json::Value::Array(no_empty));
            }
        }
    }
    json!({ "schemas": schemas, "bodies": bodies, "query": query }).to_string()
}
