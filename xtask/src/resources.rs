//! `resources.rs` of the generated crate: TS-SDK-style resource accessors
//! (`dakota.recipients().create(customer_id, body)`), one per generated operation, derived from
//! the spec by a general naming rule and sent through any [`Dispatch`]er (dakota-ext's pipeline).
//!
//! # The naming rule
//!
//! - **Collections** of a spec are the non-parameter path segments that start a path or stand
//!   directly before a parameter segment somewhere in the spec (`/recipients/{recipient_id}`
//!   makes `recipients` one; `/sandbox/simulate/onboarding` makes only `sandbox` one).
//! - **Group**: the operationId is split into snake_case words (`createDestination` ->
//!   `create`, `destination`). Walking the collections of the operation's path from the last
//!   to the first, the group is the first whose noun (last word singular) occurs in those
//!   words: `POST /recipients/{recipient_id}/destinations` `createDestination` -> `destinations`,
//!   although the spec tags it `Recipients`. With no such collection the group is the path's
//!   last collection; a path without any takes the operation's first tag. A collection nested
//!   directly under a non-parameter segment whose noun precedes it in the operationId takes
//!   that noun as a prefix (`/webhooks/targets` `createWebhookTarget` -> `webhook_targets`).
//! - **Method**: the operationId's words without the group's noun, and without the parent
//!   collection's noun directly before it (`createApplicationDocument` on
//!   `/applications/{application_id}/documents` -> `documents().create`). When two operations
//!   of a group get the same name, those that dropped a parent noun keep it
//!   (`createWalletTransaction` -> `transactions().create_wallet`); any collision left, a
//!   Rust keyword or nothing left over gives the operation's full snake_case name.
//! - **Arguments**: the path parameters in path order, then the other required parameters in
//!   spec order, then the body when the builder takes one; each typed exactly like the
//!   builder's setter (`V: TryInto<T>`), so a body builder converts when sending. Optional
//!   parameters are not arguments: for those, use the builder and `send_with`.
//!
//! An operation the rule cannot express (a required parameter without a setter) is left out
//! with a warning; generation never fails because of it.
//!
//! [`Dispatch`]: the trait emitted into the generated file

use crate::conformance::builders;
use crate::generate::{body_types, operations, send_types};
use heck::{ToSnakeCase, ToUpperCamelCase};
use quote::{format_ident, quote};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One generated accessor method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accessor {
    /// Group (snake_case): the accessor `dakota.<group>()`.
    pub group: String,
    /// Method name inside the group.
    pub method: String,
    /// The spec's operationId.
    pub operation_id: String,
    /// HTTP method, upper case.
    pub http_method: String,
    /// Path template.
    pub path: String,
    /// Argument names, in order (setter names of the builder; `body` last when present).
    pub args: Vec<String>,
}

/// What the rule made of a spec: accessors sorted by group and method, and warnings.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every accessor, sorted by (group, method).
    pub accessors: Vec<Accessor>,
    /// Operations left out, with the reason.
    pub warnings: Vec<String>,
}

/// Group and method candidates for one operation, from the naming rule alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// Group name (snake_case).
    pub group: String,
    /// Preferred method name.
    pub short: String,
    /// The name without the parent noun removed (same as `short` when none was).
    pub medium: String,
    /// The operationId in snake_case.
    pub full: String,
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{')
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// A word's singular, by the English plural rules resource names use.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = word.strip_suffix("sses") {
        format!("{stem}ss")
    } else if word.ends_with("ss") {
        word.to_string()
    } else if let Some(stem) = word.strip_suffix('s') {
        stem.to_string()
    } else {
        word.to_string()
    }
}

