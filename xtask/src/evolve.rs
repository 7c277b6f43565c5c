//! `cargo xtask evolve-spec`: the spec growth Dakota ships between releases, applied to every
//! place at once, so CI can prove that such growth is a compatible change of `dakota-api` and
//! compiles with the whole workspace (`.ci/evolve.sh`).
//!
//! The growth: one new optional property in every object schema that has properties (maps,
//! i.e. objects with only `additionalProperties`, stay maps), one new value in every enum of
//! two or more values (one-value enums are union tags, pinned on purpose), one new component
//! schema and one new operation that returns it.

use serde_json::{json, Map, Value};

/// Name of the property added to every object schema.
pub const NEW_PROPERTY: &str = "evolved_field";
/// Value added to every string enum of two or more values.
pub const NEW_ENUM_VALUE: &str = "evolved_value";
/// The component schema added.
pub const NEW_SCHEMA: &str = "EvolvedResource";
/// The operation added (`GET /evolved-resources/{evolved_resource_id}`).
pub const NEW_OPERATION: &str = "getEvolvedResource";

/// A breaking change [`evolve_with`] can add to the growth, only to prove that the checks of
/// `.ci/evolve.sh` catch one (`cargo xtask evolve-spec --breaking ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaking {
    /// The new property is required in every object schema: the API still compiles (structs
    /// are `#[non_exhaustive]`), but every body built without it fails `try_into()`, so the
    /// evolved workspace's tests fail.
    RequiredProperty,
    /// Every object schema loses its first property: a field of a public struct disappears,
    /// which cargo-semver-checks reports as a major change.
    RemovedProperty,
}

impl std::str::FromStr for Breaking {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "required-property" => Ok(Self::RequiredProperty),
            "removed-property" => Ok(Self::RemovedProperty),
            other => Err(format!(
                "unknown breaking change `{other}` (required-property, removed-property)"
            )),
        }
    }
}

/// What [`evolve`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Evolution {
    /// Object schemas that gained a property.
    pub properties_added: usize,
    /// Enums that gained a value.
    pub enum_values_added: usize,
    /// Schemas added.
    pub schemas_added: usize,
    /// Operations added.
    pub operations_added: usize,
    /// The breaking change asked for, if any.
    pub breaking: Option<Breaking>,
}

/// Grow `spec` in place (see the module docs).
pub fn evolve(spec: &mut Value) -> Evolution {
    evolve_with(spec, None)
}

/// [`evolve`], plus a `breaking` change when given.
pub fn evolve_with(spec: &mut Value, breaking: Option<Breaking>) -> Evolution {
    let mut e = Evolution {
        breaking,
        ..Evolution::default()
    };
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for s in schemas.values_mut() {
            schema(s, &mut e);
        }
    }
    for kind in ["parameters", "requestBodies", "responses", "headers"] {
        if let Some(items) = spec
            .pointer_mut(&format!("/components/{kind}"))
            .and_then(Value::as_object_mut)
        {
            for item in items.values_mut() {
                holder(item, &mut e);
            }
        }
    }
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (key, op) in item.iter_mut() {
                if key == "parameters" {
                    for p in op.as_array_mut().into_iter().flatten() {
                        holder(p, &mut e);
                    }
                    continue;
                }
                if !crate::normalize::METHODS.contains(&key.as_str()) {
                    continue;
                }
                for p in op
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    holder(p, &mut e);
                }
                if let Some(body) = op.get_mut("requestBody") {
                    holder(body, &mut e);
                }
                for r in op
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                    .into_iter()
                    .flat_map(|r| r.values_mut())
                {
                    holder(r, &mut e);
                }
            }
        }
    }
    add_schema_and_operation(spec, &mut e);
    e
}

/// A parameter, request body, response or header: its `schema`, the schemas of its
/// `content`, and the schemas of its `headers`.
fn holder(v: &mut Value, e: &mut Evolution) {
    let Some(o) = v.as_object_mut() else { return };
    if let Some(s) = o.get_mut("schema") {
        schema(s, e);
    }
    for media in o
        .get_mut("content")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|c| c.values_mut())
    {
        if let Some(s) = media.get_mut("schema") {
            schema(s, e);
        }
    }
    for h in o
        .get_mut("headers")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|h| h.values_mut())
    {
        holder(h, e);
    }
}

