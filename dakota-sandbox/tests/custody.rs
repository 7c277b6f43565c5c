//! Signers, signer groups, policies and wallets: create → read → list → change → delete,
//! signed intents, policy checks, balances that move, and the `wallet.*` events in
//! `GET /events` and at a webhook target.

mod common;
mod receiver;
mod signing;

use std::time::Duration;

use common::{fast, Api, Resp};
use p256::pkcs8::EncodePublicKey;
use receiver::{events_of, Hooks};
use reqwest::Method;
use serde_json::{json, Value};
use signing::{endorsed, Key};

fn ikey() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    r.json()
}

async fn send(api: &Api, method: Method, path: &str, body: &Value) -> Resp {
    Api::send(api.write(method, path).json(body)).await
}

async fn signer(api: &Api, name: &str, key: &Key) -> Value {
    ok(
        &api.post(
            "/signers",
            &json!({"name": name, "public_key": key.public(), "key_type": "ES256"}),
        )
        .await,
        201,
    )
}

async fn group(api: &Api, name: &str, keys: &[&Key]) -> String {
    let members: Vec<String> = keys.iter().map(|k| k.public()).collect();
    let g = ok(
        &api.post(
            "/signer-groups",
            &json!({"name": name, "member_keys": members}),
        )
        .await,
        201,
    );
    g["id"].as_str().expect("id").to_owned()
}

async fn wallet(api: &Api, name: &str, groups: &[&str], policies: &[&str]) -> Value {
    ok(
        &api.post(
            "/wallets",
            &json!({"name": name, "family": "evm", "signer_groups": groups, "policies": policies}),
        )
        .await,
        201,
    )
}

fn transfer(wallet: &Value, to: &str, amount: &str, key: &str) -> Value {
    json!({
        "wallet_id": wallet["id"],
        "caip2": "eip155:8453",
        "idempotency_key": key,
        "operation": {
            "kind": "transfer",
            "from": wallet["address"],
            "to": to,
            "amount": amount,
            "asset_id": "USDC"
        }
    })
}

fn sandbox() -> dakota_sandbox::SandboxBuilder {
    fast().wallet_confirmation_delay(Duration::ZERO)
}