/// The words of a name (path segment, tag, operationId), snake_case split.
fn words(name: &str) -> Vec<String> {
    name.to_snake_case()
        .split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A collection's noun: its words with the last one singular.
fn noun(segment: &str) -> Vec<String> {
    let mut w = words(segment);
    if let Some(last) = w.last_mut() {
        *last = singular(last);
    }
    w
}

/// Where `noun` first occurs in `words` (each word compared in its singular form).
fn find(words: &[String], noun: &[String]) -> Option<usize> {
    if noun.is_empty() || noun.len() > words.len() {
        return None;
    }
    (0..=words.len() - noun.len()).find(|&i| {
        words[i..i + noun.len()]
            .iter()
            .zip(noun)
            .all(|(w, n)| singular(w) == singular(n))
    })
}

/// The collections of a spec (see the module docs).
pub fn collections(spec: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, _, _) in operations(spec) {
        let segs = segments(&path);
        if let Some(first) = segs.first().filter(|s| !is_param(s)) {
            out.insert(first.to_string());
        }
        for pair in segs.windows(2) {
            if !is_param(pair[0]) && is_param(pair[1]) {
                out.insert(pair[0].to_string());
            }
        }
    }
    out
}

fn is_ident(name: &str) -> bool {
    syn::parse_str::<syn::Ident>(name).is_ok()
}

/// `name`, or its raw form (`r#box`) when it is a keyword; `_` appended to the keywords that
/// have no raw form (`self`, `crate`, ...).
fn raw_if_keyword(name: String) -> String {
    if name.is_empty() || is_ident(&name) {
        name
    } else if syn::parse_str::<syn::Ident>(&format!("r#{name}")).is_ok() {
        format!("r#{name}")
    } else {
        format!("{name}_")
    }
}

/// An identifier from a name that [`raw_if_keyword`] made valid.
fn ident(name: &str) -> syn::Ident {
    match name.strip_prefix("r#") {
        Some(raw) => syn::Ident::new_raw(raw, proc_macro2::Span::call_site()),
        None => syn::Ident::new(name, proc_macro2::Span::call_site()),
    }
}

/// Names the group accessors may not take: the methods of the `Dispatch` trait they extend.
const RESERVED_GROUPS: &[&str] = &["client", "dispatch"];

/// The naming rule for one operation; `None` when it has no group (no collection, no tag).
pub fn naming(
    collections: &BTreeSet<String>,
    path: &str,
    operation_id: &str,
    tag: Option<&str>,
) -> Option<Naming> {
    let segs = segments(path);
    let op_words = words(operation_id);
    let full = raw_if_keyword(op_words.join("_"));
    let in_path: Vec<usize> = (0..segs.len())
        .filter(|&i| !is_param(segs[i]) && collections.contains(segs[i]))
        .collect();
    let matched = in_path.iter().rev().find_map(|&i| {
        let n = noun(segs[i]);
        find(&op_words, &n).map(|at| (i, at, n.len()))
    });
    let (mut group, short, medium) = match matched {
        Some((i, at, len)) => {
            let mut group = words(segs[i]).join("_");
            let mut removed: BTreeSet<usize> = (at..at + len).collect();
            let medium_removed = removed.clone();
            // The nearest non-parameter segment before the collection: its noun, spelled
            // directly before the group's noun, goes too (`createApplicationDocument`).
            if let Some(parent_at) = (0..i).rev().find(|&j| !is_param(segs[j])) {
                let parent = noun(segs[parent_at]);
                if at >= parent.len() && find(&op_words[at - parent.len()..at], &parent) == Some(0)
                {
                    removed.extend(at - parent.len()..at);
                    if parent_at + 1 == i {
                        // A namespace (`/webhooks/targets`): the group keeps the noun.
                        group = format!("{}_{group}", parent.join("_"));
                    }
                }
            }
            let keep = |removed: &BTreeSet<usize>| -> String {
                op_words
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| !removed.contains(k))
                    .map(|(_, w)| w.as_str())
                    .collect::<Vec<_>>()
                    .join("_")
            };
            (group, keep(&removed), keep(&medium_removed))
        }
        None => {
            let group = match in_path.last() {
                Some(&i) => words(segs[i]).join("_"),
                None => words(tag?).join("_"),
            };
            (group, full.clone(), full.clone())
        }
    };
    if group.is_empty() {
        return None;
    }
    if RESERVED_GROUPS.contains(&group.as_str()) {
        group.push_str("_resource");
    }
    let valid = |name: String| {
        if name.is_empty() || !is_ident(&name) {
            full.clone()
        } else {
            name
        }
    };
    Some(Naming {
        group,
        short: valid(short),
        medium: valid(medium),
        full,
    })
}

