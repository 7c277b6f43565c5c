//! Money movement: recipients and destinations, accounts, one-off and auto transactions,
//! their lifecycle, simulations, capabilities, and the events every change emits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use common::{fast, Api, Resp};
use dakota_api::types;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

fn ok<T: serde::de::DeserializeOwned>(r: &Resp, status: u16) -> (Value, T) {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let t: T = serde_json::from_value(v.clone()).expect("the body is the spec's type");
    (v, t)
}

/// An approved customer (auto-approval is immediate in these tests).
async fn customer(api: &Api, name: &str) -> String {
    let c = api.create_customer(name, "business").await;
    let id = c["id"].as_str().expect("id").to_owned();
    assert_eq!(api.customer(&id).await["kyb_status"], "active");
    id
}

async fn recipient(api: &Api, customer: &str) -> String {
    let r = api
        .post(
            &format!("/customers/{customer}/recipients"),
            &json!({"name": "Globex Supplies", "address": {"street1": "1 Harbor Way", "city": "Boston", "country": "US"}}),
        )
        .await;
    let (v, _): (Value, types::RecipientResponse) = ok(&r, 201);
    assert_eq!(v["status"], "unused");
    v["id"].as_str().expect("id").to_owned()
}

fn fiat_us() -> Value {
    json!({
        "destination_type": "fiat_us",
        "name": "Operating account",
        "aba_routing_number": "021000021",
        "account_number": "000123456789",
        "account_type": "checking",
        "account_holder_name": "Globex Supplies",
        "bank_name": "Chase",
        "bank_address": {"street1": "383 Madison Ave", "city": "New York", "country": "US"}
    })
}

fn crypto(network: &str) -> Value {
    json!({
        "destination_type": "crypto",
        "name": "Treasury wallet",
        "crypto_address": "0x52908400098527886E0F7030069857D2E4169EE7",
        "network_id": network
    })
}

async fn destination(api: &Api, recipient: &str, body: &Value) -> String {
    let r = api
        .post(&format!("/recipients/{recipient}/destinations"), body)
        .await;
    let (v, _): (Value, types::IdResponse) = ok(&r, 201);
    v["id"].as_str().expect("id").to_owned()
}

/// A sandbox whose money movements settle at once.
async fn instant() -> Api {
    Api::start(fast().transaction_step(Duration::ZERO)).await
}

/// Polls `path` until `field` equals `want` (timers run in the background).
async fn until(api: &Api, path: &str, field: &str, want: &str) -> Value {
    for _ in 0..100 {
        let v = api.get(path).await.json();
        if v[field] == want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path}: {field} never became {want}");
}

