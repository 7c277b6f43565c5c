//! The normalization pass: general rules that turn a spec as Dakota publishes it into one
//! progenitor 0.15 can generate from, without losing a success type.
//!
//! progenitor asserts that every operation has at most one success type and at most one error
//! type (`assertion failed: response_types.len() <= 1`, progenitor issues #344 and #950). Real
//! Dakota specs break that assertion in several ways; each way is one rule below, applied to
//! every operation it matches. Every change is recorded as a [`Change`] so `--verbose` can list
//! it. The rules work on the spec as JSON so they tolerate extensions `openapiv3` would reject.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The rules, in the order they run. Names appear in `--verbose` output and in the README.
pub const RULES: &[(&str, &str)] = &[
    (
        "json-media-types",
        "`application/problem+json` and other `+json` media types become `application/json`, so error bodies are typed instead of raw bytes",
    ),
    (
        "multi-content-success",
        "a 2xx response offering several non-JSON media types (pdf/jpeg/png) becomes one `application/octet-stream` byte stream",
    ),
    (
        "default-beside-success",
        "a `default` response next to explicit 2xx responses stops counting as a success: with a body it becomes `4XX` + `5XX`, without one it is dropped",
    ),
    (
        "mixed-error-bodies",
        "an operation whose error responses carry different bodies (or none) gets one `<OperationId>ErrorBody` oneOf over every distinct body",
    ),
    (
        "mixed-success-bodies",
        "an operation whose 2xx responses carry different bodies gets one `<OperationId>SuccessBody` oneOf over them",
    ),
    (
        "flatten-all-of",
        "an `allOf` of objects (`$ref`s and inline parts, e.g. a discriminator base plus its variant) becomes one object with the merged properties (later parts win) and required lists; an `allOf` holding a single `$ref` is left alone",
    ),
    (
        "tagged-unions",
        "a `oneOf` of `$ref`ed objects told apart by one string property (its `discriminator`, or a property every variant pins to one distinct value) pins each variant's tag to its own one-value enum `<Variant><Property>` that stays closed, so deserializing picks the variant by its tag",
    ),
    (
        "nullable-unions",
        "a component schema that is a `nullable` oneOf/anyOf/allOf keeps its name as `nullable` allOf over the composition, which moves to `<Name>Value` (typify would otherwise name the non-null part like the whole and emit a type containing itself)",
    ),
    (
        "name-clashes",
        "an inline schema (property, array item, operation body, response or parameter) whose type name, as typify or progenitor would derive it, equals a component schema's or another inline schema's gets a `title` with a free name (typify would silently merge the two types or emit both)",
    ),
    (
        "transport-filled-headers",
        "the `x-idempotency-key` header becomes optional in the generated builder: dakota-ext fills in a UUID v4 when the caller gives none",
    ),
];

/// One change a rule made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Rule name (one of [`RULES`]).
    pub rule: &'static str,
    /// Where: `METHOD /path (operationId)` or a component.
    pub location: String,
    /// What changed.
    pub detail: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}: {}", self.rule, self.location, self.detail)
    }
}

pub(crate) const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Apply every rule to `spec` in place and return what changed.
pub fn normalize(spec: &mut Value) -> Vec<Change> {
    let mut changes = Vec::new();
    json_media_types(spec, &mut changes);
    multi_content_success(spec, &mut changes);
    default_beside_success(spec, &mut changes);
    mixed_error_bodies(spec, &mut changes);
    mixed_success_bodies(spec, &mut changes);
    flatten_all_of(spec, &mut changes);
    tagged_unions(spec, &mut changes);
    nullable_unions(spec, &mut changes);
    name_clashes(spec, &mut changes);
    transport_filled_headers(spec, &mut changes);
    changes
}

/// Root key where `tagged-unions` lists the one-value tag enums the open-enum pass must leave
/// closed (an open tag would let any variant match).
pub const CLOSED_ENUMS_KEY: &str = "x-dakota-closed-enums";

fn component_name(r: &str) -> Option<&str> {
    r.strip_prefix("#/components/schemas/")
}

/// The object schema `s` stands for, with every `allOf` merged; `None` when it is not a plain
/// object (a oneOf/anyOf, a string enum, an unresolvable `$ref`...).
fn flat_object(schemas: &Map<String, Value>, s: &Value, depth: usize) -> Option<Value> {
    if depth > 32 {
        return None;
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return flat_object(schemas, schemas.get(component_name(r)?)?, depth + 1);
    }
    if s.get("oneOf").is_some() || s.get("anyOf").is_some() {
        return None;
    }
    let mut props = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut merge = |part: &Value| {
        for (k, v) in part
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            props.insert(k.clone(), v.clone());
        }
        for r in part
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    };
    match s.get("allOf").and_then(Value::as_array) {
        Some(parts) => {
            for p in parts {
                merge(&flat_object(schemas, p, depth + 1)?);
            }
        }
        None if s.get("properties").is_none()
            && s.get("type").and_then(Value::as_str) != Some("object") =>
        {
            return None
        }
        None => {}
    }
    merge(s);
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    for (k, v) in s.as_object()? {
        if !matches!(
            k.as_str(),
            "allOf" | "discriminator" | "properties" | "required" | "type"
        ) {
            out.insert(k.clone(), v.clone());
        }
    }
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out.insert("properties".into(), Value::Object(props));
    Some(Value::Object(out))
}

