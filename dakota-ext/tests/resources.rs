//! The generated resource accessors (`dakota.recipients().create(..)`): the payee flow against
//! the local sandbox, and proof that an accessor call runs through dakota-ext's pipeline
//! (credential, idempotency key kept across a retry, typed errors) on a recording server.

mod common;

use std::time::Duration;

use common::{json, Action, FaultServer};
use dakota_ext::{types, Dakota, Error, Resources as _, RetryPolicy};
use dakota_sandbox::Sandbox;

const KEY: &str = "test-key-resources";

#[tokio::test]
async fn accessors_create_a_recipient_and_its_destination_and_read_them_back() {
    let sandbox = Sandbox::builder()
        .rate_limit_per_minute(10_000)
        .start()
        .await
        .expect("sandbox starts");
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("local URL")
        .api_key(sandbox.api_key())
        .build()
        .expect("client");

    let customer = dakota
        .customers()
        .create(
            types::CustomerCreateRequest::builder()
                .name("Harbor & Pine Trading LLC")
                .customer_type(types::CustomerCreateRequestCustomerType::Business),
        )
        .await
        .expect("customers().create");
    let recipient = dakota
        .recipients()
        .create(
            customer.id,
            types::RecipientRequest::builder().name("Andes Coffee Exporters SAS"),
        )
        .await
        .expect("recipients().create");
    assert_eq!(recipient.name, "Andes Coffee Exporters SAS");
    let account = types::FiatUsDestinationRequest::builder()
        .name("Andes operating account (US)")
        .aba_routing_number("121000358")
        .account_number("004417392210")
        .account_type(types::FiatUsDestinationRequestAccountType::Checking)
        .account_holder_name("Andes Coffee Exporters SAS")
        .bank_name("Bank of America");
    let destination = dakota
        .destinations()
        .create(recipient.id, account)
        .await
        .expect("destinations().create");
    assert_eq!(destination.status(), 201);
    assert!(
        destination.idempotency_key().is_some(),
        "a POST through an accessor carries the pipeline's idempotency key"
    );

    // Read back through other accessors: the customer, the recipient with its destination.
    let fetched = dakota.customers().get(customer.id).await.expect("get");
    assert_eq!(fetched.name, "Harbor & Pine Trading LLC");
    let got = dakota
        .recipients()
        .get(recipient.id)
        .await
        .expect("recipients().get");
    assert_eq!(got.destinations.len(), 1);
    let listed = dakota
        .recipients()
        .list(customer.id)
        .await
        .expect("recipients().list");
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, recipient.id);

    // Deleting through an accessor, then reading: Dakota's own not-found problem, typed.
    dakota
        .destinations()
        .delete(recipient.id, destination.id)
        .await
        .expect("destinations().delete");
    let after = dakota
        .recipients()
        .get(recipient.id)
        .await
        .expect("recipients().get after the delete");
    assert!(after.destinations.is_empty(), "{:?}", after.destinations);
}

#[tokio::test]
async fn an_accessor_call_goes_through_the_pipeline() {
    let recipient_id = "2s9bU0pOvqtK3r8aCzn0ZkYvGxW";
    // First attempt: 503 with Retry-After 0 (the pipeline retries); then the created recipient.
    let server = FaultServer::start(move |_, index| {
        if index == 0 {
            Action::Respond(
                503,
                vec![
                    ("retry-after", "0".into()),
                    ("content-type", "application/problem+json".into()),
                ],
                br#"{"type":"about:blank","title":"Unavailable","status":503}"#.to_vec(),
            )
        } else {
            json(
                201,
                serde_json::json!({"id": recipient_id, "name": "Andes", "status": "unused"}),
            )
        }
    });
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::ZERO)
                .jitter(false),
        )
        .build()
        .expect("client");
    let customer = "2s9bTzWLCJyrC7PTVzpnoTzO3dq";
    let created = dakota
        .recipients()
        .create(customer, types::RecipientRequest::builder().name("Andes"))
        .await
        .expect("created after one retry");
    assert_eq!(created.id.to_string(), recipient_id);
    assert_eq!(created.status(), 201);

    let seen = server.requests();
    assert_eq!(seen.len(), 2, "one retry: {seen:?}");
    let keys: Vec<Option<&String>> = seen
        .iter()
        .map(|s| s.headers.get("x-idempotency-key"))
        .collect();
    let key = keys[0].expect("an idempotency key on the POST");
    assert!(uuid::Uuid::parse_str(key).is_ok(), "a UUID key: {key}");
    assert_eq!(keys[1], Some(key), "the same key on the retry");
    assert_eq!(created.idempotency_key(), Some(key.as_str()));
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, format!("/customers/{customer}/recipients"));
        assert_eq!(s.headers.get("x-api-key").map(String::as_str), Some(KEY));
        let body: serde_json::Value = serde_json::from_slice(&s.body).expect("JSON body");
        assert_eq!(body, serde_json::json!({"name": "Andes"}));
    }
}

#[tokio::test]
async fn bad_arguments_are_errors_before_any_request() {
    let server = FaultServer::start(|_, _| common::problem(500, "must not be reached"));
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .build()
        .expect("client");
    // A path parameter that is not a KSUID.
    let err = dakota
        .customers()
        .get("not a ksuid")
        .await
        .expect_err("an invalid id is refused");
    assert!(
        matches!(err, Error::InvalidInput(_)),
        "an invalid request, got {err:?}"
    );
    // A body builder missing a required field (`name`).
    let err = dakota
        .recipients()
        .create(
            "2s9bTzWLCJyrC7PTVzpnoTzO3dq",
            types::RecipientRequest::builder(),
        )
        .await
        .expect_err("a body without its required field is refused");
    assert!(err.to_string().contains("name"), "{err}");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

/// Method names declared in `impl Dakota { .. }` blocks of a source file.
fn inherent_methods(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        if line.starts_with("impl Dakota {") {
            inside = true;
        } else if line.starts_with('}') {
            inside = false;
        } else if inside {
            let t = line.trim_start();
            let rest = t
                .strip_prefix("pub async fn ")
                .or_else(|| t.strip_prefix("pub fn "));
            if let Some(rest) = rest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

/// An inherent method of `Dakota` wins over a trait method of the same name, so a group the
/// spec grows (`dakota.customers()`) would silently be unreachable behind one: none may share
/// a name with a generated resource group.
#[test]
fn no_inherent_method_of_dakota_hides_a_resource_group() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = std::fs::read_to_string(root.join("../dakota-api/src/resources.rs"))
        .expect("generated resources.rs");
    let start = generated
        .find("pub trait Resources: Dispatch {")
        .expect("the Resources trait");
    let body = &generated[start..];
    let body = &body[..body.find("\n}").expect("end of the trait")];
    let groups: Vec<&str> = body
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("fn "))
        .filter_map(|l| l.split('(').next())
        .collect();
    assert!(groups.contains(&"recipients") && groups.contains(&"destinations"));
    assert!(groups.len() > 20, "{groups:?}");

    let mut methods = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                methods.extend(inherent_methods(&text));
            }
        }
    }
    assert!(methods.iter().any(|m| m == "api"), "{methods:?}");
    let hidden: Vec<&String> = methods
        .iter()
        .filter(|m| groups.contains(&m.as_str()))
        .collect();
    assert!(
        hidden.is_empty(),
        "Dakota's inherent methods hide these resource groups: {hidden:?}"
    );
}
