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
/// The resource accessors generated beside the client.
#[allow(clippy::all, unused_imports, dead_code, missing_docs)]
pub mod resources;
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

    /// `open_unions`: a union nested in a union stays closed, so the outer union still reaches
    /// its later variants; only the outermost one keeps unlisted shapes as raw JSON.
    #[test]
    fn nested_unions_reach_every_variant_and_only_the_outer_one_is_open() {
        let card: PayMethod = serde_json::from_str(r#"{"number":"4111"}"#).expect("card");
        assert!(
            matches!(card, PayMethod::Variant0(BankMethod::Card(_))),
            "{card:?}"
        );
        let crypto: PayMethod = serde_json::from_str(r#"{"address":"0xabc"}"#).expect("crypto");
        assert!(
            matches!(crypto, PayMethod::Variant1(PayMethodVariant1::Crypto(_))),
            "{crypto:?}"
        );
        let later: PayMethod = serde_json::from_str(r#"{"token":"tok_1"}"#).expect("later");
        let PayMethod::Unknown(raw) = &later else {
            panic!("expected Unknown, got {later:?}")
        };
        assert_eq!(raw["token"], "tok_1");
        assert!(serde_json::from_str::<BankMethod>(r#"{"token":"tok_1"}"#).is_err());
    }

    /// `open_unions`/`open_enums`: the spec already uses every name the passes would add.
    #[test]
    fn variant_names_the_spec_takes_are_not_reused() {
        // A type named `Unknown` is a known variant, not the catch-all.
        let raw: PayMethodVariant1 =
            serde_json::from_str(r#"{"raw":"r"}"#).expect("the Unknown schema");
        assert!(matches!(raw, PayMethodVariant1::Unknown(Unknown { .. })));
        let taken: Leftover = serde_json::from_str(r#"{"unlisted":"u"}"#).expect("leftover");
        assert!(matches!(taken, Leftover::Unlisted(_)));
        assert!(serde_json::from_str::<Leftover>(r#"{"other":1}"#).is_err());
        // `unknown`, `unknown_value`, `unlisted_value` are listed values: a new one is kept.
        assert_eq!(Mood::from("unknown"), Mood::Unknown);
        assert!(!Mood::from("unlisted_value").is_unknown());
        let later = Mood::from("cheerful");
        assert!(later.is_unknown());
        assert_eq!(later.as_str(), "cheerful");
        assert_eq!(
            serde_json::to_value(&later).expect("serialize"),
            serde_json::json!("cheerful")
        );
    }

    /// `name-clashes` and `mixed-error-bodies`: the spec's own schemas keep their names and
    /// shapes; the inline enum and the error union take free names.
    #[test]
    fn schemas_named_like_derived_types_keep_their_shape() {
        let own: CreateReviewErrorBody =
            serde_json::from_str(r#"{"reason":"late"}"#).expect("the spec's schema");
        assert_eq!(own.reason, "late");
        let union: CreateReviewErrorBody2 = serde_json::from_str(
            r#"{"error":"insufficient_credits","message":"m","required_cents":2,"balance_cents":1}"#,
        )
        .expect("error union");
        assert!(matches!(union, CreateReviewErrorBody2::NoCredits(_)));
        let req: ReviewRequest =
            serde_json::from_str(r#"{"verdict":"accept","score":{"score":3}}"#).expect("request");
        assert!(matches!(req.verdict, ReviewRequestVerdict2::Accept));
        assert_eq!(req.score.map(|s| s.score), Some(3));
    }

    /// `nullable-unions` and nullable oneOf/anyOf/allOf properties: `null` reads as absent,
    /// a value as its variant.
    #[test]
    fn nullable_compositions_accept_null_and_values() {
        let review: Review = serde_json::from_str(
            r#"{"id":"r1","subject":null,"method":null,"fallback":null,"payout":null}"#,
        )
        .expect("nulls");
        assert!(review.subject.is_none() && review.method.is_none() && review.fallback.is_none());
        assert!(review.payout.as_ref().is_none_or(|p| p.is_none()));
        let review: Review = serde_json::from_str(
            r#"{"id":"r2","subject":{"name":"n"},"method":{"address":"0x1"},
                "fallback":{"iban":"DE00"},"payout":{"iban":"DE01"},
                "merged":{"number":"4","holder":"h"}}"#,
        )
        .expect("values");
        assert_eq!(review.subject.map(|t| t.name), Some("n".to_string()));
        assert!(matches!(review.method, Some(ReviewMethod::Crypto(_))));
        assert!(matches!(review.fallback, Some(ReviewFallback::Iban(_))));
        let payout = review.payout.expect("payout");
        assert!(matches!(
            *payout,
            Some(NullablePayoutValue::BankMethod(BankMethod::Iban(_)))
        ));
        let merged = review.merged.expect("merged");
        assert_eq!(
            (merged.number.as_str(), merged.holder.as_deref()),
            ("4", Some("h"))
        );
    }

    /// `union_constructors`: the tag is set once, by the constructor (or by converting the
    /// variant's builder), and the result is the variant a reader picks for the same JSON.
    #[test]
    fn tagged_union_constructors_set_the_tag_once() {
        let p = PayeeUnion::wallet(WalletPayee::builder().address("0xabc")).expect("wallet");
        assert_eq!(
            serde_json::to_value(&p).expect("serialize"),
            serde_json::json!({"kind": "wallet", "address": "0xabc"})
        );
        // The builder converts into the union the same way (what `.body(builder)` does).
        let p: PayeeUnion = BankPayee::builder().iban("DE00").try_into().expect("bank");
        let json = serde_json::to_value(&p).expect("serialize");
        assert_eq!(json, serde_json::json!({"kind": "bank", "iban": "DE00"}));
        assert!(matches!(
            serde_json::from_value::<PayeeUnion>(json).expect("reads back"),
            PayeeUnion::BankPayee(_)
        ));
        // A missing required field is an error naming it, never a panic.
        let err = PayeeUnion::bank(BankPayee::builder()).expect_err("no iban");
        assert!(err.to_string().contains("iban"), "{err}");
        // The tag on the variant's builder is replaced by the constructor's.
        let i = ActionIntent::detach(Detach::builder().group("g").type_(DetachType::Detach))
            .expect("detach");
        assert!(matches!(i, ActionIntent::Detach(_)), "{i:?}");
    }

    /// Tag values that make no usable name (a keyword, a leading digit, a trait method) give
    /// constructors named after the variant; an acronym in a variant's name keeps its tag enum
    /// closed (typify writes `AchTransferRail` for `ACHTransferRail`).
    #[test]
    fn constructor_names_fall_back_to_the_variant() {
        let cases = [
            (
                Transfer::ach(AchTransfer::builder().routing_number("021")),
                "ach",
            ),
            (
                Transfer::self_transfer(SelfTransfer::builder().account("a")),
                "self",
            ),
            (
                Transfer::fps_transfer(FpsTransfer::builder().sort_code("40")),
                "24x7",
            ),
            (
                Transfer::default_transfer(DefaultTransfer::builder()),
                "default",
            ),
        ];
        for (made, rail) in cases {
            let json = serde_json::to_value(made.expect("builds")).expect("serialize");
            assert_eq!(json["rail"], rail, "{json}");
        }
        // `Transfer::from` is still the `From` impl, not shadowed by a constructor.
        let d: DefaultTransfer = DefaultTransfer::builder()
            .rail(DefaultTransferRail::Default)
            .try_into()
            .expect("default transfer");
        let t = Transfer::from(d);
        assert!(matches!(t, Transfer::DefaultTransfer(_)));
        // Closed: an unlisted rail is not an `AchTransferRail`.
        assert!(serde_json::from_str::<AchTransferRail>(r#""wire""#).is_err());
    }
}
