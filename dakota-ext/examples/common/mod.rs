//! Shared by the money-flow examples (`offramp`, `onramp`): client set-up, the four steps
//! customer → recipient → destination → account through `Dakota::call`, and the dry run shown
//! when neither Dakota (no `DAKOTA_API_KEY`) nor the local sandbox can serve them.

use dakota_api::types;
use dakota_ext::Dakota;
use std::error::Error as StdError;
use std::process::ExitCode;

/// Any error of an example.
pub type BoxError = Box<dyn StdError>;

/// The operations both flows call.
const OPERATIONS: &[&str] = &[
    "createCustomer",
    "createRecipient",
    "createDestination",
    "createAccount",
];

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

/// Runs the four steps against Dakota (with `DAKOTA_API_KEY`) or the local sandbox, or shows
/// the requests when neither can serve them.
pub async fn run(flow: Flow) -> Result<(), BoxError> {
    // Keep the sandbox alive for the whole run; dropping it shuts it down.
    let (dakota, _sandbox) = if std::env::var_os("DAKOTA_API_KEY").is_some() {
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
        let sandbox = dakota_sandbox::Sandbox::builder().start().await?;
        println!("target: local Dakota sandbox at {}", sandbox.base_url());
        let d = Dakota::builder()
            .base_url(sandbox.base_url())?
            .api_key(sandbox.api_key())
            .build()?;
        (d, Some(sandbox))
    };
    let api = dakota.api();

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
            println!("   (the customer must pass onboarding before money moves)");
            created.into_inner().id
        }
    };

    let body = flow.recipient.clone();
    println!(
        "2. POST /customers/{}/recipients\n   {}",
        customer_id.as_str(),
        json(&body)?
    );
    let recipient = dakota
        .call(
            api.create_recipient()
                .customer_id(customer_id.clone())
                .body(body)
                .send(),
        )
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
    let destination = dakota
        .call(
            api.create_destination()
                .recipient_id(recipient.id.clone())
                .body(body)
                .send(),
        )
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
    Ok(())
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
