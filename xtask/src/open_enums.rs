//! Forward-compatible enums: a post-pass over the generated code.
//!
//! typify turns every string `enum` of the spec into a closed Rust enum, so one value Dakota adds
//! later (e.g. `ApplicationStatus::compliance_review`, new in 2026) would make the whole response
//! fail to deserialize. This pass gives every such enum an extra
//! `#[serde(untagged)] Unknown(String)` variant: known values stay typed, an unlisted value is
//! kept verbatim and serializes back unchanged. typify's string conversions (`Display`,
//! `FromStr`, `TryFrom<&str>`...) are replaced by infallible ones that cover the new variant.

use quote::{format_ident, quote};
use std::collections::BTreeSet;
use syn::{parse_quote, Fields, Item, ItemEnum};

/// The string values of a unit-only serde enum, or `None` when the enum is not one.
pub fn string_enum_values(e: &ItemEnum) -> Option<Vec<(syn::Ident, String)>> {
    if e.variants.is_empty() || !derives(&e.attrs, "Deserialize") {
        return None;
    }
    // typify's tagged enums carry `#[serde(tag = ...)]`/`untagged` at the enum level.
    if e.attrs
        .iter()
        .any(|a| a.path().is_ident("serde") && quote!(#a).to_string().contains("untagged"))
    {
        return None;
    }
    let mut out = Vec::new();
    for v in &e.variants {
        if !matches!(v.fields, Fields::Unit) {
            return None;
        }
        let mut value = v.ident.to_string();
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("serde")) {
            let mut found = None;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    found = Some(lit.value());
                }
                Ok(())
            });
            if let Some(f) = found {
                value = f;
            }
        }
        out.push((v.ident.clone(), value));
    }
    Some(out)
}

fn derives(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            let mut hit = false;
            let _ = a.parse_nested_meta(|m| {
                if m.path.segments.last().is_some_and(|s| s.ident == name) {
                    hit = true;
                }
                Ok(())
            });
            hit
        })
}

/// Remove `Copy` (an `Unknown(String)` variant is not `Copy`) and the derived `PartialOrd`/`Ord`
/// (they order by variant position, which a new value before the catch-all shifts: a change
/// cargo-semver-checks reports as major). Returns whether `PartialOrd` and `Ord` were derived.
fn strip_derives(attrs: &mut [syn::Attribute]) -> (bool, bool) {
    let (partial_ord, ord) = (derives(attrs, "PartialOrd"), derives(attrs, "Ord"));
    strip_copy(attrs, &["Copy", "PartialOrd", "Ord"]);
    (partial_ord, ord)
}

fn strip_copy(attrs: &mut [syn::Attribute], removed: &[&str]) {
    for a in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        let mut paths: Vec<syn::Path> = Vec::new();
        let _ = a.parse_nested_meta(|m| {
            paths.push(m.path.clone());
            Ok(())
        });
        let kept: Vec<&syn::Path> = paths
            .iter()
            .filter(|p| {
                p.segments
                    .last()
                    .is_none_or(|s| !removed.iter().any(|r| s.ident == r))
            })
            .collect();
        *a = parse_quote!(#[derive(#(#kept),*)]);
    }
}

/// Conversion impls typify writes for string enums; they are replaced.
const REPLACED_TRAITS: &[&str] = &["Display", "FromStr", "TryFrom"];

fn impl_target(item: &syn::ItemImpl) -> Option<String> {
    if let syn::Type::Path(p) = &*item.self_ty {
        return p.path.segments.last().map(|s| s.ident.to_string());
    }
    None
}

fn impl_trait(item: &syn::ItemImpl) -> Option<String> {
    item.trait_
        .as_ref()
        .and_then(|(_, p, _)| p.segments.last())
        .map(|s| s.ident.to_string())
}

