//! Every example in `openapi/dakota.yaml` (request bodies and responses) round-trips through
//! the generated types: deserialize, serialize, compare as JSON.

use dakota_api::registry;
use dakota_tests::read;
use serde_json::Value;

/// Remove nulls from objects so an explicit `null` in an example compares equal to an omitted
/// optional field (the generated types skip `None` when serializing).
fn prune(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), prune(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(prune).collect()),
        other => other.clone(),
    }
}

fn schema_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")
}

#[test]
fn every_spec_example_round_trips() {
    let spec: Value = serde_yaml::from_str(&read("openapi/dakota.yaml")).expect("spec is YAML");
    let mut checked = 0usize;
    let mut failures = Vec::new();
    let mut unchecked = Vec::new();
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(op_id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let mut media: Vec<(String, &Value, bool)> = Vec::new();
            if let Some(c) = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            {
                media.extend(c.values().map(|m| ("request".to_string(), m, false)));
            }
            for (code, resp) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                for m in resp
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(_, m)| m)
                {
                    media.push((code.clone(), m, code.starts_with('2')));
                }
            }
            for (code, m, success) in media {
                let Some(example) = m.get("example") else {
                    continue;
                };
                let schema = &m["schema"];
                let result = match schema_name(schema) {
                    Some(name) => registry::roundtrip_schema(name, example.clone()),
                    None if code == "request" => {
                        registry::roundtrip_request(op_id, example.clone())
                    }
                    None if success => registry::roundtrip_success(op_id, example.clone()),
                    None => None,
                };
                let at = format!("{} {path} ({op_id}) {code}", method.to_uppercase());
                match result {
                    Some(Ok(back)) => {
                        checked += 1;
                        if prune(&back) != prune(example) {
                            failures.push(format!(
                                "{at}: changed on round trip\n  in:  {example}\n  out: {back}"
                            ));
                        }
                    }
                    Some(Err(e)) => failures.push(format!("{at}: does not deserialize: {e}")),
                    None => unchecked.push(at),
                }
            }
        }
    }
    println!(
        "round-tripped {checked} examples; {} without a generated type: {unchecked:?}",
        unchecked.len()
    );
    assert!(
        failures.is_empty(),
        "{} example(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 40, "only {checked} examples checked");
    assert!(
        unchecked.is_empty(),
        "examples without a generated type: {unchecked:?}"
    );
}
