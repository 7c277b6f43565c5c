//! Memory per 100,000 stored transactions in the sandbox's in-memory store.
//!
//! `cargo run -p dakota-sandbox --example transactions_memory` (`TRANSACTIONS=n` to change the
//! count, `WARMUP=n` the transactions created before the first reading; a release build,
//! `--release`, only makes it faster: record sizes are the same).
//!
//! Starts a sandbox in this process (lifecycle timers at zero, so every transaction goes
//! `pending -> processing -> completed` as it would), creates a customer, a recipient and a US
//! bank destination, warms up with 1,000 one-off transactions, then reads the resident set
//! (`VmRSS` in `/proc/self/status`, Linux), creates `TRANSACTIONS` (default 100,000) more over
//! HTTP (`POST /transactions`, 32 in flight), waits until the last one has completed, and reads
//! it again. The growth covers what a stored transaction costs the sandbox in all: the record,
//! its events (`transaction.*`), its lifecycle timer entries and the idempotency entry of its
//! create request (kept 24 hours, like the platform's); the client's own memory is in the same
//! process but does not grow with the count. The event log and the idempotency store keep
//! 100,000 entries each at most (the oldest go first): past that, with `WARMUP=100000`, the
//! growth is what the transaction records alone cost.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error>;

/// A `VmRSS`/`VmHWM`-style line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .header("x-idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if !status.is_success() {
            return Err(format!("POST {path}: {status} {v}").into());
        }
        Ok(v)
    }

    async fn get(&self, path: &str) -> Result<Value, Error> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await?;
        Ok(r.json().await?)
    }

    /// Creates `n` one-off transactions; returns the id of the last one created.
    async fn transactions(&self, n: usize, body: &Value) -> Result<String, Error> {
        let mut last = String::new();
        let mut created = futures::stream::iter(0..n)
            .map(|_| self.post("/transactions", body))
            .buffer_unordered(32);
        while let Some(r) = created.next().await {
            last = r?["id"].as_str().unwrap_or_default().to_owned();
        }
        Ok(last)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let n: usize = std::env::var("TRANSACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let warmup: usize = std::env::var("WARMUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let sandbox = dakota_sandbox::Sandbox::builder()
        .auto_approve_after(Duration::ZERO)
        .transaction_step(Duration::ZERO)
        .rate_limit_per_minute(u32::MAX)
        .start()
        .await?;
    let c = Client {
        http: reqwest::Client::new(),
        base: sandbox.base_url().to_owned(),
        key: sandbox.api_key().to_owned(),
    };
    let customer = c
        .post(
            "/customers",
            &json!({"name": "Memory Payer", "customer_type": "business"}),
        )
        .await?;
    let customer_id = customer["id"].as_str().unwrap_or_default().to_owned();
    let recipient = c
        .post(
            &format!("/customers/{customer_id}/recipients"),
            &json!({"name": "Memory Payee"}),
        )
        .await?;
    let destination = c
        .post(
            &format!(
                "/recipients/{}/destinations",
                recipient["id"].as_str().unwrap_or_default()
            ),
            &json!({"destination_type": "fiat_us", "name": "Payee bank",
                    "aba_routing_number": "021000021", "account_number": "000123456789",
                    "account_type": "checking", "account_holder_name": "Memory Payee",
                    "bank_name": "Chase"}),
        )
        .await?;
    let body = json!({
        "customer_id": customer_id, "destination_id": destination["id"],
        "source_network_id": "base-mainnet", "source_asset": "USDC",
        "destination_asset": "USD", "amount": "25.00",
    });
    c.transactions(warmup, &body).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = status_bytes("VmRSS:")?;
    let started = Instant::now();
    let last = c.transactions(n, &body).await?;
    let secs = started.elapsed().as_secs_f64();
    // The lifecycle runs on timers: wait for the last transaction to complete.
    let mut status = String::new();
    for _ in 0..600 {
        status = c.get(&format!("/transactions/{last}")).await?["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = status_bytes("VmRSS:")?;
    let events = c.get("/events?limit=1").await?["meta"]["total_count"]
        .as_u64()
        .unwrap_or_default();
    let one = c
        .get(&format!("/transactions/{last}"))
        .await?
        .to_string()
        .len();
    let peak = status_bytes("VmHWM:")?;
    let grown = after.saturating_sub(before) as f64;
    let mib = 1024.0 * 1024.0;
    println!(
        "{n} one-off transactions created in {secs:.1} s ({:.0}/s); the last one is {status}",
        n as f64 / secs
    );
    println!(
        "  resident before           {:>8.1} MiB",
        before as f64 / mib
    );
    println!(
        "  resident after            {:>8.1} MiB",
        after as f64 / mib
    );
    println!("  peak resident (VmHWM)     {:>8.1} MiB", peak as f64 / mib);
    println!("  growth per transaction    {:>8.0} B", grown / n as f64);
    println!("  JSON of one transaction   {one:>8} B");
    println!(
        "  events stored             {events:>8} ({:.1} per transaction)",
        events as f64 / (n + warmup) as f64
    );
    println!(
        "  growth per 100k           {:>8.1} MiB",
        grown / n as f64 * 100_000.0 / mib
    );
    Ok(())
}