/// Rewrite every flattenable `allOf` below `v` (schemas only: examples are skipped).
fn flatten_in(schemas: &Map<String, Value>, v: &mut Value, at: &str, changes: &mut Vec<Change>) {
    match v {
        Value::Object(m) => {
            if let Some(parts) = m.get("allOf").and_then(Value::as_array) {
                let single_ref = parts.len() == 1 && parts[0].get("$ref").is_some();
                if !single_ref {
                    if let Some(flat) = flat_object(schemas, &Value::Object(m.clone()), 0) {
                        changes.push(Change {
                            rule: "flatten-all-of",
                            location: at.to_string(),
                            detail: format!(
                                "allOf of {} part(s) -> one object with {} properties",
                                parts.len(),
                                flat["properties"].as_object().map_or(0, Map::len)
                            ),
                        });
                        *v = flat;
                        return;
                    }
                }
            }
            for (k, child) in m.iter_mut() {
                if k != "example" && k != "examples" {
                    flatten_in(schemas, child, at, changes);
                }
            }
        }
        Value::Array(a) => a
            .iter_mut()
            .for_each(|c| flatten_in(schemas, c, at, changes)),
        _ => {}
    }
}

fn flatten_all_of(spec: &mut Value, changes: &mut Vec<Change>) {
    let Some(original) = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, s) in schemas.iter_mut() {
            flatten_in(&original, s, &format!("components.schemas.{name}"), changes);
        }
    }
    if let Some(paths) = spec.get_mut("paths") {
        flatten_in(&original, paths, "paths", changes);
    }
}

/// The single string value a (possibly `$ref`ed) property schema is pinned to.
fn pinned_value(schemas: &Map<String, Value>, prop: &Value) -> Option<String> {
    let p = match prop.get("$ref").and_then(Value::as_str) {
        Some(r) => schemas.get(component_name(r)?)?,
        None => prop,
    };
    match p.get("enum").and_then(Value::as_array)?.as_slice() {
        [Value::String(v)] => Some(v.clone()),
        _ => None,
    }
}

/// Without a `discriminator`, one variant may lack the tag property altogether.
fn explicit_missing_ok(union: &Value) -> bool {
    union.get("discriminator").is_none()
}

/// (variant component name, tag property, tag value) for each variant of a tagged union.
fn union_tags(
    schemas: &Map<String, Value>,
    union: &Value,
) -> Option<Vec<(String, String, String)>> {
    let members = union.get("oneOf")?.as_array()?;
    let mut names = Vec::new();
    for m in members {
        let name = component_name(m.get("$ref")?.as_str()?)?;
        schemas.get(name)?.get("properties")?.as_object()?;
        names.push(name.to_string());
    }
    if names.len() < 2 {
        return None;
    }
    let props = |n: &str| {
        schemas[n]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    let explicit = union
        .pointer("/discriminator/propertyName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let candidates: Vec<String> = match explicit {
        Some(p) => vec![p],
        None => names
            .iter()
            .flat_map(|n| props(n).keys().cloned().collect::<Vec<_>>())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    'candidate: for prop in candidates {
        let mut out = Vec::new();
        let mut untagged = 0;
        for n in &names {
            let schema_prop = props(n).get(&prop).cloned();
            if schema_prop.is_none() && explicit_missing_ok(union) {
                // One variant without the property at all (e.g. the only non-`type`d intent)
                // stays as it is; it must be told apart by its other required fields.
                untagged += 1;
                if untagged > 1 {
                    continue 'candidate;
                }
                continue;
            }
            let mapped = union
                .pointer("/discriminator/mapping")
                .and_then(Value::as_object)
                .and_then(|m| {
                    m.iter()
                        .find(|(_, r)| r.as_str().and_then(component_name) == Some(n.as_str()))
                        .map(|(k, _)| k.clone())
                });
            let value = match (
                mapped,
                schema_prop.as_ref().and_then(|p| pinned_value(schemas, p)),
            ) {
                (Some(m), _) => m,
                (None, Some(v)) => v,
                _ => continue 'candidate,
            };
            if schema_prop.is_none() || out.iter().any(|(_, _, v)| v == &value) {
                continue 'candidate;
            }
            out.push((n.clone(), prop.clone(), value));
        }
        if out.len() < 2 {
            continue;
        }
        return Some(out);
    }
    None
}

fn collect_unions(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("oneOf") {
                out.push(v.clone());
            }
            for (k, c) in m {
                if k != "example" && k != "examples" {
                    collect_unions(c, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_unions(c, out)),
        _ => {}
    }
}

fn tagged_unions(spec: &mut Value, changes: &mut Vec<Change>) {
    let Some(schemas) = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let mut unions = Vec::new();
    for (name, s) in &schemas {
        let mut found = Vec::new();
        collect_unions(s, &mut found);
        unions.extend(
            found
                .into_iter()
                .map(|u| (format!("components.schemas.{name}"), u)),
        );
    }
    if let Some(paths) = spec.get("paths") {
        let mut found = Vec::new();
        collect_unions(paths, &mut found);
        unions.extend(found.into_iter().map(|u| ("paths".to_string(), u)));
    }
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut pinned: BTreeMap<(String, String), String> = BTreeMap::new();
    for (at, union) in &unions {
        let Some(tags) = union_tags(&schemas, union) else {
            continue;
        };
        let mut variants = Vec::new();
        for (variant, prop, value) in &tags {
            if let Some(previous) = pinned.get(&(variant.clone(), prop.clone())) {
                if previous != value {
                    continue;
                }
            }
            pinned.insert((variant.clone(), prop.clone()), value.clone());
            let mut tag_name = format!("{variant}{}", pascal(prop));
            let wanted = json!({"type": "string", "enum": [value]});
            let taken =
                |n: &str| schemas.contains_key(n) && schemas[n].get("enum") != wanted.get("enum");
            if taken(&tag_name) {
                tag_name.push_str("Tag");
            }
            let all = spec["components"]["schemas"]
                .as_object_mut()
                .expect("schemas");
            let mut tag_schema = wanted.clone();
            tag_schema["description"] =
                json!(format!("`{prop}` of `{variant}`: always `{value}`."));
            all.insert(tag_name.clone(), tag_schema);
            let v = &mut all[variant.as_str()];
            v["properties"][prop.as_str()] =
                json!({"$ref": format!("#/components/schemas/{tag_name}")});
            let req = v
                .as_object_mut()
                .expect("object")
                .entry("required")
                .or_insert_with(|| json!([]));
            if let Some(r) = req.as_array_mut() {
                if !r.iter().any(|x| x == prop.as_str()) {
                    r.push(json!(prop));
                }
            }
            closed.insert(tag_name.clone());
            variants.push(format!("{variant}={value}"));
        }
        changes.push(Change {
            rule: "tagged-unions",
            location: at.clone(),
            detail: format!(
                "oneOf tagged by `{}`: {}; tag enums stay closed",
                tags[0].1,
                variants.join(", ")
            ),
        });
    }
    if !closed.is_empty() {
        spec[CLOSED_ENUMS_KEY] = json!(closed);
    }
}

/// Visit every operation: (method, path, operationId, operation object).
fn for_each_operation(
    spec: &mut Value,
    mut f: impl FnMut(&str, &str, &str, &mut Map<String, Value>),
) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            if let Some(op) = item.get_mut(*method).and_then(Value::as_object_mut) {
                let op_id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or("<no operationId>")
                    .to_string();
                f(method, path, &op_id, op);
            }
        }
    }
}

