//! A deterministic, human-readable listing of the generated API surface: every operation
//! (method, path, operationId, Rust method, parameters, body, success and error types, auth)
//! and every type (fields with Rust types and optionality, enum values). One spec change shows
//! as a few changed lines of this listing in `cargo insta review`.

use crate::generate::{operations, send_types};
use crate::normalize::METHODS;
use heck::{ToSnakeCase, ToUpperCamelCase};
use quote::quote;
use serde_json::Value;
use std::fmt::Write;

/// Render a type as compact Rust without the generated code's absolute paths.
pub fn type_str(ty: &impl quote::ToTokens) -> String {
    let mut s = quote!(#ty).to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& '", "&'"),
        (",>", ">"),
    ] {
        s = s.replace(from, to);
    }
    for prefix in [
        "::std::string::",
        "::std::vec::",
        "::std::option::",
        "::std::collections::",
        "::std::num::",
        "types::builder::",
        "::serde_json::",
        "::chrono::",
        "::uuid::",
        "super::types::",
        "types::",
        "crate::",
        "offset::",
    ] {
        s = s.replace(prefix, "");
    }
    s
}

fn auth_of(spec: &Value, op: &Value) -> String {
    let sec = op.get("security").or_else(|| spec.get("security"));
    let Some(list) = sec.and_then(Value::as_array) else {
        return "none".into();
    };
    let names: Vec<String> = list
        .iter()
        .filter_map(Value::as_object)
        .map(|o| {
            if o.is_empty() {
                "none".to_string()
            } else {
                o.keys().cloned().collect::<Vec<_>>().join("+")
            }
        })
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(" | ")
    }
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