/// Resolve collisions inside each group (see the module docs); returns the final method names.
pub fn resolve(namings: &[Naming]) -> Vec<String> {
    let mut names: Vec<String> = namings.iter().map(|n| n.short.clone()).collect();
    let colliding = |names: &[String]| -> BTreeSet<usize> {
        let mut seen: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (i, n) in namings.iter().enumerate() {
            seen.entry((n.group.as_str(), names[i].as_str()))
                .or_default()
                .push(i);
        }
        seen.into_values()
            .filter(|v| v.len() > 1)
            .flatten()
            .collect()
    };
    for i in colliding(&names) {
        names[i] = namings[i].medium.clone();
    }
    for i in colliding(&names) {
        names[i] = namings[i].full.clone();
    }
    names
}

/// The parameters of an operation (the path's own, then the operation's), each resolved
/// through `$ref`.
pub(crate) fn parameters<'a>(spec: &'a Value, path: &str, method: &str) -> Vec<&'a Value> {
    let item = &spec["paths"][path];
    [item.get("parameters"), item[method].get("parameters")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .map(|p| match p.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix('#')
                .and_then(|r| spec.pointer(r))
                .unwrap_or(p),
            None => p,
        })
        .collect()
}

/// A builder's setters: name -> the setter.
fn setters(file: &syn::File) -> BTreeMap<String, BTreeMap<String, syn::ImplItemFn>> {
    let mut out: BTreeMap<String, BTreeMap<String, syn::ImplItemFn>> = BTreeMap::new();
    for item in &file.items {
        let syn::Item::Mod(m) = item else { continue };
        if m.ident != "builder" {
            continue;
        }
        for i in m.content.iter().flat_map(|(_, items)| items) {
            let syn::Item::Impl(imp) = i else { continue };
            if imp.trait_.is_some() {
                continue;
            }
            let syn::Type::Path(tp) = &*imp.self_ty else {
                continue;
            };
            let Some(name) = tp.path.segments.last().map(|s| s.ident.to_string()) else {
                continue;
            };
            for ii in &imp.items {
                if let syn::ImplItem::Fn(f) = ii {
                    out.entry(name.clone())
                        .or_default()
                        .insert(f.sig.ident.to_string(), f.clone());
                }
            }
        }
    }
    out
}

/// One argument: its name and the setter it goes through.
struct Arg {
    name: String,
    setter: syn::ImplItemFn,
}

/// Plan the accessors of a normalized spec and its generated file.
pub fn plan(spec: &Value, file: &syn::File) -> Plan {
    plan_with_args(spec, file).0
}

