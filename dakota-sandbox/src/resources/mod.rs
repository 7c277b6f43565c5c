//! The resource areas, one module each, and the [`registry`] that hands their handlers to
//! the pipeline.
//!
//! Every area depends on [`crate::pipeline`] (the [`Call`](crate::pipeline::Call) it serves,
//! problems, queries, validation helpers), on [`crate::store`] for its records and on
//! [`crate::events`] to announce state changes; nothing below depends on an area.
//!
//! # Adding a resource area
//!
//! 1. Create `resources/<area>.rs` (or a folder when it grows). Define its records as
//!    structs implementing [`crate::store::Record`] (a `KIND` and an `id`; mint ids with
//!    `tx.next_id()` so they sort by creation), and the views that turn a record into the
//!    spec's response type through `dakota_api::types::builder` and
//!    [`crate::problem::build`] (never a struct literal of a generated type).
//! 2. Write one handler per operation, `fn(&Call<'_>) -> Result<Reply, ApiError>`: parse with
//!    `call.body_as()` / `call.query()` (+ `q.page()` for lists, then
//!    [`crate::pipeline::query::records`]), change records inside one `call.write(|tx| ..)`
//!    (all or nothing), announce every state change with [`crate::events::emit`] in that same
//!    transaction, and schedule lifecycle steps with `tx.schedule(at, id, &TIMER)` (a named
//!    `static` [`crate::store::TimerDef`]).
//! 3. Add `pub(crate) fn routes(r: &mut Registry)` registering each handler under its
//!    operationId (`r.add("createThing", create)`), declare the module below and call its
//!    `routes` from [`registry`]. Auth, rate limits, idempotency keys, fault headers, `501`s
//!    for what is not registered and problem rendering come from the pipeline.
//! 4. Make its records and timers persistable: derive `Serialize`/`Deserialize` on the
//!    records and register each record type and timer in the area's `schema` function,
//!    called from [`schema`] below (see [`crate::store`], "What a new record type or timer
//!    must add").
//! 5. Test it in `tests/` against the spec's documented behaviour.

pub(crate) mod accounts;
pub(crate) mod agentic;
pub(crate) mod api_keys;
pub(crate) mod applications;
pub(crate) mod capabilities;
pub(crate) mod credits;
pub(crate) mod custody;
pub(crate) mod customers;
pub(crate) mod documents;
pub(crate) mod events;
pub(crate) mod inbound;
pub(crate) mod listing;
pub(crate) mod money;
pub(crate) mod onboarding;
pub(crate) mod organization;
pub(crate) mod policies;
pub(crate) mod recipients;
pub(crate) mod sandbox_ops;
pub(crate) mod signer_groups;
pub(crate) mod simulations;
pub(crate) mod sub_clients;
pub(crate) mod sumsub;
pub(crate) mod transactions;
pub(crate) mod users;
pub(crate) mod wallets;
pub(crate) mod webhooks;

use crate::pipeline::Registry;
use crate::store::Schema;

/// Every operation the sandbox serves, by resource area.
pub(crate) fn registry() -> Registry {
    let mut r = Registry::default();
    customers::routes(&mut r);
    applications::routes(&mut r);
    documents::routes(&mut r);
    webhooks::routes(&mut r);
    events::routes(&mut r);
    recipients::routes(&mut r);
    accounts::routes(&mut r);
    transactions::routes(&mut r);
    simulations::routes(&mut r);
    capabilities::routes(&mut r);
    sandbox_ops::routes(&mut r);
    signer_groups::routes(&mut r);
    policies::routes(&mut r);
    wallets::routes(&mut r);
    api_keys::routes(&mut r);
    users::routes(&mut r);
    sub_clients::routes(&mut r);
    sumsub::routes(&mut r);
    credits::routes(&mut r);
    inbound::routes(&mut r);
    agentic::routes(&mut r);
    r
}

