//! Sub-clients and Sumsub bulk import: link → summary → unlink, imports that succeed or fail
//! token by token, and their `customer.*` events in `GET /events` and at a webhook target.

mod common;
mod receiver;

use common::{fast, Api, Resp};
use receiver::{events_of, Hooks};
use reqwest::Method;
use serde_json::{json, Value};

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    r.json()
}

async fn patch(api: &Api, path: &str, body: &Value) -> Resp {
    Api::send(api.req(Method::PATCH, path).json(body)).await
}

#[tokio::test]
async fn link_summarize_and_unlink_sub_clients() {
    let api = Api::start(fast()).await;
    let mut hooks = Hooks::register(&api).await;
    let sub_a = ok(
        &api.post(
            "/customers",
            &json!({"name": "Sub A Holdings", "customer_type": "business", "is_sub_client": true}),
        )
        .await,
        201,
    );
    let sub_b = ok(
        &api.post(
            "/customers",
            &json!({"name": "Sub B Holdings", "customer_type": "business", "is_sub_client": true}),
        )
        .await,
        201,
    );
    let (a, b) = (
        sub_a["id"].as_str().expect("id").to_owned(),
        sub_b["id"].as_str().expect("id").to_owned(),
    );
    let c1 = api.create_customer("Acme Corp", "business").await;
    let c2 = api.create_customer("Jane Doe", "individual").await;
    let (c1, c2) = (
        c1["id"].as_str().expect("id").to_owned(),
        c2["id"].as_str().expect("id").to_owned(),
    );

    let summary = ok(&api.get("/customers/sub-client-summary").await, 200);
    assert_eq!(
        summary["data"],
        json!([
            {"sub_client_id": a, "sub_client_name": "Sub A Holdings", "customer_count": 0},
            {"sub_client_id": b, "sub_client_name": "Sub B Holdings", "customer_count": 0}
        ])
    );

    let linked = ok(
        &patch(
            &api,
            &format!("/customers/{c1}/sub-client"),
            &json!({"sub_client_id": a}),
        )
        .await,
        200,
    );
    assert_eq!(linked["sub_client_id"], a.as_str());
    assert_eq!(linked["sub_client_name"], "Sub A Holdings");
    ok(
        &patch(
            &api,
            &format!("/customers/{c2}/sub-client"),
            &json!({"sub_client_id": a}),
        )
        .await,
        200,
    );
    let summary = ok(&api.get("/customers/sub-client-summary").await, 200);
    assert_eq!(summary["data"][0]["customer_count"], 2);
    let listed = ok(
        &api.get(&format!("/customers?sub_client_id={a}")).await,
        200,
    );
    assert_eq!(listed["meta"]["total_count"], 2);

    // Move one, then unlink it with null.
    ok(
        &patch(
            &api,
            &format!("/customers/{c2}/sub-client"),
            &json!({"sub_client_id": b}),
        )
        .await,
        200,
    );
    let ev = events_of(&api, "customer.updated", "id", &c2).await;
    let moved = ev
        .iter()
        .find(|e| e["data"]["object"]["sub_client_id"] == b.as_str())
        .expect("customer.updated for the move");
    assert_eq!(
        moved["data"]["previous_attributes"]["sub_client_id"],
        a.as_str()
    );
    let unlinked = ok(
        &patch(
            &api,
            &format!("/customers/{c2}/sub-client"),
            &json!({"sub_client_id": null}),
        )
        .await,
        200,
    );
    assert!(unlinked.get("sub_client_id").is_none_or(Value::is_null));
    let summary = ok(&api.get("/customers/sub-client-summary").await, 200);
    assert_eq!(summary["data"][0]["customer_count"], 1);
    assert_eq!(summary["data"][1]["customer_count"], 0);
    let got = hooks
        .wait_for("customer.updated", "sub_client_id", &a)
        .await;
    assert_eq!(got["data"]["object"]["id"], c1.as_str());
    assert!(got["data"]["previous_attributes"]["sub_client_id"].is_null());

    // Refusals.
    patch(
        &api,
        &format!("/customers/{c1}/sub-client"),
        &json!({"sub_client_id": c2}),
    )
    .await
    .problem(400);
    patch(
        &api,
        &format!("/customers/{c1}/sub-client"),
        &json!({"sub_client_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b"}),
    )
    .await
    .problem(404);
    patch(
        &api,
        "/customers/2hCjxJzUAW6JVRkZqaF9E0KpM3b/sub-client",
        &json!({"sub_client_id": a}),
    )
    .await
    .problem(404);
    patch(
        &api,
        &format!("/customers/{a}/sub-client"),
        &json!({"sub_client_id": b}),
    )
    .await
    .problem(400);
    patch(
        &api,
        &format!("/customers/{c1}/sub-client"),
        &json!({"sub_client_id": "short"}),
    )
    .await
    .problem(400);
    // Without credentials: the spec documents no 401 here, only 404.
    Api::send(
        api.http
            .patch(api.url(&format!("/customers/{c1}/sub-client")))
            .json(&json!({"sub_client_id": null})),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn sumsub_tokens_import_one_by_one() {
    let api = Api::start(fast()).await;
    let mut hooks = Hooks::register(&api).await;
    let r = api
        .post(
            "/customers/bulk-import-sumsub-tokens",
            &json!({"tokens": ["_act-sbx-4f1d2c9a7e", "kyb_act-sbx-88aa01bc", "bad", "_act-sbx-4f1d2c9a7e"]}),
        )
        .await;
    let body = ok(&r, 200);
    assert_eq!(body["total"], 4);
    assert_eq!(body["succeeded"], 2);
    assert_eq!(body["failed"], 2);
    let results = body["results"].as_array().expect("results");
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[2]["success"], false);
    assert!(results[2]["error"].is_string());
    assert_eq!(results[3]["success"], false);
    let person = results[0]["customer_id"].as_str().expect("id").to_owned();
    let company = results[1]["customer_id"].as_str().expect("id").to_owned();

    // Approved at once: the checks were done at Sumsub.
    let c = api.customer(&person).await;
    assert_eq!(c["customer_type"], "individual");
    assert_eq!(c["kyb_status"], "active");
    let c = api.customer(&company).await;
    assert_eq!(c["customer_type"], "business");
    assert_eq!(
        c["application_id"].as_str(),
        results[1]["application_id"].as_str()
    );
    hooks.wait_for("customer.created", "id", &person).await;
    hooks
        .wait_for("customer.kyb_status.updated", "id", &company)
        .await;
    assert_eq!(
        events_of(&api, "customer.created", "id", &company)
            .await
            .len(),
        1
    );

    // A token is imported once; a call's problems are plain JSON as the spec documents.
    let again = ok(
        &api.post(
            "/customers/bulk-import-sumsub-tokens",
            &json!({"tokens": ["kyb_act-sbx-88aa01bc"]}),
        )
        .await,
        200,
    );
    assert_eq!(again["succeeded"], 0);
    let r = api
        .post(
            "/customers/bulk-import-sumsub-tokens",
            &json!({"tokens": []}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let p: dakota_api::types::ProblemDetails =
        serde_json::from_slice(&r.bytes).expect("a ProblemDetails body");
    assert_eq!(p.status, 400);
    let listed = ok(&api.get("/customers").await, 200);
    assert_eq!(listed["meta"]["total_count"], 2);
}
