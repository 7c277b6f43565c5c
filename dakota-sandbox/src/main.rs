//! `dakota-sandbox`: serves a local Dakota Platform sandbox until Ctrl-C.
//!
//! ```text
//! dakota-sandbox [--port N] [--auto-approve-secs N] [--transaction-step-secs N] [--rate-limit N] [--token-rate-limit N]
//!                [--api-key KEY] [--network-timeout-secs N] [--webhook-seed HEX] [--strict-auth]
//!                [--data-dir DIR]
//! dakota-sandbox --list-operations
//! ```
//!
//! Prints `base_url=...`, `api_key=...` and `webhook_public_key=...` on stdout once it listens.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use dakota_sandbox::Sandbox;

const USAGE: &str = "usage: dakota-sandbox [--port N] [--auto-approve-secs N] [--transaction-step-secs N] [--rate-limit N] \
[--token-rate-limit N] [--api-key KEY] [--network-timeout-secs N] [--webhook-seed HEX] [--strict-auth]
                      [--data-dir DIR]
       dakota-sandbox --list-operations

  --list-operations         print the operationIds the sandbox implements, one a line, and exit
  --port N                  local port on 127.0.0.1 (default 0: any free port)
  --auto-approve-secs N     seconds until a new application is approved (default 5)
  --transaction-step-secs N seconds per step of a money movement, pending -> processing ->
                            completed (default 5)
  --rate-limit N            requests per minute per API key (default 60)
  --token-rate-limit N      requests per hour per application token (default 100)
  --api-key KEY             API key to accept (default: random sk_sandbox_...)
  --network-timeout-secs N  delay of the network_timeout scenario (default 30)
  --webhook-seed HEX        32-byte Ed25519 seed (64 hex digits) signing webhook deliveries,
                            for a public key that survives restarts (default: random)
  --strict-auth             enforce each operation's spec security exactly: routes that take
                            only an application token refuse x-api-key (default: lenient,
                            as Dakota's playground)
  --data-dir DIR            keep all state in DIR (one SQLite file, created if needed) so it
                            survives restarts and crashes: records, idempotent responses,
                            pending timers and webhooks, the webhook key (default: in memory;
                            delete DIR to reset)";

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse()
        .map_err(|_| format!("{flag}: invalid value '{v}'"))
}

/// A 32-byte seed from 64 hex digits.
fn seed(value: Option<String>) -> Result<[u8; 32], String> {
    let v = value.ok_or("--webhook-seed needs a value")?;
    let digits = v.trim();
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("--webhook-seed: expected 64 hex digits".to_owned());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
            .map_err(|_| "--webhook-seed: expected 64 hex digits".to_owned())?;
    }
    Ok(out)
}

fn builder_from_args() -> Result<Option<dakota_sandbox::SandboxBuilder>, String> {
    let mut b = Sandbox::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        b = match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--list-operations" => {
                for op in dakota_sandbox::IMPLEMENTED_OPERATIONS.iter() {
                    println!("{op}");
                }
                std::process::exit(0);
            }
            "--port" => b.port(parse(&flag, value())?),
            "--auto-approve-secs" => {
                b.auto_approve_after(Duration::from_secs(parse(&flag, value())?))
            }
            "--transaction-step-secs" => {
                b.transaction_step(Duration::from_secs(parse(&flag, value())?))
            }
            "--rate-limit" => b.rate_limit_per_minute(parse(&flag, value())?),
            "--token-rate-limit" => b.token_rate_limit_per_hour(parse(&flag, value())?),
            "--api-key" => b.api_key(value().ok_or("--api-key needs a value")?),
            "--network-timeout-secs" => {
                b.network_timeout_delay(Duration::from_secs(parse(&flag, value())?))
            }
            "--webhook-seed" => b.webhook_signing_seed(seed(value())?),
            "--strict-auth" => b.strict_auth(true),
            "--data-dir" => b.data_dir(value().ok_or("--data-dir needs a value")?),
            other => return Err(format!("unknown argument '{other}'")),
        };
    }
    Ok(Some(b))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Warnings and errors on stderr (a commit that fails, a timer that fails); set
    // DAKOTA_SANDBOX_LOG=info to also see start-up details such as loading the data dir.
    let level = match std::env::var("DAKOTA_SANDBOX_LOG").as_deref() {
        Ok("info") => tracing::Level::INFO,
        Ok("debug") => tracing::Level::DEBUG,
        _ => tracing::Level::WARN,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
    let builder = match builder_from_args() {
        Ok(Some(b)) => b,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("dakota-sandbox: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sandbox = match builder.start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dakota-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "base_url={}", sandbox.base_url());
    let _ = writeln!(out, "api_key={}", sandbox.api_key());
    let _ = writeln!(out, "webhook_public_key={}", sandbox.webhook_public_key());
    let _ = out.flush();
    drop(out);
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("dakota-sandbox: cannot wait for Ctrl-C: {e}");
    }
    eprintln!("dakota-sandbox: shutting down");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