fn event_types(api_events: &Value) -> Vec<String> {
    api_events["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn offramp_flow_from_recipient_to_completed_transaction_with_events() {
    let api = instant().await;
    // A webhook target receives the same events the feed lists.
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    async fn hook(State(tx): State<Arc<mpsc::UnboundedSender<Bytes>>>, body: Bytes) -> StatusCode {
        let _ = tx.send(body);
        StatusCode::OK
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::new(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let r = api
        .post("/webhooks/targets", &json!({"url": url, "global": true}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let c = customer(&api, "Initech Payments").await;
    let rid = recipient(&api, &c).await;
    let did = destination(&api, &rid, &fiat_us()).await;

    // The recipient now lists its destination.
    let (got, _): (Value, types::RecipientResponse) =
        ok(&api.get(&format!("/recipients/{rid}")).await, 200);
    assert_eq!(got["destinations"][0]["destination_id"], did.as_str());

    // An offramp account hands out a deposit address.
    let r = api
        .post(
            "/accounts",
            &json!({"account_type": "offramp", "fiat_destination_id": did, "rail": "ach", "source_network_id": "base-mainnet", "source_asset": "USDC"}),
        )
        .await;
    let (acct, _): (Value, types::AccountResponse) = ok(&r, 201);
    let address = acct["source_crypto_address"]
        .as_str()
        .expect("deposit address");
    assert!(
        address.starts_with("0x") && address.len() == 42,
        "{address}"
    );
    assert_eq!(acct["source_network_id"], "base-mainnet");
    assert_eq!(acct["destination_rail"], "ach");
    assert!(acct.get("bank_account").is_none());

    // A one-off transaction to the same destination completes by itself.
    let r = api
        .post(
            "/transactions",
            &json!({"customer_id": c, "destination_id": did, "source_network_id": "ethereum-mainnet", "source_asset": "USDC", "destination_asset": "USD", "amount": "250.00"}),
        )
        .await;
    let (created, _): (Value, types::OneOffTransaction) = ok(&r, 201);
    let tid = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["amount"], "250.00");
    assert_eq!(created["destination_account_number_last_four"], "6789");
    let done = until(&api, &format!("/transactions/{tid}"), "status", "completed").await;
    let _: types::TransactionResource =
        serde_json::from_value(done.clone()).expect("TransactionResource");
    assert_eq!(done["resource_type"], "one_off");
    assert_eq!(done["receipt"]["output"]["amount"], "250.00");
    assert!(done["completed_at"].as_i64().is_some());
    // The recipient was paid: `active` now.
    assert_eq!(
        api.get(&format!("/recipients/{rid}")).await.json()["status"],
        "active"
    );

    // Listed, filtered by customer and status.
    let (page, _): (Value, types::PaginatedTransactionResourceResponse) = ok(
        &api.get(&format!(
            "/transactions?transaction_type=one_off&customer_id={c}&status=completed"
        ))
        .await,
        200,
    );
    assert_eq!(page["data"][0]["id"], tid.as_str());
    assert_eq!(page["meta"]["total_count"], 1);
    let none = api
        .get(&format!("/transactions?customer_id={c}&status=failed"))
        .await
        .json();
    assert_eq!(none["meta"]["total_count"], 0);

    // Every state change is in the event log, newest first.
    let (feed, _): (Value, types::PaginatedEventResponse) =
        ok(&api.get("/events?limit=100").await, 200);
    let mut kinds = event_types(&feed);
    kinds.reverse();
    for want in [
        "recipient.created",
        "destination.created",
        "auto_account.created",
        "transaction.one_off.created",
        "transaction.one_off.updated",
        "recipient.updated",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "{want} missing from {kinds:?}"
        );
    }
    let statuses: Vec<Value> = feed["data"]
        .as_array()
        .expect("data")
        .iter()
        .rev()
        .filter(|e| e["type"] == "transaction.one_off.updated")
        .map(|e| {
            json!([
                e["data"]["previous_attributes"]["status"],
                e["data"]["object"]["status"]
            ])
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            json!(["pending", "processing"]),
            json!(["processing", "completed"])
        ]
    );

    // ... and the webhook target receives the very same envelopes.
    let ids: Vec<String> = feed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| !t.starts_with("customer."))
        })
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut delivered = Vec::new();
    while delivered.len() < ids.len() + 4 {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(b)) => delivered.push(serde_json::from_slice::<Value>(&b).expect("json")),
            _ => break,
        }
    }
    for id in &ids {
        let feed_event = feed["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|e| e["id"] == id.as_str())
            .expect("in feed");
        let sent = delivered
            .iter()
            .find(|e| e["id"] == id.as_str())
            .unwrap_or_else(|| panic!("event {id} was not delivered"));
        assert_eq!(sent, feed_event);
    }
    server.abort();
}

