//! Cargo features per spec tag: a crate that only onboards compiles only what onboarding needs.
//!
//! Every operation belongs to the features of its spec tags (`Onboarding` -> `onboarding`,
//! `Signer Groups` -> `signer-groups`); an operation without a tag is always compiled. A type
//! belongs to every feature whose operations reach it (through their parameters, bodies,
//! responses and, transitively, the fields, variants and impls of the types those reach). Then
//! every generated item, at any depth (a struct, an impl, a method of `impl Client`, a match arm
//! of the registry), is compiled only when everything it names is: its `#[cfg]` is the
//! conjunction of the feature sets of the types and operations it mentions.
//!
//! The rule is general: it reads tags and names, never a particular operation. Types that no
//! operation reaches (webhook-only payloads) and types every feature reaches are always compiled,
//! so the default build (all features) is exactly the ungated crate. The pass is sound by
//! construction for references by name; `.ci/run` also compiles dakota-api with each single tag
//! feature and with none.

use heck::{ToKebabCase, ToUpperCamelCase};
use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use syn::visit_mut::VisitMut;

/// A set of features; an item gated by it is compiled when any of them is on.
type FeatureSet = BTreeSet<String>;

/// What the pass did.
#[derive(Debug, Default, Clone)]
pub struct Gating {
    /// Feature name -> the spec tags it stands for (one each, spelled as in the spec).
    pub features: BTreeMap<String, String>,
    /// Operations per feature (generated builder names).
    pub operations: BTreeMap<String, usize>,
    /// Types compiled only with some features.
    pub gated_types: usize,
    /// Types compiled always (reached by every feature, by an untagged operation, or by none).
    pub always_types: usize,
    /// The features of every gated name: types, operation builders (`CreateRecipient`) and
    /// the client methods (`create_recipient`); `None` for what is always compiled.
    pub gates: BTreeMap<String, Option<FeatureSet>>,
}

/// The cargo feature of a spec tag: kebab case (`Self Serve` -> `self-serve`).
pub fn tag_feature(tag: &str) -> String {
    tag.to_kebab_case()
}

/// Gate `file` (progenitor's builder-style output after the other post-passes) by tag features.
pub fn gate(spec: &Value, file: &mut syn::File) -> Gating {
    let mut gating = Gating::default();
    // Operation builder name (`CreateRecipient`, the operationId in upper camel case) -> the
    // operationId, for the operations progenitor generated.
    let generated = crate::conformance::builders(file).generated_names;
    let builder_ops: BTreeMap<String, String> = crate::generate::operations(spec)
        .into_iter()
        .map(|(_, _, id)| (id.to_upper_camel_case(), id))
        .filter(|(builder, _)| generated.contains_key(builder))
        .collect();

    // Operation builder name -> its features (None: an untagged operation, always compiled).
    let mut tags_of_id: BTreeMap<String, Option<FeatureSet>> = BTreeMap::new();
    for (path, method, id) in crate::generate::operations(spec) {
        let op = &spec["paths"][path.as_str()][method.as_str()];
        let tags: Vec<&str> = op
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let set: FeatureSet = tags.iter().map(|t| tag_feature(t)).collect();
        for t in &tags {
            gating.features.insert(tag_feature(t), (*t).to_string());
        }
        tags_of_id.insert(id, (!set.is_empty()).then_some(set));
    }
    let all: FeatureSet = gating.features.keys().cloned().collect();
    let mut gates: BTreeMap<String, Option<FeatureSet>> = BTreeMap::new();
    for (builder, id) in &builder_ops {
        if let Some(g) = tags_of_id.get(id) {
            if let Some(set) = g {
                for f in set {
                    *gating.operations.entry(f.clone()).or_default() += 1;
                }
            }
            gates.insert(builder.clone(), g.clone());
        }
    }

    // The names of `types`, and everything each type's own items mention.
    let type_names = type_names(file);
    let mut mentions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut op_mentions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, item) in all_items(file) {
        let Some(owner) = owner(item) else { continue };
        let names = idents(item.to_token_stream());
        if module == "builder" && gates.contains_key(&owner) {
            op_mentions
                .entry(owner)
                .or_default()
                .extend(names.into_iter().filter(|n| type_names.contains(n)));
        } else if type_names.contains(&owner) && (module == "types" || module == "types::builder") {
            mentions
                .entry(owner)
                .or_default()
                .extend(names.into_iter().filter(|n| type_names.contains(n)));
        }
    }

    // Each operation's features flow to every type it reaches.
    let mut reached: BTreeMap<String, Option<FeatureSet>> = BTreeMap::new();
    for (op, direct) in &op_mentions {
        let Some(op_gate) = gates.get(op) else {
            continue;
        };
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = direct.iter().map(String::as_str).collect();
        while let Some(t) = queue.pop_front() {
            if !seen.insert(t) {
                continue;
            }
            let entry = reached
                .entry(t.to_string())
                .or_insert(Some(FeatureSet::new()));
            match (entry.as_mut(), op_gate) {
                (Some(set), Some(features)) => set.extend(features.iter().cloned()),
                _ => *entry = None,
            }
            if let Some(next) = mentions.get(t) {
                queue.extend(next.iter().map(String::as_str));
            }
        }
    }
    // A type no operation reaches (a webhook-only payload) is always compiled, and so is
    // everything it mentions.
    let mut queue: VecDeque<&str> = type_names
        .iter()
        .filter(|t| !reached.contains_key(*t))
        .map(String::as_str)
        .collect();
    while let Some(t) = queue.pop_front() {
        if reached.insert(t.to_string(), None) == Some(None) {
            continue;
        }
        if let Some(next) = mentions.get(t) {
            queue.extend(next.iter().map(String::as_str));
        }
    }
    for name in &type_names {
        let gate = match reached.get(name) {
            Some(Some(set)) if *set != all => Some(set.clone()),
            _ => None,
        };
        if gate.is_some() {
            gating.gated_types += 1;
        } else {
            gating.always_types += 1;
        }
        gates.insert(name.clone(), gate);
    }

    Gater {
        gates: &gates,
        context: Vec::new(),
    }
    .visit_file_mut(file);
    for (builder, method) in &generated {
        if let Some(g) = gates.get(builder).cloned() {
            gates.insert(method.clone(), g);
        }
    }
    gating.gates = gates;
    gating
}