/// Every record type and lifecycle timer of the areas (what a data dir stores; see
/// [`crate::store`] for what a new one adds).
pub(crate) fn schema(s: &mut Schema) {
    onboarding::schema(s);
    documents::schema(s);
    recipients::schema(s);
    accounts::schema(s);
    transactions::schema(s);
    simulations::schema(s);
    inbound::schema(s);
    custody::schema(s);
    api_keys::schema(s);
    users::schema(s);
    sumsub::schema(s);
    credits::schema(s);
    agentic::schema(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::routes::{Auth, ROUTES, SANDBOX_UPLOAD};
    use dakota_api::registry::OPERATIONS;

    /// The status lists above agree with `openapi/dakota.yaml`, so every status the sandbox
    /// chooses for auth failures and idempotency conflicts is one the spec documents.
    #[test]
    fn chosen_statuses_are_documented_by_the_spec() {
        let implemented = registry().operations();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/dakota.yaml");
        let text = std::fs::read_to_string(path).expect("read openapi/dakota.yaml");
        let spec: serde_yaml::Value = serde_yaml::from_str(&text).expect("parse the spec");
        let mut documented = std::collections::HashMap::new();
        let mut idempotency = std::collections::HashMap::new();
        for (_, item) in spec["paths"].as_mapping().expect("paths") {
            for (_, op) in item.as_mapping().expect("path item") {
                let Some(id) = op.get("operationId").and_then(|v| v.as_str()) else {
                    continue;
                };
                let codes: Vec<String> = op["responses"]
                    .as_mapping()
                    .expect("responses")
                    .keys()
                    .map(|k| match k {
                        serde_yaml::Value::Number(n) => n.to_string(),
                        other => other.as_str().unwrap_or_default().to_owned(),
                    })
                    .collect();
                documented.insert(id.to_owned(), codes);
                let idempotent = op
                    .get("parameters")
                    .and_then(|p| p.as_sequence())
                    .into_iter()
                    .flatten()
                    .any(|p| {
                        p.get("$ref").and_then(|r| r.as_str())
                            == Some("#/components/parameters/IdempotencyKeyHeader")
                    });
                idempotency.insert(id.to_owned(), idempotent);
            }
        }
        for r in ROUTES
            .iter()
            .filter(|r| implemented.contains(&r.op_id) && r.op_id != SANDBOX_UPLOAD)
        {
            assert_eq!(
                r.needs_idempotency_key(),
                idempotency[r.op_id],
                "{}: x-idempotency-key requirement differs from the spec",
                r.op_id
            );
        }
        let has = |op: &str, code: &str| documented[op].iter().any(|c| c == code || c == "default");
        for r in ROUTES
            .iter()
            .filter(|r| implemented.contains(&r.op_id) && r.op_id != SANDBOX_UPLOAD)
        {
            let auth = if r.auth_failure_is_403() {
                "403"
            } else if r.auth_failure_is_404() {
                "404"
            } else {
                "401"
            };
            // A few operations document no auth failure at all (e.g. the capabilities); they
            // answer 401 like the rest (a gap of the spec, not a choice of the sandbox).
            let silent = !has(r.op_id, "401") && !has(r.op_id, "403") && !has(r.op_id, "404");
            if r.auth != Auth::None && !silent {
                assert!(
                    has(r.op_id, auth),
                    "{}: auth failure {auth} undocumented",
                    r.op_id
                );
            }
            if r.needs_idempotency_key() {
                let code = r.idempotency_conflict_status().to_string();
                assert!(
                    has(r.op_id, &code),
                    "{}: conflict {code} undocumented",
                    r.op_id
                );
                assert!(has(r.op_id, "400"), "{}: 400 undocumented", r.op_id);
            }
        }
    }

    /// Every operation of the spec has a handler: none answers `501`.
    #[test]
    fn every_operation_of_the_spec_is_implemented() {
        let implemented = registry().operations();
        let missing: Vec<&str> = OPERATIONS
            .iter()
            .map(|o| o.operation_id)
            .filter(|op| !implemented.contains(op))
            .collect();
        assert_eq!(missing, Vec::<&str>::new(), "operations answering 501");
        assert_eq!(OPERATIONS.len(), 114);
    }

    #[test]
    fn every_registered_operation_is_in_the_spec() {
        for op in registry().operations() {
            assert!(
                op == SANDBOX_UPLOAD || OPERATIONS.iter().any(|o| o.operation_id == op),
                "{op}"
            );
        }
    }
}
