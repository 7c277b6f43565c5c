//! Every `X-Sandbox-*` header changes the outcome as documented.

mod common;

use std::time::{Duration, Instant};

use common::{fast, Api};
use reqwest::{Method, StatusCode};
use serde_json::json;

const SKIP: (&str, &str) = ("X-Sandbox-Skip-Auto-Approval", "true");

async fn status_of(api: &Api, created: &serde_json::Value) -> (String, String) {
    let c = api.customer(created["id"].as_str().expect("id")).await;
    (
        c["application_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        c["kyb_status"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn happy_path_is_approved() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Happy Corp",
            "business",
            &[("X-Sandbox-Scenario", "happy_path")],
        )
        .await;
    assert_eq!(
        status_of(&api, &c).await,
        ("approved".into(), "active".into())
    );
}

#[tokio::test]
async fn skip_auto_approval_keeps_pending() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with("Manual Corp", "business", &[SKIP])
        .await;
    assert_eq!(
        status_of(&api, &c).await,
        ("pending".into(), "pending".into())
    );
    // "false" does not skip; a value that is not a boolean is refused (the header is typed
    // boolean by the spec).
    let c = api
        .create_customer_with(
            "Auto Corp",
            "business",
            &[("X-Sandbox-Skip-Auto-Approval", "false")],
        )
        .await;
    assert_eq!(
        status_of(&api, &c).await,
        ("approved".into(), "active".into())
    );
    let r = Api::send(
        api.write(reqwest::Method::POST, "/customers")
            .header("X-Sandbox-Skip-Auto-Approval", "nope")
            .json(&serde_json::json!({"name": "Nope Corp", "customer_type": "business"})),
    )
    .await;
    assert_eq!(
        r.problem(400)["errors"][0]["field"],
        "x-sandbox-skip-auto-approval"
    );
}

#[tokio::test]
async fn auto_approval_waits_for_the_configured_delay() {
    let api = Api::start(fast().auto_approve_after(Duration::from_millis(1200))).await;
    let c = api.create_customer("Waiting Corp", "individual").await;
    assert_eq!(
        status_of(&api, &c).await,
        ("pending".into(), "pending".into())
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        status_of(&api, &c).await,
        ("approved".into(), "active".into())
    );
}

#[tokio::test]
async fn instant_completion_decides_at_once() {
    let api = Api::start(fast().auto_approve_after(Duration::from_secs(3600))).await;
    let slow = api.create_customer("Slow Corp", "business").await;
    assert_eq!(status_of(&api, &slow).await.0, "pending");
    let fast_one = api
        .create_customer_with(
            "Fast Corp",
            "business",
            &[("X-Sandbox-Instant-Completion", "true")],
        )
        .await;
    assert_eq!(
        status_of(&api, &fast_one).await,
        ("approved".into(), "active".into())
    );
}

#[tokio::test]
async fn kyb_manual_review_stays_under_review_until_simulated() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Review Corp",
            "business",
            &[("X-Sandbox-Scenario", "kyb_manual_review")],
        )
        .await;
    assert_eq!(status_of(&api, &c).await.0, "under_review");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        status_of(&api, &c).await,
        ("under_review".into(), "pending".into())
    );
    let r = api
        .post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_approve", "applicant_id": c["application_id"], "simulation_id": "review-1"}),
        )
        .await;
    assert_eq!(r.json()["previous_state"], "under_review");
    assert_eq!(
        status_of(&api, &c).await,
        ("approved".into(), "active".into())
    );
}

#[tokio::test]
async fn kyb_rejected_is_declined() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Rejected Corp",
            "business",
            &[("X-Sandbox-Scenario", "kyb_rejected")],
        )
        .await;
    assert_eq!(
        status_of(&api, &c).await,
        ("declined".into(), "rejected".into())
    );
    let cust = api.customer(c["id"].as_str().expect("id")).await;
    assert_eq!(cust["decision"], "declined");
    assert_eq!(cust["kyc_status"], "rejected");
    let app = api
        .application(c["application_id"].as_str().expect("app"))
        .await;
    assert_eq!(app["application_decision"], "declined");
}

#[tokio::test]
async fn kyb_expired_reads_as_withdrawn_and_refuses_its_token() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Expired Corp",
            "individual",
            &[("X-Sandbox-Scenario", "kyb_expired")],
        )
        .await;
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().expect("now");
    assert!(c["application_expires_at"].as_i64().expect("ns") < now_ns);
    let app_id = c["application_id"].as_str().expect("app");
    let app = api.application(app_id).await;
    assert_eq!(app["application_status"], "declined");
    assert_eq!(app["application_decision"], "withdrawn");
    let cust = api.customer(c["id"].as_str().expect("id")).await;
    assert_eq!(cust["decision"], "withdrawn");
    assert_eq!(cust["kyc_status"], "expired");
    let token = api.sandbox.application_token(app_id).expect("token");
    let r = Api::send(
        api.http
            .get(api.url(&format!("/applications/{app_id}")))
            .header("X-Application-Token", token),
    )
    .await;
    assert!(r.problem(403)["detail"]
        .as_str()
        .expect("detail")
        .contains("expired"));
}