/// Moves the derive named `derive` (a path ending in it, e.g. `schemars::JsonSchema`) out of
/// every `#[derive(..)]` in `file` into `#[cfg_attr(feature = "<feature>", derive(..))]`, and
/// puts impls of that trait under `#[cfg(feature = "<feature>")]`: a derive only some users
/// need costs the others nothing.
pub fn optional_derive(file: &mut syn::File, derive: &str, feature: &str) {
    struct Items<'a> {
        derive: &'a str,
        feature: &'a str,
    }
    impl VisitMut for Items<'_> {
        fn visit_item_mut(&mut self, item: &mut syn::Item) {
            match item {
                syn::Item::Struct(i) => move_derive(&mut i.attrs, self.derive, self.feature),
                syn::Item::Enum(i) => move_derive(&mut i.attrs, self.derive, self.feature),
                // A hand-rolled impl of the same trait (typify writes some) goes with it.
                syn::Item::Impl(i)
                    if i.trait_.as_ref().is_some_and(|(_, p, _)| {
                        p.segments.last().is_some_and(|s| s.ident == self.derive)
                    }) =>
                {
                    let feature = self.feature;
                    i.attrs
                        .push(syn::parse_quote! { #[cfg(feature = #feature)] });
                }
                _ => {}
            }
            syn::visit_mut::visit_item_mut(self, item);
        }
    }
    Items { derive, feature }.visit_file_mut(file);
}

fn move_derive(attrs: &mut Vec<syn::Attribute>, derive: &str, feature: &str) {
    let mut moved: Vec<syn::Attribute> = Vec::new();
    for attr in attrs.iter_mut() {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let (optional, kept): (Vec<syn::Path>, Vec<syn::Path>) = paths
            .into_iter()
            .partition(|p| p.segments.last().is_some_and(|s| s.ident == derive));
        if optional.is_empty() {
            continue;
        }
        *attr = syn::parse_quote! { #[derive(#(#kept),*)] };
        moved.push(syn::parse_quote! {
            #[cfg_attr(feature = #feature, derive(#(#optional),*))]
        });
    }
    attrs.extend(moved);
}

/// Gates each method of the inherent impls in `file` (code generated beside the client, such as the
/// resource accessors) by everything it names, body included: a method that calls
/// `client().create_recipient()` needs the `recipients` feature.
pub fn gate_methods(file: &mut syn::File, gating: &Gating) {
    struct Methods<'a>(&'a BTreeMap<String, Option<FeatureSet>>);
    impl VisitMut for Methods<'_> {
        // Trait impls (`Debug`, `Clone`) are the same whatever the features.
        fn visit_item_impl_mut(&mut self, i: &mut syn::ItemImpl) {
            if i.trait_.is_none() {
                syn::visit_mut::visit_item_impl_mut(self, i);
            }
        }

        fn visit_impl_item_fn_mut(&mut self, f: &mut syn::ImplItemFn) {
            let sets = needs(&idents(f.to_token_stream()), self.0, &[]);
            if let Some(attr) = cfg_attr(&sets) {
                f.attrs.push(attr);
            }
        }
    }
    Methods(&gating.gates).visit_file_mut(file);
}

