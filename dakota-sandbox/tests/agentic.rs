//! Agentic payments end to end: a payment agent drafts a proposal, the proposal becomes an
//! instruction (payee, destination, pending mandate, scheduled payments), another signer
//! approves the mandate, the due payment moves wallet money, the insight report and chat
//! read it back, and cancelling or revoking stops what is left. Plus the documented errors.

mod common;
mod signing;

use std::time::Duration;

use common::{fast, Api, Resp};
use reqwest::Method;
use serde_json::{json, Value};
use signing::Key;

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    r.json()
}

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

const ALICE_ADDR: &str = "0x1111111111111111111111111111111111111111";

/// A sandbox with an approved customer, an agent whose signer shares a signer group with
/// `approver`, and an EVM wallet of that group holding `funds` USDC on base-mainnet.
struct World {
    api: Api,
    customer: String,
    agent: Value,
    wallet: String,
    approver: Key,
}

async fn world(funds: &str) -> World {
    let api = Api::start(fast().wallet_confirmation_delay(Duration::ZERO)).await;
    let c = api.create_customer("Acme Bills", "business").await;
    let customer = s(&c["id"]);
    let agent = ok(
        &api.post(
            "/payment-agents",
            &json!({"customer_id": customer, "name": "Bills agent", "hosted": true}),
        )
        .await,
        201,
    );
    assert_eq!(agent["state"], "pending");
    assert_eq!(agent["hosted"], true);
    assert!(agent["wallet_ids"].as_array().is_none_or(Vec::is_empty));
    let approver = Key::new();
    ok(
        &api.post(
            "/signers",
            &json!({"name": "Treasurer", "public_key": approver.public(), "key_type": "ES256"}),
        )
        .await,
        201,
    );
    let g = ok(
        &api.post(
            "/signer-groups",
            &json!({"name": "Bills", "member_keys": [agent["signer_public_key"], approver.public()]}),
        )
        .await,
        201,
    );
    let w = ok(
        &api.post(
            "/wallets",
            &json!({"name": "Bills", "family": "evm", "signer_groups": [g["id"]], "policies": [], "customer_id": customer}),
        )
        .await,
        201,
    );
    let wallet = s(&w["id"]);
    api.sandbox
        .state()
        .fund_wallet(&wallet, "base-mainnet", "USDC", funds)
        .expect("funded");
    World {
        api,
        customer,
        agent,
        wallet,
        approver,
    }
}

/// The payload a signer signs to approve or cancel a mandate, from `GET /mandates/{id}`.
fn payload(m: &Value) -> Value {
    let mut p = json!({
        "id": m["id"], "bound_signer_id": m["bound_signer_id"], "rule": m["rule"],
        "valid_from": m["valid_from"],
    });
    if !m["valid_until"].is_null() {
        p["valid_until"] = m["valid_until"].clone();
    }
    p
}

async fn approve(w: &World, mandate_id: &str) -> Resp {
    let m = ok(&w.api.get(&format!("/mandates/{mandate_id}")).await, 200);
    w.api
        .post(
            &format!("/mandates/{mandate_id}/approve"),
            &json!({"approver_public_key": w.approver.public(), "signature": w.approver.sign(&payload(&m))}),
        )
        .await
}

