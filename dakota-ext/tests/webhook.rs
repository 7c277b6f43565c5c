//! Webhook verification, typed events, deduplication and the axum endpoint.
//!
//! Run: `cargo test -p dakota-ext --all-features --test webhook`.

use base64::Engine as _;
use dakota_api::types;
use dakota_ext::webhook::{
    Event, EventType, Field, IdempotencyStore, InMemoryStore, Payload, Signer, StoreError,
    Verifier, WebhookError, WebhookKey, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Fixed vectors. The signatures below were produced independently (Python `cryptography`, i.e.
// OpenSSL's Ed25519) for the seed 0x01..=0x20, so they check this crate against another
// implementation rather than against itself.
// ---------------------------------------------------------------------------------------------

const SEED: [u8; 32] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    27, 28, 29, 30, 31, 32,
];
const PUBLIC_HEX: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
const TS: i64 = 1_767_225_600;
const TS_STR: &str = "1767225600";
const BODY: &str = r#"{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n","type":"customer.created","created":1767225600,"api_version":"v1","data":{"object":{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m","name":"Acme Corp"}}}"#;
const SIG_STD_PADDED: &str =
    "54OLZvj+Wvd4gJDWlhXL4zeL4XESFvdLmtkfpAt26BFRNQctsJXh++F2SVTak62vaSGtrOHJtKNkACOwr1SJCg==";
const SIG_URL_UNPADDED: &str =
    "54OLZvj-Wvd4gJDWlhXL4zeL4XESFvdLmtkfpAt26BFRNQctsJXh--F2SVTak62vaSGtrOHJtKNkACOwr1SJCg";

fn verifier() -> Verifier {
    Verifier::new(WebhookKey::from_hex(PUBLIC_HEX).expect("fixed key is valid"))
}

fn signer() -> Signer {
    Signer::from_secret_bytes(SEED)
}

fn headers(ts: &str, sig: &str) -> Vec<(&'static str, String)> {
    vec![
        (TIMESTAMP_HEADER, ts.to_owned()),
        (SIGNATURE_HEADER, sig.to_owned()),
    ]
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs(),
    )
    .expect("fits")
}

fn event_json(id: &str, event_type: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": id,
        "type": event_type,
        "created": TS,
        "api_version": "v1",
        "data": data,
    }))
    .expect("serializable")
}

fn customer_event(id: &str) -> Vec<u8> {
    event_json(
        id,
        "customer.updated",
        serde_json::json!({"object": {"id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m", "name": "Acme"}}),
    )
}

// ------------------------------------ known-good vectors ------------------------------------

#[test]
fn signer_is_standard_ed25519() {
    // RFC 8032 §7.1 test 1: secret → public key.
    let rfc = Signer::from_secret_bytes(
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .expect("hex")
            .try_into()
            .expect("32 bytes"),
    );
    assert_eq!(
        rfc.public_key_hex(),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    // Our signer reproduces the independently computed vector bit for bit.
    assert_eq!(signer().public_key_hex(), PUBLIC_HEX);
    assert_eq!(
        signer().sign(TS, BODY.as_bytes()),
        (TS_STR.to_owned(), SIG_STD_PADDED.to_owned())
    );
}

#[test]
fn known_good_vector_standard_base64() {
    let event = verifier()
        .verify_at(&headers(TS_STR, SIG_STD_PADDED), BODY.as_bytes(), TS)
        .expect("valid delivery");
    assert_eq!(event.id, "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
    assert_eq!(event.event_type, EventType::CustomerCreated);
    assert_eq!(event.type_str(), "customer.created");
    assert_eq!(event.created, TS);
    assert_eq!(event.api_version, "v1");
    match &event.payload {
        Payload::Customer(c) => {
            assert_eq!(c.id(), Some("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m"));
            assert_eq!(c.object()["name"], "Acme Corp");
            assert!(c.previous_attributes().is_empty());
            let customer = c.decode().expect("typed snapshot");
            assert_eq!(customer.id, "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m");
            assert_eq!(customer.name.as_deref(), Some("Acme Corp"));
            // A partial snapshot is not a full API `Customer`: a decode error, not a rejection.
            assert!(c.decode_as::<types::Customer>().is_err());
        }
        other => panic!("expected a customer payload, got {other:?}"),
    }
}

#[test]
fn known_good_vector_every_base64_form() {
    let std_unpadded = SIG_STD_PADDED.trim_end_matches('=');
    let url_padded = format!("{SIG_URL_UNPADDED}==");
    for sig in [
        SIG_STD_PADDED,
        std_unpadded,
        SIG_URL_UNPADDED,
        url_padded.as_str(),
        &format!("  {SIG_STD_PADDED} "),
    ] {
        verifier()
            .verify_at(&headers(TS_STR, sig), BODY.as_bytes(), TS)
            .unwrap_or_else(|e| panic!("{sig:?} rejected: {e}"));
    }
}

#[test]
fn verify_with_system_time_and_verify_bytes() {
    let now = UNIX_EPOCH + Duration::from_secs(TS as u64 + 10);
    let h = headers(TS_STR, SIG_STD_PADDED);
    assert!(verifier().verify(&h, BODY.as_bytes(), now).is_ok());
    let bytes = verifier()
        .verify_bytes(&h, BODY.as_bytes(), now)
        .expect("verified");
    assert_eq!(bytes, BODY.as_bytes());
    // Against the real clock the fixed vector is long expired.
    assert!(matches!(
        verifier().verify_now(&h, BODY.as_bytes()),
        Err(WebhookError::Expired { .. })
    ));
}

#[test]
fn header_sources() {
    let s = signer();
    let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
    // http::HeaderMap, as axum / reqwest / hyper hand it over.
    let map = s.headers(TS, &body);
    assert!(verifier().verify_at(&map, &body, TS).is_ok());
    // Pairs with mixed-case names, as arrays, slices and vectors.
    let (ts, sig) = s.sign(TS, &body);
    let arr = [
        ("X-Webhook-Timestamp", ts.as_str()),
        ("X-WEBHOOK-SIGNATURE", sig.as_str()),
    ];
    assert!(verifier().verify_at(&arr, &body, TS).is_ok());
    assert!(verifier().verify_at(&arr[..], &body, TS).is_ok());
    let owned: Vec<(String, Vec<u8>)> = vec![
        ("x-webhook-timestamp".into(), ts.clone().into_bytes()),
        ("x-webhook-signature".into(), sig.clone().into_bytes()),
    ];
    assert!(verifier().verify_at(&owned, &body, TS).is_ok());
    // The raw parts.
    assert!(verifier().verify_parts(&ts, &sig, &body, TS).is_ok());
}

// ------------------------------------- tampering -------------------------------------------

#[test]
fn tampered_body_rejected() {
    let mut body = BODY.as_bytes().to_vec();
    let pos = body.len() / 2;
    body[pos] ^= 0x01;
    let err = verifier()
        .verify_at(&headers(TS_STR, SIG_STD_PADDED), &body, TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature), "{err:?}");

    // Appending insignificant whitespace still changes the signed bytes.
    let padded = format!("{BODY} ");
    let err = verifier()
        .verify_at(&headers(TS_STR, SIG_STD_PADDED), padded.as_bytes(), TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature));
}