/// The plan, plus each accessor's arguments (parallel to `accessors`).
fn plan_with_args(spec: &Value, file: &syn::File) -> (Plan, Vec<Vec<Arg>>) {
    let cols = collections(spec);
    let sends = send_types(file);
    let all_setters = setters(file);
    let generated = builders(file).generated_names;
    let mut warnings = Vec::new();
    let mut found: Vec<(Naming, Accessor, Vec<Arg>)> = Vec::new();
    for (path, method, id) in operations(spec) {
        let builder = id.to_upper_camel_case();
        if !generated.contains_key(&builder) || !sends.contains_key(&builder) {
            continue; // left out of the generated client (already warned about)
        }
        let label = format!("{} {path} ({id})", method.to_uppercase());
        let op = &spec["paths"][path.as_str()][method.as_str()];
        let tag = op
            .get("tags")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str);
        let Some(naming) = naming(&cols, &path, &id, tag) else {
            warnings.push(format!(
                "{label}: no resource group (no path segment, no tag)"
            ));
            continue;
        };
        if !is_ident(&naming.group) || !is_ident(&naming.group.to_upper_camel_case()) {
            warnings.push(format!(
                "{label}: the group name `{}` is not a Rust identifier",
                naming.group
            ));
            continue;
        }
        let Some(setters) = all_setters.get(&builder) else {
            warnings.push(format!("{label}: builder {builder} has no setters"));
            continue;
        };
        let params = parameters(spec, &path, &method);
        let mut required: Vec<String> = segments(&path)
            .into_iter()
            .filter(|s| is_param(s))
            .map(|s| s.trim_start_matches('{').trim_end_matches('}').to_string())
            .collect();
        for p in &params {
            let location = p.get("in").and_then(Value::as_str).unwrap_or("");
            let is_required = p.get("required").and_then(Value::as_bool) == Some(true);
            if location != "path" && is_required {
                if let Some(name) = p.get("name").and_then(Value::as_str) {
                    required.push(name.to_string());
                }
            }
        }
        let mut args = Vec::new();
        let mut missing = None;
        for name in &required {
            let field = name.to_snake_case();
            let setter = [field.clone(), format!("{field}_")]
                .into_iter()
                .find_map(|c| setters.get(&c).map(|s| (c, s.clone())));
            match setter {
                Some((c, s)) => args.push(Arg { name: c, setter: s }),
                None => {
                    missing = Some(name.clone());
                    break;
                }
            }
        }
        if let Some(name) = missing {
            warnings.push(format!(
                "{label}: left out of the resource accessors: no setter for required parameter `{name}`"
            ));
            continue;
        }
        if let Some(body) = setters.get("body") {
            args.push(Arg {
                name: "body".into(),
                setter: body.clone(),
            });
        }
        let accessor = Accessor {
            group: naming.group.clone(),
            method: String::new(),
            operation_id: id.clone(),
            http_method: method.to_uppercase(),
            path: path.clone(),
            args: args.iter().map(|a| a.name.clone()).collect(),
        };
        found.push((naming, accessor, args));
    }
    let namings: Vec<Naming> = found.iter().map(|(n, _, _)| n.clone()).collect();
    let names = resolve(&namings);
    let mut rows: Vec<(Accessor, Vec<Arg>)> = found
        .into_iter()
        .zip(names)
        .map(|((_, mut a, args), name)| {
            a.method = name;
            (a, args)
        })
        .collect();
    rows.sort_by(|(a, _), (b, _)| (&a.group, &a.method).cmp(&(&b.group, &b.method)));
    let (accessors, args) = rows.into_iter().unzip();
    (
        Plan {
            accessors,
            warnings,
        },
        args,
    )
}

/// The setter's generic parameters renamed to `V<index>` (bounds and where clause alike).
fn renamed_generics(setter: &syn::ImplItemFn, index: usize) -> (syn::Ident, syn::Generics) {
    use syn::visit_mut::VisitMut;
    struct Rename(BTreeMap<String, syn::Ident>);
    impl VisitMut for Rename {
        fn visit_ident_mut(&mut self, i: &mut syn::Ident) {
            if let Some(new) = self.0.get(&i.to_string()) {
                *i = new.clone();
            }
        }
    }
    let mut generics = setter.sig.generics.clone();
    let mut map = BTreeMap::new();
    for (k, p) in generics.type_params().enumerate() {
        let new = if k == 0 {
            format_ident!("V{}", index)
        } else {
            format_ident!("V{}_{}", index, k)
        };
        map.insert(p.ident.to_string(), new);
    }
    Rename(map).visit_generics_mut(&mut generics);
    // The value's type: the setter's one argument after `self`.
    let value_ty = setter
        .sig
        .inputs
        .iter()
        .find_map(|i| match i {
            syn::FnArg::Typed(t) => match &*t.ty {
                syn::Type::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                _ => None,
            },
            _ => None,
        })
        .and_then(|name| {
            generics
                .type_params()
                .zip(setter.sig.generics.type_params())
                .find(|(_, old)| old.ident == name)
                .map(|(new, _)| new.ident.clone())
        })
        .unwrap_or_else(|| format_ident!("V{}", index));
    (value_ty, generics)
}

fn doc_text(op: &Value) -> String {
    op.get("summary")
        .and_then(Value::as_str)
        .map(|s| s.trim().trim_end_matches('.').to_string())
        .unwrap_or_default()
}

