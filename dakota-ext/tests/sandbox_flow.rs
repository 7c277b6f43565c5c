//! dakota-ext against the local sandbox: the seeds' onboarding flow, no duplicates by
//! external id, a full business application, pagination, idempotent replays and the rate
//! limits the sandbox enforces.

use std::time::Duration;

use dakota_api::types;
use dakota_ext::onboarding::NewCustomer;
use dakota_ext::{CallOptions, CustomerFilter, Dakota, Decision, Error, WaitPolicy};
use dakota_sandbox::{Sandbox, SandboxBuilder};
use futures::StreamExt;
use serde_json::json;

async fn start(b: SandboxBuilder) -> (Sandbox, Dakota) {
    let sandbox = b.start().await.expect("sandbox starts");
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("local URL")
        .api_key(sandbox.api_key())
        .build()
        .expect("client");
    (sandbox, dakota)
}

fn fast_poll() -> WaitPolicy {
    WaitPolicy::default()
        .initial_interval(Duration::from_millis(50))
        .max_interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(20))
        .max_polls_per_hour(90)
}

#[tokio::test]
async fn seeds_flow_individual_acme_corp() {
    let (sandbox, dakota) = start(
        Sandbox::builder()
            // Long enough for the two reads below to see `pending` on a loaded machine.
            .auto_approve_after(Duration::from_secs(2))
            .rate_limit_per_minute(10_000),
    )
    .await;
    let before = chrono::Utc::now();
    let o = dakota
        .onboarding()
        .start(NewCustomer::individual("Acme Corp").external_id("usr_12345"))
        .await
        .expect("onboarding starts");
    assert!(o.created);
    assert!(o
        .application_url
        .as_str()
        .contains(&o.application_id.to_string()));
    let expires = o.expires_at.expect("expiry");
    let days = (expires - before).num_days();
    assert!((29..=30).contains(&days), "expires in 30 days, got {days}");

    let customer = o.customer(&dakota).await.expect("customer");
    assert_eq!(customer.name, "Acme Corp");
    assert_eq!(customer.id.to_string(), o.customer_id.to_string());
    assert_eq!(
        o.status(&dakota).await.expect("status"),
        types::ApplicationStatus::Pending
    );

    let mut seen = Vec::new();
    let mut transitions = std::pin::pin!(o.transitions(&dakota, fast_poll()));
    while let Some(t) = transitions.next().await {
        seen.push(t.expect("transition"));
    }
    let last = seen.last().expect("at least one observation");
    assert_eq!(last.decision, Some(Decision::Approved));
    assert_eq!(last.to, types::ApplicationStatus::Approved);
    assert_eq!(sandbox.state().customer_count(), 1);
}

#[tokio::test]
async fn same_external_id_never_makes_a_second_customer() {
    let (sandbox, dakota) = start(Sandbox::builder().rate_limit_per_minute(10_000)).await;
    let new = || NewCustomer::individual("Acme Corp").external_id("usr_12345");
    let first = dakota.onboarding().start(new()).await.expect("first");
    let again = dakota.onboarding().start(new()).await.expect("again");
    assert!(first.created && !again.created);
    assert_eq!(first.customer_id, again.customer_id);
    assert_eq!(first.application_id, again.application_id);
    // Ten concurrent starts of another external id: still one customer for it.
    let racing = futures::future::join_all((0..10).map(|_| {
        let d = &dakota;
        async move {
            d.onboarding()
                .start(NewCustomer::business("Harbor & Pine Trading LLC").external_id("org_77"))
                .await
        }
    }))
    .await;
    let ids: std::collections::HashSet<String> = racing
        .into_iter()
        .map(|r| r.expect("start").customer_id.to_string())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(sandbox.state().customer_count(), 2);
}

fn person(first: &str, roles: &[&str]) -> types::IndividualRequest {
    serde_json::from_value(json!({
        "name": {"first": first, "last": "Hopper"},
        "date_of_birth": "1980-02-29",
        "nationalities": ["US"],
        "address": {"street1": "1 Market St", "city": "San Francisco", "country": "US"},
        "email_address": format!("{}@harborpine.co", first.to_lowercase()),
        "roles": roles,
        "title": "ceo"
    }))
    .expect("a valid individual request")
}