/// Build the listing from the normalized spec and the generated code.
pub fn surface(normalized: &Value, code: &str) -> Result<String, syn::Error> {
    let file = syn::parse_file(code)?;
    let sends = send_types(&file);
    let mut builders = std::collections::BTreeMap::new();
    let mut types_items = Vec::new();
    for item in &file.items {
        let syn::Item::Mod(m) = item else { continue };
        let items = m.content.iter().flat_map(|(_, i)| i);
        if m.ident == "builder" {
            for i in items {
                if let syn::Item::Struct(s) = i {
                    builders.insert(s.ident.to_string(), s.clone());
                }
            }
        } else if m.ident == "types" {
            types_items.extend(items.cloned());
        }
    }

    let mut out = String::new();
    let ops = operations(normalized);
    let _ = writeln!(out, "# Operations ({})", ops.len());
    for (path, method, id) in &ops {
        let op = &normalized["paths"][path.as_str()][method.as_str()];
        let builder = id.to_upper_camel_case();
        let _ = writeln!(
            out,
            "\n{} {path}  {id}  -> Client::{}()  auth: {}{}",
            method.to_uppercase(),
            id.to_snake_case(),
            auth_of(normalized, op),
            builders
                .get(&builder)
                .map(|b: &syn::ItemStruct| features_of(&b.attrs))
                .unwrap_or_default()
        );
        let mut params: Vec<&Value> = normalized["paths"][path.as_str()]
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        params.extend(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        let fields = builders.get(&builder);
        for p in params {
            let p = resolve(normalized, p);
            let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
            let field = name.to_snake_case();
            // progenitor escapes keywords: `type` becomes `type_`.
            let candidates = [field.clone(), format!("{field}_"), format!("r#{field}")];
            let rust = fields
                .and_then(|s| {
                    s.fields.iter().find(|f| {
                        f.ident
                            .as_ref()
                            .is_some_and(|i| candidates.contains(&i.to_string()))
                    })
                })
                .map(|f| strip_result(&type_str(&f.ty)))
                .unwrap_or_else(|| "<not generated>".into());
            let required = if p.get("required").and_then(Value::as_bool) == Some(true) {
                "required"
            } else {
                "optional"
            };
            let _ = writeln!(
                out,
                "  {} {name}: {rust} ({required})",
                p.get("in").and_then(Value::as_str).unwrap_or("?")
            );
        }
        if let Some(body) = op.get("requestBody") {
            let body = resolve(normalized, body);
            let media: Vec<&String> = body
                .get("content")
                .and_then(Value::as_object)
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            let rust = fields
                .and_then(|s| {
                    s.fields
                        .iter()
                        .find(|f| f.ident.as_ref().is_some_and(|i| i == "body"))
                })
                .map(|f| strip_result(&type_str(&f.ty)))
                .unwrap_or_else(|| "<not generated>".into());
            let required = if body.get("required").and_then(Value::as_bool) == Some(true) {
                "required"
            } else {
                "optional"
            };
            let _ = writeln!(
                out,
                "  body {}: {rust} ({required})",
                media
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let codes: Vec<&String> = op
            .get("responses")
            .and_then(Value::as_object)
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        let (ok_codes, err_codes): (Vec<&String>, Vec<&String>) = codes
            .into_iter()
            .partition(|c| c.starts_with('1') || c.starts_with('2') || *c == "default");
        match sends.get(&builder) {
            Some((ok, err)) => {
                let _ = writeln!(out, "  ok [{}]: {}", join(&ok_codes), type_str(ok));
                let _ = writeln!(out, "  err [{}]: {}", join(&err_codes), type_str(err));
            }
            None => {
                let _ = writeln!(out, "  <no builder generated>");
            }
        }
    }

    // Constructors of tagged unions (`fn fiat_us(builder::FiatUsDestinationRequest)`): the
    // inherent associated functions that take a builder.
    let mut constructors: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for item in &types_items {
        let syn::Item::Impl(im) = item else { continue };
        if im.trait_.is_some() {
            continue;
        }
        for f in im.items.iter().filter_map(|i| match i {
            syn::ImplItem::Fn(f) => Some(f),
            _ => None,
        }) {
            let [syn::FnArg::Typed(arg)] = f.sig.inputs.iter().collect::<Vec<_>>()[..] else {
                continue;
            };
            let ty = &arg.ty;
            if quote!(#ty).to_string().starts_with("builder ::") {
                constructors
                    .entry(type_str(&im.self_ty))
                    .or_default()
                    .push(format!("fn {}({})", f.sig.ident, type_str(&arg.ty)));
            }
        }
    }

    let mut types: Vec<(String, String)> = Vec::new();
    for item in &types_items {
        match item {
            syn::Item::Struct(s) => {
                let mut t = format!("struct {}{}", s.ident, features_of(&s.attrs));
                for f in &s.fields {
                    let name = f
                        .ident
                        .as_ref()
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0".into());
                    let wire = serde_rename(&f.attrs)
                        .unwrap_or_else(|| name.trim_start_matches("r#").to_string());
                    let _ = write!(t, "\n  {wire}: {}", type_str(&f.ty));
                }
                types.push((s.ident.to_string(), t));
            }
            syn::Item::Enum(e) => {
                let is_catch_all = |v: &syn::Variant| {
                    v.attrs.iter().any(|a| {
                        a.path().is_ident("serde") && quote!(#a).to_string().contains("untagged")
                    })
                };
                let open = e.variants.iter().any(is_catch_all);
                let mut t = format!(
                    "enum {}{}{}",
                    e.ident,
                    if open { " (open)" } else { "" },
                    features_of(&e.attrs)
                );
                for v in &e.variants {
                    if is_catch_all(v) {
                        continue;
                    }
                    let wire = serde_rename(&v.attrs).unwrap_or_else(|| v.ident.to_string());
                    match &v.fields {
                        syn::Fields::Unit => {
                            let _ = write!(t, "\n  {wire}");
                        }
                        fields => {
                            let parts: Vec<String> = fields
                                .iter()
                                .map(|f| match &f.ident {
                                    Some(i) => format!("{i}: {}", type_str(&f.ty)),
                                    None => type_str(&f.ty),
                                })
                                .collect();
                            let _ = write!(t, "\n  {wire}({})", parts.join(", "));
                        }
                    }
                }
                for c in constructors.get(&e.ident.to_string()).into_iter().flatten() {
                    let _ = write!(t, "\n  {c}");
                }
                types.push((e.ident.to_string(), t));
            }
            syn::Item::Type(a) => {
                types.push((
                    a.ident.to_string(),
                    format!(
                        "type {} = {}{}",
                        a.ident,
                        type_str(&a.ty),
                        features_of(&a.attrs)
                    ),
                ));
            }
            _ => {}
        }
    }
    types.sort();
    let _ = writeln!(out, "\n# Types ({})", types.len());
    for (_, t) in types {
        let _ = writeln!(out, "\n{t}");
    }
    let plan = crate::resources::plan(normalized, &file);
    let _ = write!(out, "\n{}", crate::resources::listing(&plan));
    Ok(out)
}

/// The cargo features an item needs, from its `#[cfg]` (see [`crate::features`]):
/// `  [feature: recipients]`, `  [feature: mandates | recipients]`; empty when always compiled.
fn features_of(attrs: &[syn::Attribute]) -> String {
    fn render(meta: &syn::Meta) -> String {
        match meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("feature") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => s.value(),
                other => quote!(#other).to_string(),
            },
            syn::Meta::List(list) => {
                let inner = list
                    .parse_args_with(
                        syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
                    )
                    .map(|items| items.iter().map(render).collect::<Vec<_>>())
                    .unwrap_or_default();
                if list.path.is_ident("all") {
                    inner
                        .iter()
                        .map(|s| {
                            if s.contains(" | ") {
                                format!("({s})")
                            } else {
                                s.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" & ")
                } else {
                    inner.join(" | ")
                }
            }
            other => quote!(#other).to_string(),
        }
    }
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .filter_map(|a| a.parse_args::<syn::Meta>().ok())
        .map(|m| format!("  [feature: {}]", render(&m)))
        .collect()
}

fn join(codes: &[&String]) -> String {
    codes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn strip_result(s: &str) -> String {
    s.strip_prefix("Result<")
        .and_then(|r| r.strip_suffix(", String>"))
        .map(str::to_string)
        .unwrap_or_else(|| s.to_string())
}

fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut found = None;
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                found = Some(lit.value());
            } else if let Ok(v) = meta.value() {
                let _: proc_macro2::TokenStream = v.parse()?;
            }
            Ok(())
        });
    }
    found
}

#[allow(dead_code)]
fn _methods() -> &'static [&'static str] {
    METHODS
}
