//! Pagination streams: every list operation of `openapi/dakota.yaml` has one, each follows its
//! cursor (spec examples served by a mock server), and the streams stop on misbehaving
//! servers, surface errors after the items already fetched, and keep every filter of the
//! generated builder. One stream also runs against the local sandbox.

use std::collections::BTreeSet;

use dakota_api::mock::MockServerExt;
use dakota_api::types;
use dakota_ext::{Dakota, Error, ListOperation, RetryPolicy, LIST_OPERATIONS};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use httpmock::MockServer;
use serde_json::{json, Value};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/dakota.yaml");
/// Path parameter for every list operation under a parent resource.
const PARENT: &str = "3AOOmrJMTMG0EsWE2G45OPawZTH";

fn ksuid(i: usize) -> String {
    format!("3CtLcgxDuIpYICFn922RqBp{i:04}")
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

fn spec() -> serde_yaml::Value {
    let text = std::fs::read_to_string(SPEC).expect("read openapi/dakota.yaml");
    serde_yaml::from_str(&text).expect("parse openapi/dakota.yaml")
}

/// A list operation found in the spec.
struct SpecList {
    operation_id: String,
    path: String,
    /// `starting_after` or `cursor`; `None` for a collection answered whole, as a JSON array.
    cursor_param: Option<String>,
    /// The documented 200 example, as JSON.
    example: Value,
}

/// Every GET operation with a `StartingAfter`-style or `cursor` query parameter, and every
/// `list*` operation whose 200 body is a JSON array (a collection answered in one response).
fn spec_lists(spec: &serde_yaml::Value) -> Vec<SpecList> {
    let components = &spec["components"]["parameters"];
    let mut out = Vec::new();
    let Some(paths) = spec["paths"].as_mapping() else {
        panic!("spec has no paths");
    };
    for (path, item) in paths {
        let (Some(path), Some(op)) = (path.as_str(), item.get("get")) else {
            continue;
        };
        let params = op["parameters"].as_sequence().cloned().unwrap_or_default();
        let mut cursor_param = None;
        for p in &params {
            let reference = p.get("$ref").and_then(|r| r.as_str());
            let resolved = match reference {
                Some(r) => &components[r.rsplit('/').next().unwrap_or(r)],
                None => p,
            };
            let name = resolved["name"].as_str().unwrap_or_default();
            let location = resolved["in"].as_str().unwrap_or_default();
            let starting_after_ref = reference.is_some_and(|r| r.contains("StartingAfter"));
            if location == "query" && (name == "starting_after" || starting_after_ref) {
                cursor_param = Some("starting_after".to_string());
            } else if location == "query" && name == "cursor" {
                cursor_param = Some("cursor".to_string());
            }
        }
        let whole = op["operationId"]
            .as_str()
            .is_some_and(|id| id.starts_with("list"))
            && op["responses"]["200"]["content"]["application/json"]["schema"]["type"].as_str()
                == Some("array");
        if cursor_param.is_none() && !whole {
            continue;
        }
        let operation_id = op["operationId"].as_str().expect("operationId").to_string();
        let example = &op["responses"]["200"]["content"]["application/json"]["example"];
        let example = serde_json::to_value(example).expect("example as JSON");
        out.push(SpecList {
            operation_id,
            path: path.to_string(),
            cursor_param,
            example,
        });
    }
    out
}

/// Fails when a list operation of the spec has no stream (or a stream names an operation the
/// spec no longer lists).
#[test]
fn every_list_operation_of_the_spec_has_a_stream() {
    let in_spec: BTreeSet<String> = spec_lists(&spec())
        .into_iter()
        .map(|l| l.operation_id)
        .collect();
    let covered: BTreeSet<String> = LIST_OPERATIONS.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = in_spec.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&in_spec).collect();
    assert!(
        missing.is_empty(),
        "list operations without a stream: {missing:?}; add a line to `list_operations!` in \
         dakota-ext/src/pagination.rs"
    );
    assert!(
        stale.is_empty(),
        "streams for operations the spec does not list (or no longer paginates): {stale:?}"
    );
    assert_eq!(covered.len(), LIST_OPERATIONS.len(), "no operation twice");
    assert!(
        in_spec.len() >= 18,
        "the scan finds the spec's list operations"
    );
}

