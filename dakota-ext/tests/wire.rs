//! Wire conformance, operation by operation, against the spec rather than our sandbox: every
//! operation of `openapi/dakota.yaml` is sent once through the generated client and dakota-ext's
//! pipeline (sample arguments from the spec's examples, `dakota_api::conformance`) to a
//! recording server, which answers `503` once (so every retryable request is retried) and
//! then `404`. What arrived is compared with what the spec declares for that operation:
//!
//! * exactly the credential its `security` asks for (key, token, or the key as a fallback on
//!   token routes), and no other secret anywhere in the request;
//! * a UUID `x-idempotency-key` exactly where the spec declares the header, the same on the
//!   retry;
//! * a `Content-Type` among the request body's documented media types, none without a body;
//! * the method and path of the operation, and the `dakota-rs/` user agent.

mod common;

use common::*;
use dakota_ext::{Dakota, Error, RetryPolicy};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const KEY: &str = "sk_wire_conformance_key_6f1d";
const TOKEN: &str = "tok_wire_conformance_token_93ab";

/// One operation as the spec declares it.
#[derive(Debug)]
struct SpecOp {
    id: String,
    method: String,
    path: String,
    security: Vec<String>,
    idempotency_header: bool,
    body_types: Vec<String>,
}

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/dakota.yaml");
    let text = std::fs::read_to_string(path).expect("openapi/dakota.yaml");
    serde_yaml::from_str(&text).expect("spec parses")
}

fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => spec.pointer(&r[1..]).expect("reference resolves"),
        None => v,
    }
}

fn spec_ops() -> Vec<SpecOp> {
    let spec = spec();
    let global = spec.get("security").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let security = op
                .get("security")
                .unwrap_or(&global)
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|o| o.keys().cloned())
                .collect();
            let idempotency_header = [item.get("parameters"), op.get("parameters")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_array)
                .flatten()
                .map(|p| resolve(&spec, p))
                .any(|p| {
                    p["in"] == "header"
                        && p["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case("x-idempotency-key"))
                });
            let body_types = op
                .get("requestBody")
                .map(|b| resolve(&spec, b))
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            out.push(SpecOp {
                id: op["operationId"].as_str().expect("operationId").to_string(),
                method: method.to_uppercase(),
                path: path.clone(),
                security,
                idempotency_header,
                body_types,
            });
        }
    }
    out
}

/// Whether `path` (query stripped) fills in the template `/a/{x}/b`.
fn path_matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// The recording server: per (method, path), `503` with `Retry-After: 0` first, `404` after.
fn recorder() -> FaultServer {
    let hits: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    FaultServer::start(move |req, _| {
        let mut h = hits.lock().expect("hits");
        let n = h.entry(format!("{} {}", req.method, req.path)).or_default();
        *n += 1;
        if *n == 1 {
            Action::Respond(
                503,
                vec![
                    ("retry-after", "0".into()),
                    ("content-type", "application/problem+json".into()),
                ],
                br#"{"type":"about:blank","title":"Unavailable","status":503}"#.to_vec(),
            )
        } else {
            problem(404, "Not Found")
        }
    })
}

fn client(url: &str, key: Option<&str>, token: Option<&str>) -> Dakota {
    let mut b = Dakota::builder()
        .base_url(url)
        .expect("url")
        .retry(RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::ZERO,
            jitter: false,
            ..RetryPolicy::default()
        });
    if let Some(k) = key {
        b = b.api_key(k);
    }
    if let Some(t) = token {
        b = b.application_token(t);
    }
    b.build().expect("client")
}

/// Warnings the pipeline logs (an operation it does not recognise is one).
fn warnings() -> Arc<Mutex<Vec<String>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        use tracing_subscriber::fmt::MakeWriter;
        #[derive(Clone)]
        struct Sink(Arc<Mutex<Vec<String>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut v) = self.0.lock() {
                    v.push(String::from_utf8_lossy(b).into_owned());
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl<'a> MakeWriter<'a> for Sink {
            type Writer = Sink;
            fn make_writer(&'a self) -> Sink {
                self.clone()
            }
        }
        let logs = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Sink(logs.clone()))
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        logs
    })
    .clone()
}