fn loc(method: &str, path: &str, op_id: &str) -> String {
    format!("{} {} ({})", method.to_uppercase(), path, op_id)
}

fn is_json_like(media: &str) -> bool {
    let base = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    base == "application/json" || (base.starts_with("application/") && base.ends_with("+json"))
}

fn is_success_status(code: &str) -> bool {
    code.starts_with('2')
}

fn is_error_status(code: &str) -> bool {
    code.starts_with('4') || code.starts_with('5')
}

/// Resolve a `#/components/responses/X` reference against the spec.
fn resolve_response<'a>(components: &'a Value, response: &'a Value) -> &'a Value {
    if let Some(r) = response.get("$ref").and_then(Value::as_str) {
        if let Some(name) = r.strip_prefix("#/components/responses/") {
            if let Some(target) = components.get("responses").and_then(|c| c.get(name)) {
                return target;
            }
        }
    }
    response
}

/// Inline every `$ref`'d response object of every operation, so the rules can edit them.
fn inline_response_refs(spec: &mut Value) {
    let components = spec.get("components").cloned().unwrap_or(Value::Null);
    for_each_operation(spec, |_, _, _, op| {
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            for (_, r) in responses.iter_mut() {
                if r.get("$ref").is_some() {
                    *r = resolve_response(&components, r).clone();
                }
            }
        }
    });
}

/// Rule `json-media-types`.
fn json_media_types(spec: &mut Value, changes: &mut Vec<Change>) {
    inline_response_refs(spec);
    for_each_operation(spec, |method, path, op_id, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        for (code, response) in responses.iter_mut() {
            let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
                continue;
            };
            let renames: Vec<String> = content
                .keys()
                .filter(|m| is_json_like(m) && m.as_str() != "application/json")
                .cloned()
                .collect();
            for media in renames {
                if content.contains_key("application/json") {
                    // Both present: the plain JSON entry already types the body.
                    content.remove(&media);
                    changes.push(Change {
                        rule: "json-media-types",
                        location: loc(method, path, op_id),
                        detail: format!(
                            "{code}: dropped duplicate `{media}` beside `application/json`"
                        ),
                    });
                } else if let Some(v) = content.remove(&media) {
                    content.insert("application/json".into(), v);
                    changes.push(Change {
                        rule: "json-media-types",
                        location: loc(method, path, op_id),
                        detail: format!("{code}: `{media}` read as `application/json`"),
                    });
                }
            }
        }
    });
}

/// Rule `multi-content-success`.
fn multi_content_success(spec: &mut Value, changes: &mut Vec<Change>) {
    for_each_operation(spec, |method, path, op_id, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        for (code, response) in responses.iter_mut() {
            if !(is_success_status(code) || code == "default") {
                continue;
            }
            let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
                continue;
            };
            if content.len() < 2 {
                continue;
            }
            let kinds: Vec<String> = content.keys().cloned().collect();
            if content.contains_key("application/json") {
                // Keep the typed JSON body; other representations are alternatives of it.
                content.retain(|k, _| k == "application/json");
                changes.push(Change {
                    rule: "multi-content-success",
                    location: loc(method, path, op_id),
                    detail: format!(
                        "{code}: kept `application/json` out of [{}]",
                        kinds.join(", ")
                    ),
                });
            } else {
                content.clear();
                content.insert(
                    "application/octet-stream".into(),
                    json!({"schema": {"type": "string", "format": "binary"}}),
                );
                changes.push(Change {
                    rule: "multi-content-success",
                    location: loc(method, path, op_id),
                    detail: format!(
                        "{code}: [{}] -> one `application/octet-stream` byte stream",
                        kinds.join(", ")
                    ),
                });
            }
        }
    });
}

