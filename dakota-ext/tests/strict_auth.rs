//! Onboarding against a sandbox that enforces each operation's spec `security` exactly
//! (`strict_auth`): the applicant's side runs with a client that holds only the application
//! token, as an applicant's browser or a separate service would; routes that take only the
//! token refuse the API key.

use std::time::Duration;

use dakota_api::types;
use dakota_ext::onboarding::NewCustomer;
use dakota_ext::{Dakota, Decision, Error, WaitPolicy};
use serde_json::json;

fn individual() -> types::IndividualRequest {
    serde_json::from_value(json!({
        "name": {"first": "Ada", "last": "Okafor"},
        "date_of_birth": "1988-07-14",
        "nationalities": ["US"],
        "address": {"street1": "40 Water St", "city": "Boston", "country": "US"},
        "email_address": "ada@okaforstudio.com",
        "roles": ["individual"],
        "employment_status": "employed",
        "purpose_of_account": ["investing"],
        "source_of_wealth": ["employment"]
    }))
    .expect("a valid individual request")
}

#[tokio::test]
async fn an_applicant_with_only_the_token_completes_onboarding_on_a_strict_sandbox() {
    let sandbox = dakota_sandbox::Sandbox::builder()
        .strict_auth(true)
        // No timer decides this application: a timer counted from creation raced the
        // applicant's own steps on a loaded machine (approved, then 409 on an attestation).
        // The platform approves it below, after the submission, as Dakota's sandbox does.
        .auto_approve_after(Duration::from_secs(3600))
        .rate_limit_per_minute(10_000)
        .start()
        .await
        .expect("sandbox");
    let platform = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("url")
        .api_key(sandbox.api_key())
        .build()
        .expect("key client");
    let o = platform
        .onboarding()
        .start(NewCustomer::individual("Ada Okafor").external_id("strict-1"))
        .await
        .expect("the platform creates the customer with its key");

    // The raw API with only the key: a token-only route refuses it in strict mode.
    let err = platform
        .call(
            platform
                .api()
                .get_application()
                .application_id(o.application_id)
                .send(),
        )
        .await
        .expect_err("strict: no key on token routes");
    assert!(
        matches!(err.status(), Some(401 | 403)),
        "expected 401/403, got {err:?}"
    );

    // The facade sends the application's token on those routes, also from the key client.
    o.application(&platform)
        .await
        .expect("the facade uses the token");

    let token = o
        .application_url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("application_url carries the token");
    let applicant = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("url")
        .application_token(token)
        .build()
        .expect("token-only client");

    o.individual_details(&applicant, individual())
        .await
        .expect("details with the token");
    let app = applicant
        .call(
            applicant
                .api()
                .get_application()
                .application_id(o.application_id)
                .include("entities")
                .send(),
        )
        .await
        .expect("the application, read with the token alone")
        .into_inner();
    let applicant_id = app
        .entities
        .as_ref()
        .and_then(|e| e.primary_individual.as_ref())
        .map(|i| i.id.clone())
        .expect("the individual's id");
    for kind in [
        types::AttestationType::InformationAccuracy,
        types::AttestationType::TermsOfService,
        types::AttestationType::PrivacyPolicy,
        types::AttestationType::ESign,
    ] {
        let attestation: types::AttestationSubmitRequest = serde_json::from_value(json!({
            "applicant_id": applicant_id,
            "attestation_type": kind,
            "timestamp": chrono::Utc::now().timestamp(),
        }))
        .expect("attestation");
        o.attest(&applicant, attestation)
            .await
            .expect("attestation with the token");
    }
    o.submit(&applicant).await.expect("submit with the token");
    let approve: types::SimulateOnboardingBody = serde_json::from_value(json!({
        "type": "kyb_approve",
        "applicant_id": o.customer_id.to_string(),
        "simulation_id": "strict-approve-1",
    }))
    .expect("simulation request");
    platform
        .call(platform.api().simulate_onboarding().body(approve).send())
        .await
        .expect("the platform approves the submitted application");
    let decision = o
        .wait_for_decision(
            &applicant,
            WaitPolicy::default()
                .initial_interval(Duration::from_millis(50))
                .max_interval(Duration::from_millis(200))
                .timeout(Duration::from_secs(20))
                .max_polls_per_hour(90),
        )
        .await
        .expect("decision");
    assert_eq!(decision, Decision::Approved);

    // A key-only operation from the token-only client is refused before sending.
    let err = o.customer(&applicant).await.expect_err("no API key");
    assert!(
        matches!(
            err,
            Error::MissingCredential {
                operation: "getCustomer",
                ..
            }
        ),
        "{err:?}"
    );
}