/// Grow one schema and every schema nested in it.
fn schema(v: &mut Value, e: &mut Evolution) {
    let Some(o) = v.as_object_mut() else { return };
    if o.contains_key("$ref") {
        return;
    }
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        for p in props.values_mut() {
            schema(p, e);
        }
        if !props.is_empty() {
            let mut name = NEW_PROPERTY.to_string();
            let mut n = 2;
            while props.contains_key(&name) {
                name = format!("{NEW_PROPERTY}_{n}");
                n += 1;
            }
            let first = props.keys().next().cloned();
            props.insert(
                name.clone(),
                json!({"type": "string", "description": "A property a later spec adds."}),
            );
            e.properties_added += 1;
            match e.breaking {
                Some(Breaking::RequiredProperty) => {
                    let required = o.entry("required").or_insert_with(|| json!([]));
                    if let Some(r) = required.as_array_mut() {
                        r.push(Value::String(name));
                    }
                }
                Some(Breaking::RemovedProperty) => {
                    if let Some(first) = first {
                        if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut)
                        {
                            props.remove(&first);
                        }
                        if let Some(r) = o.get_mut("required").and_then(Value::as_array_mut) {
                            r.retain(|x| x.as_str() != Some(first.as_str()));
                        }
                    }
                }
                None => {}
            }
        }
    }
    for k in ["items", "additionalProperties", "not"] {
        if let Some(s) = o.get_mut(k) {
            schema(s, e);
        }
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        for s in o
            .get_mut(k)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            schema(s, e);
        }
    }
    if let Some(values) = o.get_mut("enum").and_then(Value::as_array_mut) {
        if values.len() >= 2 {
            if let Some(new) = new_enum_value(values) {
                values.push(new);
                e.enum_values_added += 1;
            }
        }
    }
}

/// A value not yet in `values`: a new string for string enums, one past the largest for
/// integer enums.
fn new_enum_value(values: &[Value]) -> Option<Value> {
    if values.iter().all(Value::is_string) {
        let mut candidate = NEW_ENUM_VALUE.to_string();
        let mut n = 2;
        while values
            .iter()
            .any(|v| v.as_str() == Some(candidate.as_str()))
        {
            candidate = format!("{NEW_ENUM_VALUE}_{n}");
            n += 1;
        }
        return Some(Value::String(candidate));
    }
    if values.iter().all(Value::is_i64) {
        let max = values.iter().filter_map(Value::as_i64).max()?;
        return Some(json!(max.checked_add(1)?));
    }
    None
}