#[tokio::test]
async fn business_application_details_attestations_submit_decision() {
    let (_sandbox, dakota) = start(
        Sandbox::builder()
            // No timer decides it (one counted from creation raced the steps below on a
            // loaded machine): the platform approves the submitted application itself.
            .auto_approve_after(Duration::from_secs(3600))
            .rate_limit_per_minute(10_000),
    )
    .await;
    let o = dakota
        .onboarding()
        .start(NewCustomer::business("Harbor & Pine Trading LLC"))
        .await
        .expect("start");

    // Submitting too early is a typed "not ready" error that lists what is missing.
    let err = o.submit(&dakota).await.expect_err("not ready yet");
    let Error::Api(e) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(e.status, 400);
    let not_ready: types::ApplicationNotReadyError = e.body_as().expect("ApplicationNotReadyError");
    assert!(!not_ready.missing_attestations.is_empty());

    let details: types::BusinessApplicationCreateRequest = serde_json::from_value(json!({
        "legal_name": "Harbor & Pine Trading LLC", "registration_number": "7719204",
        "country_of_incorporation": "US", "date_of_incorporation": "2021-05-18",
        "legal_structure": "llc", "industry_code": "425120",
        "business_description": "Wholesale timber brokerage",
        "average_monthly_revenue": "0_to_500k",
        "registered_address": {"street1": "8 The Green", "city": "Dover", "country": "US"},
        "expected_monthly_deposit": "0_to_50k", "expected_monthly_transaction_volume": "0_to_10",
        "purpose_of_account": ["business_expenses"], "source_of_funds": ["proprietary_funds"],
        "has_bearer_shares": false, "owned_by_foundation": false,
        "transact_on_behalf_of_third_parties": false
    }))
    .expect("valid business details");
    o.business_details(&dakota, details)
        .await
        .expect("business details");
    let control = o
        .add_associated_individual(&dakota, person("Grace", &["control_person"]))
        .await
        .expect("control person");
    for kind in [
        types::AttestationType::InformationAccuracy,
        types::AttestationType::TermsOfService,
        types::AttestationType::PrivacyPolicy,
        types::AttestationType::ESign,
    ] {
        o.attest(
            &dakota,
            types::AttestationSubmitRequest::builder()
                .applicant_id(control.id.to_string())
                .attestation_type(kind)
                .timestamp(chrono::Utc::now().timestamp())
                .try_into()
                .expect("a valid attestation"),
        )
        .await
        .expect("attestation");
    }
    let submitted = o.submit(&dakota).await.expect("submit");
    assert_eq!(
        submitted.application_status,
        types::ApplicationStatus::Submitted
    );
    let approve: types::SimulateOnboardingBody = serde_json::from_value(json!({
        "type": "kyb_approve",
        "applicant_id": o.customer_id.to_string(),
        "simulation_id": "harbor-approve-1",
    }))
    .expect("simulation request");
    dakota
        .call(dakota.api().simulate_onboarding().body(approve).send())
        .await
        .expect("approve the submitted application");
    let decision = o
        .wait_for_decision(&dakota, fast_poll())
        .await
        .expect("decision");
    assert_eq!(decision, Decision::Approved);
}

#[tokio::test]
async fn customers_stream_walks_every_page_once() {
    let (_sandbox, dakota) = start(Sandbox::builder().rate_limit_per_minute(10_000)).await;
    for i in 0..23 {
        dakota
            .onboarding()
            .start(NewCustomer::individual(format!("Paged Customer {i:02}")))
            .await
            .expect("create");
    }
    let all: Vec<types::Customer> = dakota
        .all_customers(CustomerFilter {
            page_size: Some(5),
            ..CustomerFilter::default()
        })
        .map(|r| r.expect("page"))
        .collect()
        .await;
    assert_eq!(all.len(), 23);
    let ids: std::collections::HashSet<_> = all.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids.len(), 23, "no customer twice");
}

#[tokio::test]
async fn caller_supplied_idempotency_key_replays_instead_of_creating() {
    let (sandbox, dakota) = start(Sandbox::builder().rate_limit_per_minute(10_000)).await;
    let key = uuid::Uuid::new_v4().to_string();
    let body: types::CustomerCreateRequest =
        serde_json::from_value(json!({"name": "Acme Corp", "customer_type": "individual"}))
            .expect("body");
    let api = dakota.api();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = dakota
            .call_with(
                CallOptions::default().idempotency_key(key.clone()),
                api.create_customer().body(body.clone()).send(),
            )
            .await
            .expect("create");
        assert_eq!(r.idempotency_key(), Some(key.as_str()));
        ids.push(r.into_inner().id.to_string());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(sandbox.state().customer_count(), 1);
}

#[tokio::test]
async fn rate_limited_burst_is_absorbed_by_pacing_and_retries() {
    let sandbox = Sandbox::builder()
        .rate_limit_per_minute(5)
        .rate_limit_window(Duration::from_secs(1))
        .start()
        .await
        .expect("sandbox");
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("url")
        .api_key(sandbox.api_key())
        .pacing(true)
        .build()
        .expect("client");
    let results = futures::future::join_all((0..12).map(|i| {
        let d = &dakota;
        async move {
            d.onboarding()
                .start(NewCustomer::individual(format!("Burst {i:02}")))
                .await
        }
    }))
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(sandbox.state().customer_count(), 12);
}