fn unit<'a, L: ListOperation + 'a>(d: &'a Dakota, list: L) -> BoxStream<'a, Result<(), Error>> {
    d.paginate(list).map_ok(|_| ()).boxed()
}

/// The stream of `operation_id` with its required parameters set.
fn stream_of<'a>(d: &'a Dakota, operation_id: &str) -> BoxStream<'a, Result<(), Error>> {
    let api = d.api();
    match operation_id {
        "listCustomers" => unit(d, api.list_customers()),
        "listApplications" => unit(d, api.list_applications()),
        "listDocuments" => unit(d, api.list_documents().application_id(PARENT)),
        "listEvents" => unit(d, api.list_events()),
        "listPolicies" => unit(d, api.list_policies()),
        "listSignerGroups" => unit(d, api.list_signer_groups()),
        "listApiKeys" => unit(d, api.list_api_keys()),
        "listClientUsers" => unit(d, api.list_client_users()),
        "listTransactions" => unit(d, api.list_transactions()),
        "listRecipients" => unit(d, api.list_recipients().customer_id(PARENT)),
        "listDestinations" => unit(d, api.list_destinations().recipient_id(PARENT)),
        "listAccounts" => unit(
            d,
            api.list_accounts()
                .account_type(types::AccountType::Offramp),
        ),
        "listAutoTransactions" => unit(d, api.list_auto_transactions()),
        "listWebhookTargets" => unit(d, api.list_webhook_targets()),
        "listWebhookHistory" => unit(d, api.list_webhook_history()),
        "listSelfServeCreditsLedger" => unit(d, api.list_self_serve_credits_ledger()),
        "listMandates" => unit(d, api.list_mandates()),
        "listScheduledPayments" => unit(d, api.list_scheduled_payments()),
        other => panic!("no stream for {other} in this test; add it to `stream_of`"),
    }
}

/// The cursor a client must send after `page` (computed from the JSON, independently of the
/// library), and `page` with its "more" flag set to `more`.
fn cursor_and_flag(page: &Value, cursor_param: &str, more: bool) -> (String, Value) {
    let mut page = page.clone();
    let cursor = if let Some(entries) = page.get("entries") {
        // Ledger: the last entry's created_at, as a UTC RFC 3339 time.
        let last = entries.as_array().and_then(|e| e.last()).expect("entries");
        let t = last["created_at"].as_str().expect("created_at");
        let t = chrono::DateTime::parse_from_rfc3339(t).expect("RFC 3339");
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    } else if cursor_param == "cursor" {
        page["cursor"] = json!("cursor-for-page-2");
        "cursor-for-page-2".to_string()
    } else {
        let last = page["data"]
            .as_array()
            .and_then(|d| d.last())
            .expect("data");
        ["id", "application_id", "destination_id"]
            .iter()
            .find_map(|k| last[k].as_str())
            .expect("an id on the last item")
            .to_string()
    };
    if page.get("meta").is_some() {
        page["meta"]["has_more_after"] = json!(more);
    } else {
        page["has_more"] = json!(more);
    }
    (cursor, page)
}