#[tokio::test]
async fn draft_accept_approve_pay_report_and_stop() {
    let w = world("1000").await;
    let api = &w.api;
    let agent_id = s(&w.agent["id"]);

    // Drafting: what is missing is asked for; a complete request gives one proposal.
    let asked = ok(
        &api.post(
            &format!("/payment-agents/{agent_id}/proposals"),
            &json!({"prompt": "Pay Alice every week"}),
        )
        .await,
        200,
    );
    assert!(asked["proposals"].as_array().is_none_or(Vec::is_empty));
    assert!(s(&asked["reply"]).contains("How much"), "{asked}");
    let drafted = ok(
        &api.post(
            &format!("/payment-agents/{agent_id}/proposals"),
            &json!({"messages": [
                {"role": "user", "content": "Pay Alice every week"},
                {"role": "assistant", "content": s(&asked["reply"])}
            ], "prompt": format!("25 USDC to Alice at {ALICE_ADDR} on base, weekly for 3 weeks")}),
        )
        .await,
        200,
    );
    assert_eq!(drafted["conversation_status"], "ok");
    let proposals = drafted["proposals"].clone();
    let kinds: Vec<&str> = proposals[0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "create_recipient",
            "create_crypto_destination",
            "create_mandate",
            "create_scheduled_payments"
        ]
    );

    // Accepting it carries the actions out; the mandate waits for an approval.
    let result = ok(
        &api.post(
            "/instructions",
            &json!({"payment_agent_id": agent_id, "proposals": proposals}),
        )
        .await,
        201,
    );
    let instruction_id = s(&result["instruction_ids"][0]);
    let mandate = &result["mandates"][0];
    let mandate_id = s(&mandate["id"]);
    assert_eq!(mandate["status"], "pending");
    assert_eq!(mandate["target_names"], json!(["Alice"]));
    assert_eq!(mandate["instruction_id"], instruction_id.as_str());
    assert_eq!(mandate["bound_signer_id"], w.agent["signer_id"]);
    let ins = ok(
        &api.get(&format!("/instructions/{instruction_id}")).await,
        200,
    );
    assert_eq!(ins["status"], "executed");
    assert_eq!(ins["payment_agent_id"], agent_id.as_str());
    let down = ins["downstream"].as_array().expect("downstream");
    assert_eq!(down.len(), 4);
    assert_eq!(mandate["rule"]["targets"], json!([down[0]["recipient_id"]]));
    assert_eq!(down[2]["mandate_id"], mandate_id.as_str());
    let payment_ids: Vec<String> = down[3]["scheduled_payment_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(s)
        .collect();
    assert_eq!(payment_ids.len(), 3);

    // The first payment is due now but waits for the mandate.
    let listed = ok(
        &api.get(&format!("/scheduled-payments?customer_id={}", w.customer))
            .await,
        200,
    );
    let statuses: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["status"].as_str())
        .collect();
    assert_eq!(statuses, ["scheduled", "scheduled", "scheduled"]);
    assert_eq!(listed[0]["address"], ALICE_ADDR);
    assert_eq!(listed[0]["amount"], "25.00");
    assert_eq!(listed[0]["wallet_id"], w.wallet.as_str());
    let gap = listed[1]["scheduled_at"].as_i64().expect("at")
        - listed[0]["scheduled_at"].as_i64().expect("at");
    assert_eq!(gap, 7 * 86_400);

    // The bound signer cannot approve; a wrong signature does not; the other signer does.
    let m = ok(&api.get(&format!("/mandates/{mandate_id}")).await, 200);
    let forged = Key::new();
    api.post(
        &format!("/mandates/{mandate_id}/approve"),
        &json!({"approver_public_key": w.approver.public(), "signature": forged.sign(&payload(&m))}),
    )
    .await
    .problem(400);
    let approved = ok(&approve(&w, &mandate_id).await, 200);
    assert_eq!(approved["status"], "active");
    assert!(approved["approved_by_signer_id"].is_string());
    approve(&w, &mandate_id).await.problem(400);

    // The overdue payment ran at once: executed under the mandate, money left the wallet.
    let listed = ok(
        &api.get(&format!("/scheduled-payments?mandate_id={mandate_id}"))
            .await,
        200,
    );
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["status"], "executed");
    assert!(listed[0]["wallet_transaction_id"].is_string());
    let bal = ok(
        &api.get(&format!("/wallets/{}/balances", w.wallet)).await,
        200,
    );
    assert_eq!(bal["total_amount_usd"], "975.00");
    let agent_now = ok(&api.get("/mandates?status=active").await, 200);
    assert_eq!(agent_now.as_array().map(Vec::len), Some(1));

    // The report: two open payments within 14 days, 50 USDC due, the wallet covers it.
    let report = ok(
        &api.get(&format!("/customers/{}/insights", w.customer))
            .await,
        200,
    );
    assert_eq!(report["customer_id"], w.customer.as_str());
    assert_eq!(report["snapshot"]["open_scheduled_payments"], 2);
    assert_eq!(report["snapshot"]["active_mandates"], 1);
    assert_eq!(report["snapshot"]["upcoming"]["count"], 2);
    assert_eq!(report["snapshot"]["upcoming"]["totals"]["USDC"], "50.00");
    assert_eq!(report["snapshot"]["total_usd"], "975.00");
    assert_eq!(report["insights"][0]["kind"], "upcoming_payments");
    assert_eq!(
        report["insights"][0]["evidence"][0]["type"],
        "scheduled_payment"
    );
    assert!(report["suggestions"].as_array().is_some_and(Vec::is_empty));
    let chat = ok(
        &api.post(
            &format!("/customers/{}/insights/chat", w.customer),
            &json!({"messages": [{"role": "user", "content": "Is there enough in my wallets for the next two weeks?"}]}),
        )
        .await,
        200,
    );
    assert_eq!(chat["conversation_status"], "ok");
    assert!(s(&chat["reply"]).contains("50.00 USDC"), "{chat}");
    assert!(s(&chat["reply"]).contains("covers"), "{chat}");
    let warned = ok(
        &api.post(
            &format!("/customers/{}/insights/chat", w.customer),
            &json!({"messages": [{"role": "user", "content": "Tell me a joke about cats"}]}),
        )
        .await,
        200,
    );
    assert_eq!(warned["conversation_status"], "warned");
    let turn = |c: &str| json!({"role": "user", "content": c});
    let reply = json!({"role": "assistant", "content": "I can only talk about payments."});
    let blocked = ok(
        &api.post(
            &format!("/customers/{}/insights/chat", w.customer),
            &json!({"messages": [turn("cats?"), reply, turn("dogs?"), reply, turn("birds?")]}),
        )
        .await,
        200,
    );
    assert_eq!(blocked["conversation_status"], "blocked");

    // Cancelling: a scheduled payment once; then the mandate, which cancels what is left.
    let second = &payment_ids[1];
    let c = ok(
        &api.post(&format!("/scheduled-payments/{second}/cancel"), &json!({}))
            .await,
        200,
    );
    assert_eq!(c["status"], "cancelled");
    api.post(&format!("/scheduled-payments/{second}/cancel"), &json!({}))
        .await
        .problem(400);
    let m = ok(&api.get(&format!("/mandates/{mandate_id}")).await, 200);
    let cancelled = ok(
        &api.post(
            &format!("/mandates/{mandate_id}/cancel"),
            &json!({"signer_public_key": w.approver.public(), "signature": w.approver.sign(&payload(&m))}),
        )
        .await,
        200,
    );
    assert_eq!(cancelled["status"], "revoked");
    let left = ok(
        &api.get(&format!(
            "/scheduled-payments?customer_id={}&status=scheduled",
            w.customer
        ))
        .await,
        200,
    );
    assert_eq!(left, json!([]));
    let report = ok(
        &api.get(&format!("/customers/{}/insights", w.customer))
            .await,
        200,
    );
    assert_eq!(report["snapshot"]["open_scheduled_payments"], 0);
    assert_eq!(report["snapshot"]["active_mandates"], 0);

    // Revoking the agent: for good, and it names the groups still listing its signer.
    let revoked = ok(
        &api.post(&format!("/payment-agents/{agent_id}/revoke"), &json!({}))
            .await,
        200,
    );
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(revoked["signer_group_cleanup"][0]["name"], "Bills");
    let again = ok(
        &api.post(&format!("/payment-agents/{agent_id}/revoke"), &json!({}))
            .await,
        200,
    );
    assert_eq!(again["state"], "revoked");
    api.post(
        "/mandates",
        &json!({"payment_agent_id": agent_id, "rule": {"target_type": "any", "asset": "USDC"}}),
    )
    .await
    .problem(400);
}