#[test]
fn tampered_timestamp_rejected() {
    // One second later is well within the tolerance, but it is not what was signed.
    let err = verifier()
        .verify_at(&headers("1767225601", SIG_STD_PADDED), BODY.as_bytes(), TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature), "{err:?}");
    // Same number, different ASCII (leading zero) is also a different message.
    let err = verifier()
        .verify_at(&headers("01767225600", SIG_STD_PADDED), BODY.as_bytes(), TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature));
}

#[test]
fn swapped_signature_rejected() {
    let other = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9x");
    let (_, other_sig) = signer().sign(TS, &other);
    let err = verifier()
        .verify_at(&headers(TS_STR, &other_sig), BODY.as_bytes(), TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature));
}

#[test]
fn wrong_key_rejected() {
    let intruder = Signer::from_secret_bytes([9; 32]);
    let (ts, sig) = intruder.sign(TS, BODY.as_bytes());
    let err = verifier()
        .verify_at(&headers(&ts, &sig), BODY.as_bytes(), TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature));
    // …and the intruder's key does not accept Dakota's signature either.
    let err = Verifier::new(intruder.public_key())
        .verify_at(&headers(TS_STR, SIG_STD_PADDED), BODY.as_bytes(), TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature));
}

#[test]
fn key_rotation_accepts_both_keys() {
    let new = Signer::generate();
    let v = verifier().also_accept(new.public_key());
    assert_eq!(v.keys().len(), 2);
    let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
    for s in [signer(), new] {
        let (ts, sig) = s.sign(TS, &body);
        assert!(v.verify_at(&headers(&ts, &sig), &body, TS).is_ok());
    }
}

// ------------------------------------- freshness -------------------------------------------