/// The top-level type names of `mod types` (structs, enums, aliases).
fn type_names(file: &syn::File) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for item in &file.items {
        let syn::Item::Mod(m) = item else { continue };
        if m.ident != "types" {
            continue;
        }
        for i in m.content.iter().flat_map(|(_, items)| items) {
            match i {
                syn::Item::Struct(s) => out.insert(s.ident.to_string()),
                syn::Item::Enum(e) => out.insert(e.ident.to_string()),
                syn::Item::Type(t) => out.insert(t.ident.to_string()),
                _ => false,
            };
        }
    }
    out
}

/// Every non-module item with the path of the module holding it (`types`, `types::builder`,
/// `builder`, `` for the crate root).
fn all_items(file: &syn::File) -> Vec<(String, &syn::Item)> {
    fn walk<'a>(prefix: &str, items: &'a [syn::Item], out: &mut Vec<(String, &'a syn::Item)>) {
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    let path = if prefix.is_empty() {
                        m.ident.to_string()
                    } else {
                        format!("{prefix}::{}", m.ident)
                    };
                    if let Some((_, inner)) = &m.content {
                        walk(&path, inner, out);
                    }
                }
                other => out.push((prefix.to_string(), other)),
            }
        }
    }
    let mut out = Vec::new();
    walk("", &file.items, &mut out);
    out
}

/// The type an item defines or implements for (its last path segment).
fn owner(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(s) => Some(s.ident.to_string()),
        syn::Item::Enum(e) => Some(e.ident.to_string()),
        syn::Item::Type(t) => Some(t.ident.to_string()),
        syn::Item::Impl(i) => match &*i.self_ty {
            syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Every identifier in a token stream, at any depth.
fn idents(tokens: TokenStream) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![tokens];
    while let Some(ts) = stack.pop() {
        for tt in ts {
            match tt {
                TokenTree::Ident(i) => {
                    out.insert(i.to_string());
                }
                TokenTree::Group(g) => stack.push(g.stream()),
                _ => {}
            }
        }
    }
    out
}

/// The minimal feature sets an item mentioning `names` needs, leaving out what `context` (the
/// sets of the enclosing items) already implies: `any(a)` implies `any(a, b)`.
fn needs<'a>(
    names: &BTreeSet<String>,
    gates: &'a BTreeMap<String, Option<FeatureSet>>,
    context: &[FeatureSet],
) -> Vec<&'a FeatureSet> {
    let mut sets: Vec<&FeatureSet> = names
        .iter()
        .filter_map(|n| gates.get(n).and_then(Option::as_ref))
        .filter(|s| !context.iter().any(|c| c.is_subset(s)))
        .collect();
    sets.sort_by_key(|s| s.len());
    sets.dedup();
    let mut minimal: Vec<&FeatureSet> = Vec::new();
    for s in sets {
        if !minimal.iter().any(|m| m.is_subset(s)) {
            minimal.push(s);
        }
    }
    minimal
}

