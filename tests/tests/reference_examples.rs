//! Published 2xx examples of Dakota's own spec deserialize into our generated types.
//!
//! Runs only when `DAKOTA_REFERENCE_SPECS` names one or more spec files (`:`-separated);
//! `.ci/run` sets it to the five published specs when `../shared` is present. A user's
//! checkout has no such files, so by default this test reports that it skipped.

use dakota_api::registry;
use serde_json::Value;

fn examples(media: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(e) = media.get("example") {
        out.push(e.clone());
    }
    for (_, e) in media
        .get("examples")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(v) = e.get("value") {
            out.push(v.clone());
        }
    }
    out
}

#[test]
fn published_success_examples_deserialize() {
    let Ok(list) = std::env::var("DAKOTA_REFERENCE_SPECS") else {
        println!("DAKOTA_REFERENCE_SPECS not set: skipped");
        return;
    };
    let ours: std::collections::HashSet<&str> = registry::OPERATIONS
        .iter()
        .map(|o| o.operation_id)
        .collect();
    let mut paths: Vec<&str> = list.split(':').filter(|p| !p.is_empty()).collect();
    // File names carry the publication date: the last one is the newest.
    paths.sort();
    let newest = paths.last().copied().unwrap_or_default();
    let mut failures = Vec::new();
    let mut older_drift = Vec::new();
    for path in paths.iter().copied() {
        let failures = if path == newest {
            &mut failures
        } else {
            &mut older_drift
        };
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let spec: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (mut ok, mut skipped) = (0usize, 0usize);
        for (p, item) in spec["paths"].as_object().into_iter().flatten() {
            for (m, op) in item.as_object().into_iter().flatten() {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                for (code, resp) in op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if !code.starts_with('2') {
                        continue;
                    }
                    for (media_type, media) in resp
                        .get("content")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        if !media_type.contains("json") {
                            continue;
                        }
                        for ex in examples(media) {
                            if !ours.contains(id) {
                                skipped += 1;
                                continue;
                            }
                            let by_ref = media
                                .pointer("/schema/$ref")
                                .and_then(Value::as_str)
                                .and_then(|r| r.strip_prefix("#/components/schemas/"));
                            let result = match by_ref {
                                Some(name) => registry::roundtrip_schema(name, ex.clone()),
                                None => registry::roundtrip_success(id, ex.clone()),
                            };
                            match result {
                                Some(Ok(_)) => ok += 1,
                                Some(Err(e)) => failures.push(format!(
                                    "{path}: {} {p} ({id}) {code}: {e}",
                                    m.to_uppercase()
                                )),
                                None => skipped += 1,
                            }
                        }
                    }
                }
            }
        }
        println!("{path}: {ok} published 2xx examples deserialized; {skipped} outside our spec's operations");
    }
    // Our types follow the newest spec; an older spec's example may lack a field that became
    // required later (e.g. `Customer.kyc_status`). Report those, fail only on the newest.
    for d in &older_drift {
        println!("drift (older spec): {d}");
    }
    assert!(
        failures.is_empty(),
        "{} example(s) of the newest spec failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
