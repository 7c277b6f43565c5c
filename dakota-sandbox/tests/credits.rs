//! Self-serve credits: price list and packs, a purchase, and a ledger that follows what
//! happens elsewhere (application reviews, wallet transfer fees and refunds).

mod common;
mod signing;

use std::time::Duration;

use common::{fast, Api, Resp};
use reqwest::Method;
use serde_json::{json, Value};
use signing::{endorsed, Key};

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    r.json()
}

#[tokio::test]
async fn credits_follow_reviews_transfers_and_purchases() {
    let api = Api::start(fast().wallet_confirmation_delay(Duration::ZERO)).await;
    let pricing = ok(&api.get("/self-serve/credits/pricing").await, 200);
    let bps = pricing["transferFeeBps"].as_f64().expect("bps");
    let kyb_fee = pricing["kybFeeCents"].as_i64().expect("kyb fee");
    let tiers = ok(&api.get("/self-serve/credits/tiers").await, 200);
    let tier = tiers["tiers"][0].clone();
    assert_eq!(
        tier["transfer_capacity_cents"].as_f64(),
        Some(tier["price_cents"].as_f64().expect("price") * 10_000.0 / bps)
    );

    let start = ok(&api.get("/self-serve/credits/balance").await, 200);
    let b0 = start["balance_cents"].as_i64().expect("balance");
    assert!(b0 > 0);

    // A business application under review costs the KYB fee.
    api.create_customer_with(
        "Harbor & Pine",
        "business",
        &[("x-sandbox-scenario", "kyb_manual_review")],
    )
    .await;
    let b1 = ok(&api.get("/self-serve/credits/balance").await, 200)["balance_cents"]
        .as_i64()
        .expect("balance");
    assert_eq!(b1, b0 - kyb_fee);

    // A wallet transfer costs its fee; one that fails on chain gets it back.
    let k = Key::new();
    ok(
        &api.post(
            "/signers",
            &json!({"name": "Signer", "public_key": k.public(), "key_type": "ES256"}),
        )
        .await,
        201,
    );
    let g = ok(
        &api.post(
            "/signer-groups",
            &json!({"name": "G", "member_keys": [k.public()]}),
        )
        .await,
        201,
    );
    let w = ok(
        &api.post(
            "/wallets",
            &json!({"name": "W", "family": "evm", "signer_groups": [g["id"]], "policies": []}),
        )
        .await,
        201,
    );
    let wid = w["id"].as_str().expect("id").to_owned();
    api.sandbox
        .state()
        .fund_wallet(&wid, "base-mainnet", "USDC", "1000")
        .expect("funded");
    for amount in ["1000", "5000"] {
        let intent = json!({
            "wallet_id": wid, "caip2": "eip155:8453", "idempotency_key": uuid::Uuid::new_v4().to_string(),
            "operation": {"kind": "transfer", "from": w["address"], "to": "0x4444444444444444444444444444444444444444",
                          "amount": amount, "asset_id": "USDC"}
        });
        ok(
            &Api::send(
                api.write(Method::POST, &format!("/wallets/{wid}/transactions"))
                    .json(&endorsed(intent, &[&k])),
            )
            .await,
            200,
        );
    }
    // 1000 USD at the fee rate stays deducted; the failed 5000 is refunded.
    let fee = (1000.0 * 100.0 * bps / 10_000.0).round() as i64;
    let mut b2 = 0;
    for _ in 0..50 {
        b2 = ok(&api.get("/self-serve/credits/balance").await, 200)["balance_cents"]
            .as_i64()
            .expect("balance");
        if b2 == b1 - fee {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b2, b1 - fee);

    // Buy a pack.
    api.post(
        "/self-serve/credits/purchase",
        &json!({"tier_price_cents": 1234}),
    )
    .await
    .problem(400);
    let p = ok(
        &Api::send(
            api.req(Method::POST, "/self-serve/credits/purchase")
                .json(&json!({"tier_price_cents": tier["price_cents"]})),
        )
        .await,
        200,
    );
    assert!(p["checkout_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("http")));
    let bal = ok(&api.get("/self-serve/credits/balance").await, 200);
    let b3 = bal["balance_cents"].as_i64().expect("balance");
    assert_eq!(b3, b2 + tier["price_cents"].as_i64().expect("price"));
    assert_eq!(
        bal["transfer_capacity_cents"].as_f64(),
        Some(b3 as f64 * 10_000.0 / bps)
    );

    // The ledger, newest first, with running balances; filters and cursor pages.
    let all = ok(&api.get("/self-serve/credits/ledger").await, 200);
    let entries = all["entries"].as_array().expect("entries");
    let kinds: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["category"].as_str())
        .collect();
    assert_eq!(kinds[0], "purchase");
    assert!(kinds.contains(&"compliance_fee"));
    assert!(kinds.contains(&"transaction_fee"));
    assert!(kinds.contains(&"transaction_refund"));
    assert_eq!(kinds.last(), Some(&"adjustment"));
    assert_eq!(entries[0]["balance_after_cents"].as_i64(), Some(b3));
    for pair in entries.windows(2) {
        assert_eq!(
            pair[0]["balance_after_cents"].as_i64().expect("after")
                - pair[0]["amount_cents"].as_i64().expect("amount"),
            pair[1]["balance_after_cents"].as_i64().expect("after")
        );
    }
    let refunds = ok(
        &api.get("/self-serve/credits/ledger?type=refund").await,
        200,
    );
    assert_eq!(refunds["entries"].as_array().map(Vec::len), Some(1));
    assert!(refunds["entries"][0]["transaction_id"].is_string());
    let first = ok(&api.get("/self-serve/credits/ledger?limit=2").await, 200);
    assert_eq!(first["has_more"], true);
    let cursor = first["entries"][1]["created_at"].as_str().expect("time");
    let rest = ok(
        &api.get(&format!(
            "/self-serve/credits/ledger?cursor={}",
            cursor.replace('+', "%2B")
        ))
        .await,
        200,
    );
    assert!(rest["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .all(|e| e["created_at"].as_str() < Some(cursor)));
    api.get("/self-serve/credits/ledger?type=gift")
        .await
        .problem(400);
    api.get("/self-serve/credits/ledger?cursor=later")
        .await
        .problem(400);
}