#[test]
fn expired_and_future_timestamps() {
    let h = headers(TS_STR, SIG_STD_PADDED);
    let body = BODY.as_bytes();
    // The boundary is inclusive.
    assert!(verifier().verify_at(&h, body, TS + 300).is_ok());
    assert!(verifier().verify_at(&h, body, TS - 300).is_ok());

    match verifier().verify_at(&h, body, TS + 301) {
        Err(WebhookError::Expired { age, tolerance }) => {
            assert_eq!(age, Duration::from_secs(301));
            assert_eq!(tolerance, Duration::from_secs(300));
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    match verifier().verify_at(&h, body, TS - 301) {
        Err(WebhookError::InFuture { skew, .. }) => assert_eq!(skew, Duration::from_secs(301)),
        other => panic!("expected InFuture, got {other:?}"),
    }
    // Extreme clocks do not overflow.
    assert!(matches!(
        verifier().verify_at(&h, body, i64::MAX),
        Err(WebhookError::Expired { .. })
    ));
    assert!(matches!(
        verifier().verify_at(&h, body, i64::MIN),
        Err(WebhookError::InFuture { .. })
    ));
}

#[test]
fn tolerance_is_configurable() {
    let h = headers(TS_STR, SIG_STD_PADDED);
    let strict = verifier().tolerance(Duration::from_secs(5));
    assert_eq!(strict.tolerance_value(), Duration::from_secs(5));
    assert!(strict.verify_at(&h, BODY.as_bytes(), TS + 5).is_ok());
    assert!(matches!(
        strict.verify_at(&h, BODY.as_bytes(), TS + 6),
        Err(WebhookError::Expired { .. })
    ));
    let lax = verifier().tolerance(Duration::from_secs(86_400));
    assert!(lax.verify_at(&h, BODY.as_bytes(), TS + 86_000).is_ok());
}

#[test]
fn tolerance_checked_before_signature() {
    // A forged signature on a stale delivery is reported as stale (cheap check first).
    let zero_sig = base64::engine::general_purpose::STANDARD.encode([0u8; 64]);
    let err = verifier()
        .verify_at(&headers(TS_STR, &zero_sig), BODY.as_bytes(), TS + 10_000)
        .unwrap_err();
    assert!(matches!(err, WebhookError::Expired { .. }));
}

// ----------------------------------- malformed input ---------------------------------------

#[test]
fn malformed_signature_base64() {
    for sig in [
        "!!!!",
        "not base64 at all",
        "54OL+Wvd_abc",
        "====",
        "\u{e9}\u{e9}",
    ] {
        match verifier().verify_at(&headers(TS_STR, sig), BODY.as_bytes(), TS) {
            Err(WebhookError::BadEncoding {
                field: Field::Signature,
                detail,
            }) => assert!(!detail.is_empty()),
            other => panic!("{sig:?}: expected BadEncoding, got {other:?}"),
        }
    }
    let err = verifier()
        .verify_at(&headers(TS_STR, "   "), BODY.as_bytes(), TS)
        .unwrap_err();
    assert_eq!(err.code(), "bad_encoding");
}

#[test]
fn malformed_timestamp() {
    for ts in [
        "",
        "abc",
        "-5",
        "+1767225600",
        "1767225600.0",
        "0x10",
        "99999999999999999999",
    ] {
        match verifier().verify_at(&headers(ts, SIG_STD_PADDED), BODY.as_bytes(), TS) {
            Err(WebhookError::BadEncoding {
                field: Field::Timestamp,
                ..
            }) => {}
            other => panic!("{ts:?}: expected BadEncoding, got {other:?}"),
        }
    }
    // Non-UTF-8 header bytes.
    let raw: Vec<(&str, Vec<u8>)> = vec![
        (TIMESTAMP_HEADER, vec![0xff, 0xfe]),
        (SIGNATURE_HEADER, SIG_STD_PADDED.as_bytes().to_vec()),
    ];
    assert!(matches!(
        verifier().verify_at(&raw, BODY.as_bytes(), TS),
        Err(WebhookError::BadEncoding {
            field: Field::Timestamp,
            ..
        })
    ));
}

#[test]
fn wrong_length_signature() {
    for n in [0usize, 1, 63, 65, 128] {
        if n == 0 {
            continue; // empty is BadEncoding, checked above
        }
        let sig = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        match verifier().verify_at(&headers(TS_STR, &sig), BODY.as_bytes(), TS) {
            Err(WebhookError::WrongLength {
                field: Field::Signature,
                expected: 64,
                actual,
            }) => assert_eq!(actual, n),
            other => panic!("{n} bytes: expected WrongLength, got {other:?}"),
        }
    }
}

#[test]
fn malformed_and_wrong_length_keys() {
    for bad in ["zz", "xyz", &"g".repeat(64), "79b5562e8fe654f9 4078b112"] {
        match WebhookKey::from_hex(bad) {
            Err(WebhookError::BadEncoding {
                field: Field::Key, ..
            }) => {}
            other => panic!("{bad:?}: expected BadEncoding, got {other:?}"),
        }
    }
    for (hex_key, len) in [
        ("", 0usize),
        (&PUBLIC_HEX[..62], 31),
        (&format!("{PUBLIC_HEX}00"), 33),
    ] {
        match WebhookKey::from_hex(hex_key) {
            Err(WebhookError::WrongLength {
                field: Field::Key,
                expected: 32,
                actual,
            }) => assert_eq!(actual, len),
            other => panic!("{hex_key:?}: expected WrongLength, got {other:?}"),
        }
    }
    // Tolerated decorations.
    let upper = PUBLIC_HEX.to_uppercase();
    for ok in [
        upper.as_str(),
        &format!("0x{PUBLIC_HEX}"),
        &format!(" {PUBLIC_HEX}\n"),
    ] {
        assert_eq!(
            WebhookKey::from_hex(ok).expect("valid").to_hex(),
            PUBLIC_HEX
        );
    }
    assert_eq!(
        PUBLIC_HEX
            .parse::<WebhookKey>()
            .expect("FromStr")
            .to_bytes(),
        signer().public_key().to_bytes()
    );
}

#[test]
fn weak_keys_rejected() {
    // The identity point and a small-order point would accept forged signatures.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for weak in [identity, [0u8; 32]] {
        assert!(matches!(
            WebhookKey::from_bytes(weak),
            Err(WebhookError::InvalidKey)
        ));
        assert!(matches!(
            WebhookKey::from_hex(&hex::encode(weak)),
            Err(WebhookError::InvalidKey)
        ));
    }
}

#[test]
fn missing_headers() {
    let body = BODY.as_bytes();
    let only_sig = vec![(SIGNATURE_HEADER, SIG_STD_PADDED)];
    let only_ts = vec![(TIMESTAMP_HEADER, TS_STR)];
    let none: Vec<(&str, &str)> = vec![];
    assert!(matches!(
        verifier().verify_at(&only_sig, body, TS),
        Err(WebhookError::MissingHeader("x-webhook-timestamp"))
    ));
    assert!(matches!(
        verifier().verify_at(&only_ts, body, TS),
        Err(WebhookError::MissingHeader("x-webhook-signature"))
    ));
    let err = verifier().verify_at(&none, body, TS).unwrap_err();
    assert_eq!(err.code(), "missing_header");
    assert_eq!(err.to_string(), "missing header `x-webhook-timestamp`");
    assert!(matches!(
        verifier().verify_at(&http::HeaderMap::new(), body, TS),
        Err(WebhookError::MissingHeader(_))
    ));
}

#[test]
fn empty_body() {
    // Signed empty body: authentic, but not an event.
    let (ts, sig) = signer().sign(TS, b"");
    let err = verifier()
        .verify_at(&headers(&ts, &sig), b"", TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadPayload(_)), "{err:?}");
    assert!(err.is_authentic());
    // An empty body under someone else's signature is just a bad signature.
    let err = verifier()
        .verify_at(&headers(TS_STR, SIG_STD_PADDED), b"", TS)
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature));
    assert!(!err.is_authentic());
}

#[test]
fn huge_body_still_verifies() {
    let big = "x".repeat(5 * 1024 * 1024);
    let body = event_json(
        "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
        "customer.updated",
        serde_json::json!({"object": {"id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m", "blob": big}}),
    );
    assert!(body.len() > 5 * 1024 * 1024);
    let (ts, sig) = signer().sign(TS, &body);
    let event = verifier()
        .verify_at(&headers(&ts, &sig), &body, TS)
        .expect("5 MB delivery verifies");
    assert_eq!(event.payload.object().map(|o| o.len()), Some(2));
    // One flipped bit at the very end is still caught.
    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x20;
    assert!(matches!(
        verifier().verify_at(&headers(&ts, &sig), &tampered, TS),
        Err(WebhookError::BadSignature)
    ));
}

