//! Post-pass: JSON bodies decoded without copying the response headers.
//!
//! progenitor's `ResponseValue::from_response` clones the response's `HeaderMap` and then
//! reads the body from the response it cloned them from, which nothing looks at again: every
//! JSON response of every operation pays for a copy it throws away. The generated operations
//! call `decode_json` instead, emitted once into `generated.rs`: the same status, headers,
//! body and error variants (`ResponseBodyError` when the body cannot be read,
//! `InvalidResponsePayload` with the bytes when it is not the expected JSON), the headers
//! moved instead of copied.

use syn::visit_mut::{self, VisitMut};

/// Rewrites every `ResponseValue::from_response(..)` call in `file` to `super::decode_json(..)`
/// and adds `decode_json` to the file (only when something calls it); returns how many calls
/// were rewritten. Calls are only expected in the `builder` module (the operations' `send`).
pub fn lean_decode(file: &mut syn::File) -> usize {
    struct Rewrite(usize);
    impl VisitMut for Rewrite {
        fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
            visit_mut::visit_expr_call_mut(self, call);
            if let syn::Expr::Path(p) = &*call.func {
                let names: Vec<String> = p
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                let plain = p.qself.is_none()
                    && p.path
                        .segments
                        .iter()
                        .all(|s| matches!(s.arguments, syn::PathArguments::None));
                if plain && names == ["ResponseValue", "from_response"] {
                    *call.func = syn::parse_quote!(super::decode_json);
                    self.0 += 1;
                }
            }
        }
    }
    let mut rewrite = Rewrite(0);
    rewrite.visit_file_mut(file);
    if rewrite.0 > 0 {
        file.items.push(syn::parse_quote! {
            /// `ResponseValue::from_response` without the copy of the headers: they move from
            /// the response into the value (emitted by `cargo xtask generate`, see
            /// `xtask/src/lean_decode.rs`).
            async fn decode_json<T: ::serde::de::DeserializeOwned, E>(
                mut response: ::reqwest::Response,
            ) -> ::std::result::Result<ResponseValue<T>, Error<E>> {
                let status = response.status();
                let headers = ::std::mem::take(response.headers_mut());
                let full = response.bytes().await.map_err(Error::ResponseBodyError)?;
                let inner = ::serde_json::from_slice(&full)
                    .map_err(|e| Error::InvalidResponsePayload(full, e))?;
                Ok(ResponseValue::new(inner, status, headers))
            }
        });
    }
    rewrite.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_from_response_and_adds_the_helper_once() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod builder {
                async fn send() {
                    match 200u16 {
                        200u16 => ResponseValue::from_response(response).await,
                        _ => Err(Error::ErrorResponse(ResponseValue::from_response(response).await?)),
                    }
                }
                fn other() { ResponseValue::stream(response); ResponseValue::empty(response); }
            }
        };
        assert_eq!(lean_decode(&mut file), 2);
        let text = prettyplease::unparse(&file);
        assert!(!text.contains("ResponseValue::from_response("), "{text}");
        assert_eq!(text.matches("super::decode_json(response)").count(), 2);
        assert!(text.contains("ResponseValue::stream(response)"));
        assert_eq!(text.matches("async fn decode_json").count(), 1);

        let mut none: syn::File = syn::parse_quote! { fn f() {} };
        assert_eq!(lean_decode(&mut none), 0);
        assert!(!prettyplease::unparse(&none).contains("decode_json"));
    }
}