/// Open every string enum among `items` (the contents of the `types` module) except those
/// named in `closed` (union tags, see the `tagged-unions` rule). Returns the names of the
/// enums changed.
pub fn open_enums(items: &mut Vec<Item>, closed: &BTreeSet<String>) -> BTreeSet<String> {
    let mut opened = BTreeSet::new();
    let mut extra: Vec<Item> = Vec::new();
    for item in items.iter_mut() {
        let Item::Enum(e) = item else { continue };
        if closed.contains(&e.ident.to_string()) {
            continue;
        }
        let Some(values) = string_enum_values(e) else {
            continue;
        };
        let name = e.ident.clone();
        opened.insert(name.to_string());
        let (partial_ord, ord) = strip_derives(&mut e.attrs);
        // `Unknown` unless the spec already has a value spelled that way.
        let unknown = ["Unknown", "UnknownValue", "UnlistedValue"]
            .iter()
            .map(|n| format_ident!("{}", n))
            .find(|n| !values.iter().any(|(i, _)| i == n))
            .unwrap_or_else(|| format_ident!("UnlistedValue_"));
        e.variants.push(parse_quote! {
            /// A value this version of the spec does not list, kept verbatim (Dakota adds
            /// values between releases).
            #[serde(untagged)]
            #unknown(::std::string::String)
        });
        let idents: Vec<&syn::Ident> = values.iter().map(|(i, _)| i).collect();
        let strs: Vec<&String> = values.iter().map(|(_, s)| s).collect();
        extra.push(parse_quote! {
            impl #name {
                /// The wire value.
                pub fn as_str(&self) -> &str {
                    match self {
                        #(Self::#idents => #strs,)*
                        Self::#unknown(value) => value.as_str(),
                    }
                }
                /// True for a value this version of the spec does not list.
                pub fn is_unknown(&self) -> bool {
                    matches!(self, Self::#unknown(_))
                }
            }
        });
        // Ordered by wire value, so the order is the same in every version of the spec.
        if ord {
            extra.push(parse_quote! {
                impl ::std::cmp::Ord for #name {
                    fn cmp(&self, other: &Self) -> ::std::cmp::Ordering {
                        self.as_str().cmp(other.as_str())
                    }
                }
            });
            extra.push(parse_quote! {
                impl ::std::cmp::PartialOrd for #name {
                    fn partial_cmp(&self, other: &Self) -> ::std::option::Option<::std::cmp::Ordering> {
                        Some(::std::cmp::Ord::cmp(self, other))
                    }
                }
            });
        } else if partial_ord {
            extra.push(parse_quote! {
                impl ::std::cmp::PartialOrd for #name {
                    fn partial_cmp(&self, other: &Self) -> ::std::option::Option<::std::cmp::Ordering> {
                        self.as_str().partial_cmp(other.as_str())
                    }
                }
            });
        }
        extra.push(parse_quote! {
            impl ::std::fmt::Display for #name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        });
        extra.push(parse_quote! {
            impl ::std::convert::From<&str> for #name {
                fn from(value: &str) -> Self {
                    match value {
                        #(#strs => Self::#idents,)*
                        other => Self::#unknown(other.to_string()),
                    }
                }
            }
        });
        extra.push(parse_quote! {
            impl ::std::convert::From<::std::string::String> for #name {
                fn from(value: ::std::string::String) -> Self {
                    Self::from(value.as_str())
                }
            }
        });
        extra.push(parse_quote! {
            impl ::std::convert::From<&::std::string::String> for #name {
                fn from(value: &::std::string::String) -> Self {
                    Self::from(value.as_str())
                }
            }
        });
        extra.push(parse_quote! {
            impl ::std::str::FromStr for #name {
                type Err = ::std::convert::Infallible;
                fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                    Ok(Self::from(value))
                }
            }
        });
    }
    items.retain(|item| {
        let Item::Impl(i) = item else { return true };
        let (Some(target), Some(tr)) = (impl_target(i), impl_trait(i)) else {
            return true;
        };
        !(opened.contains(&target) && REPLACED_TRAITS.contains(&tr.as_str()))
    });
    items.extend(extra);
    opened
}

