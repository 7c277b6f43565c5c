//! Reads `openapi/dakota.yaml` and writes, per operation, the response statuses the spec
//! documents and whether it takes an `x-idempotency-key`, so the pipeline answers only with
//! documented statuses (see `src/pipeline/routes.rs`).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let spec_path = manifest.join("../openapi/dakota.yaml");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut out = String::from(
        "/// Per operationId: the statuses its responses document (`default` included) and\n\
         /// whether it lists the `x-idempotency-key` header.\n\
         pub(crate) static DOCUMENTED: &[(&str, &[&str], bool)] = &[\n",
    );
    let text = std::fs::read_to_string(&spec_path).unwrap_or_default();
    let spec: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or(serde_yaml::Value::Null);
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
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("documented.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=could not write {}: {e}", dest.display());
    }
}