/// What the client was configured with, and so which credential each operation must carry.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Creds {
    Both,
    KeyOnly,
    TokenOnly,
}

impl Creds {
    /// The header the operation must carry, `None` when the call must not be sent at all.
    fn expected(self, op: &SpecOp) -> Option<Option<(&'static str, &'static str)>> {
        let key = op.security.iter().any(|s| s == "ApiKeyAuth");
        let token = op.security.iter().any(|s| s == "ApplicationTokenAuth");
        let k = ("x-api-key", KEY);
        let t = ("x-application-token", TOKEN);
        match (self, key, token) {
            (_, false, false) => Some(None),
            (Creds::Both | Creds::TokenOnly, _, true) => Some(Some(t)),
            (Creds::Both | Creds::KeyOnly, true, false) | (Creds::KeyOnly, _, true) => {
                Some(Some(k))
            }
            (Creds::TokenOnly, true, false) => None,
        }
    }
}

/// Every operation through a client with `creds`; the list of everything that disagrees
/// with the spec.
async fn conformance(creds: Creds) -> Vec<String> {
    let server = recorder();
    let (key, token) = match creds {
        Creds::Both => (Some(KEY), Some(TOKEN)),
        Creds::KeyOnly => (Some(KEY), None),
        Creds::TokenOnly => (None, Some(TOKEN)),
    };
    let dakota = client(&server.url, key, token);
    let mut problems = Vec::new();
    let ops = spec_ops();
    assert!(ops.len() >= 100, "the spec has {} operations", ops.len());
    for op in &ops {
        let before = server.requests().len();
        let outcome = dakota_api::conformance::call(dakota.api(), &op.id).await;
        let seen: Vec<Seen> = server.requests()[before..].to_vec();
        let bad = |what: String| format!("{} {} {}: {what}", op.id, op.method, op.path);
        match outcome {
            None => {
                problems.push(bad("not in the generated client".into()));
                continue;
            }
            Some(Err(sample)) => {
                problems.push(bad(format!("no call made: {}", sample.0)));
                continue;
            }
            Some(Ok(_)) => {}
        }
        let Some(credential) = creds.expected(op) else {
            if !seen.is_empty() {
                problems.push(bad(format!(
                    "sent without the credential it needs ({} request(s))",
                    seen.len()
                )));
            }
            continue;
        };
        let mutating = matches!(op.method.as_str(), "POST" | "PUT" | "PATCH");
        let attempts = if mutating && !op.idempotency_header {
            1
        } else {
            2
        };
        if seen.len() != attempts {
            problems.push(bad(format!(
                "{} request(s) arrived, expected {attempts}",
                seen.len()
            )));
            continue;
        }
        let keys: Vec<Option<&String>> = seen
            .iter()
            .map(|s| s.headers.get("x-idempotency-key"))
            .collect();
        for s in &seen {
            if s.method != op.method || !path_matches(&op.path, &s.path) {
                problems.push(bad(format!("arrived as {} {}", s.method, s.path)));
            }
            let api_key = s.headers.get("x-api-key").map(String::as_str);
            let app_token = s.headers.get("x-application-token").map(String::as_str);
            let want_key = (credential == Some(("x-api-key", KEY))).then_some(KEY);
            let want_token = (credential == Some(("x-application-token", TOKEN))).then_some(TOKEN);
            if api_key != want_key || app_token != want_token {
                problems.push(bad(format!(
                    "credential: x-api-key {api_key:?}, x-application-token {app_token:?}; expected {credential:?}"
                )));
            }
            // No secret anywhere else: not in another header, the URL or the body.
            for (name, value) in &s.headers {
                if name != "x-api-key"
                    && name != "x-application-token"
                    && (value.contains(KEY) || value.contains(TOKEN))
                {
                    problems.push(bad(format!("a secret travels in header {name}")));
                }
            }
            let body = String::from_utf8_lossy(&s.body);
            if s.path.contains(KEY)
                || s.path.contains(TOKEN)
                || body.contains(KEY)
                || body.contains(TOKEN)
            {
                problems.push(bad("a secret travels in the URL or the body".into()));
            }
            match (op.idempotency_header, s.headers.get("x-idempotency-key")) {
                (true, Some(k)) if uuid::Uuid::parse_str(k).is_ok() => {}
                (true, other) => {
                    problems.push(bad(format!("x-idempotency-key {other:?}, expected a UUID")))
                }
                (false, None) => {}
                (false, Some(k)) => problems.push(bad(format!(
                    "x-idempotency-key {k} where the spec declares none"
                ))),
            }
            let content_type = s.headers.get("content-type").map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
            match (&content_type, op.body_types.is_empty()) {
                (None, true) => {}
                (Some(ct), false) if op.body_types.iter().any(|t| t == ct) => {}
                _ => problems.push(bad(format!(
                    "content type {content_type:?}, documented {:?}",
                    op.body_types
                ))),
            }
            if !s
                .headers
                .get("user-agent")
                .is_some_and(|u| u.starts_with("dakota-rs/"))
            {
                problems.push(bad(format!("user agent {:?}", s.headers.get("user-agent"))));
            }
        }
        if keys.windows(2).any(|w| w[0] != w[1]) {
            problems.push(bad(format!("idempotency key changed on retry: {keys:?}")));
        }
    }
    problems
}

