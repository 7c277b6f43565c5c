//! Auth, idempotency, validation, rate limits, malformed input and routing errors: all
//! `application/problem+json`.

mod common;

use std::time::Duration;

use common::{fast, Api};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn auth_missing_or_wrong_key_is_401() {
    let api = Api::start(fast()).await;
    let r = Api::send(api.http.get(api.url("/customers"))).await;
    r.problem(401);
    assert!(r.header("x-ratelimit-limit").is_some());
    let r = Api::send(
        api.http
            .get(api.url("/customers"))
            .header("x-api-key", "sk_sandbox_wrong"),
    )
    .await;
    r.problem(401);
    let r = Api::send(
        api.http
            .post(api.url("/customers"))
            .header("x-idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"name": "Acme Corp", "customer_type": "business"})),
    )
    .await;
    r.problem(401);
    assert_eq!(api.sandbox.state().customer_count(), 0);
}

#[tokio::test]
async fn application_tokens_only_open_their_own_application() {
    let api = Api::start(fast()).await;
    let a = api.create_customer("Alpha Corp", "business").await;
    let b = api.create_customer("Beta Corp", "business").await;
    let a_id = a["application_id"].as_str().expect("a");
    let b_id = b["application_id"].as_str().expect("b");
    let a_token = api.sandbox.application_token(a_id).expect("token");
    let own = Api::send(
        api.http
            .get(api.url(&format!("/applications/{a_id}")))
            .header("X-Application-Token", &a_token),
    )
    .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(
        own.header("x-ratelimit-limit"),
        Some("100"),
        "token budget per hour"
    );
    // The application_url works as given (token in the query string).
    let via_url = Api::send(api.http.get(a["application_url"].as_str().expect("url"))).await;
    assert_eq!(via_url.status, StatusCode::OK);
    let other = Api::send(
        api.http
            .get(api.url(&format!("/applications/{b_id}")))
            .header("X-Application-Token", &a_token),
    )
    .await;
    other.problem(403);
    let bogus = Api::send(
        api.http
            .get(api.url(&format!("/applications/{b_id}")))
            .header("X-Application-Token", "not-a-token"),
    )
    .await;
    bogus.problem(401);
    // Tokens do not open API-key-only operations.
    let list = Api::send(
        api.http
            .get(api.url("/customers"))
            .header("X-Application-Token", &a_token),
    )
    .await;
    list.problem(401);
}

#[tokio::test]
async fn idempotency_key_required_and_bound_to_the_request() {
    let api = Api::start(fast()).await;
    let body = json!({"name": "Acme Corp", "customer_type": "business"});
    let r = Api::send(api.req(Method::POST, "/customers").json(&body)).await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "x-idempotency-key");
    let r = Api::send(
        api.req(Method::POST, "/customers")
            .header("x-idempotency-key", "not-a-uuid")
            .json(&body),
    )
    .await;
    r.problem(400);
    let key = uuid::Uuid::new_v4().to_string();
    let send = |b: serde_json::Value| {
        Api::send(
            api.req(Method::POST, "/customers")
                .header("x-idempotency-key", &key)
                .json(&b),
        )
    };
    let first = send(body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = send(body.clone()).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.bytes, first.bytes);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let changed = send(json!({"name": "Other Corp", "customer_type": "business"})).await;
    changed.problem(422);
    assert_eq!(api.sandbox.state().customer_count(), 1);
    // A failed request is not stored: fixing the body under the same key works.
    let key2 = uuid::Uuid::new_v4().to_string();
    let bad = Api::send(
        api.req(Method::POST, "/customers")
            .header("x-idempotency-key", &key2)
            .json(&json!({"name": "x", "customer_type": "business"})),
    )
    .await;
    bad.problem(400);
    let good = Api::send(
        api.req(Method::POST, "/customers")
            .header("x-idempotency-key", &key2)
            .json(&body),
    )
    .await;
    assert_eq!(good.status, StatusCode::CREATED);
}