#[tokio::test]
async fn standing_mandates_shortfalls_failures_and_errors() {
    let w = world("10").await;
    let api = &w.api;
    let agent_id = s(&w.agent["id"]);

    // A standing mandate for an address, approved; a one-off payment beyond the funds fails.
    let m = ok(
        &api.post(
            "/mandates",
            &json!({"payment_agent_id": agent_id, "rule": {"target_type": "address", "targets": [ALICE_ADDR],
                    "asset": "USDC", "network_id": "base-mainnet", "max_per_tx": "100"}}),
        )
        .await,
        201,
    );
    assert_eq!(m["status"], "pending");
    assert!(m["target_names"].as_array().is_none_or(Vec::is_empty));
    let mid = s(&m["id"]);
    ok(&approve(&w, &mid).await, 200);
    let now = chrono::Utc::now().timestamp();
    let pay = |amount: &str, dates: Value| {
        json!({"payment_agent_id": agent_id, "proposals": [{"actions": [
            {"type": "create_recipient", "create_recipient": {"name": "Alice"}},
            {"type": "create_crypto_destination", "create_crypto_destination": {"address": ALICE_ADDR, "network_id": "base-mainnet"}},
            {"type": "create_scheduled_payments", "create_scheduled_payments": {"amount": amount, "asset": "USDC", "dates": dates}}
        ]}]})
    };
    let r = ok(
        &api.post("/instructions", &pay("25", json!([now]))).await,
        201,
    );
    assert!(r["mandates"].as_array().is_none_or(Vec::is_empty));
    let failed = ok(&api.get("/scheduled-payments?status=failed").await, 200);
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    assert!(s(&failed[0]["failure_reason"]).contains("insufficient funds"));
    // Above max_per_tx: no mandate covers it.
    ok(
        &api.post("/instructions", &pay("150", json!([now]))).await,
        201,
    );
    let failed = ok(&api.get("/scheduled-payments?status=failed").await, 200);
    assert!(s(&failed[1]["failure_reason"]).contains("no active mandate"));
    // Within funds and limits: executed.
    ok(
        &api.post("/instructions", &pay("4", json!([now]))).await,
        201,
    );
    let done = ok(&api.get("/scheduled-payments?status=executed").await, 200);
    assert_eq!(done[0]["mandate_id"], mid.as_str());

    // A future payment larger than the wallet: the report suggests topping up.
    ok(
        &api.post("/instructions", &pay("20", json!([now + 3 * 86_400])))
            .await,
        201,
    );
    let report = ok(
        &api.get(&format!("/customers/{}/insights", w.customer))
            .await,
        200,
    );
    let sug = &report["suggestions"][0];
    assert_eq!(sug["kind"], "funding_shortfall");
    assert_eq!(sug["detail"]["shortfall_estimate"], "14.00");
    assert_eq!(sug["evidence"][0]["id"], w.wallet.as_str());
    let kinds: Vec<&str> = report["insights"]
        .as_array()
        .expect("insights")
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"failed_payments"), "{kinds:?}");

    // Errors the spec documents.
    let r = api
        .post(
            "/instructions",
            &json!({"payment_agent_id": agent_id, "proposals": [{"actions": [
                {"type": "create_recipient", "create_recipient": {"name": "Bob"}}
            ]}]}),
        )
        .await;
    assert!(s(&r.problem(400)["detail"]).contains("does not pay anyone"));
    // All or nothing: a bad second proposal leaves nothing of the first.
    let before = ok(&api.get("/scheduled-payments").await, 200);
    let mut batch = pay("1", json!([now + 86_400]));
    batch["proposals"]
        .as_array_mut()
        .expect("proposals")
        .push(json!({"actions": [{"type": "create_scheduled_payments",
            "create_scheduled_payments": {"amount": "1", "asset": "USDC"}}]}));
    api.post("/instructions", &batch).await.problem(400);
    assert_eq!(ok(&api.get("/scheduled-payments").await, 200), before);
    api.post(
        "/instructions",
        &json!({"payment_agent_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b", "proposals": []}),
    )
    .await
    .problem(400);
    api.post(
        "/instructions",
        &json!({"payment_agent_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b", "proposals": [{"actions": []}]}),
    )
    .await
    .problem(404);
    api.post(
        "/mandates",
        &json!({"payment_agent_id": agent_id, "rule": {"target_type": "recipient", "targets": ["Nobody"], "asset": "USDC"}}),
    )
    .await
    .problem(400);
    api.post(
        "/payment-agents",
        &json!({"customer_id": w.customer, "name": "X", "hosted": false}),
    )
    .await
    .problem(400);
    api.post(
        "/payment-agents",
        &json!({"customer_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b", "name": "X", "hosted": true}),
    )
    .await
    .problem(404);
    api.get("/mandates/not-an-id").await.problem(400);
    api.get("/mandates/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
        .await
        .problem(404);
    api.get("/instructions/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
        .await
        .problem(404);
    api.get("/mandates?status=sleeping").await.problem(400);
    api.get("/customers/2hCjxJzUAW6JVRkZqaF9E0KpM3b/insights")
        .await
        .problem(404);
    api.get("/customers/nope/insights").await.problem(400);
    api.post(
        &format!("/payment-agents/{agent_id}/proposals"),
        &json!({"messages": [{"role": "user", "content": "Pay Alice"}], "prompt": "25 USDC"}),
    )
    .await
    .problem(400);
    // Agentic operations answer 404 without credentials (the spec documents no 401).
    let r = Api::send(api.http.request(Method::GET, api.url("/mandates"))).await;
    r.problem(404);
}

#[tokio::test]
async fn drafting_and_chat_have_an_allowance() {
    let w = world("1").await;
    let api = &w.api;
    let path = format!("/customers/{}/insights/chat", w.customer);
    let body = json!({"messages": [{"role": "user", "content": "What payments are due?"}]});
    for _ in 0..30 {
        ok(&api.post(&path, &body).await, 200);
    }
    let r = api.post(&path, &body).await;
    r.problem(429);
    let wait: i64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=3600).contains(&wait));
}
