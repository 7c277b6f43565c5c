//! Constructors for tagged unions: a post-pass over the generated code.
//!
//! After the `tagged-unions` normalization rule, a `oneOf` told apart by a tag property is an
//! untagged enum of newtype variants, each wrapping a struct whose tag field has a one-value
//! enum type (`FiatUsDestinationRequest::destination_type: FiatUsDestinationRequestDestinationType`).
//! Building one by hand sets the tag twice: once on the variant's builder (the field is
//! required) and once by choosing the enum variant, then `try_into()` and `Union::from`.
//!
//! This pass gives every such union one associated function per tagged variant, named after the
//! tag value in snake case (`DestinationRequestUnion::fiat_us(builder)`), that takes the
//! variant's builder, sets its tag and builds the union; and `TryFrom<builder::Variant>` for the
//! union doing the same, so an operation's `.body(..)` takes the variant's builder directly.
//! The tag is set once, by choosing the constructor (or the builder).
//!
//! The class of shapes, not any schema: an enum with `#[serde(untagged)]` whose newtype variants
//! wrap (possibly boxed) structs of the same module that have a builder; the tag is the field
//! name that, in at least two of those structs, has a one-value string enum type (or an
//! `Option` of one), with a distinct value in each. Variants without the tag (told apart by
//! shape) get no constructor; `From<Variant>` still covers them.
//!
//! Names: the tag value in snake case when that is an identifier, is not a keyword, does not
//! shadow a trait method callers reach through the type (`from`, `default`, ...) and is not
//! taken by another variant; otherwise the variant's name in snake case; otherwise none.

use crate::open_enums::string_enum_values;
use heck::ToSnakeCase;
use quote::quote;
use std::collections::{BTreeMap, BTreeSet};
use syn::{parse_quote, Fields, Item, ItemEnum, ItemStruct};

/// Method names a constructor must not take: an inherent associated function shadows the trait
/// method of the same name in `Union::name(..)` paths (`Union::from(variant)` must keep working).
const SHADOWED: &[&str] = &[
    "from",
    "try_from",
    "into",
    "try_into",
    "clone",
    "clone_from",
    "default",
    "fmt",
    "eq",
    "ne",
    "hash",
    "deserialize",
    "serialize",
    "json_schema",
    "schema_name",
    "schema_id",
    "to_owned",
    "to_string",
    "type_id",
    "borrow",
    "borrow_mut",
];

/// One constructor the pass wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constructor {
    /// The union type.
    pub union: String,
    /// The associated function's name.
    pub name: String,
    /// The variant it builds.
    pub variant: String,
    /// The tag property's Rust field name and the wire value it sets.
    pub tag: (String, String),
}

/// The struct a newtype variant wraps, by name, and whether it is boxed (`Box<T>`).
fn wrapped(fields: &Fields) -> Option<(syn::Ident, bool)> {
    let Fields::Unnamed(f) = fields else {
        return None;
    };
    if f.unnamed.len() != 1 {
        return None;
    }
    let (ident, boxed) = plain_ident(&f.unnamed[0].ty, "Box")?;
    Some((ident, boxed))
}

/// `T` for a path type `T` (one segment, no generics), or for `Wrapper<T>` with `true`.
fn plain_ident(ty: &syn::Type, wrapper: &str) -> Option<(syn::Ident, bool)> {
    let syn::Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    match &last.arguments {
        syn::PathArguments::None if p.path.segments.len() == 1 => Some((last.ident.clone(), false)),
        syn::PathArguments::AngleBracketed(a) if last.ident == wrapper && a.args.len() == 1 => {
            let syn::GenericArgument::Type(inner) = &a.args[0] else {
                return None;
            };
            let (ident, nested) = plain_ident(inner, "")?;
            (!nested).then_some((ident, true))
        }
        _ => None,
    }
}