#[tokio::test]
async fn onramp_account_and_inbound_bank_payment_become_a_completed_auto_transaction() {
    let api = instant().await;
    let c = customer(&api, "Hooli Treasury").await;
    let rid = recipient(&api, &c).await;
    let did = destination(&api, &rid, &crypto("solana-mainnet")).await;
    let r = api
        .post(
            "/accounts",
            &json!({"account_type": "onramp", "crypto_destination_id": did, "capabilities": ["ach", "fedwire"]}),
        )
        .await;
    let (acct, _): (Value, types::AccountResponse) = ok(&r, 201);
    let bank = &acct["bank_account"];
    assert_eq!(bank["capabilities"], json!(["ach", "fedwire"]));
    assert!(bank["account_number"]
        .as_str()
        .is_some_and(|n| n.len() >= 8));
    assert!(bank["aba_routing_number"].is_string());
    assert!(acct.get("source_crypto_address").is_none());
    let aid = acct["id"].as_str().expect("id").to_owned();

    // A wrong rail for the account type is refused.
    let r = api
        .post(
            "/sandbox/simulate/inbound",
            &json!({"simulation_id": "sim-wrong", "type": "crypto_inbound", "account_id": aid, "amount": "10", "currency": "USDC"}),
        )
        .await;
    r.problem(400);

    let r = api
        .post(
            "/sandbox/simulate/inbound",
            &json!({"simulation_id": "sim-ach-1", "type": "ach_inbound", "account_id": aid, "amount": "1000.00", "currency": "USD", "trace_id": "t-1"}),
        )
        .await;
    let (accepted, _): (Value, types::SimulateInboundResponse) = ok(&r, 200);
    assert_eq!(accepted["state"], "accepted");
    assert_eq!(accepted["trace_id"], "t-1");
    // The same simulation id again is a conflict.
    let r = api
        .post(
            "/sandbox/simulate/inbound",
            &json!({"simulation_id": "sim-ach-1", "type": "ach_inbound", "account_id": aid, "amount": "1", "currency": "USD"}),
        )
        .await;
    r.problem(409);

    let (page, _): (Value, types::PaginatedAutoTransactionResponse) = ok(
        &api.get(&format!("/auto-transactions?auto_account_id={aid}"))
            .await,
        200,
    );
    assert_eq!(page["meta"]["total_count"], 1);
    let auto_id = page["data"][0]["id"].as_str().expect("id").to_owned();
    let done = until(
        &api,
        &format!("/auto-transactions/{auto_id}"),
        "status",
        "completed",
    )
    .await;
    let _: types::AutoAccountTransaction = serde_json::from_value(done.clone()).expect("type");
    assert_eq!(done["type"], "onramp");
    assert_eq!(done["receipt"]["input"]["amount"], "1000.00");
    assert_eq!(done["receipt"]["input"]["asset"], "USD");
    assert_eq!(done["receipt"]["output"]["asset"], "USDC");
    assert_eq!(done["sender_details"]["sender_type"], "bank");
    assert!(done["crypto_details"]["transaction_hash"].is_string());

    // The unified view of the same movement.
    let (unified, _): (Value, types::TransactionResource) =
        ok(&api.get(&format!("/transactions/{auto_id}")).await, 200);
    assert_eq!(unified["resource_type"], "auto_account");
    let (list, _): (Value, types::PaginatedTransactionResourceResponse) = ok(
        &api.get("/transactions?transaction_type=auto_account").await,
        200,
    );
    assert_eq!(list["data"][0]["id"], auto_id.as_str());

    // The simulation shows its webhook log.
    let (sim, _): (Value, types::SimulationInspection) =
        ok(&api.get("/sandbox/simulations/sim-ach-1").await, 200);
    assert_eq!(sim["state"], "completed");
    assert_eq!(sim["rail"], "ach");
    let logged: Vec<Value> = sim["callbacks"]
        .as_array()
        .expect("callbacks")
        .iter()
        .map(|c| {
            serde_json::from_str::<Value>(c["payload_json"].as_str().expect("payload"))
                .expect("json")["type"]
                .clone()
        })
        .collect();
    assert_eq!(
        logged,
        vec![
            json!("transaction.auto.created"),
            json!("transaction.auto.updated"),
            json!("transaction.auto.updated")
        ]
    );
    api.get("/sandbox/simulations/nope").await.problem(404);
}

#[tokio::test]
async fn a_customer_that_is_not_approved_cannot_move_money() {
    let api = instant().await;
    let pending = api
        .create_customer_with(
            "Pending Co",
            "business",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    let c = pending["id"].as_str().expect("id").to_owned();
    // Recipients and destinations may be prepared during onboarding ...
    let rid = recipient(&api, &c).await;
    let did = destination(&api, &rid, &fiat_us()).await;
    // ... but no money moves.
    let r = api
        .post(
            "/transactions",
            &json!({"customer_id": c, "destination_id": did, "source_network_id": "ethereum-mainnet", "source_asset": "USDC", "destination_asset": "USD"}),
        )
        .await;
    let p = r.problem(422);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not approved"),
        "{p}"
    );
    let r = api
        .post(
            "/accounts",
            &json!({"account_type": "offramp", "fiat_destination_id": did}),
        )
        .await;
    r.problem(403);
}

