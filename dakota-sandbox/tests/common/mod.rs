//! Helpers shared by the integration tests: a sandbox plus a plain HTTP client.

#![allow(dead_code)]

use std::time::Duration;

use dakota_sandbox::{Sandbox, SandboxBuilder};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A running sandbox and a client for it.
pub struct Api {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json body with this status and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(p["status"], json!(status));
        assert!(
            p["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://")),
            "{p}"
        );
        assert!(p["title"].is_string(), "{p}");
        assert!(p["detail"].is_string(), "{p}");
        assert!(p["instance"].is_string(), "{p}");
        let rid = p["request_id"].as_str().unwrap_or_default().to_owned();
        assert!(rid.starts_with("req_"), "{p}");
        assert_eq!(self.header("x-request-id"), Some(rid.as_str()));
        // The body must be a `types::ProblemDetails`.
        let _: dakota_api::types::ProblemDetails =
            serde_json::from_value(p.clone()).expect("ProblemDetails");
        p
    }

    /// Field names of the problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A sandbox for tests: immediate approval unless `builder` says otherwise.
pub fn fast() -> SandboxBuilder {
    Sandbox::builder()
        .auto_approve_after(Duration::ZERO)
        .rate_limit_per_minute(10_000)
}

impl Api {
    pub async fn start(builder: SandboxBuilder) -> Api {
        let sandbox = builder.start().await.expect("sandbox starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Api { sandbox, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url(), path)
    }

    /// A request with the API key.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("x-api-key", self.sandbox.api_key())
    }

    /// A request with the API key and a fresh idempotency key.
    pub fn write(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.req(method, path)
            .header("x-idempotency-key", uuid::Uuid::new_v4().to_string())
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request sent");
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body").to_vec();
        Resp {
            status,
            headers,
            bytes,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        Self::send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        Self::send(self.write(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        Self::send(self.write(Method::PUT, path).json(body)).await
    }

    /// Creates a customer with extra headers; returns the `CustomerCreateResponse` JSON.
    pub async fn create_customer_with(
        &self,
        name: &str,
        ty: &str,
        headers: &[(&str, &str)],
    ) -> Value {
        let mut rb = self
            .write(Method::POST, "/customers")
            .json(&json!({"name": name, "customer_type": ty}));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = Self::send(rb).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        r.json()
    }

    pub async fn create_customer(&self, name: &str, ty: &str) -> Value {
        self.create_customer_with(name, ty, &[]).await
    }

    /// `GET /applications/{id}` with the API key.
    pub async fn application(&self, id: &str) -> Value {
        let r = self.get(&format!("/applications/{id}")).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        r.json()
    }

    /// `GET /customers/{id}`.
    pub async fn customer(&self, id: &str) -> Value {
        let r = self.get(&format!("/customers/{id}")).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        r.json()
    }
}

/// A valid `IndividualRequest` body.
pub fn person(first: &str, last: &str, roles: &[&str]) -> Value {
    let mut v = json!({
        "name": {"first": first, "last": last},
        "date_of_birth": "1985-06-15",
        "nationalities": ["US"],
        "address": {"street1": "123 Main St", "city": "San Francisco", "country": "US", "postal_code": "94105"},
        "email_address": format!("{}.{}@acme-corp.io", first.to_lowercase(), last.to_lowercase()),
        "roles": roles,
    });
    if roles.contains(&"individual") {
        v["employment_status"] = json!("employed");
        v["purpose_of_account"] = json!(["investing"]);
        v["source_of_wealth"] = json!(["employment"]);
    }
    if roles.contains(&"ubo") || roles.contains(&"control_person") {
        v["title"] = json!("ceo");
    }
    if roles.contains(&"ubo") {
        v["ownership_percentage"] = json!(60.0);
    }
    v
}

/// A valid `BusinessApplicationCreateRequest` body.
pub fn business() -> Value {
    json!({
        "legal_name": "Acme Corp LLC",
        "registration_number": "5551234",
        "country_of_incorporation": "US",
        "date_of_incorporation": "2019-04-01",
        "legal_structure": "llc",
        "industry_code": "523110",
        "business_description": "Software for treasury teams",
        "registered_address": {"street1": "8 The Green", "city": "Dover", "country": "US", "region": "Delaware"},
        "average_monthly_revenue": "500k_to_1m",
        "expected_monthly_deposit": "100k_to_500k",
        "expected_monthly_transaction_volume": "10_to_20",
        "purpose_of_account": ["first_party_payments"],
        "source_of_funds": ["sale_of_goods_and_services"],
        "has_bearer_shares": false,
        "owned_by_foundation": false,
        "transact_on_behalf_of_third_parties": false,
        "website": "https://acme-corp.io"
    })
}
