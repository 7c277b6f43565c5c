//! Shared by the money-flow examples (`offramp`, `onramp`): client set-up, the steps
//! customer → recipient → destination → account → transaction through `Dakota::call`, then
//! (against the local sandbox, the default) the transaction followed to `completed`, its
//! events (`GET /events`) and the webhook deliveries (a local endpoint verifying each
//! signature, and `GET /webhooks`). The dry run is shown when neither Dakota (no
//! `DAKOTA_API_KEY`) nor the local sandbox can serve them.

use dakota_api::types;
use dakota_ext::webhook::{Verifier, WebhookKey};
use dakota_ext::{Dakota, SendWith as _};
use std::error::Error as StdError;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Any error of an example.
pub type BoxError = Box<dyn StdError>;

/// The operations both flows call.
const OPERATIONS: &[&str] = &[
    "createWebhookTarget",
    "createCustomer",
    "getCustomer",
    "createRecipient",
    "createDestination",
    "createAccount",
    "createTransaction",
    "getTransaction",
    "simulateInbound",
    "listAutoTransactions",
    "getAutoTransaction",
    "listEvents",
    "listWebhookHistory",
];

/// Step 5 of a flow: how money moves once the account exists.
#[allow(dead_code)] // each example builds one of the two
pub enum Movement {
    /// A one-off transaction to the destination (customer id, destination id).
    OneOff(fn(types::Ksuid, types::Ksuid) -> Result<types::OneOffTransactionRequest, BoxError>),
    /// A deposit into the account: against the sandbox it is simulated
    /// (`POST /sandbox/simulate/inbound`); against Dakota you make it yourself.
    Deposit(fn(&types::AccountResponse) -> Result<types::SimulateInboundBody, BoxError>),
}

/// The typed requests of one flow, and how to report its account.
pub struct Flow {
    /// `onramp` or `offramp`.
    pub kind: &'static str,
    /// Step 1.
    pub customer: types::CustomerCreateRequest,
    /// Step 2.
    pub recipient: types::RecipientRequest,
    /// Step 3: one typed variant of the destination union.
    pub destination: types::DestinationRequestUnion,
    /// Step 4, given the id of the destination step 3 created.
    pub account: fn(types::Ksuid) -> Result<types::AccountCreateRequest, BoxError>,
    /// Prints what to do with the created account.
    pub report: fn(&types::AccountResponse),
    /// Step 5.
    pub movement: Movement,
}

/// `main` of an example: runs the flow and turns an error into a message and exit code 1.
pub fn main(flow: fn() -> Result<Flow, BoxError>) -> ExitCode {
    let outcome = tokio::runtime::Runtime::new()
        .map_err(BoxError::from)
        .and_then(|rt| rt.block_on(async { run(flow()?).await }));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(id) = e
                .downcast_ref::<dakota_ext::Error>()
                .and_then(dakota_ext::Error::request_id)
            {
                eprintln!("(request id {id})");
            }
            ExitCode::FAILURE
        }
    }
}

/// Step 1 of both flows: the business customer "Harbor & Pine Trading LLC".
pub fn business_customer() -> Result<types::CustomerCreateRequest, BoxError> {
    Ok(types::CustomerCreateRequest::builder()
        .name("Harbor & Pine Trading LLC")
        .customer_type(types::CustomerCreateRequestCustomerType::Business)
        .external_id(Some("crm-acct-40721".to_string()))
        .try_into()?)
}

fn json(body: &impl serde::Serialize) -> Result<String, BoxError> {
    Ok(serde_json::to_string_pretty(body)?.replace('\n', "\n   "))
}

/// Webhook deliveries the example's local endpoint received, verified.
type Received = Arc<Mutex<Vec<dakota_ext::webhook::Event>>>;

