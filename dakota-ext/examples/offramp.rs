//! Offramp: a business customer pays stablecoins out to a supplier's US bank account.
//!
//!   cargo run -p dakota-ext --example offramp
//!
//! Steps, each a generated builder sent through `Dakota::call` with a typed body:
//!
//! 1. `POST /customers` (createCustomer): business customer "Harbor & Pine Trading LLC".
//! 2. `POST /customers/{customer_id}/recipients` (createRecipient): the payee, "Andes Coffee
//!    Exporters SAS".
//! 3. `POST /recipients/{recipient_id}/destinations` (createDestination): the payee's US bank
//!    account, a `DestinationRequestUnion::FiatUsDestinationRequest`.
//! 4. `POST /accounts` (createAccount): an offramp account; USDC sent on Base to its deposit
//!    address arrives as USD over ACH at that bank account.
//!
//! With `DAKOTA_API_KEY` set it runs against Dakota (`Dakota::from_env`: `DAKOTA_ENVIRONMENT`,
//! `DAKOTA_BASE_URL`); `DAKOTA_CUSTOMER_ID` reuses an existing, onboarded customer instead of
//! creating one. Without a key it uses the local sandbox if that implements these operations;
//! today it does not (they answer 501), so the example prints the requests it would send and
//! exits 0.

use dakota_api::types;
use dakota_ext::Dakota;
use std::error::Error as StdError;
use std::process::ExitCode;

type BoxError = Box<dyn StdError>;

/// The operations this flow calls.
const OPERATIONS: &[&str] = &[
    "createCustomer",
    "createRecipient",
    "createDestination",
    "createAccount",
];

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
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

fn customer() -> Result<types::CustomerCreateRequest, BoxError> {
    Ok(types::CustomerCreateRequest {
        name: "Harbor & Pine Trading LLC".parse()?,
        customer_type: types::CustomerCreateRequestCustomerType::Business,
        external_id: Some("crm-acct-40721".into()),
        is_sub_client: false,
        sub_client_id: None,
    })
}

fn recipient() -> Result<types::RecipientRequest, BoxError> {
    Ok(types::RecipientRequest {
        name: "Andes Coffee Exporters SAS".into(),
        address: Some(types::Address {
            street1: "Carrera 43A 1-50".into(),
            street2: Some("Torre 2, Oficina 804".into()),
            street3: None,
            city: "Medellin".into(),
            region: Some("Antioquia".into()),
            postal_code: Some("050021".into()),
            country: "CO".parse()?,
        }),
    })
}

fn us_bank_account() -> Result<types::DestinationRequestUnion, BoxError> {
    let holder_address = types::FiatUsDestinationAddress {
        street1: "Carrera 43A 1-50".parse()?,
        street2: Some("Torre 2, Oficina 804".parse()?),
        street3: None,
        city: "Medellin".into(),
        region: Some("Antioquia".into()),
        postal_code: Some("050021".into()),
        country: "CO".parse()?,
    };
    let bank_address = types::FiatUsDestinationAddress {
        street1: "1 Market Plaza".parse()?,
        street2: None,
        street3: None,
        city: "San Francisco".into(),
        region: Some("CA".into()),
        postal_code: Some("94105".into()),
        country: "US".parse()?,
    };
    Ok(types::DestinationRequestUnion::FiatUsDestinationRequest(
        types::FiatUsDestinationRequest {
            destination_type: types::FiatUsDestinationRequestDestinationType::FiatUs,
            name: "Andes operating account (US)".into(),
            aba_routing_number: "121000358".into(),
            aba_wire_routing_number: None,
            account_number: "004417392210".into(),
            account_type: types::FiatUsDestinationRequestAccountType::Checking,
            account_holder_name: "Andes Coffee Exporters SAS".parse()?,
            account_holder_address: Some(holder_address),
            account_holder_phone: None,
            bank_name: "Bank of America".parse()?,
            bank_address: Some(bank_address),
            bank_phone: None,
        },
    ))
}

fn offramp_account(destination: types::Ksuid) -> Result<types::AccountCreateRequest, BoxError> {
    Ok(types::AccountCreateRequest {
        account_type: types::AccountType::Offramp,
        fiat_destination_id: Some(destination),
        rail: Some(types::PaymentCapability::Ach),
        source_network_id: Some("base-mainnet".into()),
        source_asset: Some("USDC".parse()?),
        destination_asset: Some("USD".parse()?),
        // Where deposits Dakota cannot process are sent back.
        return_address: Some(types::Cri {
            network_id: types::NetworkId::BaseMainnet,
            crypto_address: "0xb81d59858f0d4df6a80f543b809771f084441517".into(),
        }),
        developer_fee_bps: Some(25),
        capabilities: None,
        crypto_destination_id: None,
        destination_network_id: None,
        return_crypto_address: None,
    })
}

fn json(body: &impl serde::Serialize) -> Result<String, BoxError> {
    Ok(serde_json::to_string_pretty(body)?.replace('\n', "\n   "))
}

async fn run() -> Result<(), BoxError> {
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
            return dry_run(&missing);
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
            let body = customer()?;
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

    let body = recipient()?;
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

    let body = us_bank_account()?;
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

    let body = offramp_account(destination.id)?;
    println!("4. POST /accounts\n   {}", json(&body)?);
    let account = dakota
        .call(api.create_account().body(body).send())
        .await?
        .into_inner();
    println!("   offramp account {}", account.id.as_str());
    match (&account.source_crypto_address, &account.source_network_id) {
        (Some(address), Some(network)) => println!(
            "   send {} on {network} to {address}; it arrives as {} over {}",
            account.source_asset.as_deref().unwrap_or("USDC"),
            account.destination_asset.as_deref().unwrap_or("USD"),
            account
                .rail
                .as_ref()
                .map_or_else(|| "the bank rail".to_string(), ToString::to_string),
        ),
        _ => println!("   (no deposit address yet; read it later with getAccount)"),
    }
    Ok(())
}

/// No key and no local implementation: show the typed requests instead.
fn dry_run(missing: &[&str]) -> Result<(), BoxError> {
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
        json(&customer()?)?
    );
    println!(
        "2. POST /customers/{{customer_id from step 1}}/recipients  (createRecipient)\n   {}",
        json(&recipient()?)?
    );
    println!(
        "3. POST /recipients/{{recipient_id from step 2}}/destinations  (createDestination)\n   {}",
        json(&us_bank_account()?)?
    );
    // Any valid id stands in for the one step 3 returns; it is shown as a placeholder.
    let account = offramp_account("000000000000000000000000000".parse()?)?;
    println!(
        "4. POST /accounts  (createAccount)\n   {}",
        json(&account)?.replace(
            "\"000000000000000000000000000\"",
            "\"<destination id from step 3>\""
        )
    );
    Ok(())
}