/// Rule `default-beside-success`.
fn default_beside_success(spec: &mut Value, changes: &mut Vec<Change>) {
    for_each_operation(spec, |method, path, op_id, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        if !responses.keys().any(|c| is_success_status(c)) {
            return;
        }
        let Some(default) = responses.remove("default") else {
            return;
        };
        let has_body = default
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|c| !c.is_empty());
        if !has_body {
            changes.push(Change {
                rule: "default-beside-success",
                location: loc(method, path, op_id),
                detail: "dropped bodiless `default` (other statuses surface as UnexpectedResponse with status and body)".into(),
            });
            return;
        }
        let mut added = Vec::new();
        for range in ["4XX", "5XX"] {
            if !responses.contains_key(range) {
                responses.insert(range.into(), default.clone());
                added.push(range);
            }
        }
        changes.push(Change {
            rule: "default-beside-success",
            location: loc(method, path, op_id),
            detail: format!("`default` -> [{}]", added.join(", ")),
        });
    });
}

/// The body shape of a response: its JSON schema (canonical string) or a marker.
fn body_key(response: &Value) -> Option<(String, Value)> {
    let content = response.get("content").and_then(Value::as_object)?;
    if content.is_empty() {
        return None;
    }
    if let Some(mt) = content.get("application/json") {
        let schema = mt.get("schema").cloned().unwrap_or(json!({}));
        return Some((format!("json:{schema}"), schema));
    }
    let (media, _) = content.iter().next()?;
    Some((
        format!("raw:{media}"),
        json!({"type": "string", "format": "binary"}),
    ))
}