/// The text of `resources.rs` for a normalized spec and its generated file, and the plan.
///
/// Each accessor is compiled with its operation's tag features (`gating`, see
/// [`crate::features`]); a group whose operations are all off stays, empty.
pub fn resources(
    spec: &Value,
    file: &syn::File,
    header: &str,
    gating: &crate::features::Gating,
) -> (String, Plan) {
    let (plan, args) = plan_with_args(spec, file);
    let sends = send_types(file);
    let bodies = body_types(file);
    let mut groups: BTreeMap<&str, Vec<proc_macro2::TokenStream>> = BTreeMap::new();
    let mut group_ops: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (a, args) in plan.accessors.iter().zip(&args) {
        let builder = a.operation_id.to_upper_camel_case();
        let Some((ok, _)) = sends.get(&builder) else {
            continue;
        };
        let op = &spec["paths"][a.path.as_str()][a.http_method.to_lowercase().as_str()];
        let client_method = ident(&raw_if_keyword(a.operation_id.to_snake_case()));
        let method = ident(&a.method);
        let mut params = Vec::new();
        let mut type_params = Vec::new();
        let mut predicates = Vec::new();
        let mut calls = Vec::new();
        for (k, arg) in args.iter().enumerate() {
            let (value_ty, generics) = renamed_generics(&arg.setter, k);
            let name = ident(&raw_if_keyword(arg.name.clone()));
            params.push(quote!(#name: #value_ty));
            type_params.extend(generics.params.iter().cloned());
            if let Some(w) = &generics.where_clause {
                predicates.extend(w.predicates.iter().cloned());
            }
            let setter = &arg.setter.sig.ident;
            calls.push(quote!(.#setter(#name)));
        }
        let summary = doc_text(op);
        let mut doc = format!(
            "`{} {}` (`{}`){}",
            a.http_method,
            a.path,
            a.operation_id,
            if summary.is_empty() {
                String::new()
            } else {
                format!(": {summary}")
            }
        );
        doc.push('.');
        let optional = parameters(spec, &a.path, &a.http_method.to_lowercase())
            .iter()
            .filter(|p| {
                p.get("in").and_then(Value::as_str) != Some("path")
                    && p.get("required").and_then(Value::as_bool) != Some(true)
            })
            .count();
        let args_doc = if a.args.is_empty() {
            "Takes no arguments.".to_string()
        } else {
            format!(
                "Arguments: {}.",
                a.args
                    .iter()
                    .map(|n| match (n.as_str(), bodies.get(&builder)) {
                        ("body", Some(ty)) => {
                            format!(
                                "`body` (a `{}` or its builder)",
                                crate::surface::type_str(ty)
                            )
                        }
                        _ => format!("`{n}`"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let optional_doc = if optional > 0 {
            format!(
                " For its optional parameters, use `Client::{}()` and send the builder.",
                a.operation_id.to_snake_case()
            )
        } else {
            String::new()
        };
        let doc2 = format!("{args_doc}{optional_doc}");
        groups.entry(a.group.as_str()).or_default().push(quote! {
            #[doc = #doc]
            #[doc = ""]
            #[doc = #doc2]
            pub fn #method<#(#type_params),*>(
                self,
                #(#params),*
            ) -> impl ::std::future::Future<
                Output = ::std::result::Result<D::Response<#ok>, D::Error>,
            > + Send + 'a
            where
                #(#predicates,)*
            {
                self.0.dispatch(self.0.client().#client_method() #(#calls)*)
            }
        });
        group_ops
            .entry(a.group.as_str())
            .or_default()
            .push(format!("`{}` (`{}`)", a.method, a.operation_id));
    }
    let mut structs = Vec::new();
    let mut getters = Vec::new();
    for (group, methods) in &groups {
        let ty = format_ident!("{}", group.to_upper_camel_case());
        let getter = format_ident!("{}", group);
        let ops = group_ops.get(group).cloned().unwrap_or_default().join(", ");
        let struct_doc = format!(
            "The `{group}` resource: one method per operation, sent through the dispatcher \
             `D`. Reached with [`Resources::{group}`]."
        );
        let getter_doc = format!("The `{group}` resource: {ops}.");
        structs.push(quote! {
            #[doc = #struct_doc]
            pub struct #ty<'a, D: ?Sized>(&'a D);

            impl<D: ?Sized> Clone for #ty<'_, D> {
                fn clone(&self) -> Self {
                    *self
                }
            }

            impl<D: ?Sized> Copy for #ty<'_, D> {}

            impl<D: ?Sized> ::std::fmt::Debug for #ty<'_, D> {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(stringify!(#ty))
                }
            }

            impl<'a, D: Dispatch + ?Sized> #ty<'a, D> {
                #(#methods)*
            }
        });
        getters.push(quote! {
            #[doc = #getter_doc]
            fn #getter(&self) -> #ty<'_, Self> {
                #ty(self)
            }
        });
    }
    let tokens = quote! {
        //! Resource accessors, one per operation, grouped the way Dakota's TypeScript SDK groups
        //! them: `dakota.recipients().create(customer_id, body)`. Generated from the spec by
        //! `cargo xtask generate` (the naming rule is documented in `xtask/src/resources.rs`).
        //!
        //! Each method takes the operation's path parameters in path order, then its other
        //! required parameters, then its body (a generated type or its builder), and sends the
        //! operation through the [`Dispatch`]er it was reached from (dakota-ext implements it
        //! for `Dakota`: auth, idempotency keys, retries, pacing, tracing). Optional parameters
        //! are not arguments: for those, take the operation's builder from [`crate::Client`].

        #[allow(unused_imports)]
        use crate::{types, ByteStream};
        use crate::operation::Operation;

        /// Sends operations for the resource accessors: implement it once (dakota-ext does for
        /// `Dakota`) and every accessor of [`Resources`] works through it.
        pub trait Dispatch {
            /// The success type a call returns, given the operation's success body.
            type Response<T>;
            /// The error type a call returns.
            type Error;
            /// The generated client the operations are built from.
            fn client(&self) -> &crate::Client;
            /// Send one operation.
            fn dispatch<O>(
                &self,
                op: O,
            ) -> impl ::std::future::Future<
                Output = ::std::result::Result<Self::Response<O::Success>, Self::Error>,
            > + Send
            where
                O: Operation,
                O::Success: Send,
                O::ErrorBody: ::serde::Serialize + Send;
        }

        /// The resource groups, on every [`Dispatch`]er: `use dakota_ext::Resources as _;`
        /// then `dakota.recipients()`.
        pub trait Resources: Dispatch {
            #(#getters)*
        }

        impl<D: Dispatch + ?Sized> Resources for D {}

        #(#structs)*
    };
    let text = match syn::parse2::<syn::File>(tokens) {
        Ok(mut f) => {
            crate::features::gate_methods(&mut f, gating);
            prettyplease::unparse(&f)
        }
        Err(e) => format!("compile_error!({:?});\n", e.to_string()),
    };
    (format!("{header}{text}"), plan)
}

/// The accessor listing for the API-surface snapshot.
pub fn listing(plan: &Plan) -> String {
    let groups: BTreeSet<&str> = plan.accessors.iter().map(|a| a.group.as_str()).collect();
    let mut out = format!(
        "# Resource accessors ({} in {} groups)\n",
        plan.accessors.len(),
        groups.len()
    );
    for a in &plan.accessors {
        out.push_str(&format!(
            "{}().{}({}) -> {}\n",
            a.group,
            a.method,
            a.args.join(", "),
            a.operation_id
        ));
    }
    for w in &plan.warnings {
        out.push_str(&format!("left out: {w}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(id: &str, tag: &str) -> Value {
        json!({"operationId": id, "tags": [tag],
               "responses": {"200": {"description": "ok",
                 "content": {"application/json": {"schema": {"type": "string"}}}}}})
    }

    /// A spec with the given (path, method, operationId, tag) operations.
    fn spec(ops: &[(&str, &str, &str, &str)]) -> Value {
        let mut paths = serde_json::Map::new();
        for (path, method, id, tag) in ops {
            let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
            item[*method] = op(id, tag);
        }
        json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths})
    }

    /// (group, method) per operationId, after collisions are resolved.
    fn names(ops: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String)> {
        let s = spec(ops);
        let cols = collections(&s);
        let namings: Vec<Naming> = ops
            .iter()
            .map(|(path, _, id, tag)| naming(&cols, path, id, Some(tag)).expect("a group"))
            .collect();
        let methods = resolve(&namings);
        ops.iter()
            .zip(namings)
            .zip(methods)
            .map(|(((_, _, id, _), n), m)| (id.to_string(), n.group, m))
            .collect()
    }

    fn row(id: &str, group: &str, method: &str) -> (String, String, String) {
        (id.into(), group.into(), method.into())
    }

    #[test]
    fn groups_follow_the_path_collection_the_operation_id_names_not_the_tag() {
        let got = names(&[
            ("/customers", "post", "createCustomer", "Customers"),
            (
                "/customers/{customer_id}",
                "get",
                "getCustomer",
                "Customers",
            ),
            (
                "/customers/{customer_id}/recipients",
                "post",
                "createRecipient",
                "Recipients",
            ),
            (
                "/customers/{customer_id}/recipients",
                "get",
                "listRecipients",
                "Recipients",
            ),
            (
                "/recipients/{recipient_id}",
                "get",
                "getRecipient",
                "Recipients",
            ),
            (
                "/recipients/{recipient_id}/destinations",
                "post",
                "createDestination",
                "Recipients",
            ),
            (
                "/recipients/{recipient_id}/destinations/{destination_id}",
                "delete",
                "deleteDestination",
                "Recipients",
            ),
            ("/signer-groups", "get", "listSignerGroups", "Signer Groups"),
        ]);
        assert_eq!(
            got,
            [
                row("createCustomer", "customers", "create"),
                row("getCustomer", "customers", "get"),
                row("createRecipient", "recipients", "create"),
                row("listRecipients", "recipients", "list"),
                row("getRecipient", "recipients", "get"),
                row("createDestination", "destinations", "create"),
                row("deleteDestination", "destinations", "delete"),
                row("listSignerGroups", "signer_groups", "list"),
            ]
        );
    }

    #[test]
    fn parent_nouns_namespaces_and_unnamed_actions() {
        let got = names(&[
            (
                "/applications/{application_id}",
                "get",
                "getApplication",
                "Onboarding",
            ),
            (
                "/applications/{application_id}/documents/{document_id}",
                "get",
                "getDocument",
                "Onboarding",
            ),
            // The parent's noun directly before the group's goes too.
            (
                "/applications/{application_id}/documents",
                "post",
                "createApplicationDocument",
                "Onboarding",
            ),
            // No collection named: the path's last collection, the full name.
            (
                "/applications/{application_id}/attestations",
                "post",
                "submitAttestation",
                "Onboarding",
            ),
            // Words between the verb and the noun stay.
            (
                "/applications/{application_id}/business-details",
                "put",
                "updateBusinessApplicationDetails",
                "Onboarding",
            ),
            // A collection directly under a namespace keeps the namespace's noun.
            (
                "/webhooks/targets",
                "post",
                "createWebhookTarget",
                "Webhooks",
            ),
            (
                "/webhooks/targets/{target_id}",
                "get",
                "getWebhookTarget",
                "Webhooks",
            ),
            (
                "/webhooks/{event_id}",
                "get",
                "getWebhookDelivery",
                "Webhooks",
            ),
            // `policies` -> `policy`.
            ("/policies/{policy_id}", "get", "getPolicy", "Policies"),
        ]);
        assert_eq!(
            got,
            [
                row("getApplication", "applications", "get"),
                row("getDocument", "documents", "get"),
                row("createApplicationDocument", "documents", "create"),
                row("submitAttestation", "applications", "submit_attestation"),
                row(
                    "updateBusinessApplicationDetails",
                    "applications",
                    "update_business_details"
                ),
                row("createWebhookTarget", "webhook_targets", "create"),
                row("getWebhookTarget", "webhook_targets", "get"),
                row("getWebhookDelivery", "webhooks", "get_delivery"),
                row("getPolicy", "policies", "get"),
            ]
        );
    }

    #[test]
    fn collisions_keep_the_parent_noun_then_fall_back_to_full_names() {
        let got = names(&[
            ("/transactions", "post", "createTransaction", "Transactions"),
            ("/wallets/{wallet_id}", "get", "getWallet", "Wallets"),
            (
                "/wallets/{wallet_id}/transactions",
                "post",
                "createWalletTransaction",
                "Wallets",
            ),
            // Same short name and nothing to step back to: both full names.
            ("/things", "get", "listThings", "Things"),
            ("/things/all", "get", "listThing", "Things"),
            // A keyword is never a method name; neither is an empty one.
            ("/boxes", "post", "typeBoxes", "Boxes"),
            ("/boxes/{box_id}", "get", "box", "Boxes"),
        ]);
        assert_eq!(
            got,
            [
                row("createTransaction", "transactions", "create"),
                row("getWallet", "wallets", "get"),
                row("createWalletTransaction", "transactions", "create_wallet"),
                row("listThings", "things", "list_things"),
                row("listThing", "things", "list_thing"),
                row("typeBoxes", "boxes", "type_boxes"),
                row("box", "boxes", "r#box"),
            ]
        );
    }

    #[test]
    fn singular_forms() {
        for (plural, one) in [
            ("policies", "policy"),
            ("addresses", "address"),
            ("status", "statu"),
            ("access", "access"),
            ("keys", "key"),
            ("edd", "edd"),
        ] {
            assert_eq!(singular(plural), one, "{plural}");
        }
    }

    fn generated(spec: Value) -> crate::Generated {
        crate::generate(&spec.to_string(), "t.json").expect("generates")
    }

    #[test]
    fn arguments_are_path_parameters_in_path_order_then_required_ones_then_the_body() {
        let g = generated(
            json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
          "paths": {"/orgs/{org_id}/teams/{team_id}/members": {"post": {
            "operationId": "addTeamMember", "tags": ["Teams"],
            "parameters": [
              {"name": "team_id", "in": "path", "required": true, "schema": {"type": "string"}},
              {"name": "org_id", "in": "path", "required": true, "schema": {"type": "string"}},
              {"name": "role", "in": "query", "required": true, "schema": {"type": "string"}},
              {"name": "note", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema":
              {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
            "responses": {"200": {"description": "ok", "content": {"application/json":
              {"schema": {"type": "string"}}}}}}}}}),
        );
        let a = &g.resource_plan.accessors;
        assert_eq!(a.len(), 1, "{a:?}");
        // `members` names no collection (nothing stands after it): the group is `teams`.
        assert_eq!(
            (a[0].group.as_str(), a[0].method.as_str()),
            ("teams", "add_member")
        );
        assert_eq!(a[0].args, ["org_id", "team_id", "role", "body"]);
        assert!(g.resource_plan.warnings.is_empty());
        // The emitted code parses, sends the builder with every argument, and is documented.
        syn::parse_file(&g.resources).expect("resources.rs parses");
        let flat: String = g.resources.split_whitespace().collect();
        assert!(
            flat.contains(
                ".add_team_member().org_id(org_id).team_id(team_id).role(role).body(body)"
            ),
            "{}",
            g.resources
        );
        assert!(g.resources.contains("fn teams(&self) -> Teams<'_, Self>"));
        assert!(g.resources.contains("For its optional parameters"));
        assert!(g.resources.starts_with("// @generated"));
    }

    #[test]
    fn an_operation_the_rule_cannot_express_is_a_warning_not_a_failure() {
        // No collection in the path and no tag: no group.
        let g = generated(
            json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
          "paths": {
            "/{id}": {"get": {"operationId": "fetch", "parameters": [
              {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "responses": {"200": {"description": "ok", "content": {"application/json":
                {"schema": {"type": "string"}}}}}}},
            "/items": {"get": {"operationId": "listItems", "responses": {"200": {
              "description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}}}}}}}),
        );
        let a = &g.resource_plan.accessors;
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].operation_id, "listItems");
        assert_eq!(g.resource_plan.warnings.len(), 1);
        assert!(g.resource_plan.warnings[0].contains("fetch"));
        syn::parse_file(&g.resources).expect("resources.rs parses");
    }
}