#[tokio::test]
async fn scenarios_fail_and_cancellation_only_before_the_deposit() {
    let api = instant().await;
    let c = customer(&api, "Scenario Labs").await;
    let rid = recipient(&api, &c).await;
    let did = destination(&api, &rid, &fiat_us()).await;
    let body = json!({"customer_id": c, "destination_id": did, "source_network_id": "ethereum-mainnet", "source_asset": "USDC", "destination_asset": "USD", "amount": "10"});
    let r = Api::send(
        api.write(Method::POST, "/transactions")
            .header("X-Sandbox-Scenario", "insufficient_funds")
            .json(&body),
    )
    .await;
    let (t, _): (Value, types::OneOffTransaction) = ok(&r, 201);
    let id = t["id"].as_str().expect("id");
    let failed = until(&api, &format!("/transactions/{id}"), "status", "failed").await;
    assert_eq!(failed["failure_reason"], "insufficient_funds");
    // Too late to cancel.
    Api::send(api.write(Method::POST, &format!("/transactions/{id}/cancellations")))
        .await
        .problem(400);

    // With slow steps the transaction waits for its deposit and can be cancelled.
    let slow = Api::start(fast().transaction_step(Duration::from_secs(600))).await;
    let c = customer(&slow, "Slow Co").await;
    let rid = recipient(&slow, &c).await;
    let did = destination(&slow, &rid, &fiat_us()).await;
    let mut body = body.clone();
    body["customer_id"] = json!(c);
    body["destination_id"] = json!(did);
    let (t, _): (Value, types::OneOffTransaction) =
        ok(&slow.post("/transactions", &body).await, 201);
    assert_eq!(t["status"], "pending");
    let id = t["id"].as_str().expect("id");
    // The destination is in use while the transaction is open.
    Api::send(slow.req(
        Method::DELETE,
        &format!("/recipients/{rid}/destinations/{did}"),
    ))
    .await
    .problem(409);
    let r = Api::send(slow.write(Method::POST, &format!("/transactions/{id}/cancellations"))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        slow.get(&format!("/transactions/{id}")).await.json()["status"],
        "cancelled"
    );
    Api::send(slow.write(Method::POST, &format!("/transactions/{id}/cancellations")))
        .await
        .problem(400);
    // Released: the destination can go now.
    let r = Api::send(slow.req(
        Method::DELETE,
        &format!("/recipients/{rid}/destinations/{did}"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn returns_reversals_and_held_payments_through_simulations() {
    let api = instant().await;
    let c = customer(&api, "Returns Inc").await;
    let rid = recipient(&api, &c).await;
    let did = destination(&api, &rid, &fiat_us()).await;
    let body = json!({"customer_id": c, "destination_id": did, "source_network_id": "ethereum-mainnet", "source_asset": "USDC", "destination_asset": "USD", "amount": "40"});
    let (t, _): (Value, types::OneOffTransaction) =
        ok(&api.post("/transactions", &body).await, 201);
    let id = t["id"].as_str().expect("id").to_owned();
    until(&api, &format!("/transactions/{id}"), "status", "completed").await;
    let r = api
        .post(
            "/sandbox/simulate/inbound",
            &json!({"simulation_id": "ret-1", "type": "ach_outbound_returned", "one_off_transaction_id": id, "amount": "40", "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let returned = until(&api, &format!("/transactions/{id}"), "status", "returned").await;
    assert_eq!(returned["return_code"], "R01");
    assert!(returned["return_initiated_at"].as_i64().is_some());

    // A held deposit waits for advanceSimulation.
    let slow = Api::start(fast().transaction_step(Duration::from_secs(600))).await;
    let c = customer(&slow, "Held Co").await;
    let rid = recipient(&slow, &c).await;
    let did = destination(&slow, &rid, &fiat_us()).await;
    let mut body = body.clone();
    body["customer_id"] = json!(c);
    body["destination_id"] = json!(did);
    let (t, _): (Value, types::OneOffTransaction) =
        ok(&slow.post("/transactions", &body).await, 201);
    let id = t["id"].as_str().expect("id").to_owned();
    let r = slow
        .post(
            "/sandbox/simulate/inbound",
            &json!({"simulation_id": "hold-1", "type": "crypto_inbound", "one_off_transaction_id": id, "amount": "40.04", "currency": "USDC", "scenario": "compliance_block"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let sim = slow.get("/sandbox/simulations/hold-1").await.json();
    assert_eq!(sim["awaiting_advance"], true);
    assert_eq!(
        sim["advance_actions_available"],
        json!(["approve", "reject"])
    );
    assert_eq!(
        slow.get(&format!("/transactions/{id}")).await.json()["status"],
        "processing"
    );
    slow.post(
        "/sandbox/simulations/hold-1/advance",
        &json!({"action": "fly"}),
    )
    .await
    .problem(400);
    let (adv, _): (Value, types::AdvanceSimulationResult) = ok(
        &slow
            .post(
                "/sandbox/simulations/hold-1/advance",
                &json!({"action": "approve"}),
            )
            .await,
        200,
    );
    assert_eq!(adv["previous_state"], "awaiting_advance");
    assert_eq!(adv["new_state"], "completed");
    assert_eq!(adv["callbacks_scheduled"], 2);
    assert_eq!(
        slow.get(&format!("/transactions/{id}")).await.json()["status"],
        "completed"
    );
    slow.post(
        "/sandbox/simulations/hold-1/advance",
        &json!({"action": "approve"}),
    )
    .await
    .problem(409);
}

#[tokio::test]
async fn deletion_rules_and_account_changes() {
    let api = instant().await;
    let c = customer(&api, "Deletes Ltd").await;
    let rid = recipient(&api, &c).await;
    let d1 = destination(&api, &rid, &crypto("base-mainnet")).await;
    let d2 = destination(&api, &rid, &crypto("ethereum-mainnet")).await;
    let fiat = destination(&api, &rid, &fiat_us()).await;
    // Wrong destination kind for the account type.
    api.post(
        "/accounts",
        &json!({"account_type": "offramp", "fiat_destination_id": d1}),
    )
    .await
    .problem(400);
    api.post(
        "/accounts",
        &json!({"account_type": "swap", "crypto_destination_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b"}),
    )
    .await
    .problem(404);
    let (acct, _): (Value, types::AccountResponse) = ok(
        &api.post("/accounts", &json!({"account_type": "swap", "crypto_destination_id": d1, "source_network_id": "solana-mainnet", "source_asset": "USDT", "destination_asset": "USDC"}))
            .await,
        201,
    );
    assert_eq!(acct["source_family"], "solana");
    let aid = acct["id"].as_str().expect("id").to_owned();
    // The same account again is a conflict.
    api.post("/accounts", &json!({"account_type": "swap", "crypto_destination_id": d1, "source_network_id": "solana-mainnet", "source_asset": "USDT", "destination_asset": "USDC"}))
        .await
        .problem(409);
    // Destination and recipient in use.
    Api::send(api.req(
        Method::DELETE,
        &format!("/recipients/{rid}/destinations/{d1}"),
    ))
    .await
    .problem(409);
    Api::send(api.req(Method::DELETE, &format!("/recipients/{rid}")))
        .await
        .problem(409);
    // Point the account at the other destination: the first is free again.
    let r = Api::send(
        api.write(Method::PATCH, &format!("/accounts/{aid}"))
            .json(&json!({"account_type": "swap", "crypto_destination_id": d2})),
    )
    .await;
    let (updated, _): (Value, types::AccountResponse) = ok(&r, 200);
    assert_eq!(updated["destination"]["destination_id"], d2.as_str());
    assert_eq!(updated["destination"]["network_id"], "ethereum-mainnet");
    let r = Api::send(
        api.write(Method::PATCH, &format!("/accounts/{aid}"))
            .json(&json!({"account_type": "onramp"})),
    )
    .await;
    r.problem(400);
    let r = Api::send(api.req(
        Method::DELETE,
        &format!("/recipients/{rid}/destinations/{d1}"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Lists: by type, filtered.
    let (list, _): (Value, types::PaginatedAccountResponse) = ok(
        &api.get(&format!("/accounts?account_type=swap&customer_id={c}"))
            .await,
        200,
    );
    assert_eq!(list["meta"]["total_count"], 1);
    let empty = api.get("/accounts?account_type=onramp").await.json();
    assert_eq!(empty["meta"]["total_count"], 0);
    api.get("/accounts").await.problem(400);
    let (dests, _): (Value, types::ListDestinationsResponse) = ok(
        &api.get(&format!(
            "/recipients/{rid}/destinations?destination_type=crypto"
        ))
        .await,
        200,
    );
    assert_eq!(dests["meta"]["total_count"], 1);
    // Close the account, then the recipient goes with its destinations.
    let r = Api::send(api.req(Method::DELETE, &format!("/accounts/{aid}"))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    api.get(&format!("/accounts/{aid}")).await.problem(404);
    let r = Api::send(api.req(Method::DELETE, &format!("/recipients/{rid}"))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    api.get(&format!("/recipients/{rid}")).await.problem(404);
    let _ = fiat;
    let kinds = event_types(&api.get("/events?limit=100").await.json());
    for want in [
        "auto_account.updated",
        "auto_account.deleted",
        "destination.deleted",
        "recipient.deleted",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "{want} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn capabilities_match_what_accounts_and_destinations_accept() {
    let api = instant().await;
    let (networks, _): (Value, Vec<String>) = ok(&api.get("/capabilities/networks").await, 200);
    let networks: Vec<String> = serde_json::from_value(networks).expect("strings");
    assert!(networks.len() >= 10);
    let c = customer(&api, "Networks Co").await;
    let rid = recipient(&api, &c).await;
    for n in &networks {
        // Every listed network is accepted by a destination and an account.
        let did = destination(&api, &rid, &crypto(n)).await;
        let r = api
            .post(
                "/accounts",
                &json!({"account_type": "swap", "crypto_destination_id": did, "source_network_id": n}),
            )
            .await;
        let (acct, _): (Value, types::AccountResponse) = ok(&r, 201);
        assert_eq!(acct["source_network_id"], n.as_str());
        let family = if n.starts_with("solana") {
            "solana"
        } else {
            "evm"
        };
        assert_eq!(acct["source_family"], family);
    }
    // An unlisted one is not.
    let r = api
        .post(
            &format!("/recipients/{rid}/destinations"),
            &crypto("dogecoin-mainnet"),
        )
        .await;
    r.problem(400);
    let (countries, _): (Value, Vec<types::Country>) =
        ok(&api.get("/capabilities/countries").await, 200);
    let list = countries.as_array().expect("array");
    assert!(list.len() >= 240);
    assert!(list.iter().any(|c| c["code"] == "US"
        && c["name"]
            .as_str()
            .is_some_and(|n| n.contains("United States"))));
}

#[tokio::test]
async fn recipient_pages_and_validation() {
    let api = instant().await;
    let c = customer(&api, "Pages Co").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(recipient(&api, &c).await);
    }
    let (p, _): (Value, types::ListRecipientsResponse) = ok(
        &api.get(&format!("/customers/{c}/recipients?limit=2")).await,
        200,
    );
    assert_eq!(p["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(p["meta"]["has_more_after"], true);
    let (p, _): (Value, types::ListRecipientsResponse) = ok(
        &api.get(&format!(
            "/customers/{c}/recipients?starting_after={}&limit=10",
            ids[1]
        ))
        .await,
        200,
    );
    assert_eq!(p["data"].as_array().map(Vec::len), Some(3));
    api.get("/customers/2hCjxJzUAW6JVRkZqaF9E0KpM3b/recipients")
        .await
        .problem(404);
    // Name is required; a blank one is schema-valid and accepted.
    api.post(&format!("/customers/{c}/recipients"), &json!({}))
        .await
        .problem(400);
    let r = api
        .post(&format!("/customers/{c}/recipients"), &json!({"name": ""}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // PUT replaces.
    let r = api
        .put(
            &format!("/recipients/{}", ids[0]),
            &json!({"name": "Renamed"}),
        )
        .await;
    let (v, _): (Value, types::RecipientResponse) = ok(&r, 200);
    assert_eq!(v["name"], "Renamed");
    assert!(v.get("address").is_none() || v["address"].is_null());
    let feed = api.get("/events?limit=1").await.json();
    assert_eq!(feed["data"][0]["type"], "recipient.updated");
    assert_eq!(
        feed["data"][0]["data"]["previous_attributes"]["name"],
        "Globex Supplies"
    );
    // Destination bodies are checked per kind.
    let r = api
        .post(
            &format!("/recipients/{}/destinations", ids[0]),
            &json!({"destination_type": "fiat_iban", "name": "x"}),
        )
        .await;
    assert!(r.problem(400)["errors"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    api.post(
        &format!("/recipients/{}/destinations", ids[0]),
        &json!({"destination_type": "cash"}),
    )
    .await
    .problem(400);
    let iban = json!({
        "destination_type": "fiat_iban", "name": "EU account", "iban": "DE89370400440532013000",
        "account_holder_name": "Globex GmbH", "bank_name": "Commerzbank",
        "account_holder_address": {"street1": "Kaiserstrasse 16", "city": "Frankfurt", "country": "DE"},
        "assets": ["EUR"], "capabilities": ["sepa"]
    });
    let did = destination(&api, &ids[0], &iban).await;
    let (list, _): (Value, types::ListDestinationsResponse) = ok(
        &api.get(&format!("/recipients/{}/destinations", ids[0]))
            .await,
        200,
    );
    assert_eq!(list["data"][0]["destination_id"], did.as_str());
    assert_eq!(list["data"][0]["capabilities"], json!(["sepa"]));
}
