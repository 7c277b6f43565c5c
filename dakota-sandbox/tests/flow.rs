//! End-to-end onboarding flows over plain HTTP.

mod common;

use common::{business, fast, person, Api};
use dakota_api::types;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn seed_flow_individual_customer_is_approved() {
    let api = Api::start(fast()).await;
    let created = api
        .post(
            "/customers",
            &json!({"name": "Acme Corp", "customer_type": "individual", "external_id": "usr_12345"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let created: types::CustomerCreateResponse =
        serde_json::from_slice(&created.bytes).expect("CustomerCreateResponse");
    assert_eq!(created.id.len(), 27);
    assert!(created.id.parse::<svix_ksuid::Ksuid>().is_ok());
    let app_id = created.application_id.to_string();
    let token = api.sandbox.application_token(&app_id).expect("token");
    assert_eq!(
        created.application_url,
        format!(
            "{}/applications/{app_id}?token={token}",
            api.sandbox.base_url()
        )
    );
    // Unix nanoseconds, ~30 days ahead.
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().expect("now");
    let thirty_days_ns: i64 = 30 * 24 * 3600 * 1_000_000_000;
    assert!((created.application_expires_at - now_ns - thirty_days_ns).abs() < 60 * 1_000_000_000);

    let customer: types::Customer =
        serde_json::from_value(api.customer(&created.id).await).expect("Customer");
    assert_eq!(customer.name, "Acme Corp");
    assert_eq!(
        customer.customer_type,
        types::CustomerCustomerType::Individual
    );
    assert_eq!(customer.kyb_status, types::KybStatus::Active);
    assert_eq!(customer.decision, Some(types::CustomerDecision::Approved));
    assert_eq!(customer.kyc_status, types::KybLinkStatus::Approved);
    assert_eq!(customer.application_id.as_deref(), Some(app_id.as_str()));
    let now_s = chrono::Utc::now().timestamp();
    assert!(
        (customer.created_at - now_s).abs() < 60,
        "created_at is Unix seconds"
    );

    let app: types::Application =
        serde_json::from_value(api.application(&app_id).await).expect("Application");
    assert_eq!(app.application_status, types::ApplicationStatus::Approved);
    assert_eq!(
        app.application_decision,
        Some(types::ApplicationApplicationDecision::Approved)
    );
    assert_eq!(
        app.decision_method,
        Some(types::ApplicationDecisionMethod::Auto)
    );
    assert_eq!(
        app.application_type,
        types::ApplicationApplicationType::Individual
    );

    let list = api.get("/customers?external_id=usr_12345").await;
    let list: types::ListCustomersResponse = serde_json::from_slice(&list.bytes).expect("list");
    assert_eq!(list.data.len(), 1);
    assert_eq!(list.meta.total_count, 1);
}

#[tokio::test]
async fn pending_until_the_delay_then_approved_via_simulation() {
    let api = Api::start(fast().auto_approve_after(std::time::Duration::from_secs(3600))).await;
    let c = api.create_customer("Slow Corp", "business").await;
    let id = c["id"].as_str().expect("id");
    let cust = api.customer(id).await;
    assert_eq!(cust["kyb_status"], "pending");
    assert_eq!(cust["application_status"], "pending");
    assert_eq!(cust["kyc_status"], "pending");
    assert!(cust.get("decision").is_none());

    let sim = api
        .post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_approve", "applicant_id": c["application_id"], "simulation_id": "sim_1"}),
        )
        .await;
    assert_eq!(sim.status, StatusCode::OK);
    let sim: types::SimulateOnboardingResponse = serde_json::from_slice(&sim.bytes).expect("sim");
    assert_eq!(sim.previous_state.as_deref(), Some("pending"));
    assert_eq!(sim.new_state.as_deref(), Some("approved"));
    let cust = api.customer(id).await;
    assert_eq!(cust["kyb_status"], "active");
    assert_eq!(cust["decision"], "approved");
    let app = api
        .application(c["application_id"].as_str().expect("app"))
        .await;
    assert_eq!(app["decision_method"], "manual");

    // Reusing the simulation id for the same transition replays; for another it is refused.
    let again = api
        .post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_approve", "applicant_id": c["application_id"], "simulation_id": "sim_1"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let other = api
        .post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_reject", "applicant_id": c["application_id"], "simulation_id": "sim_1"}),
        )
        .await;
    other.problem(400);
    let missing = api
        .post(
            "/sandbox/simulate/onboarding",
            &json!({"type": "kyb_approve", "applicant_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b", "simulation_id": "sim_2"}),
        )
        .await;
    missing.problem(404);
}

#[tokio::test]
async fn business_application_full_flow_with_token() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Acme Corp",
            "business",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    let app_id = c["application_id"].as_str().expect("app").to_owned();
    let token = api.sandbox.application_token(&app_id).expect("token");
    let with_token = |m: Method, path: String| {
        api.http
            .request(m, api.url(&path))
            .header("X-Application-Token", &token)
            .header("x-idempotency-key", uuid::Uuid::new_v4().to_string())
    };

    // Submitting an empty application lists what is missing.
    let r = Api::send(with_token(
        Method::POST,
        format!("/applications/{app_id}/submissions"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let nr: types::ApplicationNotReadyError = serde_json::from_slice(&r.bytes).expect("not ready");
    assert_eq!(nr.code, "application_not_ready");
    assert_eq!(nr.missing_attestations.len(), 4);

    let r = Api::send(
        with_token(
            Method::PUT,
            format!("/applications/{app_id}/business-details"),
        )
        .json(&business()),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let bd: types::BusinessDetailsResponse = serde_json::from_slice(&r.bytes).expect("business");
    assert_eq!(bd.business.legal_name, "Acme Corp LLC");

    let r = Api::send(
        with_token(
            Method::POST,
            format!("/applications/{app_id}/associated-individuals"),
        )
        .json(&person("Jane", "Doe", &["ubo", "control_person"])),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let jane = r.json()["id"].as_str().expect("id").to_owned();
    // Same name twice → 409.
    let r = Api::send(
        with_token(
            Method::POST,
            format!("/applications/{app_id}/associated-individuals"),
        )
        .json(&person("Jane", "Doe", &["ubo"])),
    )
    .await;
    r.problem(409);
    let r = Api::send(
        with_token(
            Method::POST,
            format!("/applications/{app_id}/associated-individuals"),
        )
        .json(&person("John", "Roe", &["applicant"])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let john = r.json()["id"].as_str().expect("id").to_owned();
    let r = Api::send(
        with_token(
            Method::PUT,
            format!("/applications/{app_id}/associated-individuals/{john}"),
        )
        .json(&person("Johnny", "Roe", &["applicant"])),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let upd: types::AssociatedIndividualResponse = serde_json::from_slice(&r.bytes).expect("assoc");
    assert_eq!(upd.individual.first_name, "Johnny");
    let r = Api::send(with_token(
        Method::DELETE,
        format!("/applications/{app_id}/associated-individuals/{john}"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // The last individual cannot be removed.
    let r = Api::send(with_token(
        Method::DELETE,
        format!("/applications/{app_id}/associated-individuals/{jane}"),
    ))
    .await;
    r.problem(400);

    // EDD round trip.
    let r = Api::send(with_token(
        Method::GET,
        format!("/applications/{app_id}/edd"),
    ))
    .await;
    r.problem(404);
    let r = Api::send(
        with_token(Method::PUT, format!("/applications/{app_id}/edd"))
            .json(&json!({"account_usage_description": "Payroll", "top_customer_countries": ["US", "GB"]})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let r = Api::send(with_token(
        Method::GET,
        format!("/applications/{app_id}/edd"),
    ))
    .await;
    let edd: types::EddWithApplicationId = serde_json::from_slice(&r.bytes).expect("edd");
    assert_eq!(edd.edd.account_usage_description, "Payroll");

    // Attestations by the control person; anybody else is refused.
    let r = Api::send(
        with_token(Method::POST, format!("/applications/{app_id}/attestations")).json(&json!({
            "applicant_id": app_id, "attestation_type": "e_sign", "timestamp": 1_705_315_800
        })),
    )
    .await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "applicant_id");
    for t in [
        "information_accuracy",
        "terms_of_service",
        "privacy_policy",
        "e_sign",
    ] {
        let r = Api::send(
            with_token(Method::POST, format!("/applications/{app_id}/attestations")).json(&json!({
                "applicant_id": jane, "attestation_type": t, "timestamp": 1_705_315_800
            })),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
    }

    // Presigned upload, then the file goes to the sandbox's upload URL.
    let r = Api::send(
        with_token(
            Method::POST,
            format!("/applications/{app_id}/document-uploads"),
        )
        .json(&json!({
            "document_type": "certificate_of_incorporation", "file_type": "pdf", "country": "US"
        })),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let up: types::DocumentUploadUrlResponse = serde_json::from_slice(&r.bytes).expect("upload");
    assert!(up.upload_url.starts_with(api.sandbox.base_url()));
    let put = api
        .http
        .put(&up.upload_url)
        .body(vec![b'%'; 2048])
        .send()
        .await
        .expect("upload");
    assert_eq!(put.status(), StatusCode::OK);
    let r = Api::send(
        with_token(
            Method::POST,
            format!("/applications/{app_id}/associated-individuals/{jane}/document-uploads"),
        )
        .json(&json!({"document_type": "passport", "file_type": "jpeg", "country": "US"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );

    let r = Api::send(with_token(
        Method::GET,
        format!("/applications/{app_id}?include=all"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let app: types::Application = serde_json::from_slice(&r.bytes).expect("app");
    let v = app.validation.expect("validation");
    assert!(v.ready, "{}", v.status_message);
    assert!(app.entities.expect("entities").business.is_some());
    assert!(app.attestations.expect("attestations").e_sign.is_some());

    let r = Api::send(with_token(
        Method::POST,
        format!("/applications/{app_id}/submissions"),
    ))
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    assert_eq!(r.json()["application_status"], "submitted");
    // Submitted applications cannot be edited.
    let r = Api::send(
        with_token(
            Method::PUT,
            format!("/applications/{app_id}/business-details"),
        )
        .json(&business()),
    )
    .await;
    r.problem(409);

    let listed = api.get("/applications?status=submitted").await;
    let listed: types::ListApplicationsResponse =
        serde_json::from_slice(&listed.bytes).expect("list");
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].individuals.len(), 1);
    assert_eq!(
        listed.data[0]
            .business
            .as_ref()
            .map(|b| b.legal_name.as_str()),
        Some("Acme Corp LLC")
    );
}

#[tokio::test]
async fn individual_details_and_post_decision_proof_of_address() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Ada Lovelace",
            "individual",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    let app_id = c["application_id"].as_str().expect("app").to_owned();
    let r = api
        .put(
            &format!("/applications/{app_id}/individual-details"),
            &person("Ada", "Lovelace", &["individual"]),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let d: types::IndividualDetailsResponse = serde_json::from_slice(&r.bytes).expect("details");
    assert_eq!(d.individual.last_name, "Lovelace");
    // Business details on an individual application are refused.
    api.put(
        &format!("/applications/{app_id}/business-details"),
        &business(),
    )
    .await
    .problem(400);

    api.post(
        "/sandbox/simulate/onboarding",
        &json!({"type": "kyb_approve", "applicant_id": c["id"], "simulation_id": "approve-ada"}),
    )
    .await;
    assert_eq!(
        api.customer(c["id"].as_str().expect("id")).await["kyb_status"],
        "active"
    );
    let r = api
        .post(
            &format!("/applications/{app_id}/document-uploads"),
            &json!({"document_type": "utility_bill", "file_type": "png", "country": "GB"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let app = api.application(&app_id).await;
    assert_eq!(app["application_status"], "compliance_review");
    assert_eq!(app["poa_status"], "submitted_pending_review");
}

#[tokio::test]
async fn pagination_walks_forward_and_back_in_creation_order() {
    let api = Api::start(fast()).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            api.create_customer(&format!("Customer {i:02}"), "business")
                .await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/customers?limit=3&starting_after={c}"),
            None => "/customers?limit=3".to_owned(),
        };
        let page: types::ListCustomersResponse =
            serde_json::from_slice(&api.get(&path).await.bytes).expect("page");
        assert_eq!(page.meta.total_count, 7);
        assert_eq!(page.meta.has_more_before, cursor.is_some());
        seen.extend(page.data.iter().map(|c| c.id.to_string()));
        if !page.meta.has_more_after {
            break;
        }
        cursor = page.data.last().map(|c| c.id.to_string());
    }
    assert_eq!(seen, ids);
    let page: types::ListCustomersResponse = serde_json::from_slice(
        &api.get(&format!("/customers?limit=2&ending_before={}", ids[3]))
            .await
            .bytes,
    )
    .expect("page");
    let got: Vec<String> = page.data.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(got, ids[1..3].to_vec());
    assert!(page.meta.has_more_before && page.meta.has_more_after);

    let by_name: types::ListCustomersResponse = serde_json::from_slice(
        &api.get("/customers?sort_by=name&sort_dir=desc&limit=1")
            .await
            .bytes,
    )
    .expect("page");
    assert_eq!(by_name.data[0].name, "Customer 06");
    let search: types::ListCustomersResponse =
        serde_json::from_slice(&api.get("/customers?search=customer%2003").await.bytes)
            .expect("page");
    assert_eq!(search.data.len(), 1);
    let apps: types::ListApplicationsResponse =
        serde_json::from_slice(&api.get("/applications?type=business&limit=100").await.bytes)
            .expect("apps");
    assert_eq!(apps.data.len(), 7);
}

#[tokio::test]
async fn scenario_catalog_lists_every_scenario() {
    let api = Api::start(fast()).await;
    let r = api.get("/sandbox/scenarios").await;
    assert_eq!(r.status, StatusCode::OK);
    let list: types::ListSandboxScenariosResponse =
        serde_json::from_slice(&r.bytes).expect("scenarios");
    let names: Vec<&str> = list.scenarios.iter().map(|s| s.name.as_str()).collect();
    for s in dakota_sandbox::SCENARIOS {
        assert!(names.contains(s), "{s}");
    }
}
