//! Simulation runs: a manual review held until advanced, onboarding simulations read back,
//! their callbacks (events and delivery attempts) and the documented refusals.

mod common;
mod receiver;

use common::{fast, Api, Resp};
use receiver::Hooks;
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

#[tokio::test]
async fn manual_review_waits_for_advance() {
    let api = Api::start(fast()).await;
    let mut hooks = Hooks::register(&api).await;
    let c = api
        .create_customer_with(
            "Harbor & Pine",
            "business",
            &[("x-sandbox-scenario", "kyb_manual_review")],
        )
        .await;
    let app = c["application_id"]
        .as_str()
        .expect("application id")
        .to_owned();
    let customer = c["id"].as_str().expect("id").to_owned();

    let run = ok(&api.get(&format!("/sandbox/simulations/{app}")).await, 200);
    assert_eq!(run["simulation_id"], app.as_str());
    assert_eq!(run["scenario"], "kyb_manual_review");
    assert_eq!(run["awaiting_advance"], true);
    assert_eq!(run["state_position"], "manual_review");
    assert_eq!(
        run["advance_actions_available"],
        json!(["approve", "reject", "request_information"])
    );
    assert_eq!(run["metadata"]["customer_id"], customer.as_str());
    assert!(run["organization_id"].is_string());

    // An action the run does not offer is 400; the right one resolves it.
    api.post(
        &format!("/sandbox/simulations/{app}/advance"),
        &json!({"action": "settle"}),
    )
    .await
    .problem(400);
    let done = ok(
        &api.post(
            &format!("/sandbox/simulations/{app}/advance"),
            &json!({"action": "approve", "reason_code": "documents_ok"}),
        )
        .await,
        200,
    );
    assert_eq!(done["previous_state"], "accepted");
    assert_eq!(done["new_state"], "completed");
    assert_eq!(done["callbacks_scheduled"], 2);
    // Nothing left to resolve.
    api.post(
        &format!("/sandbox/simulations/{app}/advance"),
        &json!({"action": "approve"}),
    )
    .await
    .problem(409);

    let cust = api.customer(&customer).await;
    assert_eq!(cust["kyb_status"], "active");
    let ev = hooks
        .wait_for("customer.kyb_status.updated", "id", &customer)
        .await;
    assert_eq!(ev["metadata"]["simulation_id"], app.as_str());

    // The run lists its callbacks with their delivery.
    let mut run = ok(&api.get(&format!("/sandbox/simulations/{app}")).await, 200);
    for _ in 0..50 {
        if run["callbacks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|x| x["state"] == "delivered"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        run = ok(&api.get(&format!("/sandbox/simulations/{app}")).await, 200);
    }
    assert_eq!(run["awaiting_advance"], false);
    assert_eq!(run["state"], "completed");
    assert!(run["completed_at"].is_string());
    let cbs = run["callbacks"].as_array().expect("callbacks");
    assert_eq!(cbs.len(), 2);
    assert!(cbs.iter().all(|c| c["state"] == "delivered"));
    let payload: Value =
        serde_json::from_str(cbs[0]["payload_json"].as_str().expect("payload")).expect("JSON");
    assert_eq!(payload["metadata"]["simulation_id"], app.as_str());
    // The webhook history filters by the run's id too.
    let hist = ok(
        &api.get(&format!("/webhooks?simulation_id={app}")).await,
        200,
    );
    assert_eq!(hist["data"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn onboarding_simulations_read_back_and_unknown_runs() {
    let api = Api::start(fast().auto_approve_after(std::time::Duration::from_secs(3600))).await;
    let c = api.create_customer("Jane Doe", "individual").await;
    let customer = c["id"].as_str().expect("id");
    ok(
        &api.post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_reject", "applicant_id": customer, "simulation_id": "sim-reject-1"}),
        )
        .await,
        200,
    );
    let run = ok(&api.get("/sandbox/simulations/sim-reject-1").await, 200);
    assert_eq!(run["operation"], "kyb_reject");
    assert_eq!(run["state"], "completed");
    assert_eq!(run["state_position"], "declined");
    assert_eq!(run["awaiting_advance"], false);
    // No webhook target: the events are logged, with nothing to deliver.
    assert_eq!(run["callbacks"].as_array().map(Vec::len), Some(2));
    api.post(
        "/sandbox/simulations/sim-reject-1/advance",
        &json!({"action": "approve"}),
    )
    .await
    .problem(409);
    api.get("/sandbox/simulations/no-such-run")
        .await
        .problem(404);
    api.post(
        "/sandbox/simulations/no-such-run/advance",
        &json!({"action": "approve"}),
    )
    .await
    .problem(404);
    // The spec documents 403 (not 401) for these without credentials.
    Api::send(api.http.get(api.url("/sandbox/simulations/sim-reject-1")))
        .await
        .problem(403);
}
