//! The README's main command: the customer-onboarding flow from Dakota's playground.
//!
//!   cargo run -p dakota-ext --example onboarding
//!
//! Without `DAKOTA_API_KEY` it starts the local Dakota sandbox in-process (no key, no
//! network). With `DAKOTA_API_KEY` (and optionally `DAKOTA_ENVIRONMENT`/`DAKOTA_BASE_URL`) it
//! runs against Dakota. Steps: create individual customer "Acme Corp" (external id
//! `usr_12345`; starting twice finds the same customer) → read the customer → read the
//! application → wait for the decision, printing each status transition.

use dakota_ext::onboarding::{NewCustomer, WaitPolicy};
use dakota_ext::{Dakota, Decision};
use futures::StreamExt;
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(Decision::Approved) => ExitCode::SUCCESS,
        Ok(other) => {
            eprintln!("onboarding ended without approval: {other:?}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(id) = e.request_id() {
                eprintln!("(request id {id})");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<Decision, dakota_ext::Error> {
    // Keep the sandbox alive for the whole run; dropping it shuts it down.
    let (dakota, _sandbox) = if std::env::var_os("DAKOTA_API_KEY").is_some() {
        let d = Dakota::from_env()?;
        println!("target: {}", d.environment().base_url());
        (d, None)
    } else {
        let sandbox = dakota_sandbox::Sandbox::builder()
            .auto_approve_after(Duration::from_secs(3))
            .start()
            .await
            .map_err(|e| {
                dakota_ext::Error::Config(format!("cannot start the local sandbox: {e}"))
            })?;
        println!(
            "target: local Dakota sandbox at {} (set DAKOTA_API_KEY to use Dakota)",
            sandbox.base_url()
        );
        let d = Dakota::builder()
            .base_url(sandbox.base_url())?
            .api_key(sandbox.api_key())
            .build()?;
        (d, Some(sandbox))
    };

    println!("1. POST /customers  individual \"Acme Corp\", external_id usr_12345");
    let onboarding = dakota
        .onboarding()
        .start(NewCustomer::individual("Acme Corp").external_id("usr_12345"))
        .await?;
    println!(
        "   customer {} ({}), application {}",
        onboarding.customer_id,
        if onboarding.created {
            "created"
        } else {
            "already existed"
        },
        onboarding.application_id
    );
    if let Some(key) = &onboarding.idempotency_key {
        println!("   idempotency key {key}");
    }
    println!("   application URL: {}", onboarding.application_url);
    match onboarding.expires_at {
        Some(t) => println!("   link expires at {}", t.to_rfc3339()),
        None => println!("   (existing customer: expiry is only returned on creation)"),
    }

    println!("2. GET /customers/{}", onboarding.customer_id);
    let customer = onboarding.customer(&dakota).await?;
    println!(
        "   name {:?}, kyb_status {}, created {}",
        customer.name,
        customer.kyb_status,
        dakota_ext::UnixSeconds(customer.created_at)
    );

    println!(
        "3. GET /applications/{}  (polling within the token's rate budget)",
        onboarding.application_id
    );
    let policy = WaitPolicy::default()
        .initial_interval(Duration::from_secs(1))
        .max_interval(Duration::from_secs(10));
    let mut transitions = std::pin::pin!(onboarding.transitions(&dakota, policy));
    while let Some(t) = transitions.next().await {
        let t = t?;
        match &t.from {
            None => println!("   status: {}", t.to),
            Some(from) => println!("   status: {from} -> {}", t.to),
        }
        if let Some(d) = t.decision {
            println!("decision: {d:?}");
            return Ok(d);
        }
    }
    Err(dakota_ext::Error::WaitTimeout(
        Duration::ZERO,
        "an onboarding decision",
    ))
}