#[test]
fn bad_payload_only_after_signature() {
    for body in [
        &b"not json"[..],
        br#"{"id":"x","type":"customer.created"}"#, // missing required envelope fields
        br#"{"id":"x","type":"customer.created","created":1,"api_version":"v1","data":[1,2]}"#,
        br#"{"id":"x","type":"customer.created","created":1,"api_version":"v1","data":{"object":"s"}}"#,
        br#"{"id":1,"type":"x","created":1,"api_version":"v1","data":{}}"#,
        br#"{"id":"a","id":"b","type":"x","created":1,"api_version":"v1","data":{}}"#, // duplicate key
    ] {
        let (ts, sig) = signer().sign(TS, body);
        match verifier().verify_at(&headers(&ts, &sig), body, TS) {
            Err(WebhookError::BadPayload(e)) => assert!(!e.to_string().is_empty()),
            other => panic!("{}: expected BadPayload, got {other:?}", String::from_utf8_lossy(body)),
        }
        // Unsigned, the same bodies never reach the parser.
        assert!(matches!(
            verifier().verify_at(&headers(TS_STR, SIG_STD_PADDED), body, TS),
            Err(WebhookError::BadSignature)
        ));
    }
}

#[test]
fn error_messages_and_codes() {
    let cases: Vec<(WebhookError, &str)> = vec![
        (
            WebhookError::MissingHeader(TIMESTAMP_HEADER),
            "missing_header",
        ),
        (
            WebhookError::Expired {
                age: Duration::from_secs(400),
                tolerance: Duration::from_secs(300),
            },
            "expired",
        ),
        (
            WebhookError::InFuture {
                skew: Duration::from_secs(400),
                tolerance: Duration::from_secs(300),
            },
            "in_future",
        ),
        (WebhookError::BadSignature, "bad_signature"),
        (WebhookError::InvalidKey, "invalid_key"),
    ];
    for (e, code) in cases {
        assert_eq!(e.code(), code);
        assert!(!e.to_string().is_empty());
    }
    let e = WebhookError::Expired {
        age: Duration::from_secs(400),
        tolerance: Duration::from_secs(300),
    };
    assert_eq!(
        e.to_string(),
        "timestamp is 400s old, beyond the 300s tolerance"
    );
}

#[test]
fn debug_output_hides_key_material() {
    let key = WebhookKey::from_hex(PUBLIC_HEX).expect("valid");
    let dbg = format!("{key:?}");
    assert!(dbg.contains(&PUBLIC_HEX[..8]), "{dbg}");
    assert!(!dbg.contains(&PUBLIC_HEX[8..16]), "{dbg}");
    assert_eq!(key.fingerprint(), &PUBLIC_HEX[..8]);
    let s = format!("{:?} {:?}", signer(), verifier());
    assert!(!s.contains(&hex::encode(SEED)));
    assert!(!s.contains(PUBLIC_HEX));
}

// ------------------------------------ typed events -----------------------------------------