#[tokio::test]
async fn validation_errors_name_the_fields() {
    let api = Api::start(fast()).await;
    let r = api
        .post(
            "/customers",
            &json!({"name": "  ", "customer_type": "robot", "sub_client_id": "nope", "is_sub_client": true}),
        )
        .await;
    r.problem(400);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["customer_type", "name", "sub_client_id"]);
    let errors = r.json()["errors"].clone();
    assert!(errors
        .as_array()
        .expect("errors")
        .iter()
        .all(|e| e["code"].is_string() && e["message"].is_string()));

    let r = api
        .post("/customers", &json!({"customer_type": "business"}))
        .await;
    assert_eq!(r.problem(400)["errors"][0]["code"], "required");
    let long = "x".repeat(101);
    let r = api
        .post(
            "/customers",
            &json!({"name": long, "customer_type": "business"}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["name"]);
    let r = api
        .post(
            "/customers",
            &json!({"name": "ab", "customer_type": "business"}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["name"]);
    let r = api
        .post(
            "/customers",
            &json!({"name": "Sub Corp", "customer_type": "business", "is_sub_client": true, "sub_client_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b"}),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["code"], "mutually_exclusive");
    let r = api
        .post(
            "/customers",
            &json!({"name": "Child Corp", "customer_type": "business", "sub_client_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b"}),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["code"], "not_found");
    // A real sub-client works, and its name is reported on the child.
    let parent = api
        .post(
            "/customers",
            &json!({"name": "Parent Corp", "customer_type": "business", "is_sub_client": true}),
        )
        .await
        .json();
    let child = api
        .post(
            "/customers",
            &json!({"name": "Child Corp", "customer_type": "business", "sub_client_id": parent["id"]}),
        )
        .await;
    assert_eq!(child.status, StatusCode::CREATED);
    let child = api.customer(child.json()["id"].as_str().expect("id")).await;
    assert_eq!(child["sub_client_name"], "Parent Corp");
    assert_eq!(api.sandbox.state().customer_count(), 2);

    // Nested validation on application bodies.
    let app = api
        .create_customer_with(
            "Acme Corp",
            "individual",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    let mut p = common::person("Ada", "Lovelace", &["individual"]);
    p["date_of_birth"] = json!("2020-01-01");
    p["address"]["country"] = json!("USA");
    let r = api
        .put(
            &format!(
                "/applications/{}/individual-details",
                app["application_id"].as_str().expect("app")
            ),
            &p,
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "address.country");
    p["address"]["country"] = json!("US");
    let r = api
        .put(
            &format!(
                "/applications/{}/individual-details",
                app["application_id"].as_str().expect("app")
            ),
            &p,
        )
        .await;
    assert_eq!(r.error_fields(), vec!["date_of_birth"]);
}

#[tokio::test]
async fn rate_limit_gives_429_with_retry_after() {
    let api = Api::start(fast().rate_limit_per_minute(5)).await;
    for i in 0..5u32 {
        let r = api.get("/customers").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
        let reset: i64 = r
            .header("x-ratelimit-reset")
            .expect("reset")
            .parse()
            .expect("int");
        let now = chrono::Utc::now().timestamp();
        assert!(reset > now && reset <= now + 61, "absolute Unix seconds");
    }
    let r = api.get("/customers").await;
    r.problem(429);
    let wait: u64 = r
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn rate_limit_window_is_configurable_and_resets() {
    let api = Api::start(
        fast()
            .rate_limit_per_minute(2)
            .rate_limit_window(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(api.get("/customers").await.status, StatusCode::OK);
    let r = api.get("/customers").await;
    assert_eq!(r.status, StatusCode::OK);
    let reset: i64 = r
        .header("x-ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("int");
    assert!(reset <= chrono::Utc::now().timestamp() + 1, "a 1 s window");
    api.get("/customers").await.problem(429);
    // Once the window turns over the key has its full budget again.
    let wait = (reset * 1000 - chrono::Utc::now().timestamp_millis()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    let r = api.get("/customers").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
}

#[tokio::test]
async fn token_rate_limit_is_separate_and_configurable() {
    let api = Api::start(fast().token_rate_limit_per_hour(2)).await;
    let c = api.create_customer("Acme Corp", "business").await;
    let app_id = c["application_id"].as_str().expect("app");
    let token = api.sandbox.application_token(app_id).expect("token");
    let get = || {
        Api::send(
            api.http
                .get(api.url(&format!("/applications/{app_id}")))
                .header("X-Application-Token", &token),
        )
    };
    assert_eq!(get().await.status, StatusCode::OK);
    assert_eq!(get().await.status, StatusCode::OK);
    let r = get().await;
    r.problem(429);
    let wait: i64 = r
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!(wait > 60 && wait <= 3600);
    // The API key's budget is untouched.
    assert_eq!(
        api.get(&format!("/applications/{app_id}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_input_is_problem_json() {
    let api = Api::start(fast()).await;
    let raw = |ct: Option<&str>, body: Vec<u8>| {
        let mut rb = api.write(Method::POST, "/customers").body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        Api::send(rb)
    };
    raw(Some("application/json"), b"{\"name\": ".to_vec())
        .await
        .problem(400);
    raw(Some("application/json"), b"[1,2,3]".to_vec())
        .await
        .problem(400);
    raw(Some("application/json"), b"".to_vec())
        .await
        .problem(400);
    raw(Some("application/json"), vec![0xff, 0xfe, 0x00])
        .await
        .problem(400);
    raw(Some("application/json"), "[".repeat(10_000).into_bytes())
        .await
        .problem(400);
    raw(Some("text/plain"), b"{}".to_vec()).await.problem(415);
    raw(
        None,
        b"{\"name\":\"Acme Corp\",\"customer_type\":\"business\"}".to_vec(),
    )
    .await
    .problem(415);
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(1024 * 1024 + 10));
    raw(Some("application/json"), big.into_bytes())
        .await
        .problem(413);
    assert_eq!(api.sandbox.state().customer_count(), 0);

    for q in [
        "limit=0",
        "limit=1000",
        "limit=-1",
        "limit=abc",
        "limit=1&limit=2",
        "starting_after=bad",
        "ending_before=%00%01",
        "kyb_status=weird",
        "is_sub_client=maybe",
        "created_at_from=yesterday",
        "sort_by=shoe_size",
    ] {
        let r = api.get(&format!("/customers?{q}")).await;
        r.problem(400);
    }
    api.get("/applications?limit=101").await.problem(400);
    api.get("/applications?type=robot").await.problem(400);
    api.get("/customers/not-a-ksuid").await.problem(400);
    api.get("/customers/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
        .await
        .problem(404);
    api.get("/applications/2hCjxJzUAW6JVRkZqaF9E0KpM3b?include=everything")
        .await
        .problem(400);
    api.get("/applications/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
        .await
        .problem(404);
}

#[tokio::test]
async fn routing_errors() {
    let api = Api::start(fast()).await;
    let r = api.get("/definitely/not/here").await;
    r.problem(404);
    let r = Api::send(api.req(Method::DELETE, "/customers")).await;
    r.problem(405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    // A literal segment beats a parameter: `/customers/sub-client-summary` is not read as a
    // customer id (404 or 400), whether or not the operation is implemented yet.
    let r = api.get("/customers/sub-client-summary").await;
    assert_ne!(r.status.as_u16(), 404);
    assert_ne!(r.status.as_u16(), 400);
    // Operations without a handler still require credentials before answering 501.
    let unimplemented = dakota_api::registry::OPERATIONS.iter().find(|op| {
        op.method == "GET"
            && !op.path.contains('{')
            && !dakota_sandbox::IMPLEMENTED_OPERATIONS.contains(&op.operation_id)
    });
    if let Some(op) = unimplemented {
        let r = api.get(op.path).await;
        assert!(r.problem(501)["detail"]
            .as_str()
            .expect("detail")
            .contains(op.operation_id));
        Api::send(api.http.get(api.url(op.path))).await.problem(401);
    }
}

#[tokio::test]
async fn every_unimplemented_spec_operation_answers_501() {
    let api = Api::start(fast()).await;
    for op in dakota_api::registry::OPERATIONS {
        if dakota_sandbox::IMPLEMENTED_OPERATIONS.contains(&op.operation_id) {
            continue;
        }
        let mut path = String::new();
        for seg in op.path.split('/').skip(1) {
            path.push('/');
            if seg.starts_with('{') {
                path.push_str("2hCjxJzUAW6JVRkZqaF9E0KpM3b");
            } else {
                path.push_str(seg);
            }
        }
        let method = Method::from_bytes(op.method.as_bytes()).expect("method");
        let r = Api::send(api.write(method, &path).json(&json!({}))).await;
        let p = r.problem(501);
        assert!(
            p["detail"]
                .as_str()
                .expect("detail")
                .contains(op.operation_id),
            "{p}"
        );
    }
}

#[tokio::test]
async fn sandbox_stops_when_dropped() {
    let api = Api::start(fast()).await;
    let url = api.url("/customers");
    let key = api.sandbox.api_key().to_owned();
    drop(api.sandbox);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = reqwest::Client::new()
        .get(url)
        .header("x-api-key", key)
        .send()
        .await;
    assert!(r.is_err(), "server is gone");
}

/// The request schema is the rule, no more and no less: strings without a `minLength` may be
/// blank, documented-only rules aside nothing else is refused; `minItems`, non-nullable fields
/// and filters that need a value are refused with a 400 naming the field (findings of the
/// Schemathesis run in CI, negative and positive modes).
#[tokio::test]
async fn request_schemas_are_enforced_exactly() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Schema Corp",
            "business",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    let app = c["application_id"].as_str().expect("app").to_owned();
    let added = api
        .post(
            &format!("/applications/{app}/associated-individuals"),
            &common::person("Grace", "Hopper", &["control_person"]),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.json());
    let ind = added.json()["id"].as_str().expect("id").to_owned();
    let path = format!("/applications/{app}/associated-individuals/{ind}");

    // Blank names and address lines: the schema sets no minLength.
    let mut p = common::person("Grace", "Hopper", &["control_person"]);
    p["name"] = json!({"first": "", "middle": "", "last": " "});
    p["address"]["street1"] = json!("");
    p["address"]["city"] = json!("");
    let r = api.put(&path, &p).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let mut b = common::business();
    b["legal_name"] = json!("");
    let r = api
        .put(&format!("/applications/{app}/business-details"), &b)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());

    // minItems 1 holds whatever the roles: an empty list is not an absent one.
    let mut p = common::person("Grace", "Hopper", &["control_person"]);
    p["source_of_wealth"] = json!([]);
    let r = api.put(&path, &p).await;
    assert_eq!(r.problem(400)["errors"][0]["code"], "min_items");
    assert_eq!(r.error_fields(), vec!["source_of_wealth"]);

    // EDD: the regulation answers are optional whatever `is_regulated` says.
    for regulated in [true, false] {
        let r = api
            .put(
                &format!("/applications/{app}/edd"),
                &json!({"account_usage_description": "Payroll", "is_regulated": regulated}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    }

    // `description` of a document is a string, not nullable.
    let r = api
        .post(
            &format!("/applications/{app}/documents"),
            &json!({"document_type": "bank_statement", "file_type": "pdf",
                    "file_content": "JVBERi0xLjc=", "country": "US", "description": null}),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["code"], "invalid_type");
    assert_eq!(r.error_fields(), vec!["description"]);
    // A nullable one takes null.
    let r = api
        .put(
            &format!("/applications/{app}/edd"),
            &json!({"account_usage_description": "Payroll", "last_audit_date": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());

    // Within a discriminated union, the branch `destination_type` names is the one checked.
    let payer = api.create_customer("Payer Corp", "business").await;
    let recipient = api
        .post(
            &format!(
                "/customers/{}/recipients",
                payer["id"].as_str().expect("id")
            ),
            &json!({"name": "Payee"}),
        )
        .await;
    assert_eq!(
        recipient.status,
        StatusCode::CREATED,
        "{:?}",
        recipient.json()
    );
    let address =
        json!({"street1": "1 Rue", "city": "Paris", "country": "FR", "postal_code": null});
    let r = api
        .post(
            &format!(
                "/recipients/{}/destinations",
                recipient.json()["id"].as_str().expect("id")
            ),
            &json!({"destination_type": "fiat_iban", "name": "EUR", "iban": "FR1420041010050500013M02606",
                    "bic": "BNPAFRPP", "account_holder_name": "Payee", "bank_name": "BNP",
                    "bank_address": address, "capabilities": ["sepa"]}),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["code"], "invalid_type");
    assert_eq!(r.error_fields(), vec!["bank_address.postal_code"]);

    // An empty filter: refused where the schema needs a value (an enum, a KSUID), ignored
    // where any string is allowed.
    let r = api
        .get("/transactions?source_network_id=&customer_id=")
        .await;
    r.problem(400);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["customer_id", "source_network_id"]);
    let r = api.get("/transactions?source_asset=&search=").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());

    // Every chat turn's role is one the spec lists, not only the last one's.
    let r = api
        .post(
            &format!("/customers/{}/insights/chat", c["id"].as_str().expect("id")),
            &json!({"messages": [{"role": "robot", "content": "hi"}, {"role": "user", "content": "wallets?"}]}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["messages[0].role"]);
}

/// `createApplicationSubmission` documents its 400 as `application/json`
/// `ApplicationNotReadyError`: the pipeline's own 400s (a missing idempotency key) take that
/// shape too, keeping the problem's members; a malformed id names no application (404).
#[tokio::test]
async fn submission_400s_take_the_documented_body() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Submit Corp",
            "business",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    let app = c["application_id"].as_str().expect("app").to_owned();
    let r = Api::send(api.req(Method::POST, &format!("/applications/{app}/submissions"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: dakota_api::types::ApplicationNotReadyError =
        serde_json::from_value(r.json()).expect("ApplicationNotReadyError");
    assert_eq!(body.application_id.to_string(), app);
    assert!(body.incomplete_applicants.is_empty() && body.missing_attestations.is_empty());
    assert_eq!(body.code, "required");
    assert_eq!(r.json()["errors"][0]["field"], "x-idempotency-key");
    assert_eq!(r.json()["status"], 400);
    // The handler's own refusal of an incomplete application keeps its lists.
    let r = Api::send(api.write(Method::POST, &format!("/applications/{app}/submissions"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        !r.json()["incomplete_applicants"]
            .as_array()
            .is_some_and(Vec::is_empty)
            || !r.json()["missing_attestations"]
                .as_array()
                .is_some_and(Vec::is_empty)
    );
    let r = Api::send(api.req(Method::POST, "/applications/not-a-ksuid/submissions")).await;
    r.problem(404);
}
