//! `X-Sandbox-*` fault injection, applied by the pipeline before a write operation runs:
//! `X-Sandbox-Scenario` values that fail the request (`provider_maintenance`,
//! `intermittent_errors`, `network_timeout`) and `X-Sandbox-Error-Status`. Scenarios that
//! shape a resource's lifecycle (`kyb_*`, transaction outcomes) are read by the resource
//! areas themselves ([`super::call::Call::scenario`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::request::Parts;
use axum::http::StatusCode;

use crate::problem::{for_status, ApiError};
use crate::state::lock;

/// Every sandbox scenario name the spec lists for `X-Sandbox-Scenario`.
pub const SCENARIOS: &[&str] = &[
    "happy_path",
    "delayed_settlement",
    "insufficient_funds",
    "compliance_block",
    "invalid_account",
    "provider_maintenance",
    "network_congestion",
    "kyb_manual_review",
    "kyb_rejected",
    "kyb_expired",
    "network_timeout",
    "intermittent_errors",
    "account_frozen",
    "document_expired",
    "invalid_swift",
];

const ERROR_STEPS: &[&str] = &[
    "transaction_processing",
    "compliance_check",
    "account_validation",
    "provider_call",
    "kyb_submission",
    "kyb_approval",
    "network_call",
];

/// Attempts per idempotency key distinct counters kept at most for `intermittent_errors`.
const MAX_COUNTERS: usize = 100_000;

/// Counters of the `intermittent_errors` scenario.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    intermittent: Mutex<HashMap<String, u64>>,
}

impl Faults {
    /// Counts an attempt; true when this attempt must fail (the 1st, 3rd, 5th...).
    fn intermittent_should_fail(&self, key: &str) -> bool {
        let mut map = lock(&self.intermittent);
        if map.len() >= MAX_COUNTERS && !map.contains_key(key) {
            map.clear();
        }
        let n = map.entry(key.to_owned()).or_insert(0);
        *n += 1;
        *n % 2 == 1
    }

    /// Applies the fault headers of a request; `delay` receives the `network_timeout` hold.
    pub(crate) fn apply(
        &self,
        parts: &Parts,
        scope: &str,
        key: Option<&str>,
        network_timeout: Duration,
        delay: &mut Option<Duration>,
    ) -> Result<(), ApiError> {
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if let Some(s) = parts.headers.get("x-sandbox-scenario") {
            let s = s.to_str().unwrap_or_default().trim();
            if !SCENARIOS.contains(&s) {
                return Err(ApiError::field(
                    "X-Sandbox-Scenario",
                    "invalid_enum",
                    format!(
                        "unknown scenario; expected one of: {}",
                        SCENARIOS.join(", ")
                    ),
                ));
            }
            match s {
                "provider_maintenance" => {
                    return Err(for_status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The verification provider is down for scheduled maintenance (sandbox scenario provider_maintenance)",
                    )
                    .with_header(RETRY_AFTER, 30));
                }
                "intermittent_errors" => {
                    let counter = format!(
                        "{scope}\u{0}{}\u{0}{}",
                        parts.uri.path(),
                        key.unwrap_or("-")
                    );
                    if self.intermittent_should_fail(&counter) {
                        return Err(for_status(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "Transient upstream failure (sandbox scenario intermittent_errors: every other attempt fails)",
                        )
                        .with_header(RETRY_AFTER, 1));
                    }
                }
                "network_timeout" => *delay = Some(network_timeout),
                _ => {}
            }
        }
        if let Some(status) = header("x-sandbox-error-status").and_then(|s| s.parse::<u16>().ok()) {
            if (400..=599).contains(&status) {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let step = header("x-sandbox-error-step")
                    .filter(|s| ERROR_STEPS.contains(s))
                    .unwrap_or("provider_call");
                let message = header("x-sandbox-error-message")
                    .filter(|m| !m.is_empty() && m.chars().count() <= 500)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("Injected sandbox error at step {step}"));
                let mut err = for_status(status, message);
                if status == StatusCode::SERVICE_UNAVAILABLE
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    err = err.with_header(RETRY_AFTER, 1);
                }
                return Err(err);
            }
        }
        Ok(())
    }
}
