//! `conformance.rs` of the generated crate: one sample call per operation, made through the
//! generated builders, so a test can send every operation of the spec through a transport
//! (dakota-ext's pipeline) to a recording server and compare what went out with what the spec
//! says (credential, idempotency key, content type).
//!
//! Arguments come from the normalized spec: a parameter's or body's own `example`, else the
//! example of the component it refers to, else a value synthesized from the schema (first enum
//! value, a string of the minimum length, the minimum number, required properties only). Only
//! required parameters and the body are set; the values are JSON, deserialized into the
//! builder's own field type at run time, so an example that does not fit its type is reported
//! by the test instead of breaking the build.

use crate::generate::{body_types, operations};
use anyhow::{Context, Result};
use heck::{ToSnakeCase, ToUpperCamelCase};
use quote::{format_ident, quote, ToTokens};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Fields of each builder struct (name -> (field, inner type of `Result<T, String>`)), and the
/// `OperationInfo::operation_id` its `send` reports, keyed by builder name.
pub struct Builders {
    fields: BTreeMap<String, Vec<(String, syn::Type)>>,
    /// The name progenitor gives each operation at run time (`OperationInfo::operation_id`).
    pub generated_names: BTreeMap<String, String>,
}

/// Read the builders of a generated file.
pub fn builders(file: &syn::File) -> Builders {
    let mut fields = BTreeMap::new();
    let mut generated_names = BTreeMap::new();
    for item in &file.items {
        let syn::Item::Mod(m) = item else { continue };
        if m.ident != "builder" {
            continue;
        }
        for i in m.content.iter().flat_map(|(_, items)| items) {
            match i {
                syn::Item::Struct(st) => {
                    let fs = st
                        .fields
                        .iter()
                        .filter_map(|f| {
                            let name = f.ident.as_ref()?.to_string();
                            (name != "client").then_some(())?;
                            Some((name, first_generic(&f.ty)?))
                        })
                        .collect();
                    fields.insert(st.ident.to_string(), fs);
                }
                syn::Item::Impl(imp) => {
                    let syn::Type::Path(tp) = &*imp.self_ty else {
                        continue;
                    };
                    let Some(name) = tp.path.segments.last().map(|s| s.ident.to_string()) else {
                        continue;
                    };
                    for ii in &imp.items {
                        let syn::ImplItem::Fn(f) = ii else { continue };
                        if f.sig.ident != "send" {
                            continue;
                        }
                        if let Some(id) = info_operation_id(&f.block) {
                            generated_names.insert(name.clone(), id);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Builders {
        fields,
        generated_names,
    }
}

/// The string literal of `OperationInfo { operation_id: "..." }` inside a `send` body.
fn info_operation_id(block: &syn::Block) -> Option<String> {
    let text = block.to_token_stream().to_string();
    let at = text.find("OperationInfo")?;
    let rest = &text[at..];
    let key = rest.find("operation_id")?;
    let rest = &rest[key..];
    let open = rest.find('"')? + 1;
    let close = rest[open..].find('"')?;
    Some(rest[open..open + close].to_string())
}

/// `Result<T, String>` -> `T`.
fn first_generic(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(a) = &seg.arguments else {
        return None;
    };
    a.args.iter().find_map(|g| match g {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// The text of `conformance.rs` for a normalized spec and its generated file.
pub fn conformance(spec: &Value, file: &syn::File, header: &str) -> Result<String> {
    let b = builders(file);
    let bodies = body_types(file);
    let mut arms = Vec::new();
    for (path, method, id) in operations(spec) {
        let builder = id.to_upper_camel_case();
        let (Some(fields), Some(name)) = (b.fields.get(&builder), b.generated_names.get(&builder))
        else {
            continue; // left out of the generated client
        };
        let op = &spec["paths"][path.as_str()][method.as_str()];
        let params = parameters(spec, &spec["paths"][path.as_str()], op);
        let mut calls = Vec::new();
        for (field, ty) in fields {
            if field == "body" {
                let Some(body_ty) = bodies.get(&builder) else {
                    continue;
                };
                let Some(media) = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.values().next())
                else {
                    continue;
                };
                let value = media_example(spec, media);
                let text = value.to_string();
                calls.push(quote! { let b = b.body(sample::<#body_ty>(#text)?); });
                continue;
            }
            if is_option(ty) {
                continue;
            }
            let Some(p) = params.iter().find(|p| {
                p["name"]
                    .as_str()
                    .is_some_and(|n| n.to_snake_case() == *field)
            }) else {
                continue;
            };
            let value = param_example(spec, p);
            let text = value.to_string();
            let setter = format_ident!("{}", field);
            calls.push(quote! { let b = b.#setter(sample::<#ty>(#text)?); });
        }
        let method_ident = format_ident!("{}", name);
        arms.push(quote! {
            #id => async {
                let b = client.#method_ident();
                #(#calls)*
                Ok::<_, Sample>(b.send().await.map(|_| ()).map_err(|e| e.to_string()))
            }.await,
        });
    }
    let tokens = quote! {
        //! One sample call per operation, made through the generated builders with arguments
        //! taken from the spec's examples (feature `conformance`). Wire-conformance tests send
        //! every operation through a transport to a recording server with [`call`].

        #[allow(unused_imports)]
        use crate::{types, Client};

        fn sample<T: ::serde::de::DeserializeOwned>(json: &str) -> ::std::result::Result<T, Sample> {
            ::serde_json::from_str(json).map_err(|e| Sample(format!(
                "sample {json} does not fit {}: {e}",
                ::std::any::type_name::<T>()
            )))
        }

        /// A sample argument that does not fit its generated type (the call was not made).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Sample(pub String);

        /// Call operation `operation_id` (the spec's name) once with sample arguments. `None`
        /// for an unknown operation; `Some(Err)` when a sample does not fit its type;
        /// `Some(Ok(outcome))` once `send` returned, with its error as text.
        pub async fn call(
            client: &Client,
            operation_id: &str,
        ) -> ::std::option::Option<::std::result::Result<::std::result::Result<(), String>, Sample>> {
            Some(match operation_id {
                #(#arms)*
                _ => return None,
            })
        }
    };
    let file: syn::File =
        syn::parse2(tokens).context("conformance calls are not valid Rust (xtask bug)")?;
    Ok(format!("{header}{}", prettyplease::unparse(&file)))
}

/// Path-level and operation-level parameters, references resolved (operation wins).
fn parameters(spec: &Value, item: &Value, op: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")] {
        for p in list.and_then(Value::as_array).into_iter().flatten() {
            let p = resolve(spec, p).clone();
            out.retain(|q| !(q["name"] == p["name"] && q["in"] == p["in"]));
            out.push(p);
        }
    }
    out
}

fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    for _ in 0..16 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| spec.pointer(p)) {
                Some(t) => v = t,
                None => return v,
            },
            None => return v,
        }
    }
    v
}

fn param_example(spec: &Value, p: &Value) -> Value {
    if let Some(e) = p.get("example") {
        return e.clone();
    }
    if let Some(e) = first_example(p.get("examples")) {
        return e;
    }
    schema_sample(spec, &p["schema"], 0)
}

fn media_example(spec: &Value, media: &Value) -> Value {
    if let Some(e) = media.get("example") {
        return e.clone();
    }
    if let Some(e) = first_example(media.get("examples")) {
        return e;
    }
    schema_sample(spec, &media["schema"], 0)
}

fn first_example(examples: Option<&Value>) -> Option<Value> {
    examples?
        .as_object()?
        .values()
        .find_map(|e| e.get("value").cloned())
}

/// A value of `schema`: its example, else one built from its constraints.
fn schema_sample(spec: &Value, schema: &Value, depth: usize) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    if let Some(e) = schema.get("example") {
        return e.clone();
    }
    if schema.get("$ref").is_some() {
        return schema_sample(spec, resolve(spec, schema), depth + 1);
    }
    if let Some(e) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return e.clone();
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = serde_json::Map::new();
        for s in all {
            if let Value::Object(o) = schema_sample(spec, s, depth + 1) {
                merged.extend(o);
            }
        }
        return Value::Object(merged);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return schema_sample(spec, first, depth + 1);
        }
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or(
        if schema.get("properties").is_some() {
            "object"
        } else {
            "string"
        },
    );
    match ty {
        "object" => {
            let mut out = serde_json::Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    if required.contains(&k.as_str()) {
                        out.insert(k.clone(), schema_sample(spec, v, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        "array" => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            let item = schema_sample(spec, &schema["items"], depth + 1);
            Value::Array(vec![item; n.max(1) as usize])
        }
        "integer" => json!(schema
            .get("minimum")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1)),
        "number" => json!(schema
            .get("minimum")
            .and_then(Value::as_f64)
            .unwrap_or(1.0)
            .max(1.0)),
        "boolean" => json!(true),
        _ => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-01-02T03:04:05Z"),
            Some("date") => json!("2026-01-02"),
            Some("uuid") => json!("4f1c8a52-6a7e-4c1b-9a53-2d0c3b8e7f10"),
            Some("email") => json!("sample@example.com"),
            Some("uri") | Some("url") => json!("https://example.com/sample"),
            _ => {
                let n = schema.get("minLength").and_then(Value::as_u64).unwrap_or(6) as usize;
                json!("s".repeat(n.max(1)))
            }
        },
    }
}