#[test]
fn unknown_event_type_is_delivered() {
    let body = event_json(
        "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
        "spaceship.launched",
        serde_json::json!(["any", "shape", 1]),
    );
    let (ts, sig) = signer().sign(TS, &body);
    let event = verifier()
        .verify_at(&headers(&ts, &sig), &body, TS)
        .expect("delivered, not rejected");
    assert_eq!(
        event.event_type,
        EventType::Unknown("spaceship.launched".into())
    );
    assert!(event.event_type.is_unknown());
    assert!(event.payload.is_unknown());
    match &event.payload {
        Payload::Unknown { event_type, raw } => {
            assert_eq!(event_type, "spaceship.launched");
            assert_eq!(raw, &serde_json::json!(["any", "shape", 1]));
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
    assert!(event.payload.object().is_none());
}

#[test]
fn typed_payload_decodes_on_demand() {
    // Shapes from the spec's `GET /events` examples.
    let body = event_json(
        "3AX8eEAyqWdzrD5MVnkATtH1ulh",
        "customer.updated",
        serde_json::json!({
            "object": {
                "id": "3AOOmrJMTMG0EsWE2G45OPawZTH",
                "name": "Harbor & Pine Trading LLC",
                "customer_type": "business",
                "kyb_status": "pending",
                "application_status": "submitted",
                "brand_new_field": true
            },
            "previous_attributes": {"application_status": "pending"}
        }),
    );
    let (ts, sig) = signer().sign(TS, &body);
    let event = verifier()
        .verify_at(&headers(&ts, &sig), &body, TS)
        .expect("valid");
    let Payload::Customer(snapshot) = &event.payload else {
        panic!("expected Customer, got {:?}", event.payload);
    };
    assert!(snapshot.changed("application_status"));
    assert!(!snapshot.changed("name"));
    let customer = snapshot.decode().expect("typed customer");
    assert_eq!(customer.kyb_status, Some(types::KybStatus::Pending));
    assert_eq!(
        customer.application_status,
        Some(types::ApplicationStatus::Submitted)
    );
    assert_eq!(customer.customer_type.as_deref(), Some("business"));
    assert_eq!(customer.other["brand_new_field"], true);
    let loose: serde_json::Value = snapshot.decode_as().expect("any type");
    assert_eq!(loose["name"], "Harbor & Pine Trading LLC");
    assert_eq!(
        event
            .payload
            .previous_attributes()
            .and_then(|p| p.get("application_status")),
        Some(&serde_json::json!("pending"))
    );

    let body = event_json(
        "3AX8e211djcJIvwzt1Jrlv1qUYw",
        "customer.kyb_application.submitted",
        serde_json::json!({"object": {
            "application_id": "3AOOmsMAIM6OnjHYNlVPSCqAWIV",
            "customer_id": "3AOOmrJMTMG0EsWE2G45OPawZTH",
            "submitted_at": "2026-03-05T16:20:45Z"
        }}),
    );
    let event = Event::from_json(&body).expect("parses");
    let Payload::ApplicationSubmitted(s) = &event.payload else {
        panic!("expected ApplicationSubmitted, got {:?}", event.payload);
    };
    let submitted = s.decode().expect("typed");
    assert_eq!(submitted.customer_id, "3AOOmrJMTMG0EsWE2G45OPawZTH");
    assert_eq!(
        submitted.submitted_at.map(|t| t.timestamp()),
        Some(1_772_727_645)
    );

    // A kyb_status event with an unexpected value still decodes (enums keep unknown values).
    let body = event_json(
        "3AX8e211djcJIvwzt1Jrlv1qUYx",
        "customer.kyb_status.updated",
        serde_json::json!({"object": {"id": "c", "kyb_status": "under_partner_audit", "reason_code": "poa_expired"}}),
    );
    let event = Event::from_json(&body).expect("parses");
    let Payload::Customer(s) = &event.payload else {
        panic!("expected Customer");
    };
    let c = s.decode().expect("typed");
    assert_eq!(c.reason_code.as_deref(), Some("poa_expired"));
    assert!(c.kyb_status.is_some_and(|k| k.is_unknown()));
}

#[test]
fn every_spec_event_type_has_a_family() {
    let known = [
        "user.created",
        "user.updated",
        "user.deleted",
        "api_key.created",
        "api_key.deleted",
        "customer.created",
        "customer.updated",
        "customer.kyb_link.created",
        "customer.kyb_link.updated",
        "customer.kyb_status.created",
        "customer.kyb_status.updated",
        "customer.kyb_application.submitted",
        "auto_account.created",
        "auto_account.updated",
        "auto_account.deleted",
        "transaction.auto.created",
        "transaction.auto.updated",
        "transaction.one_off.created",
        "transaction.one_off.updated",
        "recipient.created",
        "recipient.updated",
        "recipient.deleted",
        "destination.created",
        "destination.deleted",
        "target.created",
        "target.updated",
        "target.deleted",
        "exception.created",
        "exception.cleared",
        "bvnk.onboarding.created",
        "bvnk.onboarding.updated",
        "wallet.created",
        "wallet.updated",
        "wallet.signer_group.created",
        "wallet.signer_group.updated",
        "wallet.policy.created",
        "wallet.policy.updated",
        "wallet.transaction.created",
        "wallet.transaction.updated",
        "wallet.deposit",
    ];
    for t in known {
        let body = event_json(
            "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
            t,
            serde_json::json!({"object": {"id": "x"}}),
        );
        let event = Event::from_json(&body).expect("parses");
        assert!(!event.event_type.is_unknown(), "{t}");
        assert!(!event.payload.is_unknown(), "{t} has no typed payload");
        assert_eq!(event.type_str(), t);
    }
    let e = Event::from_json(&event_json(
        "i",
        "customer.kyb_status.updated",
        serde_json::json!({"object": {}}),
    ))
    .expect("parses");
    assert!(matches!(e.payload, Payload::Customer(_)));
    let e = Event::from_json(&event_json(
        "i",
        "transaction.one_off.updated",
        serde_json::json!({"object": {}}),
    ))
    .expect("parses");
    assert!(matches!(e.payload, Payload::OneOffTransaction(_)));
}

#[test]
fn envelope_extras_and_roundtrip() {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
        "type": "customer.updated",
        "created": TS,
        "api_version": "v1",
        "data": {"object": {"id": "c"}, "previous_attributes": {"name": "Old"}},
        "metadata": {"source": "dashboard"},
        "request": {"id": "req_1", "idempotency_key": "k1"},
        "future_envelope_field": 42
    }))
    .expect("json");
    let event = Event::from_json(&body).expect("parses");
    assert_eq!(event.metadata["source"], "dashboard");
    let req = event.request.as_ref().expect("request");
    assert_eq!(req.id.as_deref(), Some("req_1"));
    assert_eq!(req.idempotency_key.as_deref(), Some("k1"));
    assert_eq!(event.created_at().0, TS);

    // Serialize → parse gives the same event (e.g. to put it on a queue).
    let again: Event =
        serde_json::from_slice(&serde_json::to_vec(&event).expect("ser")).expect("de");
    assert_eq!(again.id, event.id);
    assert_eq!(again.event_type, event.event_type);
    assert_eq!(again.payload, event.payload);
    assert_eq!(again.metadata, event.metadata);

    let unknown =
        Event::from_json(&event_json("i", "new.thing", serde_json::json!(7))).expect("ok");
    let again: Event =
        serde_json::from_value(serde_json::to_value(&unknown).expect("ser")).expect("de");
    assert_eq!(again.payload, unknown.payload);
}

