//! Fixture crate: the client generated from `xtask/fixtures/hostile.yaml`, a spec made only of
//! shapes that break unmodified progenitor. It compiles with the workspace, so every
//! normalization rule is proven to produce code that builds.

/// The sample calls generated beside the client (one per operation).
#[allow(clippy::all, unused_imports, dead_code, missing_docs)]
pub mod conformance;
#[allow(
    clippy::all,
    unused_imports,
    dead_code,
    unreachable_patterns,
    missing_docs
)]
mod generated;
/// The typed httpmock helpers generated beside the client.
#[allow(clippy::all, unused_imports, dead_code, missing_docs)]
pub mod mock;
/// Shared with `dakota-api`: the same hand-written transport hook.
#[path = "../../../dakota-api/src/transport.rs"]
pub mod transport;

pub use generated::*;

#[cfg(test)]
mod tests {
    use super::types::*;

    /// `tagged-unions`: the tag picks the variant, even when another variant has the same fields.
    #[test]
    fn union_variants_are_chosen_by_their_tag() {
        let detach: ActionIntent =
            serde_json::from_str(r#"{"type":"detach","group":"g1"}"#).expect("detach");
        assert!(matches!(detach, ActionIntent::Detach(_)), "{detach:?}");
        let send: ActionIntent =
            serde_json::from_str(r#"{"to":"0xabc","amount":"1"}"#).expect("send");
        assert!(matches!(send, ActionIntent::Send(_)), "{send:?}");
        // A tag this spec does not list is a variant Dakota added later: kept as raw JSON.
        let later: ActionIntent =
            serde_json::from_str(r#"{"type":"other","group":"g"}"#).expect("newer variant");
        let ActionIntent::Unknown(raw) = &later else {
            panic!("expected Unknown, got {later:?}")
        };
        assert_eq!(raw["type"], "other");
        assert_eq!(
            serde_json::to_value(&later).expect("serialize"),
            serde_json::json!({"type": "other", "group": "g"})
        );
    }

    /// `flatten-all-of`: a variant built as base + allOf part is one struct with every field.
    #[test]
    fn all_of_variants_are_whole_structs() {
        let wallet: WalletPayee = WalletPayee::builder()
            .address("0xabc")
            .kind(WalletPayeeKind::Wallet)
            .try_into()
            .expect("a whole wallet payee");
        let p = PayeeUnion::from(wallet);
        let json = serde_json::to_value(&p).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"kind": "wallet", "address": "0xabc"})
        );
        let back: PayeeUnion = serde_json::from_value(json).expect("deserialize");
        assert!(matches!(back, PayeeUnion::WalletPayee(_)));
    }
}
