//! Stubbing Dakota in your own tests with the generated, typed httpmock helpers
//! (`dakota-api` feature `mock`), while your code keeps using the `Dakota` client.

use dakota_api::mock::MockServerExt;
use dakota_api::types;
use dakota_ext::{Dakota, Error, RetryPolicy};
use httpmock::MockServer;
use serde_json::json;

const ID: &str = "36NrHzLJ2pQx0Kw1dU9fB4aT7Ze";

fn customer() -> types::Customer {
    serde_json::from_value(json!({
        "id": ID,
        "name": "Acme Corp",
        "customer_type": "individual",
        "kyb_status": "active",
        "kyc_status": "approved",
        "is_sub_client": false,
        "kyb_links": [],
        "provider_statuses": [],
        "created_at": 1_772_727_647,
        "updated_at": 1_772_727_650
    }))
    .expect("a valid customer")
}

fn client(server: &MockServer) -> Dakota {
    Dakota::builder()
        .base_url(&server.base_url())
        .expect("mock server URL")
        .api_key("sk_test_mock")
        .retry(RetryPolicy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn stub_get_customer_with_typed_helpers() {
    let server = MockServer::start_async().await;
    let id: types::Ksuid = ID.parse().expect("ksuid");
    let stub = server.get_customer(|when, then| {
        when.customer_id(&id);
        then.ok(&customer());
    });

    let dakota = client(&server);
    let api = dakota.api();
    let got = dakota
        .call(api.get_customer().customer_id(ID).send())
        .await
        .expect("stubbed customer")
        .into_inner();
    assert_eq!(got.name, "Acme Corp");
    assert_eq!(got.kyb_status, types::KybStatus::Active);
    stub.assert_async().await;
}

#[tokio::test]
async fn stubbed_problem_becomes_a_typed_error() {
    let server = MockServer::start_async().await;
    let problem: types::ProblemDetails = serde_json::from_value(json!({
        "type": "https://docs.dakota.xyz/api-reference/errors#not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No customer with this id",
        "request_id": "req_mock_404"
    }))
    .expect("a valid problem");
    server.get_customer(|_, then| {
        then.not_found(&problem);
    });

    let dakota = client(&server);
    let api = dakota.api();
    let err = dakota
        .call(api.get_customer().customer_id(ID).send())
        .await
        .expect_err("404 is an error");
    let Error::Api(e) = &err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(e.status, 404);
    assert_eq!(err.request_id(), Some("req_mock_404"));
    let p = e.problem.as_ref().expect("parsed problem");
    assert_eq!(p.detail.as_deref(), Some("No customer with this id"));
}

/// Query matchers compare what the client really sends: a `DateTime` filter goes out as
/// RFC 3339, and the generated `when.created_at_from(&t)` expects exactly that.
#[tokio::test]
async fn date_time_query_filters_match_what_the_client_sends() {
    let server = MockServer::start_async().await;
    let from: chrono::DateTime<chrono::Utc> = "2026-06-05T06:53:20Z".parse().expect("time");
    let page: types::ListCustomersResponse = serde_json::from_value(json!({
        "data": [serde_json::to_value(customer()).expect("customer")],
        "meta": {"has_more_after": false, "has_more_before": false, "total_count": 1}
    }))
    .expect("a valid page");
    let stub = server.list_customers(|when, then| {
        when.created_at_from(&from)
            .kyb_status(types::KybStatus::Active);
        then.ok(&page);
    });

    let dakota = client(&server);
    let api = dakota.api();
    let got = dakota
        .call(
            api.list_customers()
                .created_at_from(from)
                .kyb_status(types::KybStatus::Active)
                .send(),
        )
        .await
        .expect("the stub matches the filters as sent")
        .into_inner();
    assert_eq!(got.data.len(), 1);
    stub.assert_async().await;
}