#[tokio::test]
async fn provider_maintenance_is_503_with_retry_after_and_creates_nothing() {
    let api = Api::start(fast()).await;
    let r = Api::send(
        api.write(Method::POST, "/customers")
            .header("X-Sandbox-Scenario", "provider_maintenance")
            .json(&json!({"name": "Down Corp", "customer_type": "business"})),
    )
    .await;
    r.problem(503);
    assert_eq!(r.header("retry-after"), Some("30"));
    assert_eq!(api.sandbox.state().customer_count(), 0);
}

#[tokio::test]
async fn intermittent_errors_fail_every_other_attempt_per_key() {
    let api = Api::start(fast()).await;
    let key = uuid::Uuid::new_v4().to_string();
    let attempt = || {
        Api::send(
            api.req(Method::POST, "/customers")
                .header("x-idempotency-key", &key)
                .header("X-Sandbox-Scenario", "intermittent_errors")
                .json(&json!({"name": "Flaky Corp", "customer_type": "business"})),
        )
    };
    let first = attempt().await;
    first.problem(503);
    assert_eq!(first.header("retry-after"), Some("1"));
    let second = attempt().await;
    assert_eq!(second.status, StatusCode::CREATED);
    let third = attempt().await;
    assert_eq!(third.status, StatusCode::CREATED);
    assert_eq!(third.bytes, second.bytes);
    assert_eq!(api.sandbox.state().customer_count(), 1);
    // A new key starts failing again.
    let other = Api::send(
        api.write(Method::POST, "/customers")
            .header("X-Sandbox-Scenario", "intermittent_errors")
            .json(&json!({"name": "Flaky Corp", "customer_type": "business"})),
    )
    .await;
    other.problem(503);
}

#[tokio::test]
async fn network_timeout_commits_then_delays_and_a_retry_replays() {
    let api = Api::start(fast().network_timeout_delay(Duration::from_millis(1500))).await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"name": "Timeout Corp", "customer_type": "business"});
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = impatient
        .post(api.url("/customers"))
        .header("x-api-key", api.sandbox.api_key())
        .header("x-idempotency-key", &key)
        .header("X-Sandbox-Scenario", "network_timeout")
        .json(&body)
        .send()
        .await
        .expect_err("the client times out");
    assert!(err.is_timeout(), "{err}");
    // The commit comes before the held-back response; on a loaded machine it may land just
    // after the client gave up, so wait for it, well inside the 1.5 s delay.
    let waiting = Instant::now();
    while api.sandbox.state().customer_count() == 0 && waiting.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        api.sandbox.state().customer_count(),
        1,
        "committed before the delay"
    );
    let t = Instant::now();
    let retry = Api::send(
        api.req(Method::POST, "/customers")
            .header("x-idempotency-key", &key)
            .header("X-Sandbox-Scenario", "network_timeout")
            .json(&body),
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "the replay is not delayed"
    );
    assert_eq!(api.sandbox.state().customer_count(), 1);
}

#[tokio::test]
async fn error_headers_inject_the_given_status() {
    let api = Api::start(fast()).await;
    let r = Api::send(
        api.write(Method::POST, "/customers")
            .header("X-Sandbox-Error-Step", "kyb_submission")
            .header("X-Sandbox-Error-Status", "502")
            .header("X-Sandbox-Error-Message", "Provider said no")
            .json(&json!({"name": "Broken Corp", "customer_type": "business"})),
    )
    .await;
    let p = r.problem(502);
    assert_eq!(p["detail"], "Provider said no");
    let r = Api::send(
        api.write(Method::POST, "/customers")
            .header("X-Sandbox-Error-Status", "409")
            .json(&json!({"name": "Broken Corp", "customer_type": "business"})),
    )
    .await;
    assert!(r.problem(409)["detail"]
        .as_str()
        .expect("detail")
        .contains("provider_call"));
    assert_eq!(api.sandbox.state().customer_count(), 0);
    // Below 400 (or not a number) nothing is injected.
    for status in ["200", "abc", "700"] {
        let r = Api::send(
            api.write(Method::POST, "/customers")
                .header("X-Sandbox-Error-Status", status)
                .json(&json!({"name": "Fine Corp", "customer_type": "business"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn unknown_scenario_is_rejected() {
    let api = Api::start(fast()).await;
    let r = Api::send(
        api.write(Method::POST, "/customers")
            .header("X-Sandbox-Scenario", "meteor_strike")
            .json(&json!({"name": "Odd Corp", "customer_type": "business"})),
    )
    .await;
    r.problem(400);
    assert_eq!(r.error_fields(), vec!["X-Sandbox-Scenario".to_owned()]);
}