fn add_schema_and_operation(spec: &mut Value, e: &mut Evolution) {
    let Some(root) = spec.as_object_mut() else {
        return;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(c) = components.as_object_mut() {
        let schemas = c
            .entry("schemas")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(s) = schemas.as_object_mut() {
            if !s.contains_key(NEW_SCHEMA) {
                s.insert(
                    NEW_SCHEMA.to_string(),
                    json!({
                        "type": "object",
                        "description": "A resource a later spec adds.",
                        "required": ["id"],
                        "properties": {
                            "id": {"type": "string"},
                            "label": {"type": "string"},
                            "state": {"type": "string", "enum": ["open", "closed"]}
                        }
                    }),
                );
                e.schemas_added += 1;
            }
        }
    }
    let paths = root
        .entry("paths")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(p) = paths.as_object_mut() {
        let path = "/evolved-resources/{evolved_resource_id}";
        if !p.contains_key(path) {
            p.insert(
                path.to_string(),
                json!({
                    "get": {
                        "operationId": NEW_OPERATION,
                        "summary": "Read a resource a later spec adds",
                        "parameters": [{
                            "name": "evolved_resource_id", "in": "path", "required": true,
                            "schema": {"type": "string"}
                        }],
                        "responses": {
                            "200": {
                                "description": "The resource.",
                                "content": {"application/json": {"schema": {
                                    "$ref": format!("#/components/schemas/{NEW_SCHEMA}")
                                }}}
                            },
                            "404": {"description": "No such resource."}
                        }
                    }
                }),
            );
            e.operations_added += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/things": {"get": {
                "operationId": "listThings",
                "parameters": [{"name": "status", "in": "query",
                    "schema": {"type": "string", "enum": ["a", "b"]}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}}}
            }}},
            "components": {"schemas": {
                "Thing": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string"},
                    "evolved_field": {"type": "integer"},
                    "kind": {"type": "string", "enum": ["x", "evolved_value"]},
                    "tag": {"type": "string", "enum": ["only"]},
                    "level": {"type": "integer", "enum": [1, 2, 3]},
                    "nested": {"type": "object", "properties": {"n": {"type": "string"}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "Union": {"oneOf": [{"$ref": "#/components/schemas/Thing"},
                    {"type": "object", "properties": {"v": {"type": "string"}}}]}
            }}
        })
    }

    #[test]
    fn grows_every_object_and_enum_and_adds_a_schema_and_an_operation() {
        let mut s = spec();
        let e = evolve(&mut s);
        let thing = &s["components"]["schemas"]["Thing"]["properties"];
        // The name is taken already: the next free one is used, the old one is untouched.
        assert_eq!(thing["evolved_field"]["type"], "integer");
        assert_eq!(thing["evolved_field_2"]["type"], "string");
        assert!(!s["components"]["schemas"]["Thing"]["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "evolved_field_2")));
        assert_eq!(
            thing["kind"]["enum"],
            json!(["x", "evolved_value", "evolved_value_2"])
        );
        assert_eq!(
            thing["tag"]["enum"],
            json!(["only"]),
            "union tags stay pinned"
        );
        assert_eq!(thing["level"]["enum"], json!([1, 2, 3, 4]));
        assert!(thing["nested"]["properties"]["evolved_field"].is_object());
        assert!(
            thing["labels"].get("properties").is_none(),
            "maps stay maps"
        );
        assert!(
            s["components"]["schemas"]["Union"]["oneOf"][1]["properties"]["evolved_field"]
                .is_object()
        );
        let op = &s["paths"]["/things"]["get"];
        assert_eq!(
            op["parameters"][0]["schema"]["enum"],
            json!(["a", "b", "evolved_value"])
        );
        assert!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
                ["evolved_field"]
                .is_object()
        );
        assert!(s["components"]["schemas"][NEW_SCHEMA].is_object());
        assert_eq!(
            s["paths"]["/evolved-resources/{evolved_resource_id}"]["get"]["operationId"],
            NEW_OPERATION
        );
        assert_eq!(
            e,
            Evolution {
                properties_added: 4,
                enum_values_added: 3,
                schemas_added: 1,
                operations_added: 1,
                breaking: None,
            }
        );
    }

    #[test]
    fn the_evolved_hostile_fixture_still_generates() {
        let mut s = crate::generate::parse_spec(include_str!("../fixtures/hostile.yaml"))
            .expect("fixture parses");
        let e = evolve(&mut s);
        assert!(e.properties_added > 0 && e.enum_values_added > 0);
        let text = serde_json::to_string(&s).expect("serializes");
        let g = crate::generate(&text, "evolved.json").expect("evolved fixture generates");
        assert!(g.dropped.is_empty(), "{:?}", g.dropped);
        assert!(g.code.contains("pub fn get_evolved_resource("));
        assert!(g.code.contains("pub evolved_field:"));
        assert!(g.code.contains("EvolvedValue"));
    }

    #[test]
    fn a_breaking_change_is_only_added_on_request() {
        let mut s = spec();
        let e = evolve_with(&mut s, Some(Breaking::RequiredProperty));
        assert_eq!(e.breaking, Some(Breaking::RequiredProperty));
        let thing = &s["components"]["schemas"]["Thing"];
        assert!(thing["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "evolved_field_2")));
        let mut s = spec();
        evolve_with(&mut s, Some(Breaking::RemovedProperty));
        let thing = &s["components"]["schemas"]["Thing"];
        // The first property in key order goes (the new one is added after the choice).
        assert!(thing["properties"].get("evolved_field").is_none());
        assert!(thing["properties"]["evolved_field_2"].is_object());
        assert_eq!(thing["properties"].as_object().map(|p| p.len()), Some(7));
        assert!("required-property".parse::<Breaking>().is_ok());
        assert!("nonsense".parse::<Breaking>().is_err());
    }
}