/// Every covered operation, on its spec example: page 1 says there is more, the stream asks
/// for page 2 with the right cursor, page 2 ends the list. Both pages' items arrive.
#[tokio::test]
async fn every_list_operation_follows_its_cursor_on_spec_examples() {
    let lists = spec_lists(&spec());
    assert_eq!(lists.len(), LIST_OPERATIONS.len());
    for list in lists {
        let server = MockServer::start_async().await;
        let path = list
            .path
            .split('/')
            .map(|seg| if seg.starts_with('{') { PARENT } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let items = list.example["data"]
            .as_array()
            .or(list.example["entries"].as_array())
            .or(list.example.as_array())
            .map_or(0, Vec::len);
        assert!(items > 0, "{}: the example has items", list.operation_id);
        let dakota = client(&server);
        let Some(cursor_param) = list.cursor_param else {
            // The whole collection in one response: one request, every item, the end.
            let whole = server
                .mock_async(|when, then| {
                    when.method("GET").path(path.as_str());
                    then.status(200)
                        .header("content-type", "application/json")
                        .json_body(list.example.clone());
                })
                .await;
            let got: Vec<()> = stream_of(&dakota, &list.operation_id)
                .try_collect()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", list.operation_id));
            assert_eq!(got.len(), items, "{}", list.operation_id);
            whole.assert_calls_async(1).await;
            continue;
        };
        let (cursor, first) = cursor_and_flag(&list.example, &cursor_param, true);
        let (_, last) = cursor_and_flag(&list.example, &cursor_param, false);
        let page1 = server
            .mock_async(|when, then| {
                when.method("GET")
                    .path(path.as_str())
                    .query_param_missing(cursor_param.as_str());
                then.status(200)
                    .header("content-type", "application/json")
                    .json_body(first.clone());
            })
            .await;
        let page2 = server
            .mock_async(|when, then| {
                when.method("GET")
                    .path(path.as_str())
                    .query_param(cursor_param.as_str(), cursor.as_str());
                then.status(200)
                    .header("content-type", "application/json")
                    .json_body(last.clone());
            })
            .await;
        let got: Vec<()> = stream_of(&dakota, &list.operation_id)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", list.operation_id));
        assert_eq!(got.len(), 2 * items, "{}", list.operation_id);
        page1.assert_calls_async(1).await;
        page2.assert_calls_async(1).await;
    }
}

fn account(i: usize) -> types::AccountResponse {
    serde_json::from_value(json!({
        "id": ksuid(i),
        "account_type": "offramp",
        "source_network_id": "base-mainnet",
        "source_asset": "USDC",
        "destination_asset": "USD",
        "rail": "ach"
    }))
    .expect("a valid account")
}

fn accounts_page(ids: std::ops::Range<usize>, more: bool) -> types::PaginatedAccountResponse {
    let meta = types::Meta::builder()
        .has_more_after(more)
        .has_more_before(false)
        .total_count(7);
    types::PaginatedAccountResponse::builder()
        .data(ids.map(account).collect::<Vec<_>>())
        .meta(meta)
        .try_into()
        .expect("a valid page")
}

/// Three pages of accounts followed through `starting_after`, with the caller's filters
/// (account type, customer, limit) on every page.
#[tokio::test]
async fn accounts_three_pages_through_starting_after_keep_filters() {
    let server = MockServer::start_async().await;
    let customer: types::Ksuid = PARENT.parse().expect("ksuid");
    let limit = std::num::NonZeroU64::new(3).expect("3");
    let filters = |when: dakota_api::mock::operations::ListAccountsWhen| {
        when.account_type(types::AccountType::Offramp)
            .customer_id(&customer)
            .limit(limit)
    };
    let after = |i: usize| -> types::Ksuid { ksuid(i).parse().expect("ksuid") };
    let (a2, a5) = (after(2), after(5));
    let p1 = server.list_accounts(|when, then| {
        filters(when).starting_after(None);
        then.ok(&accounts_page(0..3, true));
    });
    let p2 = server.list_accounts(|when, then| {
        filters(when).starting_after(&a2);
        then.ok(&accounts_page(3..6, true));
    });
    let p3 = server.list_accounts(|when, then| {
        filters(when).starting_after(&a5);
        then.ok(&accounts_page(6..7, false));
    });

    let dakota = client(&server);
    let api = dakota.api();
    let ids: Vec<String> = dakota
        .paginate(
            api.list_accounts()
                .account_type(types::AccountType::Offramp)
                .customer_id(PARENT)
                .limit(limit),
        )
        .map_ok(|a| a.id.to_string())
        .try_collect()
        .await
        .expect("three pages");
    assert_eq!(ids, (0..7).map(ksuid).collect::<Vec<_>>());
    for page in [p1, p2, p3] {
        page.assert_calls_async(1).await;
    }
}

fn delivery(id: &str) -> types::WebhookDelivery {
    serde_json::from_value(json!({
        "id": id,
        "event_type": "customer.created",
        "endpoint_url": "https://hooks.example.com/dakota",
        "status": "failed",
        "attempts": 3,
        "created_at": "2026-06-05T09:46:40Z",
        "is_replay": false
    }))
    .expect("a valid delivery")
}

/// `listWebhookHistory` continues with the `cursor` the server hands out, not an item id.
#[tokio::test]
async fn webhook_history_walked_through_server_cursor() {
    let server = MockServer::start_async().await;
    let failed = types::ListWebhookHistoryStatus::Failed;
    let page = |ids: &[&str], cursor: Option<&str>| -> types::WebhookHistoryList {
        types::WebhookHistoryList::builder()
            .data(ids.iter().map(|id| delivery(id)).collect::<Vec<_>>())
            .has_more(cursor.is_some())
            .cursor(cursor.map(str::to_string))
            .try_into()
            .expect("a valid history page")
    };
    let p1 = server.list_webhook_history(|when, then| {
        when.status(failed.clone()).cursor(None);
        then.ok(&page(&["wh_1", "wh_2"], Some("opaque-page-2")));
    });
    let p2 = server.list_webhook_history(|when, then| {
        when.status(failed.clone()).cursor("opaque-page-2");
        then.ok(&page(&["wh_3"], Some("opaque-page-3")));
    });
    let p3 = server.list_webhook_history(|when, then| {
        when.status(failed.clone()).cursor("opaque-page-3");
        then.ok(&page(&["wh_4"], None));
    });

    let dakota = client(&server);
    let ids: Vec<String> = dakota
        .paginate(dakota.api().list_webhook_history().status(failed.clone()))
        .map_ok(|d| d.id)
        .try_collect()
        .await
        .expect("history");
    assert_eq!(ids, ["wh_1", "wh_2", "wh_3", "wh_4"]);
    for page in [p1, p2, p3] {
        page.assert_calls_async(1).await;
    }
}

fn ledger_entry(id: &str, created_at: &str) -> types::SelfServeCreditsLedgerEntry {
    serde_json::from_value(json!({
        "id": id,
        "entry_type": "deduction",
        "category": "transaction_fee",
        "amount_cents": -2500,
        "balance_after_cents": 41275,
        "description": "Transfer fee",
        "created_at": created_at
    }))
    .expect("a valid ledger entry")
}

fn ledger_page(
    entries: Vec<types::SelfServeCreditsLedgerEntry>,
    more: bool,
) -> types::SelfServeCreditsLedgerResponse {
    types::SelfServeCreditsLedgerResponse::builder()
        .entries(entries)
        .has_more(more)
        .try_into()
        .expect("a valid ledger page")
}

/// `listSelfServeCreditsLedger` continues from the last entry's `created_at`.
#[tokio::test]
async fn credits_ledger_walked_through_created_at() {
    let server = MockServer::start_async().await;
    let p1 = server.list_self_serve_credits_ledger(|when, then| {
        when.cursor(None);
        then.ok(&ledger_page(
            vec![
                ledger_entry("e1", "2026-06-05T09:46:40Z"),
                ledger_entry("e2", "2026-06-05T06:53:20Z"),
            ],
            true,
        ));
    });
    // The typed `when.cursor(&time)` helper matches chrono's `Display` form
    // ("2026-06-05 06:53:20 UTC"), not the RFC 3339 form on the wire; match the raw query.
    let p2 = server.list_self_serve_credits_ledger(|when, then| {
        when.into_inner()
            .query_param("cursor", "2026-06-05T06:53:20Z");
        then.ok(&ledger_page(
            vec![ledger_entry("e3", "2026-06-04T10:00:00Z")],
            false,
        ));
    });
    let dakota = client(&server);
    let ids: Vec<String> = dakota
        .paginate(dakota.api().list_self_serve_credits_ledger())
        .map_ok(|e| e.id)
        .try_collect()
        .await
        .expect("ledger");
    assert_eq!(ids, ["e1", "e2", "e3"]);
    p1.assert_calls_async(1).await;
    p2.assert_calls_async(1).await;
}

/// A server that claims `has_more_after` forever: the empty page ends the stream.
#[tokio::test]
async fn has_more_forever_with_an_empty_page_stops() {
    let server = MockServer::start_async().await;
    let empty = server.list_accounts(|_, then| {
        then.ok(&accounts_page(0..0, true));
    });
    let dakota = client(&server);
    let api = dakota.api();
    let n = dakota
        .paginate(api.list_accounts().account_type(types::AccountType::Onramp))
        .count()
        .await;
    assert_eq!(n, 0);
    empty.assert_calls_async(1).await;
}

/// A server that ignores the cursor and repeats its page with `has_more_after`: the repeated
/// cursor ends the stream after the second request.
#[tokio::test]
async fn server_ignoring_the_cursor_stops() {
    let server = MockServer::start_async().await;
    let same = server.list_accounts(|_, then| {
        then.ok(&accounts_page(0..2, true));
    });
    let dakota = client(&server);
    let api = dakota.api();
    let n = dakota
        .paginate(api.list_accounts().account_type(types::AccountType::Onramp))
        .count()
        .await;
    assert_eq!(n, 4);
    same.assert_calls_async(2).await;
}

/// An error on page 2 arrives as `dakota_ext::Error` after page 1's items, and ends the stream.
#[tokio::test]
async fn error_on_page_two_surfaces_after_page_one_items() {
    let server = MockServer::start_async().await;
    server.list_accounts(|when, then| {
        when.starting_after(None);
        then.ok(&accounts_page(0..2, true));
    });
    let a1: types::Ksuid = ksuid(1).parse().expect("ksuid");
    let failing = server.list_accounts(|when, then| {
        when.starting_after(&a1);
        then.into_inner()
            .status(500)
            .header("content-type", "application/problem+json")
            .header("x-request-id", "req_page_2")
            .json_body(json!({
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "request_id": "req_page_2"
            }));
    });
    let dakota = client(&server);
    let api = dakota.api();
    let all: Vec<Result<types::AccountResponse, Error>> = dakota
        .paginate(
            api.list_accounts()
                .account_type(types::AccountType::Offramp),
        )
        .collect()
        .await;
    assert_eq!(all.len(), 3, "two items, then the error, then the end");
    assert_eq!(
        all[0].as_ref().map(|a| a.id.to_string()).ok(),
        Some(ksuid(0))
    );
    assert_eq!(
        all[1].as_ref().map(|a| a.id.to_string()).ok(),
        Some(ksuid(1))
    );
    let Err(Error::Api(e)) = &all[2] else {
        panic!("expected an API error, got {:?}", all[2]);
    };
    assert_eq!(e.status, 500);
    assert_eq!(e.request_id.as_deref(), Some("req_page_2"));
    failing.assert_calls_async(1).await;
}

/// `listTransactions` pages come in three shapes; each one's items stream as
/// `TransactionResource` and continue from the last item's id.
#[tokio::test]
async fn transactions_every_page_shape() {
    let spec = spec();
    let example = |path: &str, method: &str, status: &str| -> Value {
        serde_json::to_value(
            &spec["paths"][path][method]["responses"][status]["content"]["application/json"]
                ["example"],
        )
        .expect("example")
    };
    let one_off = example("/transactions/{transaction_id}", "get", "200");
    let mut wallet = None;
    for (_, item) in spec["paths"].as_mapping().expect("paths") {
        if item["post"]["operationId"].as_str() == Some("createWalletTransaction") {
            wallet = Some(
                serde_json::to_value(
                    &item["post"]["responses"]["200"]["content"]["application/json"]["example"],
                )
                .expect("example"),
            );
        }
    }
    let wallet = wallet.expect("createWalletTransaction example");
    let account = json!({
        "id": ksuid(900),
        "resource_type": "auto_account",
        "type": "offramp",
        "status": "completed",
        "description": "Offramp 100.00 USDC",
        "inputAmount": {"amount": "100.00", "asset": "USDC"},
        "subtotalAmount": {"amount": "99.75", "asset": "USDC"},
        "convertedAmount": {"amount": "99.75", "asset": "USD"},
        "outputAmount": {"amount": "99.75", "asset": "USD"},
        "createdAt": 1_780_300_000,
        "updatedAt": 1_780_300_100
    });
    let meta =
        |more: bool| json!({"has_more_after": more, "has_more_before": false, "total_count": 2});

    for (kind, item, variant) in [
        (
            types::TransactionResourceType::OneOff,
            one_off,
            "OneOffTransaction",
        ),
        (
            types::TransactionResourceType::Wallet,
            wallet,
            "WalletTransaction",
        ),
        (
            types::TransactionResourceType::AutoAccount,
            account,
            "Transaction",
        ),
    ] {
        let server = MockServer::start_async().await;
        let id = item["id"].as_str().expect("id").to_string();
        let first = server
            .mock_async(|when, then| {
                when.method("GET")
                    .path("/transactions")
                    .query_param("transaction_type", kind.to_string())
                    .query_param_missing("starting_after");
                then.status(200)
                    .header("content-type", "application/json")
                    .json_body(json!({"data": [item.clone()], "meta": meta(true)}));
            })
            .await;
        let second = server
            .mock_async(|when, then| {
                when.method("GET")
                    .path("/transactions")
                    .query_param("transaction_type", kind.to_string())
                    .query_param("starting_after", id.as_str());
                then.status(200)
                    .header("content-type", "application/json")
                    .json_body(json!({"data": [item.clone()], "meta": meta(false)}));
            })
            .await;
        let dakota = client(&server);
        let got: Vec<types::TransactionResource> = dakota
            .paginate(
                dakota
                    .api()
                    .list_transactions()
                    .transaction_type(kind.clone()),
            )
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{variant}: {e}"));
        assert_eq!(got.len(), 2, "{variant}");
        for t in &got {
            let matches = matches!(
                (variant, t),
                (
                    "OneOffTransaction",
                    types::TransactionResource::OneOffTransaction(_)
                ) | (
                    "WalletTransaction",
                    types::TransactionResource::WalletTransaction(_)
                ) | ("Transaction", types::TransactionResource::Transaction(_))
            );
            assert!(matches, "{variant}: got {t:?}");
        }
        first.assert_calls_async(1).await;
        second.assert_calls_async(1).await;
    }
}

/// The customers stream against the local sandbox, with generated filters (search, sort by
/// name descending: cursor positions rather than id order) on every page.
#[tokio::test]
async fn customers_stream_against_the_sandbox_keeps_filters() {
    let sandbox = dakota_sandbox::Sandbox::builder()
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
    let api = dakota.api();
    for i in 0..11 {
        let name = if i % 4 == 3 {
            format!("Other Company {i:02}")
        } else {
            format!("Paged Customer {i:02}")
        };
        let body = types::CustomerCreateRequest::builder()
            .name(name)
            .customer_type(types::CustomerCreateRequestCustomerType::Business);
        dakota
            .call(api.create_customer().body(body).send())
            .await
            .expect("create");
    }
    let names: Vec<String> = dakota
        .paginate(
            api.list_customers()
                .search("paged")
                .sort_by(types::ListCustomersSortBy::Name)
                .sort_dir(types::ListCustomersSortDir::Desc)
                .limit(std::num::NonZeroU64::new(3).expect("3")),
        )
        .map_ok(|c| c.name)
        .try_collect()
        .await
        .expect("customers");
    let mut expected: Vec<String> = (0..11)
        .filter(|i| i % 4 != 3)
        .map(|i| format!("Paged Customer {i:02}"))
        .collect();
    expected.reverse();
    assert_eq!(names, expected);

    // The hand-written shortcut walks the same list.
    let all = dakota
        .all_customers(dakota_ext::CustomerFilter {
            page_size: Some(4),
            ..Default::default()
        })
        .count()
        .await;
    assert_eq!(all, 11);
}