fn pascal(op_id: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for ch in op_id.chars() {
        if ch.is_ascii_alphanumeric() {
            if upper {
                out.extend(ch.to_uppercase());
            } else {
                out.push(ch);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// Number of required properties of a (referenced) schema, used to order union variants so
/// the most specific body is tried first.
fn required_count(spec: &Value, schema: &Value) -> usize {
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .and_then(|n| spec.pointer(&format!("/components/schemas/{n}")))
        .unwrap_or(schema);
    target
        .get("required")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// Shared body of `mixed-error-bodies` and `mixed-success-bodies`.
fn unify_bodies(
    spec: &mut Value,
    changes: &mut Vec<Change>,
    rule: &'static str,
    suffix: &str,
    select: fn(&str) -> bool,
) {
    let snapshot = spec.clone();
    let mut new_schemas: BTreeMap<String, Value> = BTreeMap::new();
    for_each_operation(spec, |method, path, op_id, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        let codes: Vec<String> = responses.keys().filter(|c| select(c)).cloned().collect();
        let mut kinds: BTreeMap<String, Value> = BTreeMap::new();
        let mut bodiless = false;
        for c in &codes {
            match body_key(&responses[c]) {
                Some((k, s)) => {
                    kinds.insert(k, s);
                }
                None => bodiless = true,
            }
        }
        let distinct = kinds.len() + usize::from(bodiless);
        if distinct <= 1 {
            return;
        }
        let raw = kinds.keys().any(|k| k.starts_with("raw:"));
        let (media, schema, label) = if raw {
            (
                "application/octet-stream",
                json!({"type": "string", "format": "binary"}),
                "raw bytes".to_string(),
            )
        } else if kinds.len() == 1 {
            let schema = kinds.into_values().next().unwrap_or(json!({}));
            (
                "application/json",
                schema,
                "its one body schema".to_string(),
            )
        } else {
            let mut variants: Vec<Value> = kinds.into_values().collect();
            variants.sort_by_key(|s| std::cmp::Reverse(required_count(&snapshot, s)));
            let mut taken = type_names(&snapshot);
            taken.extend(new_schemas.keys().map(|k| type_name(k)));
            let name = free_name(&taken, &format!("{}{suffix}", pascal(op_id)));
            let names: Vec<String> = variants
                .iter()
                .map(|v| {
                    v.get("$ref")
                        .and_then(Value::as_str)
                        .unwrap_or("<inline>")
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            new_schemas.insert(
                name.clone(),
                json!({
                    "description": format!("Any body `{op_id}` answers with on {}; one variant per body the spec documents.", if suffix.contains("Error") { "failure" } else { "success" }),
                    "oneOf": variants,
                }),
            );
            (
                "application/json",
                json!({"$ref": format!("#/components/schemas/{name}")}),
                format!("`{name}` = oneOf [{}]", names.join(", ")),
            )
        };
        for c in &codes {
            if let Some(r) = responses.get_mut(c).and_then(Value::as_object_mut) {
                let mut content = Map::new();
                content.insert(media.into(), json!({ "schema": schema.clone() }));
                r.insert("content".into(), Value::Object(content));
            }
        }
        let bodiless_note = if bodiless {
            "; bodiless statuses share it (an empty body reads as a payload error that keeps the bytes)"
        } else {
            ""
        };
        changes.push(Change {
            rule,
            location: loc(method, path, op_id),
            detail: format!("[{}] -> {label}{bodiless_note}", codes.join(", ")),
        });
    });
    if !new_schemas.is_empty() {
        let schemas = spec
            .as_object_mut()
            .map(|o| o.entry("components").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
            .map(|c| c.entry("schemas").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut);
        if let Some(schemas) = schemas {
            for (k, v) in new_schemas {
                schemas.insert(k, v);
            }
        }
    }
}

/// Rule `mixed-error-bodies`.
fn mixed_error_bodies(spec: &mut Value, changes: &mut Vec<Change>) {
    unify_bodies(
        spec,
        changes,
        "mixed-error-bodies",
        "ErrorBody",
        is_error_status,
    );
}

/// Rule `mixed-success-bodies`.
fn mixed_success_bodies(spec: &mut Value, changes: &mut Vec<Change>) {
    unify_bodies(
        spec,
        changes,
        "mixed-success-bodies",
        "SuccessBody",
        is_success_status,
    );
}

/// The Rust type name typify gives a schema named `name` (close to typify's sanitizer:
/// UpperCamelCase of the alphanumeric words).
pub fn type_name(name: &str) -> String {
    use heck::ToUpperCamelCase;
    name.to_upper_camel_case()
}

/// The type names of every component schema of `spec`.
fn type_names(spec: &Value) -> BTreeSet<String> {
    spec.pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|s| s.keys().map(|k| type_name(k)).collect())
        .unwrap_or_default()
}

/// `base`, or `base2`, `base3`... whichever type name is not taken yet.
fn free_name(taken: &BTreeSet<String>, base: &str) -> String {
    if !taken.contains(&type_name(base)) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|c| !taken.contains(&type_name(c)))
        .unwrap_or_else(|| base.to_string())
}

/// Rule `nullable-unions`.
fn nullable_unions(spec: &mut Value, changes: &mut Vec<Change>) {
    let mut taken = type_names(spec);
    let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut hoisted = Vec::new();
    for (name, schema) in schemas.iter_mut() {
        let Some(o) = schema.as_object_mut() else {
            continue;
        };
        if o.get("nullable").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let Some(kind) = ["oneOf", "anyOf", "allOf"]
            .into_iter()
            .find(|k| o.contains_key(*k))
        else {
            continue;
        };
        let value_name = free_name(&taken, &format!("{name}Value"));
        taken.insert(type_name(&value_name));
        let mut inner = o.clone();
        inner.remove("nullable");
        inner.remove("description");
        let mut outer = Map::new();
        if let Some(d) = o.get("description") {
            outer.insert("description".into(), d.clone());
        }
        outer.insert("nullable".into(), Value::Bool(true));
        outer.insert(
            "allOf".into(),
            json!([{"$ref": format!("#/components/schemas/{value_name}")}]),
        );
        *o = outer;
        changes.push(Change {
            rule: "nullable-unions",
            location: format!("components.schemas.{name}"),
            detail: format!("nullable {kind} -> nullable allOf [`{value_name}`]"),
        });
        hoisted.push((value_name, Value::Object(inner)));
    }
    for (k, v) in hoisted {
        schemas.insert(k, v);
    }
}

/// Whether typify gives `schema` (inline) a type of its own, hence a name.
fn names_a_type(schema: &Value) -> bool {
    let Some(o) = schema.as_object() else {
        return false;
    };
    if o.contains_key("$ref") {
        return false;
    }
    o.get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.iter().all(Value::is_string))
        || o.get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
        || ["oneOf", "anyOf"].iter().any(|k| o.contains_key(*k))
        || o.get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 1 || a.iter().any(|s| s.get("$ref").is_none()))
}

/// Walk an inline schema typify names `suggested` (before its `title`), renaming it through
/// `title` when that name is taken, then its properties and array items.
fn claim_names(
    schema: &mut Value,
    suggested: &str,
    at: &str,
    taken: &mut BTreeSet<String>,
    changes: &mut Vec<Change>,
) {
    let mut base = suggested.to_string();
    if names_a_type(schema) {
        let current = schema
            .get("title")
            .and_then(Value::as_str)
            .map_or_else(|| suggested.to_string(), str::to_string);
        let name = if taken.contains(&type_name(&current)) {
            let free = free_name(taken, &type_name(&current));
            changes.push(Change {
                rule: "name-clashes",
                location: at.to_string(),
                detail: format!(
                    "inline type `{}` is taken -> title `{free}`",
                    type_name(&current)
                ),
            });
            schema["title"] = Value::String(free.clone());
            free
        } else {
            current
        };
        taken.insert(type_name(&name));
        base = name;
    }
    claim_inner_names(schema, &base, at, taken, changes);
}

/// [`claim_names`] for what is inside a schema named `base` (its own name already claimed).
fn claim_inner_names(
    schema: &mut Value,
    base: &str,
    at: &str,
    taken: &mut BTreeSet<String>,
    changes: &mut Vec<Change>,
) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        for (prop, s) in props.iter_mut() {
            use heck::ToSnakeCase;
            let suggested = format!("{base}_{}", prop.to_snake_case());
            claim_names(s, &suggested, &format!("{at}.{prop}"), taken, changes);
        }
    }
    if let Some(items) = o.get_mut("items") {
        claim_names(
            items,
            &format!("{}Item", type_name(base)),
            &format!("{at}[]"),
            taken,
            changes,
        );
    }
}

/// Rule `name-clashes`.
fn name_clashes(spec: &mut Value, changes: &mut Vec<Change>) {
    let mut taken = type_names(spec);
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            claim_inner_names(
                schema,
                name,
                &format!("components.schemas.{name}"),
                &mut taken,
                changes,
            );
        }
    }
    // progenitor names inline operation types `<operationId>-body`, `-response`, `-<param>`.
    for_each_operation(spec, |method, path, op_id, op| {
        let at = loc(method, path, op_id);
        for p in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(name) = p.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if let Some(s) = p.get_mut("schema") {
                let suggested = format!("{op_id}-{name}");
                claim_names(s, &suggested, &format!("{at} {name}"), &mut taken, changes);
            }
        }
        if let Some(s) = op
            .get_mut("requestBody")
            .and_then(|b| b.pointer_mut("/content/application~1json/schema"))
        {
            claim_names(
                s,
                &format!("{op_id}-body"),
                &format!("{at} body"),
                &mut taken,
                changes,
            );
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            for (code, r) in responses.iter_mut() {
                if let Some(s) = r.pointer_mut("/content/application~1json/schema") {
                    claim_names(
                        s,
                        &format!("{op_id}-response"),
                        &format!("{at} {code}"),
                        &mut taken,
                        changes,
                    );
                }
            }
        }
    });
}