/// `#[cfg(..)]` for feature sets that must all have one feature on.
fn cfg_attr(sets: &[&FeatureSet]) -> Option<syn::Attribute> {
    let one = |s: &FeatureSet| match s.len() {
        1 => {
            let f = s.iter();
            quote::quote! { #(feature = #f)* }
        }
        _ => {
            let fs = s.iter();
            quote::quote! { any(#(feature = #fs),*) }
        }
    };
    match sets {
        [] => None,
        [s] => {
            let a = one(s);
            Some(syn::parse_quote! { #[cfg(#a)] })
        }
        many => {
            let parts = many.iter().map(|s| one(s));
            Some(syn::parse_quote! { #[cfg(all(#(#parts),*))] })
        }
    }
}

/// Puts the `#[cfg]`s on: a type's own items (definition, impls, builder) by the type's
/// features; an operation's builder, impls and `Client` method by the operation's; elsewhere a
/// function by its signature, and inside always-compiled items, the methods of impls and the
/// arms of matches by what they mention.
struct Gater<'a> {
    gates: &'a BTreeMap<String, Option<FeatureSet>>,
    /// The feature sets of the enclosing gated items.
    context: Vec<FeatureSet>,
}

impl Gater<'_> {
    fn attr(&self, names: &BTreeSet<String>) -> (Option<syn::Attribute>, Vec<FeatureSet>) {
        let sets = needs(names, self.gates, &self.context);
        let owned = sets.iter().map(|s| (*s).clone()).collect();
        (cfg_attr(&sets), owned)
    }

    fn visit_gated(&mut self, sets: Vec<FeatureSet>, f: impl FnOnce(&mut Self)) {
        let depth = self.context.len();
        self.context.extend(sets);
        f(self);
        self.context.truncate(depth);
    }
}

impl VisitMut for Gater<'_> {
    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        let names = match &*item {
            syn::Item::Mod(_) => return syn::visit_mut::visit_item_mut(self, item),
            syn::Item::Use(_) => return,
            // A type's or an operation's own items go with it (its features were computed
            // from everything they mention).
            // Nothing inside is gated further: what they mention is reached by the same
            // features (and a variant named like an operation is not that operation).
            _ if owner(item).is_some_and(|o| self.gates.contains_key(&o)) => {
                let names = owner(item).into_iter().collect();
                if let (Some(attr), _) = self.attr(&names) {
                    push_attr(item, attr);
                }
                return;
            }
            // A function is gated by its signature; what its body mentions, inside it.
            syn::Item::Fn(f) => idents(f.sig.to_token_stream()),
            syn::Item::Impl(i) => {
                let mut head = idents(i.self_ty.to_token_stream());
                if let Some((_, path, _)) = &i.trait_ {
                    head.extend(idents(path.to_token_stream()));
                }
                head.extend(idents(i.generics.to_token_stream()));
                head
            }
            _ => idents(item.to_token_stream()),
        };
        let (attr, sets) = self.attr(&names);
        if let Some(attr) = attr {
            push_attr(item, attr);
        }
        self.visit_gated(sets, |v| syn::visit_mut::visit_item_mut(v, item));
    }

    fn visit_impl_item_fn_mut(&mut self, f: &mut syn::ImplItemFn) {
        let (attr, sets) = self.attr(&idents(f.sig.to_token_stream()));
        if let Some(attr) = attr {
            f.attrs.push(attr);
        }
        self.visit_gated(sets, |v| syn::visit_mut::visit_impl_item_fn_mut(v, f));
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        let (attr, sets) = self.attr(&idents(arm.to_token_stream()));
        if let Some(attr) = attr {
            arm.attrs.push(attr);
        }
        self.visit_gated(sets, |v| syn::visit_mut::visit_arm_mut(v, arm));
    }
}

fn push_attr(item: &mut syn::Item, attr: syn::Attribute) {
    match item {
        syn::Item::Struct(i) => i.attrs.push(attr),
        syn::Item::Enum(i) => i.attrs.push(attr),
        syn::Item::Type(i) => i.attrs.push(attr),
        syn::Item::Impl(i) => i.attrs.push(attr),
        syn::Item::Fn(i) => i.attrs.push(attr),
        syn::Item::Const(i) => i.attrs.push(attr),
        syn::Item::Static(i) => i.attrs.push(attr),
        syn::Item::Trait(i) => i.attrs.push(attr),
        _ => {}
    }
}

/// The first and last line of the generated block in a crate's `Cargo.toml`.
pub const BLOCK_BEGIN: &str =
    "# @generated by `cargo xtask generate`: one feature per spec tag (do not edit by hand)";
/// See [`BLOCK_BEGIN`].
pub const BLOCK_END: &str = "# @generated end";

/// The `[features]` lines of the tag features: `full` turns on every tag (the crate lists it in
/// its hand-written `default`). For a crate built on the generated one (`via` is its dependency
/// name, e.g. dakota-ext over `dakota-api`) each feature turns on the generated crate's
/// feature of the same name.
pub fn features_block(gating: &Gating, via: Option<&str>) -> String {
    let names: Vec<&String> = gating.features.keys().collect();
    let mut out = format!("{BLOCK_BEGIN}\n");
    out.push_str("# Every operation of the spec.\n");
    out.push_str(&format!(
        "full = [{}]\n",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (feature, tag) in &gating.features {
        let ops = gating.operations.get(feature).copied().unwrap_or(0);
        let enables = via
            .map(|dep| format!("\"{dep}/{feature}\""))
            .unwrap_or_default();
        out.push_str(&format!(
            "# Tag `{tag}` ({ops} operation(s)).\n{feature} = [{enables}]\n"
        ));
    }
    out.push_str(BLOCK_END);
    out
}

/// `manifest` with its generated block replaced by the current one. A manifest without the
/// markers is an error: the generated code would name features the crate does not declare.
pub fn with_features_block(
    manifest: &str,
    gating: &Gating,
    via: Option<&str>,
) -> anyhow::Result<String> {
    let (Some(begin), Some(end)) = (manifest.find(BLOCK_BEGIN), manifest.find(BLOCK_END)) else {
        anyhow::bail!(
            "the crate's Cargo.toml has no generated feature block: add the two lines \
             `{BLOCK_BEGIN}` and `{BLOCK_END}` under `[features]`"
        );
    };
    if end < begin {
        anyhow::bail!("the generated feature block's end marker comes before its start");
    }
    Ok(format!(
        "{}{}{}",
        &manifest[..begin],
        features_block(gating, via),
        &manifest[end + BLOCK_END.len()..]
    ))
}

#[cfg(test)]
mod tests {
    /// Two tags sharing one schema, a schema only one tag reaches, a schema no operation
    /// reaches, an untagged operation, and an enum variant spelled like an operation.
    const SPEC: &str = r##"
openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /pets:
    post:
      operationId: createPet
      tags: [Pets]
      requestBody:
        required: true
        content: { application/json: { schema: { $ref: "#/components/schemas/PetRequest" } } }
      responses:
        "201": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } }
  /pets/{id}/toys:
    get:
      operationId: listToys
      tags: [Pet Toys]
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses:
        "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Toys" } } } }
  /ping:
    get:
      operationId: ping
      responses:
        "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Pong" } } } }