/// Derives a union keeps only when `serde_json::Value` supports them too.
const VALUE_INCOMPATIBLE_DERIVES: &[&str] = &["Copy", "Hash", "PartialOrd", "Ord"];

/// Whether `e` is an untagged union of newtype variants that can take a raw-JSON variant.
fn is_open_candidate(e: &ItemEnum) -> bool {
    let untagged = e
        .attrs
        .iter()
        .any(|a| a.path().is_ident("serde") && quote!(#a).to_string().contains("untagged"));
    let newtypes = !e.variants.is_empty()
        && e.variants
            .iter()
            .all(|v| matches!(&v.fields, Fields::Unnamed(f) if f.unnamed.len() == 1));
    untagged
        && newtypes
        && derives(&e.attrs, "Deserialize")
        && !VALUE_INCOMPATIBLE_DERIVES
            .iter()
            .any(|d| derives(&e.attrs, d))
}

/// Every identifier in the path types of `ty` (`Box<Inner>` gives `Box` and `Inner`).
fn type_idents(ty: &syn::Type, out: &mut BTreeSet<String>) {
    match ty {
        syn::Type::Path(p) => {
            for seg in &p.path.segments {
                out.insert(seg.ident.to_string());
                if let syn::PathArguments::AngleBracketed(a) = &seg.arguments {
                    for arg in &a.args {
                        if let syn::GenericArgument::Type(t) = arg {
                            type_idents(t, out);
                        }
                    }
                }
            }
        }
        syn::Type::Paren(p) => type_idents(&p.elem, out),
        syn::Type::Group(g) => type_idents(&g.elem, out),
        _ => {}
    }
}

/// Open every untagged union among `items` (typify's `oneOf`: newtype variants told apart by
/// shape) with a last `Unknown(serde_json::Value)` variant: a variant Dakota adds later (a new
/// `destination_type`, a new intent `type`) then deserializes as raw JSON instead of failing
/// the whole response or page. Known variants are tried first, so they stay typed. Returns
/// the names of the unions changed.
///
/// A union that is a variant of another such union stays closed: its catch-all would swallow
/// every shape the outer union's later variants describe (serde tries variants in order), so
/// only the outermost union gets one. The variant names the spec already uses are skipped
/// (`Unknown`, then `UnknownVariant`, `Unlisted`); a union using all three stays closed.
pub fn open_unions(items: &mut [Item]) -> BTreeSet<String> {
    let candidates: BTreeSet<String> = items
        .iter()
        .filter_map(|i| match i {
            Item::Enum(e) if is_open_candidate(e) => Some(e.ident.to_string()),
            _ => None,
        })
        .collect();
    let mut nested = BTreeSet::new();
    for item in items.iter() {
        let Item::Enum(e) = item else { continue };
        if !candidates.contains(&e.ident.to_string()) {
            continue;
        }
        let mut idents = BTreeSet::new();
        for v in &e.variants {
            for f in &v.fields {
                type_idents(&f.ty, &mut idents);
            }
        }
        nested.extend(
            idents
                .into_iter()
                .filter(|i| candidates.contains(i) && e.ident != i),
        );
    }
    let mut opened = BTreeSet::new();
    for item in items.iter_mut() {
        let Item::Enum(e) = item else { continue };
        let name = e.ident.to_string();
        if !candidates.contains(&name) || nested.contains(&name) {
            continue;
        }
        let names = ["Unknown", "UnknownVariant", "Unlisted"];
        let Some(unknown) = names
            .iter()
            .map(|n| format_ident!("{}", n))
            .find(|n| !e.variants.iter().any(|v| &v.ident == n))
        else {
            continue;
        };
        e.variants.push(parse_quote! {
            /// A shape this version of the spec does not describe (e.g. a variant Dakota added
            /// later), kept as raw JSON.
            #unknown(::serde_json::Value)
        });
        opened.insert(name);
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_untagged_unions_only() {
        let mut items: Vec<Item> = vec![
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum Payee { Wallet(WalletPayee), Bank(BankPayee) }
            },
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Hash)]
                #[serde(untagged)]
                pub enum Hashed { A(A), B(B) }
            },
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(tag = "kind")]
                pub enum Tagged { A { x: i64 } }
            },
        ];
        let opened = open_unions(&mut items);
        assert_eq!(opened, BTreeSet::from(["Payee".to_string()]));
        let Item::Enum(e) = &items[0] else { panic!() };
        let last = e.variants.last().expect("variant");
        assert_eq!(last.ident, "Unknown");
        assert!(quote!(#last).to_string().contains("serde_json :: Value"));
    }

    #[test]
    fn opens_a_typify_style_enum() {
        let mut file: syn::File = parse_quote! {
            #[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
            pub enum Status {
                #[serde(rename = "pending")]
                Pending,
                #[serde(rename = "in_review")]
                InReview,
            }
            impl ::std::fmt::Display for Status { fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { Ok(()) } }
            impl ::std::convert::TryFrom<&str> for Status { type Error = (); fn try_from(v: &str) -> Result<Self, ()> { Err(()) } }
            #[derive(Deserialize)]
            pub enum Tagged { A(u32) }
        };
        let opened = open_enums(&mut file.items, &BTreeSet::new());
        assert_eq!(opened, BTreeSet::from(["Status".to_string()]));
        let text = prettyplease::unparse(&file);
        assert!(text.contains("Unknown(::std::string::String)"), "{text}");
        assert!(!text.contains("Copy"), "{text}");
        // Ordered by wire value, not by variant position (a new value would shift it).
        assert!(
            !text.contains("PartialOrd,") && !text.contains("Ord)"),
            "{text}"
        );
        assert!(text.contains("self.as_str().cmp(other.as_str())"), "{text}");
        assert!(
            text.contains("impl ::std::cmp::PartialOrd for Status"),
            "{text}"
        );
        assert!(!text.contains("TryFrom<&str>"), "{text}");
        assert!(text.contains("\"in_review\" => Self::InReview"), "{text}");
        assert!(!text.contains("Tagged {\n    A(u32),\n    #[serde(untagged)]"));
    }

    #[test]
    fn a_union_nested_in_a_union_stays_closed() {
        let mut items: Vec<Item> = vec![
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum Outer { Variant0(Inner), Variant1(Box<Other>), Crypto(Crypto) }
            },
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum Inner { Card(Card), Iban(Iban) }
            },
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum Other { A(A), B(B) }
            },
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum Taken { Unknown(Unknown), UnknownVariant(UnknownVariant), Unlisted(Unlisted) }
            },
            parse_quote! {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum HasUnknown { Unknown(Unknown), B(B) }
            },
        ];
        let opened = open_unions(&mut items);
        assert_eq!(
            opened,
            BTreeSet::from(["HasUnknown".to_string(), "Outer".to_string()])
        );
        let Item::Enum(e) = &items[4] else { panic!() };
        assert_eq!(
            e.variants.last().map(|v| v.ident.to_string()).as_deref(),
            Some("UnknownVariant")
        );
    }

    #[test]
    fn an_enum_whose_values_take_the_catch_all_names_gets_a_free_one() {
        let mut items: Vec<Item> = vec![parse_quote! {
            #[derive(Clone, Debug, Deserialize, Serialize)]
            pub enum Mood {
                #[serde(rename = "unknown")] Unknown,
                #[serde(rename = "unknown_value")] UnknownValue,
                #[serde(rename = "unlisted_value")] UnlistedValue,
            }
        }];
        assert_eq!(open_enums(&mut items, &BTreeSet::new()).len(), 1);
        let text = items
            .iter()
            .map(|i| quote!(#i).to_string())
            .collect::<String>();
        assert!(
            text.contains("UnlistedValue_ (:: std :: string :: String)"),
            "{text}"
        );
        assert!(text.contains("\"unknown\" => Self :: Unknown"), "{text}");
    }
}
