//! Semver-stable generated types: a post-pass over the generated code.
//!
//! Dakota grows its API between releases: a new optional property, a new enum value, a new
//! operation. Without this pass each one is a breaking change of `dakota-api` for a user who
//! wrote a struct literal (`types::Customer { .. }` misses the new field), destructured a
//! struct without `..`, or matched an enum without a wildcard arm. Following aws-sdk-rust,
//! every generated struct with named fields and every generated enum (and every struct-like
//! enum variant) is `#[non_exhaustive]`: outside the crate, structs are built through their
//! typify builders (`types::X::builder().field(..)`, then `try_into()`) or `Default`,
//! patterns need `..` and matches a wildcard arm, so growth compiles everywhere.
//! Inside the generated crate nothing changes: typify's builders, `Default` impls and
//! progenitor's mocks still write struct literals, which `#[non_exhaustive]` allows there.
//!
//! The generated httpmock extension trait (`mock::MockServerExt`) is sealed for the same
//! reason: a new operation adds a method to it, which only stays compatible when no one
//! outside the crate can implement the trait.

use syn::{parse_quote, Attribute, Fields, Item};

fn has_non_exhaustive(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("non_exhaustive"))
}

fn mark(attrs: &mut Vec<Attribute>) -> bool {
    if has_non_exhaustive(attrs) {
        return false;
    }
    attrs.push(parse_quote!(#[non_exhaustive]));
    true
}

/// What [`non_exhaustive`] marked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Structs with named fields.
    pub structs: Vec<String>,
    /// Enums.
    pub enums: Vec<String>,
    /// Struct-like enum variants, as `Enum::Variant`.
    pub variants: Vec<String>,
}

/// Mark every public struct with named fields, every public enum and every struct-like enum
/// variant among `items` (the contents of the `types` module, not its `builder` submodule)
/// `#[non_exhaustive]`. Tuple structs are left alone: typify's newtypes keep their field
/// private already and are built with `FromStr`/`TryFrom`/`From`.
// `mark` mutates the attributes, which a match guard cannot do.
#[allow(clippy::collapsible_match)]
pub fn non_exhaustive(items: &mut [Item]) -> Marked {
    let mut out = Marked::default();
    for item in items.iter_mut() {
        // `mark` needs `&mut` attributes, which a match guard cannot borrow: the lint's
        // suggested collapse does not compile.
        #[allow(clippy::collapsible_match)]
        match item {
            Item::Struct(s) => {
                let eligible = matches!(s.vis, syn::Visibility::Public(_))
                    && matches!(s.fields, Fields::Named(_));
                if eligible && mark(&mut s.attrs) {
                    out.structs.push(s.ident.to_string());
                }
            }
            Item::Enum(e) if matches!(e.vis, syn::Visibility::Public(_)) => {
                if mark(&mut e.attrs) {
                    out.enums.push(e.ident.to_string());
                }
                for v in e.variants.iter_mut() {
                    if matches!(v.fields, Fields::Named(_)) && mark(&mut v.attrs) {
                        out.variants.push(format!("{}::{}", e.ident, v.ident));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Seal every public trait of the mock file (progenitor's `MockServerExt`): it gains a private
/// supertrait implemented for `httpmock::MockServer` only, so adding a method to it (one per
/// new operation) is not a breaking change. Returns the names of the traits sealed.
pub fn seal_traits(file: &mut syn::File) -> Vec<String> {
    let mut sealed = Vec::new();
    for item in file.items.iter_mut() {
        let Item::Trait(t) = item else { continue };
        if !matches!(t.vis, syn::Visibility::Public(_)) {
            continue;
        }
        let already = t.supertraits.iter().any(|b| {
            matches!(b, syn::TypeParamBound::Trait(tb)
                if tb.path.segments.last().is_some_and(|s| s.ident == "Sealed"))
        });
        if already {
            continue;
        }
        t.supertraits.push(parse_quote!(sealed::Sealed));
        if t.colon_token.is_none() {
            t.colon_token = Some(Default::default());
        }
        sealed.push(t.ident.to_string());
    }
    if !sealed.is_empty() {
        file.items.push(parse_quote! {
            mod sealed {
                /// Only the types this crate implements the extension traits for.
                pub trait Sealed {}
                impl Sealed for ::httpmock::MockServer {}
            }
        });
    }
    sealed
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn marks_named_structs_enums_and_struct_variants_once() {
        let mut items: Vec<Item> = vec![
            parse_quote! { pub struct Customer { pub id: String, pub name: Option<String> } },
            parse_quote! { pub struct Ksuid(String); },
            parse_quote! { pub enum Status { Active, Closed, Unknown(String) } },
            parse_quote! { pub enum Shape { Circle { r: f64 }, Square(f64) } },
            parse_quote! { #[non_exhaustive] pub struct Already { pub a: i64 } },
            parse_quote! { struct Private { a: i64 } },
        ];
        let marked = non_exhaustive(&mut items);
        assert_eq!(marked.structs, ["Customer"]);
        assert_eq!(marked.enums, ["Status", "Shape"]);
        assert_eq!(marked.variants, ["Shape::Circle"]);
        let text = items
            .iter()
            .map(|i| quote!(#i).to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(text.matches("# [non_exhaustive]").count(), 5, "{text}");
        assert!(
            !text.contains("# [non_exhaustive] pub struct Ksuid"),
            "{text}"
        );
        // Running the pass again changes nothing.
        assert_eq!(non_exhaustive(&mut items), Marked::default());
    }

    #[test]
    fn seals_the_mock_extension_trait() {
        let mut file: syn::File = parse_quote! {
            pub trait MockServerExt {
                fn get_thing<F>(&self, config_fn: F) -> ::httpmock::Mock<'_>;
            }
            impl MockServerExt for ::httpmock::MockServer {
                fn get_thing<F>(&self, config_fn: F) -> ::httpmock::Mock<'_> { todo!() }
            }
        };
        assert_eq!(seal_traits(&mut file), ["MockServerExt"]);
        let text = prettyplease::unparse(&file);
        assert!(
            text.contains("pub trait MockServerExt: sealed::Sealed"),
            "{text}"
        );
        assert!(
            text.contains("impl Sealed for ::httpmock::MockServer {}"),
            "{text}"
        );
        assert!(seal_traits(&mut file).is_empty(), "sealed once");
    }
}