/// A local webhook endpoint (`POST /hook`) that verifies each delivery with the sandbox's
/// public key and keeps the events; returns its URL.
async fn webhook_endpoint(public_key_hex: &str, received: Received) -> Result<String, BoxError> {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let verifier = Arc::new(Verifier::new(WebhookKey::from_hex(public_key_hex)?));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let verifier = verifier.clone();
            let received = received.clone();
            async move {
                match verifier.verify_now(&headers, &body) {
                    Ok(event) => {
                        if let Ok(mut got) = received.lock() {
                            got.push(event);
                        }
                        StatusCode::OK
                    }
                    Err(_) => StatusCode::BAD_REQUEST,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// Runs the flow against Dakota (with `DAKOTA_API_KEY`) or, by default, the local sandbox;
/// shows the requests instead when neither can serve them.
pub async fn run(flow: Flow) -> Result<(), BoxError> {
    // Keep the sandbox alive for the whole run; dropping it shuts it down.
    let received: Received = Arc::default();
    let (dakota, sandbox) = if std::env::var_os("DAKOTA_API_KEY").is_some() {
        let d = Dakota::from_env()?;
        println!("target: {}", d.environment().base_url());
        (d, None)
    } else {
        let missing: Vec<&str> = OPERATIONS
            .iter()
            .copied()
            .filter(|op| !dakota_sandbox::IMPLEMENTED_OPERATIONS.contains(op))
            .collect();
        if !missing.is_empty() {
            return dry_run(&missing, &flow);
        }
        // Onboarding decided at once and money moving in visible steps.
        let sandbox = dakota_sandbox::Sandbox::builder()
            .auto_approve_after(Duration::ZERO)
            .transaction_step(Duration::from_millis(300))
            .rate_limit_per_minute(10_000)
            .start()
            .await?;
        println!("target: local Dakota sandbox at {}", sandbox.base_url());
        let d = Dakota::builder()
            .base_url(sandbox.base_url())?
            .api_key(sandbox.api_key())
            .build()?;
        (d, Some(sandbox))
    };
    let api = dakota.api();

    if let Some(sb) = &sandbox {
        let url = webhook_endpoint(&sb.webhook_public_key(), received.clone()).await?;
        let target: types::WebhookTargetCreateRequest =
            types::WebhookTargetCreateRequest::builder()
                .url(url.clone())
                .global(true)
                .try_into()?;
        dakota
            .call(api.create_webhook_target().body(target).send())
            .await?;
        println!("0. webhook target {url} (every event, verified on arrival)");
    }

    let customer_id: types::Ksuid = match std::env::var("DAKOTA_CUSTOMER_ID") {
        Ok(id) => {
            println!("1. customer {id} (from DAKOTA_CUSTOMER_ID)");
            id.parse()?
        }
        Err(_) => {
            let body = flow.customer.clone();
            println!("1. POST /customers\n   {}", json(&body)?);
            let created = dakota.call(api.create_customer().body(body).send()).await?;
            println!(
                "   customer {}; onboarding application {} at {}",
                created.id.as_str(),
                created.application_id.as_str(),
                created.application_url
            );
            let id = created.into_inner().id;
            if sandbox.is_some() {
                let c = dakota
                    .call(api.get_customer().customer_id(id).send())
                    .await?;
                println!(
                    "   onboarding: kyb_status {} (sandbox auto-approval)",
                    c.kyb_status
                );
            } else {
                println!("   (the customer must pass onboarding before money moves)");
            }
            id
        }
    };

    let body = flow.recipient.clone();
    println!(
        "2. POST /customers/{}/recipients\n   {}",
        customer_id.as_str(),
        json(&body)?
    );
    let recipient = api
        .create_recipient()
        .customer_id(customer_id)
        .body(body)
        .send_with(&dakota)
        .await?
        .into_inner();
    println!(
        "   recipient {} ({})",
        recipient.id.as_str(),
        recipient.status
    );

    let body = flow.destination.clone();
    println!(
        "3. POST /recipients/{}/destinations\n   {}",
        recipient.id.as_str(),
        json(&body)?
    );
    let destination = api
        .create_destination()
        .recipient_id(recipient.id)
        .body(body)
        .send_with(&dakota)
        .await?
        .into_inner();
    println!("   destination {}", destination.id.as_str());

    let body = (flow.account)(destination.id)?;
    println!("4. POST /accounts\n   {}", json(&body)?);
    let account = dakota
        .call(api.create_account().body(body).send())
        .await?
        .into_inner();
    println!("   {} account {}", flow.kind, account.id.as_str());
    (flow.report)(&account);

    let local = sandbox.is_some();
    let status = match flow.movement {
        Movement::OneOff(request) => {
            let body = request(customer_id, destination.id)?;
            println!("5. POST /transactions\n   {}", json(&body)?);
            let tx = dakota
                .call(api.create_transaction().body(body).send())
                .await?
                .into_inner();
            println!(
                "   one-off transaction {} ({}): send {} {} on {} to {}",
                tx.id.as_str(),
                tx.status,
                tx.send_amount.as_deref().unwrap_or("the amount"),
                tx.source_asset,
                tx.source_network_id,
                tx.crypto_address
            );
            if !local {
                return Ok(());
            }
            follow(&dakota, tx.id, false).await?
        }
        Movement::Deposit(deposit) => {
            if !local {
                println!("5. pay into the account's bank coordinates; each deposit becomes an auto transaction");
                return Ok(());
            }
            let body = deposit(&account)?;
            println!("5. POST /sandbox/simulate/inbound\n   {}", json(&body)?);
            dakota
                .call(api.simulate_inbound().body(body).send())
                .await?;
            let page = dakota
                .call(
                    api.list_auto_transactions()
                        .auto_account_id(account.id)
                        .send(),
                )
                .await?
                .into_inner();
            let Some(first) = page.data.first() else {
                return Err("the deposit created no auto transaction".into());
            };
            println!(
                "   auto transaction {} ({})",
                first.id.as_str(),
                first.status
            );
            follow(&dakota, first.id, true).await?
        }
    };
    if status != "completed" {
        return Err(format!("the transaction ended {status}").into());
    }

    let page = dakota
        .call(
            api.list_events()
                .limit(std::num::NonZeroU64::new(50).ok_or("limit")?)
                .send(),
        )
        .await?
        .into_inner();
    let mut events: Vec<&types::Event> = page.data.iter().collect();
    events.reverse();
    println!("6. GET /events: {} events, oldest first", events.len());
    for e in &events {
        let status = e
            .data
            .object
            .get("status")
            .and_then(|v| v.as_str())
            .map(|s| format!(" -> {s}"))
            .unwrap_or_default();
        println!("   {} {}{status}", e.id.as_str(), e.type_);
    }

    // Deliveries go out in the background; give them a moment to arrive.
    for _ in 0..50 {
        let got = received.lock().map(|g| g.len()).unwrap_or(0);
        if got >= events.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history = dakota
        .call(
            api.list_webhook_history()
                .limit(std::num::NonZeroU64::new(100).ok_or("limit")?)
                .send(),
        )
        .await?
        .into_inner();
    let delivered = history
        .data
        .iter()
        .filter(|d| d.status.to_string() == "delivered")
        .count();
    let verified = received.lock().map(|g| g.len()).unwrap_or(0);
    println!(
        "7. GET /webhooks: {} delivery records, {delivered} delivered; the local endpoint verified {verified} signed deliveries",
        history.data.len()
    );
    Ok(())
}

/// Polls a transaction until it is final, printing each status it passes; returns the last.
async fn follow(dakota: &Dakota, id: types::Ksuid, auto: bool) -> Result<String, BoxError> {
    let api = dakota.api();
    let mut last = String::new();
    for _ in 0..100 {
        let status = if auto {
            dakota
                .call(api.get_auto_transaction().auto_transaction_id(id).send())
                .await?
                .into_inner()
                .status
                .to_string()
        } else {
            let t = dakota
                .call(api.get_transaction().transaction_id(id).send())
                .await?
                .into_inner();
            serde_json::to_value(&t)?
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        if status != last {
            println!("   status: {status}");
            last = status;
        }
        if [
            "completed",
            "failed",
            "cancelled",
            "canceled",
            "returned",
            "reversed",
        ]
        .contains(&last.as_str())
        {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(last)
}

/// No key and no local implementation: show the typed requests instead.
fn dry_run(missing: &[&str], flow: &Flow) -> Result<(), BoxError> {
    println!(
        "DAKOTA_API_KEY is not set, and the local sandbox (dakota-sandbox) does not implement \
         {} yet (it answers 501 for them), so nothing is sent.",
        missing.join(", ")
    );
    println!(
        "Set DAKOTA_API_KEY (and optionally DAKOTA_ENVIRONMENT, DAKOTA_CUSTOMER_ID) to run this \
         flow against Dakota. The requests it would send:\n"
    );
    println!(
        "1. POST /customers  (createCustomer)\n   {}",
        json(&flow.customer)?
    );
    println!(
        "2. POST /customers/{{customer_id from step 1}}/recipients  (createRecipient)\n   {}",
        json(&flow.recipient)?
    );
    println!(
        "3. POST /recipients/{{recipient_id from step 2}}/destinations  (createDestination)\n   {}",
        json(&flow.destination)?
    );
    // Any valid id stands in for the one step 3 returns; it is shown as a placeholder.
    let account = (flow.account)("000000000000000000000000000".parse()?)?;
    println!(
        "4. POST /accounts  (createAccount)\n   {}",
        json(&account)?.replace(
            "\"000000000000000000000000000\"",
            "\"<destination id from step 3>\""
        )
    );
    Ok(())
}