components:
  schemas:
    Owner: { type: object, required: [name], properties: { name: { type: string } } }
    PetRequest:
      type: object
      required: [kind]
      properties: { kind: { type: string, enum: [create_pet, list_toys] } }
    Pet: { type: object, required: [owner], properties: { owner: { $ref: "#/components/schemas/Owner" } } }
    Toys: { type: object, required: [owner], properties: { owner: { $ref: "#/components/schemas/Owner" } } }
    Pong: { type: object, properties: { at: { type: string } } }
    WebhookOnly: { type: object, properties: { pet: { $ref: "#/components/schemas/Pet" } } }
"##;

    /// The attributes just above `needle`'s line in `code` (up to the previous blank-ish item).
    fn cfg_before(code: &str, needle: &str) -> Option<String> {
        let at = code.find(needle)?;
        let head = &code[..at];
        let item_start = head.rfind(";\n").max(head.rfind("}\n")).unwrap_or(0);
        let attrs = &head[item_start..];
        attrs
            .find("#[cfg(")
            .map(|i| attrs[i..].lines().next().unwrap_or("").to_string())
    }

    #[test]
    fn items_follow_the_tags_that_reach_them() {
        let g = crate::generate(SPEC, "mini.yaml").expect("generates");
        let code = &g.code;
        let feats: Vec<&String> = g.gating.features.keys().collect();
        assert_eq!(feats, ["pet-toys", "pets"]);
        // Only createPet reaches Pet and PetRequest; the enum's variants named like the
        // operations do not pull in their features.
        assert_eq!(
            cfg_before(code, "pub struct PetRequest {").as_deref(),
            Some("#[cfg(feature = \"pets\")]")
        );
        assert_eq!(
            cfg_before(code, "pub struct Toys {").as_deref(),
            Some("#[cfg(feature = \"pet-toys\")]")
        );
        // Owner is reached by both tags (all features): always compiled; so are the
        // untagged operation's types and a schema no operation reaches, with what it mentions.
        assert_eq!(cfg_before(code, "pub struct Owner {"), None);
        assert_eq!(cfg_before(code, "pub struct Pong {"), None);
        assert_eq!(cfg_before(code, "pub struct WebhookOnly {"), None);
        assert_eq!(cfg_before(code, "pub struct Pet {"), None);
        // Operations and their client methods follow their tags; the untagged one does not.
        assert_eq!(
            cfg_before(code, "pub fn list_toys(&self)").as_deref(),
            Some("#[cfg(feature = \"pet-toys\")]")
        );
        assert_eq!(cfg_before(code, "pub fn ping(&self)"), None);
        let manifest = "[features]\n# @generated by `cargo xtask generate`: one feature per spec tag (do not edit by hand)\nfull = []\n# @generated end\nmock = [\"full\"]\n";
        let written = super::with_features_block(manifest, &g.gating, None).expect("block");
        assert!(
            written.contains("full = [\"pet-toys\", \"pets\"]\n"),
            "{written}"
        );
        assert!(written.contains("pet-toys = []\n") && written.ends_with("mock = [\"full\"]\n"));
        assert!(super::with_features_block("[features]\n", &g.gating, None).is_err());
        let ext = super::with_features_block(manifest, &g.gating, Some("api")).expect("block");
        assert!(
            ext.contains("pets = [\"api/pets\"]\n") && !ext.contains("default ="),
            "{ext}"
        );
    }
}