#[test]
fn from_api_event() {
    let api: types::Event = serde_json::from_value(serde_json::json!({
        "id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
        "type": "customer.created",
        "created": TS,
        "api_version": "v1",
        "data": {"object": {"id": "c"}}
    }))
    .expect("api event");
    let event = Event::from(api);
    assert_eq!(event.id, "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
    assert!(matches!(event.payload, Payload::Customer(_)));

    let api: types::Event = serde_json::from_value(serde_json::json!({
        "id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
        "type": "brand.new",
        "created": TS,
        "api_version": "v1",
        "data": {"object": {"id": "c"}}
    }))
    .expect("api event");
    let event = Event::from(api);
    assert_eq!(
        event.payload.object().and_then(|o| o.get("id")),
        Some(&serde_json::json!("c"))
    );
}

// ---------------------------------------- store --------------------------------------------

#[tokio::test]
async fn store_replay_is_duplicate() {
    let store = InMemoryStore::new();
    let ttl = Duration::from_secs(60);
    assert!(store.check_and_insert("evt_1", ttl).await.expect("ok"));
    assert!(!store.check_and_insert("evt_1", ttl).await.expect("ok"));
    assert!(store.check_and_insert("evt_2", ttl).await.expect("ok"));
    assert_eq!(store.len(), 2);
    // Claimed but not finished.
    assert!(!store.is_done("evt_1").await.expect("ok"));
    store.mark_done("evt_1", ttl).await.expect("ok");
    assert!(store.is_done("evt_1").await.expect("ok"));
    assert!(!store.check_and_insert("evt_1", ttl).await.expect("ok"));
    // Released after a failure: processed again.
    store.remove("evt_2").await.expect("ok");
    assert!(store.check_and_insert("evt_2", ttl).await.expect("ok"));

    // Usable as a trait object and through Arc.
    let dyn_store: std::sync::Arc<dyn IdempotencyStore> = std::sync::Arc::new(InMemoryStore::new());
    assert!(dyn_store.check_and_insert("a", ttl).await.expect("ok"));
    assert!(!dyn_store.check_and_insert("a", ttl).await.expect("ok"));
}

#[test]
fn store_entries_expire() {
    let store = InMemoryStore::new();
    let t0 = Instant::now();
    let ttl = Duration::from_secs(10);
    assert!(store.check_and_insert_at("e", ttl, t0).expect("ok"));
    assert!(!store
        .check_and_insert_at("e", ttl, t0 + Duration::from_secs(9))
        .expect("ok"));
    // Expired: first time again, and the old entry was evicted rather than kept.
    assert!(store
        .check_and_insert_at("e", ttl, t0 + Duration::from_secs(10))
        .expect("ok"));
    assert_eq!(store.len(), 1);
    // Finishing refreshes the window from the time of completion.
    store
        .mark_done_at("e", ttl, t0 + Duration::from_secs(15))
        .expect("ok");
    assert!(!store
        .check_and_insert_at("e", ttl, t0 + Duration::from_secs(24))
        .expect("ok"));
    assert!(store.is_done_at("e", t0 + Duration::from_secs(24)));
    assert!(!store.is_done_at("e", t0 + Duration::from_secs(25)));
    // Inserting a new id sweeps every expired one.
    for i in 0..50 {
        store
            .check_and_insert_at(&format!("x{i}"), Duration::from_secs(1), t0)
            .expect("ok");
    }
    store
        .check_and_insert_at("late", ttl, t0 + Duration::from_secs(100))
        .expect("ok");
    assert_eq!(store.len(), 1);
    // Absurd TTLs saturate instead of overflowing.
    assert!(store
        .check_and_insert_at("forever", Duration::MAX, t0)
        .expect("ok"));
}

#[test]
fn store_is_bounded() {
    let store = InMemoryStore::with_capacity(3);
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        assert!(store
            .check_and_insert_at(id, ttl, t0 + Duration::from_secs(i as u64))
            .expect("ok"));
    }
    // All in flight: nothing may be evicted.
    match store.check_and_insert_at("d", ttl, t0) {
        Err(StoreError::Full { capacity: 3 }) => {}
        other => panic!("expected Full, got {other:?}"),
    }
    // Finished entries are evictable, oldest first.
    store.mark_done_at("b", ttl, t0).expect("ok");
    store
        .mark_done_at("c", ttl, t0 + Duration::from_secs(5))
        .expect("ok");
    assert!(store.check_and_insert_at("d", ttl, t0).expect("ok"));
    assert_eq!(store.len(), 3);
    assert!(!store.is_done_at("b", t0)); // evicted
    assert!(store.is_done_at("c", t0));
    assert!(!store.check_and_insert_at("a", ttl, t0).expect("ok")); // in flight, kept
}