/// Rule `transport-filled-headers`.
fn transport_filled_headers(spec: &mut Value, changes: &mut Vec<Change>) {
    const HEADERS: &[&str] = &["x-idempotency-key"];
    let is_filled = |p: &Value| {
        p.get("in").and_then(Value::as_str) == Some("header")
            && p.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| HEADERS.contains(&n.to_ascii_lowercase().as_str()))
            && p.get("required").and_then(Value::as_bool) == Some(true)
    };
    if let Some(params) = spec
        .pointer_mut("/components/parameters")
        .and_then(Value::as_object_mut)
    {
        for (name, p) in params.iter_mut() {
            if is_filled(p) {
                p["required"] = Value::Bool(false);
                changes.push(Change {
                    rule: "transport-filled-headers",
                    location: format!("components.parameters.{name}"),
                    detail: "required -> optional".into(),
                });
            }
        }
    }
    let mut seen = BTreeSet::new();
    for_each_operation(spec, |method, path, op_id, op| {
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for p in params.iter_mut() {
                if is_filled(p) {
                    p["required"] = Value::Bool(false);
                    if seen.insert(op_id.to_string()) {
                        changes.push(Change {
                            rule: "transport-filled-headers",
                            location: loc(method, path, op_id),
                            detail: "inline idempotency header: required -> optional".into(),
                        });
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op<'a>(spec: &'a Value, path: &str, method: &str) -> &'a Value {
        &spec["paths"][path][method]
    }

    fn rules_of(changes: &[Change]) -> BTreeSet<&'static str> {
        changes.iter().map(|c| c.rule).collect()
    }

    #[test]
    fn problem_json_is_typed() {
        let mut spec = json!({"paths": {"/a": {"get": {"operationId": "a", "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}},
            "404": {"description": "no", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/P"}}}}
        }}}}});
        let changes = normalize(&mut spec);
        assert_eq!(rules_of(&changes), BTreeSet::from(["json-media-types"]));
        assert!(
            op(&spec, "/a", "get")["responses"]["404"]["content"]["application/json"].is_object()
        );
    }

    #[test]
    fn several_binary_types_become_one_stream() {
        let mut spec = json!({"paths": {"/d": {"get": {"operationId": "dl", "responses": {
            "200": {"description": "file", "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}}}}
        }}}}});
        let changes = normalize(&mut spec);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let content = op(&spec, "/d", "get")["responses"]["200"]["content"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            vec!["application/octet-stream"]
        );
    }

    #[test]
    fn default_with_body_becomes_error_ranges() {
        let mut spec = json!({"paths": {"/c": {"post": {"operationId": "c", "responses": {
            "201": {"description": "made", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "err", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/P"}}}}
        }}}}});
        normalize(&mut spec);
        let r = &op(&spec, "/c", "post")["responses"];
        assert!(r.get("default").is_none());
        assert_eq!(r["4XX"], r["5XX"]);
        assert_eq!(
            r["4XX"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/P"
        );
        // The success response is untouched.
        assert_eq!(
            r["201"]["content"]["application/json"]["schema"]["type"],
            "object"
        );
    }

    #[test]
    fn bodiless_default_is_dropped_and_only_default_stays() {
        let mut spec = json!({"paths": {
            "/c": {"post": {"operationId": "c", "responses": {"201": {"description": "x"}, "default": {"description": "y"}}}},
            "/o": {"get": {"operationId": "o", "responses": {"default": {"description": "only", "content": {"application/json": {"schema": {"type": "string"}}}}}}}
        }});
        normalize(&mut spec);
        assert!(op(&spec, "/c", "post")["responses"]
            .get("default")
            .is_none());
        assert!(
            op(&spec, "/o", "get")["responses"].get("default").is_some(),
            "a lone default is the success response"
        );
    }

    #[test]
    fn mixed_errors_get_one_union_most_specific_first() {
        let mut spec = json!({
            "paths": {"/s": {"post": {"operationId": "submitThing", "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": {"description": "a", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotReady"}}}},
                "401": {"description": "b", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                "409": {"description": "c"}
            }}}},
            "components": {"schemas": {
                "Problem": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
                "NotReady": {"type": "object", "required": ["code", "id"], "properties": {"code": {"type": "string"}, "id": {"type": "string"}}}
            }}
        });
        let changes = normalize(&mut spec);
        assert!(rules_of(&changes).contains("mixed-error-bodies"));
        let union = &spec["components"]["schemas"]["SubmitThingErrorBody"]["oneOf"];
        assert_eq!(union[0]["$ref"], "#/components/schemas/NotReady");
        assert_eq!(union[1]["$ref"], "#/components/schemas/Problem");
        for code in ["400", "401", "409"] {
            assert_eq!(
                op(&spec, "/s", "post")["responses"][code]["content"]["application/json"]["schema"]
                    ["$ref"],
                "#/components/schemas/SubmitThingErrorBody"
            );
        }
    }

    #[test]
    fn uniform_errors_are_left_alone() {
        let mut spec = json!({"paths": {"/u": {"get": {"operationId": "u", "responses": {
            "200": {"description": "ok"},
            "400": {"description": "a", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/P"}}}},
            "404": {"description": "b", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/P"}}}}
        }}}}});
        let before = spec.clone();
        assert!(normalize(&mut spec).is_empty());
        assert_eq!(spec, before);
    }

    #[test]
    fn mixed_success_bodies_are_unified() {
        let mut spec = json!({"paths": {"/m": {"post": {"operationId": "m", "responses": {
            "200": {"description": "a", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
            "201": {"description": "b", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/B"}}}}
        }}}}});
        let changes = normalize(&mut spec);
        assert_eq!(rules_of(&changes), BTreeSet::from(["mixed-success-bodies"]));
        assert!(spec["components"]["schemas"]["MSuccessBody"]["oneOf"].is_array());
    }

    #[test]
    fn idempotency_header_becomes_optional() {
        let mut spec = json!({
            "paths": {"/p": {"post": {"operationId": "p", "parameters": [
                {"in": "header", "name": "x-idempotency-key", "required": true, "schema": {"type": "string"}}
            ], "responses": {"200": {"description": "ok"}}}}},
            "components": {"parameters": {"Idem": {"in": "header", "name": "x-idempotency-key", "required": true, "schema": {"type": "string"}}}}
        });
        let changes = normalize(&mut spec);
        assert_eq!(changes.len(), 2);
        assert_eq!(spec["components"]["parameters"]["Idem"]["required"], false);
        assert_eq!(op(&spec, "/p", "post")["parameters"][0]["required"], false);
    }

    #[test]
    fn all_of_of_objects_is_flattened_single_refs_are_not() {
        let mut spec = json!({"paths": {}, "components": {"schemas": {
            "Base": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": ["a", "b"]}},
                     "discriminator": {"propertyName": "kind"}},
            "A": {"description": "An A.", "allOf": [{"$ref": "#/components/schemas/Base"},
                  {"type": "object", "required": ["x"], "properties": {"kind": {"type": "string", "enum": ["a"]}, "x": {"type": "string"}}}]},
            "Holder": {"type": "object", "properties": {"a": {"allOf": [{"$ref": "#/components/schemas/A"}], "description": "kept"}}}
        }}});
        let changes = normalize(&mut spec);
        assert_eq!(rules_of(&changes), BTreeSet::from(["flatten-all-of"]));
        let a = &spec["components"]["schemas"]["A"];
        assert!(a.get("allOf").is_none(), "{a}");
        assert_eq!(a["description"], "An A.");
        assert_eq!(a["required"], json!(["kind", "x"]));
        assert_eq!(
            a["properties"]["kind"]["enum"],
            json!(["a"]),
            "the later part wins"
        );
        let holder = &spec["components"]["schemas"]["Holder"]["properties"]["a"];
        assert_eq!(
            holder["allOf"][0]["$ref"], "#/components/schemas/A",
            "{holder}"
        );
    }

    #[test]
    fn unions_are_tagged_by_discriminator_or_by_a_pinned_property() {
        let mut spec = json!({"paths": {}, "components": {"schemas": {
            "T": {"type": "string", "enum": ["one", "two"]},
            "One": {"type": "object", "required": ["kind", "x"], "properties": {"kind": {"$ref": "#/components/schemas/T"}, "x": {"type": "string"}}},
            "Two": {"type": "object", "required": ["kind", "x"], "properties": {"kind": {"$ref": "#/components/schemas/T"}, "x": {"type": "string"}}},
            "Either": {"oneOf": [{"$ref": "#/components/schemas/One"}, {"$ref": "#/components/schemas/Two"}],
                       "discriminator": {"propertyName": "kind", "mapping": {"one": "#/components/schemas/One", "two": "#/components/schemas/Two"}}},
            "Plain": {"type": "object", "required": ["to"], "properties": {"to": {"type": "string"}}},
            "Up": {"type": "object", "required": ["op"], "properties": {"op": {"type": "string", "enum": ["up"]}}},
            "Down": {"type": "object", "required": ["op"], "properties": {"op": {"type": "string", "enum": ["down"]}}},
            "Intent": {"oneOf": [{"$ref": "#/components/schemas/Plain"}, {"$ref": "#/components/schemas/Up"}, {"$ref": "#/components/schemas/Down"}]},
            "Loose": {"oneOf": [{"$ref": "#/components/schemas/Plain"}, {"type": "string"}]}
        }}});
        let changes = normalize(&mut spec);
        let tagged: Vec<_> = changes
            .iter()
            .filter(|c| c.rule == "tagged-unions")
            .collect();
        assert_eq!(tagged.len(), 2, "{changes:?}");
        let s = &spec["components"]["schemas"];
        assert_eq!(
            s["One"]["properties"]["kind"]["$ref"],
            "#/components/schemas/OneKind"
        );
        assert_eq!(s["OneKind"]["enum"], json!(["one"]));
        assert_eq!(s["TwoKind"]["enum"], json!(["two"]));
        assert_eq!(
            s["Up"]["properties"]["op"]["$ref"],
            "#/components/schemas/UpOp"
        );
        assert_eq!(
            s["Plain"]["properties"].as_object().map(|m| m.len()),
            Some(1),
            "untouched"
        );
        assert_eq!(
            spec[CLOSED_ENUMS_KEY],
            json!(["DownOp", "OneKind", "TwoKind", "UpOp"])
        );
    }

    #[test]
    fn a_union_the_rules_add_never_overwrites_a_schema_of_the_spec() {
        let mut spec = json!({"paths": {"/r": {"post": {"operationId": "createReview", "responses": {
            "200": {"description": "ok"},
            "404": {"description": "a", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
            "409": {"description": "b", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/B"}}}}
        }}}}, "components": {"schemas": {
            "A": {"type": "object"}, "B": {"type": "object"},
            "CreateReviewErrorBody": {"type": "object", "properties": {"reason": {"type": "string"}}},
            "create_review_error_body2": {"type": "string"}
        }}});
        normalize(&mut spec);
        let schemas = &spec["components"]["schemas"];
        assert!(schemas["CreateReviewErrorBody"]["properties"]["reason"].is_object());
        // `create_review_error_body2` is typify's `CreateReviewErrorBody2` already.
        assert_eq!(schemas["create_review_error_body2"]["type"], "string");
        assert!(schemas["CreateReviewErrorBody3"]["oneOf"].is_array());
        assert_eq!(
            op(&spec, "/r", "post")["responses"]["404"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/CreateReviewErrorBody3"
        );
    }

    #[test]
    fn a_nullable_component_union_keeps_its_name_and_moves_the_union_aside() {
        let mut spec = json!({"paths": {}, "components": {"schemas": {
            "A": {"type": "object"}, "B": {"type": "object"},
            "Payout": {"description": "d", "nullable": true, "oneOf": [
                {"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]},
            "PayoutValue": {"type": "string"},
            "Plain": {"oneOf": [{"$ref": "#/components/schemas/A"}]}
        }}});
        let changes = normalize(&mut spec);
        assert_eq!(rules_of(&changes), BTreeSet::from(["nullable-unions"]));
        let schemas = &spec["components"]["schemas"];
        assert_eq!(
            schemas["Payout"],
            json!({"description": "d", "nullable": true,
                "allOf": [{"$ref": "#/components/schemas/PayoutValue2"}]})
        );
        assert_eq!(
            schemas["PayoutValue2"]["oneOf"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(schemas["PayoutValue2"].get("nullable").is_none());
        assert_eq!(schemas["PayoutValue"]["type"], "string");
        assert!(
            schemas["Plain"]["oneOf"].is_array(),
            "not nullable: untouched"
        );
    }

    #[test]
    fn inline_types_named_like_another_type_get_a_free_title() {
        let mut spec = json!({"paths": {"/r": {"post": {"operationId": "createReview",
        "parameters": [{"name": "mode", "in": "query",
            "schema": {"type": "string", "enum": ["a", "b"]}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object",
            "properties": {"x": {"type": "string"}}}}}},
        "responses": {"200": {"description": "ok"}}}}},
        "components": {"schemas": {
            "ReviewRequestVerdict": {"type": "object", "properties": {"score": {"type": "integer"}}},
            "CreateReviewMode": {"type": "string"},
            "CreateReviewBody": {"type": "string"},
            "Thing": {"type": "string"},
            "ReviewRequest": {"type": "object", "properties": {
                "verdict": {"type": "string", "enum": ["accept", "reject"]},
                "titled": {"title": "Thing", "type": "object", "properties": {"t": {"type": "string"}}},
                "plain": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "object", "properties": {
                    "v": {"type": "string"}}}}
            }},
            "Review": {"type": "object", "properties": {
                "request_tags_item": {"type": "string"}}},
            "ReviewRequestTagsItem": {"type": "string"}
        }}});
        let changes = normalize(&mut spec);
        assert!(rules_of(&changes).contains("name-clashes"), "{changes:?}");
        let props = &spec["components"]["schemas"]["ReviewRequest"]["properties"];
        assert_eq!(props["verdict"]["title"], "ReviewRequestVerdict2");
        assert_eq!(props["titled"]["title"], "Thing2", "a title is a name too");
        assert!(
            props["plain"].get("title").is_none(),
            "a string names no type"
        );
        assert_eq!(props["tags"]["items"]["title"], "ReviewRequestTagsItem2");
        let op = op(&spec, "/r", "post");
        assert_eq!(op["parameters"][0]["schema"]["title"], "CreateReviewMode2");
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["title"],
            "CreateReviewBody2"
        );
        // Nothing else is renamed.
        assert_eq!(
            changes.iter().filter(|c| c.rule == "name-clashes").count(),
            5,
            "{changes:?}"
        );
    }
}