fn is_untagged(e: &ItemEnum) -> bool {
    e.attrs
        .iter()
        .any(|a| a.path().is_ident("serde") && quote!(#a).to_string().contains("untagged"))
}

/// Names of the structs the `builder` submodule of `items` defines.
fn builders(items: &[Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Mod(m) if m.ident == "builder" => m.content.as_ref(),
            _ => None,
        })
        .flat_map(|(_, inner)| inner.iter())
        .filter_map(|i| match i {
            Item::Struct(s) => Some(s.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Inherent associated function names already defined on `ty` among `items`.
fn inherent_fns(items: &[Item], ty: &syn::Ident) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Impl(im) if im.trait_.is_none() => Some(im),
            _ => None,
        })
        .filter(|im| matches!(&*im.self_ty, syn::Type::Path(p) if p.path.is_ident(ty)))
        .flat_map(|im| im.items.iter())
        .filter_map(|i| match i {
            syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// The tag candidates of one struct: field name -> (field ident, tag enum, its variant, value).
fn tag_fields(
    s: &ItemStruct,
    one_value: &BTreeMap<String, (syn::Ident, String)>,
) -> BTreeMap<String, (syn::Ident, syn::Ident, syn::Ident, String)> {
    let mut out = BTreeMap::new();
    let Fields::Named(named) = &s.fields else {
        return out;
    };
    for f in &named.named {
        let Some(ident) = &f.ident else { continue };
        let Some((ty, _)) = plain_ident(&f.ty, "Option") else {
            continue;
        };
        if let Some((variant, value)) = one_value.get(&ty.to_string()) {
            out.insert(
                ident.to_string(),
                (ident.clone(), ty, variant.clone(), value.clone()),
            );
        }
    }
    out
}

/// A usable constructor name from `candidate`, or `None`.
fn usable(candidate: &str, taken: &BTreeSet<String>) -> Option<syn::Ident> {
    let snake = candidate.to_snake_case();
    if snake.is_empty() || SHADOWED.contains(&snake.as_str()) || taken.contains(&snake) {
        return None;
    }
    // `syn` refuses keywords (`self`, `type`, `move`...) and non-identifiers (`24x7`).
    syn::parse_str::<syn::Ident>(&snake).ok()
}

/// Add the constructors to every tagged union among `items` (the contents of the `types`
/// module). Run before the open-enum pass, while the tag enums are still plain unit enums.
/// Returns what was added.
pub fn union_constructors(items: &mut Vec<Item>) -> Vec<Constructor> {
    let has_error_mod = items
        .iter()
        .any(|i| matches!(i, Item::Mod(m) if m.ident == "error"));
    if !has_error_mod {
        return Vec::new();
    }
    let builders = builders(items);
    let one_value: BTreeMap<String, (syn::Ident, String)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Enum(e) => match string_enum_values(e)?.as_slice() {
                [(variant, value)] => Some((e.ident.to_string(), (variant.clone(), value.clone()))),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let structs: BTreeMap<String, &ItemStruct> = items
        .iter()
        .filter_map(|i| match i {
            Item::Struct(s) if builders.contains(&s.ident.to_string()) => {
                Some((s.ident.to_string(), s))
            }
            _ => None,
        })
        .collect();

    let mut made = Vec::new();
    let mut extra: Vec<Item> = Vec::new();
    for item in items.iter() {
        let Item::Enum(e) = item else { continue };
        if !is_untagged(e) {
            continue;
        }
        // (variant ident, struct ident, boxed, tag candidates)
        let variants: Vec<_> = e
            .variants
            .iter()
            .filter_map(|v| {
                let (ty, boxed) = wrapped(&v.fields)?;
                let s = structs.get(&ty.to_string())?;
                Some((v.ident.clone(), ty, boxed, tag_fields(s, &one_value)))
            })
            .collect();
        // The tag: the field name tagging the most variants, at least two, values distinct.
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, _, _, tags) in &variants {
            for name in tags.keys() {
                *counts.entry(name).or_default() += 1;
            }
        }
        let Some((tag, _)) = counts
            .iter()
            .filter(|(_, n)| **n >= 2)
            .max_by_key(|(name, n)| (**n, std::cmp::Reverse(**name)))
        else {
            continue;
        };
        let tagged: Vec<_> = variants
            .iter()
            .filter_map(|(v, ty, boxed, tags)| Some((v, ty, *boxed, tags.get(*tag)?)))
            .collect();
        let values: BTreeSet<&String> = tagged.iter().map(|(.., t)| &t.3).collect();
        let types: BTreeSet<String> = tagged.iter().map(|(_, ty, ..)| ty.to_string()).collect();
        if values.len() != tagged.len() || types.len() != tagged.len() {
            continue; // not told apart by the tag, or one struct twice: no unambiguous builder
        }
        let mut taken = inherent_fns(items, &e.ident);
        let mut names = Vec::new();
        for (v, _, _, (_, _, _, value)) in &tagged {
            let name = usable(value, &taken).or_else(|| usable(&v.to_string(), &taken));
            if let Some(n) = &name {
                taken.insert(n.to_string());
            }
            names.push(name);
        }
        let union = &e.ident;
        let mut fns = Vec::new();
        for ((v, ty, boxed, (field, tag_enum, tag_variant, value)), name) in
            tagged.iter().zip(&names)
        {
            let Some(name) = name else { continue };
            let wrap = if *boxed {
                quote!(|v| Self::#v(::std::boxed::Box::new(v)))
            } else {
                quote!(Self::#v)
            };
            let doc = format!(
                " The `{value}` variant ([`{ty}`], `{}: \"{value}\"`) from its builder, with the \
                 tag set here: the builder's own `{field}` need not be set (a value set there is \
                 replaced).",
                field.to_string().trim_end_matches('_'),
            );
            fns.push(quote! {
                #[doc = #doc]
                pub fn #name(
                    value: builder::#ty,
                ) -> ::std::result::Result<Self, self::error::ConversionError> {
                    ::std::convert::TryInto::<#ty>::try_into(value.#field(#tag_enum::#tag_variant))
                        .map(#wrap)
                }
            });
            extra.push(parse_quote! {
                /// Builds the variant with its tag set (see the union's constructor of the same
                /// variant), so an operation's `.body(..)` takes the variant's builder.
                impl ::std::convert::TryFrom<builder::#ty> for #union {
                    type Error = self::error::ConversionError;
                    fn try_from(
                        value: builder::#ty,
                    ) -> ::std::result::Result<Self, self::error::ConversionError> {
                        Self::#name(value)
                    }
                }
            });
            made.push(Constructor {
                union: union.to_string(),
                name: name.to_string(),
                variant: v.to_string(),
                tag: (field.to_string(), value.clone()),
            });
        }
        if !fns.is_empty() {
            extra.push(parse_quote! {
                /// One constructor per tagged variant: the tag is set from the choice of
                /// constructor, never twice.
                impl #union {
                    #(#fns)*
                }
            });
        }
    }
    items.extend(extra);
    made
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::format_ident;

    /// Items as typify writes them for a union of `n` structs tagged by `tag` with `values`.
    fn union_items(union: &str, tag: &str, variants: &[(&str, &str)]) -> Vec<Item> {
        let union = format_ident!("{}", union);
        let field = format_ident!("{}", tag);
        let mut items: Vec<Item> =
            vec![parse_quote! { pub mod error { pub struct ConversionError; } }];
        let mut builder_structs: Vec<Item> = Vec::new();
        let mut arms = Vec::new();
        for (variant, value) in variants {
            let v = format_ident!("{}", variant);
            let t = format_ident!("{}Tag", variant);
            let tv = format_ident!("Only");
            items.push(parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize)]
                pub struct #v { pub #field: #t, pub note: ::std::string::String }
            });
            items.push(parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize)]
                pub enum #t { #[serde(rename = #value)] #tv }
            });
            builder_structs.push(parse_quote! { pub struct #v { note: () } });
            arms.push(quote!(#v(#v)));
        }
        items.push(parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            #[serde(untagged)]
            pub enum #union { #(#arms,)* }
        });
        items.push(parse_quote! { pub mod builder { #(#builder_structs)* } });
        items
    }

    fn text(items: &[Item]) -> String {
        items
            .iter()
            .map(|i| quote!(#i).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn one_constructor_per_tagged_variant_named_after_the_tag_value() {
        let mut items = union_items(
            "Payee",
            "kind",
            &[("BankPayee", "bank"), ("WalletPayee", "wallet")],
        );
        let made = union_constructors(&mut items);
        let names: Vec<_> = made
            .iter()
            .map(|c| (c.name.as_str(), c.variant.as_str()))
            .collect();
        assert_eq!(names, [("bank", "BankPayee"), ("wallet", "WalletPayee")]);
        let t = text(&items);
        assert!(
            t.contains("pub fn bank (value : builder :: BankPayee"),
            "{t}"
        );
        assert!(t.contains("value . kind (BankPayeeTag :: Only)"), "{t}");
        assert!(
            t.contains("impl :: std :: convert :: TryFrom < builder :: WalletPayee > for Payee"),
            "{t}"
        );
    }

    #[test]
    fn names_fall_back_to_the_variant_for_keywords_non_identifiers_shadowing_and_clashes() {
        let mut items = union_items(
            "Rail",
            "rail",
            &[
                ("SelfTransfer", "self"),
                ("FastTransfer", "24x7"),
                ("DefaultTransfer", "default"),
                ("SepaInstant", "sepa-instant"),
                ("SepaInstantTransfer", "sepa_instant"),
            ],
        );
        let made = union_constructors(&mut items);
        let names: Vec<_> = made.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "self_transfer",
                "fast_transfer",
                "default_transfer",
                "sepa_instant",
                "sepa_instant_transfer"
            ]
        );
    }

    #[test]
    fn unions_told_apart_by_shape_or_by_non_distinct_tags_get_none() {
        let mut items = union_items("Same", "kind", &[("A", "x"), ("B", "x")]);
        assert!(union_constructors(&mut items).is_empty());
        // One tagged variant is not a tagged union.
        let mut items = union_items("Lone", "kind", &[("A", "x")]);
        assert!(union_constructors(&mut items).is_empty());
        // A tagged enum (`#[serde(tag)]`) or a plain string enum is not this shape.
        let mut items: Vec<Item> = vec![
            parse_quote! { pub mod error {} },
            parse_quote! { #[derive(::serde::Deserialize)] #[serde(tag = "t")] pub enum T { A { x: i64 } } },
        ];
        assert!(union_constructors(&mut items).is_empty());
    }

    #[test]
    fn a_variant_without_the_tag_keeps_from_only_and_boxed_variants_are_boxed() {
        let mut items = union_items(
            "Intent",
            "type_",
            &[("Attach", "attach"), ("Detach", "detach")],
        );
        items.push(parse_quote! { pub struct Send { pub to: ::std::string::String } });
        for i in items.iter_mut() {
            if let Item::Enum(e) = i {
                if e.ident == "Intent" {
                    e.variants.push(parse_quote!(Send(Send)));
                    e.variants[1] = parse_quote!(Detach(::std::boxed::Box<Detach>));
                }
            }
        }
        let made = union_constructors(&mut items);
        let names: Vec<_> = made.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["attach", "detach"]);
        let t = text(&items);
        assert!(
            t.contains("Self :: Detach (:: std :: boxed :: Box :: new (v))"),
            "{t}"
        );
        assert!(!t.contains("builder :: Send"), "{t}");
    }
}