fn report(creds: Creds, problems: Vec<String>) {
    let unknown: Vec<String> = warnings()
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|w| w.contains("unknown to the registry"))
        .collect();
    assert!(
        unknown.is_empty(),
        "the pipeline did not recognise operations of the generated client:\n{}",
        unknown.join("")
    );
    assert!(
        problems.is_empty(),
        "{creds:?}: {} disagreement(s) with the spec:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn every_operation_with_key_and_token_carries_exactly_its_credential() {
    let _ = warnings();
    report(Creds::Both, conformance(Creds::Both).await);
}

#[tokio::test]
async fn every_operation_with_only_a_key_falls_back_to_it_on_token_routes() {
    let _ = warnings();
    report(Creds::KeyOnly, conformance(Creds::KeyOnly).await);
}

#[tokio::test]
async fn with_only_a_token_key_routes_are_never_sent() {
    let _ = warnings();
    report(Creds::TokenOnly, conformance(Creds::TokenOnly).await);
}

#[test]
fn the_registry_names_every_operation_of_the_spec_as_the_generated_client_does() {
    let ops = spec_ops();
    for op in &ops {
        let entry = dakota_api::registry::OPERATIONS
            .iter()
            .find(|o| o.operation_id == op.id)
            .unwrap_or_else(|| panic!("{} missing from the registry", op.id));
        assert_eq!(
            dakota_api::registry::operation(entry.generated_name).map(|o| o.operation_id),
            Some(op.id.as_str())
        );
        assert_eq!(entry.method, op.method, "{}", op.id);
        assert_eq!(entry.path, op.path, "{}", op.id);
        assert_eq!(entry.idempotency_key, op.idempotency_header, "{}", op.id);
        let mut declared = op.security.clone();
        declared.sort();
        let mut registered: Vec<String> = entry.security.iter().map(|s| s.to_string()).collect();
        registered.sort();
        assert_eq!(registered, declared, "{}", op.id);
    }
    assert_eq!(ops.len(), dakota_api::registry::OPERATIONS.len());
}

#[tokio::test]
async fn a_token_only_client_names_the_operation_and_the_missing_credential() {
    let server = recorder();
    let dakota = client(&server.url, None, Some(TOKEN));
    let err = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect_err("no API key");
    assert!(
        matches!(&err, Error::MissingCredential { operation: "getCustomer", credential } if credential.contains("API key")),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("getCustomer") && msg.contains("API key"),
        "{msg}"
    );
    assert!(server.requests().is_empty(), "nothing may be sent");
}