#[tokio::test]
async fn signers_and_groups_lifecycle() {
    let api = Api::start(sandbox()).await;
    let (a, b, c) = (Key::new(), Key::new(), Key::new());
    let sa = signer(&api, "Alice", &a).await;
    assert_eq!(sa["key_type"], "ES256");
    assert_eq!(sa["public_key"], a.public());
    signer(&api, "Bob", &b).await;
    signer(&api, "Carol", &c).await;
    // The same key again (in PEM this time) is the same signer.
    let pem =
        a.sk.verifying_key()
            .to_public_key_pem(Default::default())
            .expect("pem");
    api.post(
        "/signers",
        &json!({"name": "Alice again", "public_key": pem, "key_type": "ES256"}),
    )
    .await
    .problem(409);
    let r = api
        .post(
            "/signers",
            &json!({"name": "Bad", "public_key": "not a key", "key_type": "ES256"}),
        )
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["public_key"]);
    api.post(
        "/signers",
        &json!({"name": "Bad", "public_key": Key::new().public(), "key_type": "RSA"}),
    )
    .await
    .problem(400);

    let g1 = group(&api, "Treasury", &[&a, &b]).await;
    api.post(
        "/signer-groups",
        &json!({"name": "Treasury", "member_keys": [c.public()]}),
    )
    .await
    .problem(409);
    api.post(
        "/signer-groups",
        &json!({"name": "Ghosts", "member_keys": [Key::new().public()]}),
    )
    .await
    .problem(404);
    api.post(
        "/signer-groups",
        &json!({"name": "Empty", "member_keys": []}),
    )
    .await
    .problem(400);
    let g2 = group(&api, "Ops", &[&c]).await;
    let g3 = group(&api, "Audit", &[&b, &c]).await;

    // Read and list, page by page.
    let got = ok(&api.get(&format!("/signer-groups/{g1}")).await, 200);
    assert_eq!(got["name"], "Treasury");
    assert_eq!(got["members"].as_array().map(Vec::len), Some(2));
    api.get("/signer-groups/not-a-ksuid").await.problem(400);
    api.get("/signer-groups/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
        .await
        .problem(404);
    let p1 = ok(&api.get("/signer-groups?limit=2").await, 200);
    let ids: Vec<&str> = p1["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, [g1.as_str(), g2.as_str()]);
    assert_eq!(p1["meta"]["has_more_after"], true);
    assert_eq!(p1["meta"]["total_count"], 3);
    let p2 = ok(
        &api.get(&format!("/signer-groups?limit=2&starting_after={g2}"))
            .await,
        200,
    );
    assert_eq!(p2["data"][0]["id"], g3.as_str());
    assert_eq!(p2["meta"]["has_more_after"], false);

    // Membership changes.
    let added = ok(
        &api.post(
            &format!("/signer-groups/{g2}/signers"),
            &json!({"member_key": a.public()}),
        )
        .await,
        200,
    );
    assert_eq!(added["members"].as_array().map(Vec::len), Some(2));
    api.post(
        &format!("/signer-groups/{g2}/signers"),
        &json!({"member_key": a.public()}),
    )
    .await
    .problem(409);
    let a_id = sa["id"].as_str().expect("id");
    let removed = ok(
        &send(
            &api,
            Method::DELETE,
            &format!("/signer-groups/{g2}/signers/{a_id}"),
            &json!({}),
        )
        .await,
        200,
    );
    assert_eq!(removed["members"].as_array().map(Vec::len), Some(1));
    let c_id = removed["members"][0]["id"].as_str().expect("id").to_owned();
    send(
        &api,
        Method::DELETE,
        &format!("/signer-groups/{g2}/signers/{c_id}"),
        &json!({}),
    )
    .await
    .problem(409);
    send(
        &api,
        Method::DELETE,
        &format!("/signer-groups/{g2}/signers/{a_id}"),
        &json!({}),
    )
    .await
    .problem(404);

    // A signer in a group cannot be deleted; one in none can, by URL-encoded key.
    let enc = |k: &Key| {
        k.public()
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D")
    };
    Api::send(api.req(Method::DELETE, &format!("/signers/{}", enc(&c))))
        .await
        .problem(409);
    let lonely = Key::new();
    signer(&api, "Lonely", &lonely).await;
    let r = Api::send(api.req(Method::DELETE, &format!("/signers/{}", enc(&lonely)))).await;
    assert_eq!(r.status.as_u16(), 204);
    Api::send(api.req(Method::DELETE, &format!("/signers/{}", enc(&lonely))))
        .await
        .problem(404);

    // A blank key is a well-formed path parameter that names no signer.
    Api::send(api.req(Method::DELETE, "/signers/%0B"))
        .await
        .problem(404);

    // Names are any string (the spec sets no minLength): blank ones are kept as sent.
    let blank = signer(&api, "", &Key::new()).await;
    assert_eq!(blank["name"], "");
    let blank_group = group(&api, " ", &[&c]).await;
    let got = ok(
        &api.get(&format!("/signer-groups/{blank_group}")).await,
        200,
    );
    assert_eq!(got["name"], " ");
    let w = wallet(&api, "", &[&blank_group], &[]).await;
    assert_eq!(w["name"], "");
}

#[tokio::test]
async fn wallets_transactions_balances_and_events() {
    let api = Api::start(sandbox()).await;
    let mut hooks = Hooks::register(&api).await;
    let (a, b) = (Key::new(), Key::new());
    signer(&api, "Alice", &a).await;
    signer(&api, "Bob", &b).await;
    let g = group(&api, "Treasury", &[&a, &b]).await;
    let policy = ok(
        &api.post(
            "/policies",
            &json!({"name": "Limits", "signer_group_id": g, "rules": [
                {"rule_type": "amount_threshold", "action": "deny", "definition": {"amount": "1000", "currency": "USD"}}
            ]}),
        )
        .await,
        201,
    );
    let policy_id = policy["id"].as_str().expect("id").to_owned();
    assert_eq!(policy["version"], 1);

    let w1 = wallet(&api, "Operating", &[&g], &[&policy_id]).await;
    let w1_id = w1["id"].as_str().expect("id").to_owned();
    assert!(w1["address"]
        .as_str()
        .is_some_and(|a| a.starts_with("0x") && a.len() == 42));
    assert_eq!(w1["family"], "evm");
    let w2 = wallet(&api, "Savings", &[&g], &[]).await;
    let w2_id = w2["id"].as_str().expect("id").to_owned();
    api.post(
        "/wallets",
        &json!({"name": "Operating", "family": "evm", "signer_groups": [g], "policies": []}),
    )
    .await
    .problem(409);
    api.post(
        "/wallets",
        &json!({"name": "X", "family": "evm", "signer_groups": ["2hCjxJzUAW6JVRkZqaF9E0KpM3b"], "policies": []}),
    )
    .await
    .problem(404);
    let r = api
        .post(
            "/wallets",
            &json!({"name": "X", "family": "tron", "signer_groups": [g], "policies": []}),
        )
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["family"]);

    // Reads.
    let got = ok(&api.get(&format!("/wallets/{w1_id}")).await, 200);
    assert_eq!(got["name"], "Operating");
    assert!(got["created_at"].is_i64());
    api.get("/wallets/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
        .await
        .problem(404);
    let pols = ok(&api.get(&format!("/wallets/{w1_id}/policies")).await, 200);
    assert_eq!(pols, json!([{"id": policy_id, "name": "Limits"}]));
    let groups = ok(
        &api.get(&format!("/wallets/{w1_id}/signer-groups")).await,
        200,
    );
    assert_eq!(groups[0]["id"], g.as_str());
    let of_group = ok(&api.get(&format!("/signer-groups/{g}/wallets")).await, 200);
    assert_eq!(of_group.as_array().map(Vec::len), Some(2));
    let of_policy = ok(
        &api.get(&format!("/policies/{policy_id}/wallets")).await,
        200,
    );
    assert_eq!(
        of_policy,
        json!([{"id": w1_id, "name": "Operating", "family": "evm"}])
    );

    // Funds arrive.
    let empty = ok(&api.get(&format!("/wallets/{w1_id}/balances")).await, 200);
    assert_eq!(empty["total_amount_usd"], "0.00");
    api.sandbox
        .state()
        .fund_wallet(&w1_id, "base-mainnet", "USDC", "2500")
        .expect("funded");
    assert!(api
        .sandbox
        .state()
        .fund_wallet(&w1_id, "solana-devnet", "USDC", "1")
        .is_err());
    let bal = ok(&api.get(&format!("/wallets/{w1_id}/balances")).await, 200);
    assert_eq!(bal["total_amount_usd"], "2500.00");
    assert_eq!(bal["balances"][0]["asset"]["id"], "USDC");
    assert_eq!(bal["balances"][0]["asset"]["network_id"], "base-mainnet");
    assert_eq!(bal["balances"][0]["asset"]["decimals"], 6);
    hooks.wait_for("wallet.deposit", "wallet_id", &w1_id).await;

    // A transfer needs signatures of the wallet's groups.
    let to = w2["address"].as_str().expect("address");
    let k1 = ikey();
    let intent = transfer(&w1, to, "400", &k1);
    send(
        &api,
        Method::POST,
        &format!("/wallets/{w1_id}/transactions"),
        &json!({"intent": intent, "signatures": []}),
    )
    .await
    .problem(403);
    let stranger = Key::new();
    send(
        &api,
        Method::POST,
        &format!("/wallets/{w1_id}/transactions"),
        &endorsed(intent.clone(), &[&stranger]),
    )
    .await
    .problem(403);
    // Over the policy's limit: denied.
    send(
        &api,
        Method::POST,
        &format!("/wallets/{w1_id}/transactions"),
        &endorsed(transfer(&w1, to, "1500", &ikey()), &[&a]),
    )
    .await
    .problem(403);
    let t = ok(
        &send(
            &api,
            Method::POST,
            &format!("/wallets/{w1_id}/transactions"),
            &endorsed(intent.clone(), &[&a]),
        )
        .await,
        200,
    );
    assert_eq!(t["status"], "broadcasted");
    assert_eq!(t["resource_type"], "wallet");
    assert_eq!(t["network_id"], "base-mainnet");
    assert_eq!(t["amount"], "400.00");
    assert_eq!(t["asset"], "USD");
    let tx_id = t["id"].as_str().expect("id").to_owned();
    // The same signed intent again is the same transaction; another under its key is 409.
    let again = ok(
        &send(
            &api,
            Method::POST,
            &format!("/wallets/{w1_id}/transactions"),
            &endorsed(intent.clone(), &[&a]),
        )
        .await,
        200,
    );
    assert_eq!(again["id"], tx_id.as_str());
    send(
        &api,
        Method::POST,
        &format!("/wallets/{w1_id}/transactions"),
        &endorsed(transfer(&w1, to, "401", &k1), &[&a]),
    )
    .await
    .problem(409);
    // The intent must name the wallet of the path and come from its address.
    let r = send(
        &api,
        Method::POST,
        &format!("/wallets/{w2_id}/transactions"),
        &endorsed(transfer(&w1, to, "1", &ikey()), &[&a]),
    )
    .await;
    r.problem(400);

    // Confirmed: the funds moved from one wallet to the other.
    let updated = hooks
        .wait_for("wallet.transaction.updated", "id", &tx_id)
        .await;
    assert_eq!(updated["data"]["object"]["status"], "completed");
    assert_eq!(
        updated["data"]["previous_attributes"]["status"],
        "broadcasted"
    );
    let bal1 = ok(&api.get(&format!("/wallets/{w1_id}/balances")).await, 200);
    assert_eq!(bal1["total_amount_usd"], "2100.00");
    let bal2 = ok(&api.get(&format!("/wallets/{w2_id}/balances")).await, 200);
    assert_eq!(bal2["total_amount_usd"], "400.00");
    let dep = hooks.wait_for("wallet.deposit", "wallet_id", &w2_id).await;
    assert_eq!(dep["data"]["object"]["amount"], "400.00");
    assert_eq!(dep["data"]["object"]["transaction_id"], tx_id.as_str());

    // More than the wallet holds: broadcast, then failed on confirmation; nothing moves.
    let t2 = ok(
        &send(
            &api,
            Method::POST,
            &format!("/wallets/{w2_id}/transactions"),
            &endorsed(
                transfer(&w2, w1["address"].as_str().expect("a"), "900", &ikey()),
                &[&b],
            ),
        )
        .await,
        200,
    );
    let t2_id = t2["id"].as_str().expect("id").to_owned();
    let failed = hooks
        .wait_for("wallet.transaction.updated", "id", &t2_id)
        .await;
    assert_eq!(failed["data"]["object"]["status"], "failed");
    let bal2 = ok(&api.get(&format!("/wallets/{w2_id}/balances")).await, 200);
    assert_eq!(bal2["total_amount_usd"], "400.00");

    // The same events are in the event log.
    assert_eq!(
        events_of(&api, "wallet.created", "id", &w1_id).await.len(),
        1
    );
    assert_eq!(
        events_of(&api, "wallet.transaction.created", "id", &tx_id)
            .await
            .len(),
        1
    );
    assert_eq!(
        events_of(&api, "wallet.transaction.updated", "id", &tx_id)
            .await
            .len(),
        1
    );
    assert_eq!(
        events_of(&api, "wallet.deposit", "wallet_id", &w2_id)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn policies_rules_and_wallet_attachments() {
    let api = Api::start(sandbox()).await;
    let mut hooks = Hooks::register(&api).await;
    let (a, b, c) = (Key::new(), Key::new(), Key::new());
    signer(&api, "Alice", &a).await;
    signer(&api, "Bob", &b).await;
    signer(&api, "Carol", &c).await;
    let wallet_group = group(&api, "Wallet signers", &[&a, &b]).await;
    let policy_group = group(&api, "Policy admins", &[&c]).await;

    // Create, validate, list with pagination.
    let r = api
        .post(
            "/policies",
            &json!({"name": "Bad", "rules": [{"rule_type": "address_list", "action": "allow", "definition": {}}]}),
        )
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["rules[0].definition.addresses"]);
    api.post(
        "/policies",
        &json!({"name": "Bad", "signer_group_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b"}),
    )
    .await
    .problem(400);
    let mut ids = Vec::new();
    for name in ["Allowlist", "Two approvals", "Spare"] {
        let p = ok(
            &api.post(
                "/policies",
                &json!({"name": name, "signer_group_id": policy_group, "description": "test"}),
            )
            .await,
            201,
        );
        ids.push(p["id"].as_str().expect("id").to_owned());
    }
    let page = ok(&api.get("/policies?limit=2").await, 200);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["meta"]["total_count"], 3);
    let last = ok(
        &api.get(&format!("/policies?ending_before={}", ids[2]))
            .await,
        200,
    );
    assert_eq!(last["data"][1]["id"], ids[1].as_str());
    let pid = ids[0].clone();

    // Rules change only with the policy group's signature; each change raises the version.
    let allowed = "0xc328193448d7a7db42414edba24507eda7031bc8";
    let add = json!({
        "type": "add_policy_rule", "policy_id": pid, "rule_type": "address_list",
        "action": "allow", "definition": {"addresses": [allowed]}, "idempotency_key": ikey()
    });
    send(
        &api,
        Method::POST,
        &format!("/policies/{pid}/rules"),
        &endorsed(add.clone(), &[&a]),
    )
    .await
    .problem(403);
    let p = ok(
        &send(
            &api,
            Method::POST,
            &format!("/policies/{pid}/rules"),
            &endorsed(add.clone(), &[&c]),
        )
        .await,
        201,
    );
    assert_eq!(p["version"], 2);
    let rule_id = p["rules"][0]["id"].as_str().expect("rule id").to_owned();
    // The same intent again is applied once.
    let p = ok(
        &send(
            &api,
            Method::POST,
            &format!("/policies/{pid}/rules"),
            &endorsed(add, &[&c]),
        )
        .await,
        201,
    );
    assert_eq!(p["version"], 2);
    assert_eq!(p["rules"].as_array().map(Vec::len), Some(1));
    // Wrong intent type for the operation.
    send(
        &api,
        Method::POST,
        &format!("/policies/{pid}/rules"),
        &endorsed(
            json!({"type": "delete_policy", "policy_id": pid, "idempotency_key": ikey()}),
            &[&c],
        ),
    )
    .await
    .problem(400);

    // Attach to a wallet: signed by the wallet's group; announced.
    let w = wallet(&api, "Payouts", &[&wallet_group], &[]).await;
    let wid = w["id"].as_str().expect("id").to_owned();
    let attach = json!({"type": "attach_policy_to_wallet", "policy_id": pid, "wallet_id": wid, "idempotency_key": ikey()});
    send(
        &api,
        Method::PUT,
        &format!("/policies/{pid}/wallets/{wid}"),
        &endorsed(attach.clone(), &[&c]),
    )
    .await
    .problem(403);
    let r = send(
        &api,
        Method::PUT,
        &format!("/policies/{pid}/wallets/{wid}"),
        &endorsed(attach, &[&a]),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    let created = hooks
        .wait_for("wallet.policy.created", "wallet_id", &wid)
        .await;
    assert_eq!(created["data"]["object"]["policy_id"], pid.as_str());
    let upd = hooks.wait_for("wallet.updated", "id", &wid).await;
    assert_eq!(upd["data"]["previous_attributes"]["policy_ids"], json!([]));

    // The allowlist now governs the wallet's transfers.
    api.sandbox
        .state()
        .fund_wallet(&wid, "base-mainnet", "USDC", "100")
        .expect("funded");
    send(
        &api,
        Method::POST,
        &format!("/wallets/{wid}/transactions"),
        &endorsed(
            transfer(
                &w,
                "0x1111111111111111111111111111111111111111",
                "5",
                &ikey(),
            ),
            &[&a],
        ),
    )
    .await
    .problem(403);
    ok(
        &send(
            &api,
            Method::POST,
            &format!("/wallets/{wid}/transactions"),
            &endorsed(transfer(&w, allowed, "5", &ikey()), &[&a]),
        )
        .await,
        200,
    );

    // An approval threshold of 2 needs both wallet signers.
    let two = ids[1].clone();
    ok(
        &send(
            &api,
            Method::POST,
            &format!("/policies/{two}/rules"),
            &endorsed(
                json!({"type": "add_policy_rule", "policy_id": two, "rule_type": "approval_threshold",
                       "action": "allow", "definition": {"min_approvals": 2}, "idempotency_key": ikey()}),
                &[&c],
            ),
        )
        .await,
        201,
    );
    let attach2 = json!({"type": "attach_policy_to_wallet", "policy_id": two, "wallet_id": wid, "idempotency_key": ikey()});
    let r = send(
        &api,
        Method::PUT,
        &format!("/policies/{two}/wallets/{wid}"),
        &endorsed(attach2, &[&a]),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    send(
        &api,
        Method::POST,
        &format!("/wallets/{wid}/transactions"),
        &endorsed(transfer(&w, allowed, "5", &ikey()), &[&a]),
    )
    .await
    .problem(403);
    ok(
        &send(
            &api,
            Method::POST,
            &format!("/wallets/{wid}/transactions"),
            &endorsed(transfer(&w, allowed, "5", &ikey()), &[&a, &b]),
        )
        .await,
        200,
    );

    // Update and remove the allowlist rule.
    let upd = json!({"type": "update_policy_rule", "policy_id": pid, "rule_id": rule_id,
                     "updated_definition": "{\"addresses\":[\"0x2222222222222222222222222222222222222222\"]}",
                     "idempotency_key": ikey()});
    let p = ok(
        &send(
            &api,
            Method::PATCH,
            &format!("/policies/{pid}/rules/{rule_id}"),
            &endorsed(upd, &[&c]),
        )
        .await,
        200,
    );
    assert_eq!(p["version"], 3);
    assert_eq!(
        p["rules"][0]["definition"]["addresses"][0],
        "0x2222222222222222222222222222222222222222"
    );
    let changed = hooks
        .wait_for("wallet.policy.updated", "wallet_id", &wid)
        .await;
    assert_eq!(changed["data"]["object"]["status"], "rules_changed");
    let rm = json!({"type": "remove_policy_rule", "policy_id": pid, "rule_id": rule_id, "idempotency_key": ikey()});
    let r = send(
        &api,
        Method::DELETE,
        &format!("/policies/{pid}/rules/{rule_id}"),
        &endorsed(rm.clone(), &[&c]),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    let p = ok(&api.get(&format!("/policies/{pid}")).await, 200);
    assert_eq!(p["version"], 4);
    assert_eq!(p["rules"].as_array().map_or(0, Vec::len), 0);

    // Detach the threshold policy; deleting the other detaches it everywhere.
    let detach = json!({"type": "detach_policy_from_wallet", "policy_id": two, "wallet_id": wid, "idempotency_key": ikey()});
    let r = send(
        &api,
        Method::DELETE,
        &format!("/policies/{two}/wallets/{wid}"),
        &endorsed(detach, &[&a, &b]),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    let del = json!({"type": "delete_policy", "policy_id": pid, "idempotency_key": ikey()});
    let r = send(
        &api,
        Method::DELETE,
        &format!("/policies/{pid}"),
        &endorsed(del, &[&c]),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    api.get(&format!("/policies/{pid}")).await.problem(404);
    let pols = ok(&api.get(&format!("/wallets/{wid}/policies")).await, 200);
    assert_eq!(pols, json!([]));
    let detached: Vec<Value> = events_of(&api, "wallet.policy.updated", "wallet_id", &wid)
        .await
        .into_iter()
        .filter(|e| e["data"]["object"]["status"] == "detached")
        .collect();
    assert_eq!(detached.len(), 2);
}

#[tokio::test]
async fn wallet_signer_groups_and_customer_approval() {
    let api = Api::start(sandbox()).await;
    let mut hooks = Hooks::register(&api).await;
    let (a, b) = (Key::new(), Key::new());
    signer(&api, "Alice", &a).await;
    signer(&api, "Bob", &b).await;
    let g1 = group(&api, "First", &[&a]).await;
    let g2 = group(&api, "Second", &[&b]).await;

    // A wallet held for a customer whose onboarding is not approved moves no money.
    let c = api
        .create_customer_with(
            "Harbor & Pine",
            "business",
            &[("x-sandbox-skip-auto-approval", "true")],
        )
        .await;
    let cid = c["id"].as_str().expect("id").to_owned();
    let w = ok(
        &api.post(
            "/wallets",
            &json!({"name": "Customer wallet", "family": "evm", "signer_groups": [g1], "policies": [], "customer_id": cid}),
        )
        .await,
        201,
    );
    assert_eq!(w["customer_id"], cid.as_str());
    assert_eq!(w["customer_name"], "Harbor & Pine");
    let wid = w["id"].as_str().expect("id").to_owned();
    api.sandbox
        .state()
        .fund_wallet(&wid, "base-mainnet", "USDC", "50")
        .expect("funded");
    let to = "0x3333333333333333333333333333333333333333";
    let r = send(
        &api,
        Method::POST,
        &format!("/wallets/{wid}/transactions"),
        &endorsed(transfer(&w, to, "5", &ikey()), &[&a]),
    )
    .await;
    assert!(r.problem(403)["detail"]
        .as_str()
        .is_some_and(|d| d.contains("not approved")));
    let sim = api
        .post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_approve", "applicant_id": cid, "simulation_id": "approve-1"}),
        )
        .await;
    ok(&sim, 200);
    ok(
        &send(
            &api,
            Method::POST,
            &format!("/wallets/{wid}/transactions"),
            &endorsed(transfer(&w, to, "5", &ikey()), &[&a]),
        )
        .await,
        200,
    );

    // Attach a second group (signed by the first), detach the first (signed by the second).
    let attach = json!({"type": "attach_group_to_wallet", "wallet_id": wid, "group_id": g2, "idempotency_key": ikey()});
    let path = format!("/wallets/{wid}/signer-groups/{g2}");
    send(&api, Method::PUT, &path, &endorsed(attach.clone(), &[&b]))
        .await
        .problem(403);
    let r = send(&api, Method::PUT, &path, &endorsed(attach, &[&a])).await;
    assert_eq!(r.status.as_u16(), 204);
    let ev = hooks
        .wait_for("wallet.signer_group.created", "wallet_id", &wid)
        .await;
    assert_eq!(ev["data"]["object"]["signer_group_id"], g2.as_str());
    let groups = ok(
        &api.get(&format!("/wallets/{wid}/signer-groups")).await,
        200,
    );
    assert_eq!(groups.as_array().map(Vec::len), Some(2));

    let detach = json!({"type": "detach_group_from_wallet", "wallet_id": wid, "group_id": g1, "idempotency_key": ikey()});
    let r = send(
        &api,
        Method::DELETE,
        &format!("/wallets/{wid}/signer-groups/{g1}"),
        &endorsed(detach, &[&b]),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    let ev = hooks
        .wait_for("wallet.signer_group.updated", "wallet_id", &wid)
        .await;
    assert_eq!(ev["data"]["object"]["status"], "detached");
    // The last group stays.
    let last = json!({"type": "detach_group_from_wallet", "wallet_id": wid, "group_id": g2, "idempotency_key": ikey()});
    send(
        &api,
        Method::DELETE,
        &format!("/wallets/{wid}/signer-groups/{g2}"),
        &endorsed(last, &[&b]),
    )
    .await
    .problem(409);
    // Alice no longer signs for this wallet.
    send(
        &api,
        Method::POST,
        &format!("/wallets/{wid}/transactions"),
        &endorsed(transfer(&w, to, "1", &ikey()), &[&a]),
    )
    .await
    .problem(403);
}