// -------------------------------- never panics on any input --------------------------------

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn verify_never_panics(
            ts in proptest::collection::vec(any::<u8>(), 0..40),
            sig in proptest::collection::vec(any::<u8>(), 0..120),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            now in any::<i64>(),
        ) {
            let h: Vec<(&str, Vec<u8>)> =
                vec![(TIMESTAMP_HEADER, ts.clone()), (SIGNATURE_HEADER, sig.clone())];
            let res = verifier().verify_at(&h, &body, now);
            prop_assert!(res.is_err());
        }

        #[test]
        fn printable_signatures_never_panic(sig in "[A-Za-z0-9+/=_ -]{0,100}", now in any::<i64>()) {
            let res = verifier().verify_at(&headers(TS_STR, &sig), BODY.as_bytes(), now);
            prop_assert!(res.is_err() || sig.trim() == SIG_STD_PADDED);
        }

        #[test]
        fn key_parsing_never_panics(s in ".{0,80}") {
            let _ = WebhookKey::from_hex(&s);
        }

        #[test]
        fn signed_garbage_is_bad_payload_not_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (ts, sig) = signer().sign(TS, &body);
            match verifier().verify_at(&headers(&ts, &sig), &body, TS) {
                Ok(_) | Err(WebhookError::BadPayload(_)) => {}
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
        }

        #[test]
        fn signed_json_values_never_panic(v in arb_json()) {
            let body = serde_json::to_vec(&serde_json::json!({
                "id": "i", "type": "customer.updated", "created": 1, "api_version": "v1", "data": v
            })).expect("json");
            let (ts, sig) = signer().sign(TS, &body);
            let _ = verifier().verify_at(&headers(&ts, &sig), &body, TS);
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,10}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::hash_map(
                    "object|previous_attributes|id|[a-z]{1,4}",
                    inner,
                    0..4
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

// ------------------------------------------ axum -------------------------------------------

#[cfg(feature = "axum")]
mod axum_endpoint {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::{Method, Request, StatusCode};
    use axum::Router;
    use dakota_ext::webhook::axum::{router, WebhookEndpoint};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tower::ServiceExt as _;

    const PATH: &str = "/webhooks/dakota";

    /// A request signed now by the fixed signer.
    fn delivery(body: &[u8]) -> Request<Body> {
        let headers = signer().headers(unix_now(), body);
        let mut req = Request::builder().method(Method::POST).uri(PATH);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.body(Body::from(body.to_vec())).expect("request")
    }

    async fn send(app: &Router, req: Request<Body>) -> (StatusCode, serde_json::Value, String) {
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json, ctype)
    }

    /// An app whose handler counts calls, and fails while `fail` is positive.
    fn counting_app(calls: Arc<AtomicUsize>, fail: Arc<AtomicUsize>) -> Router {
        WebhookEndpoint::new(verifier(), InMemoryStore::new(), move |_event: Event| {
            let calls = Arc::clone(&calls);
            let fail = Arc::clone(&fail);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if fail
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return Err("database down");
                }
                Ok(())
            }
        })
        .into_router(PATH)
    }

    #[tokio::test]
    async fn processes_once_and_acknowledges_replays() {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = counting_app(Arc::clone(&calls), Arc::default());
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");

        let (status, json, ctype) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "processed");
        assert_eq!(json["event_id"], "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
        assert_eq!(ctype, "application/json");

        // Redelivery (freshly signed, same event id): 200, handler not called again.
        let (status, json, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "duplicate");
        // A byte-identical replay of the first request too.
        let (status, _, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A different event is processed.
        let (status, json, _) = send(
            &app,
            delivery(&customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9x")),
        )
        .await;
        assert_eq!(
            (status, json["status"].as_str()),
            (StatusCode::OK, Some("processed"))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_endpoint_routes_by_event_type() {
        use dakota_ext::webhook::{CustomerSnapshot, EventRouter};
        use std::sync::Mutex;
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
        let routes = EventRouter::new()
            .on_object(
                EventType::CustomerUpdated,
                move |_e: Event, customer: CustomerSnapshot| {
                    a.lock()
                        .expect("lock")
                        .push(format!("updated {}", customer.id));
                    async { Ok::<(), std::io::Error>(()) }
                },
            )
            .on("transaction.*", move |e: Event| {
                b.lock().expect("lock").push(format!("tx {}", e.type_str()));
                async { Err::<(), _>(std::io::Error::other("ledger down")) }
            })
            .default_handler(move |e: Event| {
                c.lock()
                    .expect("lock")
                    .push(format!("default {}", e.type_str()));
                async { Ok::<(), std::io::Error>(()) }
            });
        let app = WebhookEndpoint::new(verifier(), InMemoryStore::new(), routes.into_handler())
            .into_router(PATH);

        let (status, json, _) = send(
            &app,
            delivery(&customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n")),
        )
        .await;
        assert_eq!(
            (status, json["status"].as_str()),
            (StatusCode::OK, Some("processed"))
        );
        let tx = event_json(
            "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9o",
            "transaction.completed",
            serde_json::json!({"object": {"id": "t1"}}),
        );
        // The wildcard handler fails: 500, and Dakota's redelivery runs it again.
        assert_eq!(
            send(&app, delivery(&tx)).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            send(&app, delivery(&tx)).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let other = event_json(
            "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9p",
            "wallet.created",
            serde_json::json!({"object": {"id": "w1"}}),
        );
        assert_eq!(send(&app, delivery(&other)).await.0, StatusCode::OK);
        assert_eq!(
            *seen.lock().expect("lock"),
            [
                "updated 2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m",
                "tx transaction.completed",
                "tx transaction.completed",
                "default wallet.created",
            ]
        );
    }

    #[tokio::test]
    async fn handler_failure_is_500_and_redelivery_succeeds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = counting_app(Arc::clone(&calls), Arc::new(AtomicUsize::new(1)));
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");

        let (status, json, ctype) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["code"], "handler_failed");
        assert_eq!(ctype, "application/problem+json");
        // The handler's error text is logged, not sent back.
        assert!(!json.to_string().contains("database down"));

        // Dakota retries: the id was released, so the handler runs again and succeeds.
        let (status, json, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "processed");
        let (_, json, _) = send(&app, delivery(&body)).await;
        assert_eq!(json["status"], "duplicate");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn handler_panic_is_500_and_released() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let app = router(PATH, verifier(), InMemoryStore::new(), move |_e: Event| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("handler bug");
                }
                Ok::<(), String>(())
            }
        });
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
        let (status, json, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["code"], "handler_failed");
        let (status, _, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn bad_requests_are_400_with_reason() {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = counting_app(Arc::clone(&calls), Arc::default());
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");

        // Tampered body.
        let mut req = delivery(&body);
        *req.body_mut() = Body::from(customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9Z"));
        let (status, json, ctype) = send(&app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(json["code"], "bad_signature");
        assert_eq!(json["status"], 400);
        assert!(json["detail"].as_str().is_some_and(|d| !d.is_empty()));

        // Missing signature header.
        let req = Request::post(PATH)
            .header(TIMESTAMP_HEADER, unix_now().to_string())
            .body(Body::from(body.clone()))
            .expect("request");
        let (status, json, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["code"], "missing_header");
        assert!(json["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(SIGNATURE_HEADER));

        // Stale timestamp (a captured request replayed an hour later).
        let old = unix_now() - 3600;
        let (ts, sig) = signer().sign(old, &body);
        let req = Request::post(PATH)
            .header(TIMESTAMP_HEADER, ts)
            .header(SIGNATURE_HEADER, sig)
            .body(Body::from(body.clone()))
            .expect("request");
        let (status, json, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["code"], "expired");

        // Malformed signature.
        let req = Request::post(PATH)
            .header(TIMESTAMP_HEADER, unix_now().to_string())
            .header(SIGNATURE_HEADER, "%%%")
            .body(Body::from(body.clone()))
            .expect("request");
        let (_, json, _) = send(&app, req).await;
        assert_eq!(json["code"], "bad_encoding");

        // Signed, but not an event.
        let (status, json, _) = send(&app, delivery(b"[]")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["code"], "bad_payload");

        // Signed empty body.
        let (status, json, _) = send(&app, delivery(b"")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["code"], "bad_payload");

        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn oversized_bodies_are_413() {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = counting_app(Arc::clone(&calls), Arc::default());
        let big = event_json(
            "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
            "customer.updated",
            serde_json::json!({"object": {"blob": "x".repeat(5 * 1024 * 1024)}}),
        );

        // With a Content-Length: rejected before reading.
        let mut req = delivery(&big);
        req.headers_mut().insert(
            "content-length",
            big.len().to_string().parse().expect("value"),
        );
        let (status, json, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["code"], "body_too_large");

        // Streamed without a length: rejected once the limit is crossed.
        let mut req = delivery(&big);
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        *req.body_mut() = Body::from_stream(futures::stream::iter(chunks));
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        // A raised limit lets it through.
        let app = WebhookEndpoint::new(verifier(), InMemoryStore::new(), |_e: Event| async {
            Ok::<(), String>(())
        })
        .body_limit(8 * 1024 * 1024)
        .into_router(PATH);
        let (status, json, _) = send(&app, delivery(&big)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
    }

    #[tokio::test]
    async fn unknown_event_type_reaches_the_handler() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let s = Arc::clone(&seen);
        let app = router(PATH, verifier(), InMemoryStore::new(), move |e: Event| {
            let s = Arc::clone(&s);
            async move {
                if let Payload::Unknown { event_type, .. } = &e.payload {
                    s.lock().map_err(|_| "poisoned")?.push(event_type.clone());
                }
                Ok::<(), &'static str>(())
            }
        });
        let body = event_json(
            "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n",
            "payout.teleported",
            serde_json::json!({"object": {"id": "p"}}),
        );
        let (status, _, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            *seen.lock().expect("lock"),
            vec!["payout.teleported".to_owned()]
        );
    }

    #[tokio::test]
    async fn concurrent_redelivery_while_processing_is_409() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let started = Arc::new(tokio::sync::Notify::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let (g, st, c) = (Arc::clone(&gate), Arc::clone(&started), Arc::clone(&calls));
        let app = router(PATH, verifier(), InMemoryStore::new(), move |_e: Event| {
            let (g, st, c) = (Arc::clone(&g), Arc::clone(&st), Arc::clone(&c));
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                st.notify_one();
                g.notified().await;
                Ok::<(), String>(())
            }
        });
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
        let first = tokio::spawn({
            let app = app.clone();
            let req = delivery(&body);
            async move { send(&app, req).await }
        });
        started.notified().await;
        let (status, json, _) = send(&app, delivery(&body)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(json["code"], "in_progress");
        gate.notify_one();
        let (status, json, _) = first.await.expect("join");
        assert_eq!(
            (status, json["status"].as_str()),
            (StatusCode::OK, Some("processed"))
        );
        let (_, json, _) = send(&app, delivery(&body)).await;
        assert_eq!(json["status"], "duplicate");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cancelled_request_releases_the_event() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let app = router(PATH, verifier(), InMemoryStore::new(), move |_e: Event| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    std::future::pending::<()>().await; // hangs until the client gives up
                }
                Ok::<(), String>(())
            }
        });
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
        let timed_out =
            tokio::time::timeout(Duration::from_millis(100), send(&app, delivery(&body))).await;
        assert!(timed_out.is_err());
        // The release runs on a spawned task; give it a moment.
        for _ in 0..100 {
            let (status, _, _) = send(&app, delivery(&body)).await;
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failing_store_is_503_and_handler_not_called() {
        struct Broken;
        impl IdempotencyStore for Broken {
            fn check_and_insert<'a>(
                &'a self,
                _: &'a str,
                _: Duration,
            ) -> dakota_ext::webhook::StoreFuture<'a, bool> {
                Box::pin(async { Err(StoreError::backend("redis unreachable")) })
            }
            fn remove<'a>(&'a self, _: &'a str) -> dakota_ext::webhook::StoreFuture<'a, ()> {
                Box::pin(async { Ok(()) })
            }
        }
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let app = router(PATH, verifier(), Broken, move |_e: Event| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), String>(()) }
        });
        let (status, json, _) = send(
            &app,
            delivery(&customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n")),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["code"], "store_unavailable");
        assert!(!json.to_string().contains("redis"));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn mounts_in_an_app_with_state_and_rejects_other_methods() {
        #[derive(Clone)]
        struct AppState;
        let shared: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
        let endpoint = WebhookEndpoint::new(verifier(), Arc::clone(&shared), |_e: Event| async {
            Ok::<(), String>(())
        });
        let app: Router = Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route("/hooks/{tenant}", endpoint.into_method_router())
            .with_state(AppState);
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
        let mut req = delivery(&body);
        *req.uri_mut() = "/hooks/acme".parse().expect("uri");
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::OK);
        // The shared store saw it.
        assert!(!shared
            .check_and_insert("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n", Duration::from_secs(1))
            .await
            .expect("ok"));

        // GET on the webhook path: 405, handler untouched.
        let req = Request::get("/hooks/acme")
            .body(Body::empty())
            .expect("request");
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

        // `into_router` takes paths literally (braces are not captures) and adds the leading
        // slash. axum matches the raw path, so the request carries literal braces.
        let app = WebhookEndpoint::new(verifier(), InMemoryStore::new(), |_e: Event| async {
            Ok::<(), String>(())
        })
        .into_router("weird/{path}");
        let mut req = delivery(&body);
        *req.uri_mut() = "/weird/{path}".parse().expect("uri");
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::OK);
        let mut req = delivery(&body);
        *req.uri_mut() = "/weird/anything".parse().expect("uri");
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn over_real_http() {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = counting_app(Arc::clone(&calls), Arc::new(AtomicUsize::new(1)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        // rustls without a default provider (the `rustls` feature alone): install ring first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let url = format!("http://{addr}{PATH}");
        let body = customer_event("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n");
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let (ts, sig) = signer().sign_now(&body);
            let resp = client
                .post(&url)
                .header(TIMESTAMP_HEADER, ts)
                .header(SIGNATURE_HEADER, sig)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("send");
            statuses.push(resp.status().as_u16());
        }
        // Failure, retry succeeds, replay acknowledged.
        assert_eq!(statuses, vec![500, 200, 200]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        server.abort();
    }
}
