//! The background task: fires lifecycle timers when they fall due and delivers webhooks
//! (signed at each attempt, retried with a doubling backoff, one delivery in flight per
//! target so each target gets its events in order and a slow one holds up nobody else).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::Utc;
use dakota_api::types;
use futures::future::BoxFuture;
use tokio::task::JoinSet;

use crate::events::{self, DeliveryRec, EventRec, TargetRec};
use crate::signing::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::state::{lock, DeliveryJob, SandboxState};

/// Header set to `true` on a delivery caused by `POST /webhooks/events/{event_id}/replay`.
pub const WEBHOOK_REPLAY_HEADER: &str = "x-webhook-replay";

/// How one delivery attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Delivered,
    Retrying,
    Failed,
}

impl SandboxState {
    /// The background task: delivers webhooks (signing, retries, delivery records) and fires
    /// lifecycle timers (onboarding decisions, transaction progress) when they fall due.
    /// [`crate::Sandbox`] spawns it; when serving [`crate::router`] yourself, spawn it once
    /// (`tokio::spawn`) and abort it on shutdown. Returns `None` once taken. Without it,
    /// timed transitions still apply on the next read, but no webhook is sent.
    pub fn take_background_task(&self) -> Option<BoxFuture<'static, ()>> {
        if self
            .inner
            .jobs
            .taken
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return None;
        }
        Some(Box::pin(run(self.clone())))
    }

    /// Applies every timer due by now; returns when the next one falls due.
    fn fire_due(&self) -> Option<chrono::DateTime<Utc>> {
        loop {
            // A timer may wake a hair before the wall clock reaches `at`.
            let horizon = Utc::now() + chrono::Duration::milliseconds(5);
            let timer = {
                let mut heap = lock(&self.inner.jobs.timers);
                match heap.peek() {
                    Some(t) if t.0.at <= horizon => heap.pop().map(|t| t.0),
                    Some(t) => return Some(t.0.at),
                    None => return None,
                }
            };
            let t = timer?;
            let now = Utc::now().max(t.at);
            let fired = self.write(now, None, |tx| {
                tx.finish_timer(t.seq);
                (t.def.run)(tx, &t.id, t.at)
            });
            if let Err(e) = fired {
                tracing::warn!(id = %t.id, timer = t.def.name, error = %e.detail, "a lifecycle timer failed");
                let _ = self.write(now, None, |tx| {
                    tx.finish_timer(t.seq);
                    Ok(())
                });
            }
        }
    }

    /// Books one attempt on the delivery record and the target.
    fn record_attempt(&self, event_id: &str, target_id: &str, outcome: Attempt) {
        let now = Utc::now();
        let _ = self.write(now, None, |tx| {
            if let Some(mut t) = tx.get::<TargetRec>(target_id).cloned() {
                t.last_attempted = now.timestamp();
                if outcome == Attempt::Delivered {
                    t.last_healthy = now.timestamp();
                }
                tx.put(t);
            }
            let id = events::delivery_id(event_id, target_id);
            if let Some(mut r) = tx.get::<DeliveryRec>(&id).cloned() {
                r.attempts = r.attempts.saturating_add(1);
                r.status = match outcome {
                    Attempt::Delivered => {
                        r.delivered_at = Some(now);
                        types::WebhookDeliveryStatus::Delivered
                    }
                    Attempt::Retrying => types::WebhookDeliveryStatus::Pending,
                    Attempt::Failed => types::WebhookDeliveryStatus::Failed,
                };
                tx.put(r);
            }
            Ok(())
        });
    }

    fn abandon(&self, event_id: &str, target_id: &str) {
        let _ = self.write(Utc::now(), None, |tx| {
            events::fail_delivery(tx, event_id, target_id);
            Ok(())
        });
    }
}

/// Sleeps for `d`, or forever when there is nothing to wait for.
async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

async fn run(state: SandboxState) {
    // Without a process-wide provider, a reqwest built with `rustls-no-provider` (what
    // dakota-ext's default feature asks for) panics in `build()`. An already installed
    // provider is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("dakota-sandbox/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: webhook deliveries will fail");
            None
        }
    };
    let mut inflight: JoinSet<()> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut waiting: HashMap<String, VecDeque<DeliveryJob>> = HashMap::new();
    let start = |inflight: &mut JoinSet<()>,
                 running: &mut HashMap<tokio::task::Id, String>,
                 job: DeliveryJob| match &client {
        Some(c) => {
            let target = job.1.clone();
            let handle = inflight.spawn(deliver(state.clone(), c.clone(), job));
            running.insert(handle.id(), target);
        }
        None => state.abandon(&job.0, &job.1),
    };
    loop {
        let next = state.fire_due();
        let queued: Vec<DeliveryJob> = lock(&state.inner.jobs.deliveries).drain(..).collect();
        for job in queued {
            if let Some(queue) = waiting.get_mut(&job.1) {
                queue.push_back(job);
            } else {
                waiting.insert(job.1.clone(), VecDeque::new());
                start(&mut inflight, &mut running, job);
            }
        }
        let wait = next.map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        tokio::select! {
            () = state.inner.jobs.notify.notified() => {}
            () = sleep_opt(wait) => {}
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        if e.is_panic() {
                            tracing::error!("a webhook delivery task panicked");
                        }
                        e.id()
                    }
                };
                // The target's next delivery, if any, goes out now.
                if let Some(target) = running.remove(&id) {
                    match waiting.get_mut(&target).and_then(VecDeque::pop_front) {
                        Some(next) => start(&mut inflight, &mut running, next),
                        None => {
                            waiting.remove(&target);
                        }
                    }
                }
            }
        }
    }
}

/// Sends one event to one target: signed at each attempt, retried with doubling backoff on a
/// non-2xx answer or a transport error, booked after every attempt.
async fn deliver(state: SandboxState, client: reqwest::Client, job: DeliveryJob) {
    let (event_id, target_id, lsn) = job;
    // Nothing leaves the sandbox before the change that caused it is on disk.
    if state.inner.store.settle_to(lsn).await.is_err() {
        return;
    }
    let cfg = state.config();
    let attempts = cfg.webhook_max_attempts.max(1);
    let mut backoff = cfg.webhook_retry_backoff;
    for n in 1..=attempts {
        let job = state.read(|t| {
            let target = t.get::<TargetRec>(&target_id)?;
            let body = t.get::<EventRec>(&event_id)?.body.clone();
            let replay = t
                .get::<DeliveryRec>(&events::delivery_id(&event_id, &target_id))
                .is_some_and(|d| d.is_replay);
            Some((target.url.clone(), body, replay))
        });
        let Some((url, body, replay)) = job else {
            // The target was deleted (or the event dropped): no further attempt.
            state.abandon(&event_id, &target_id);
            return;
        };
        let (ts, sig) = cfg.webhook_signer.sign(Utc::now().timestamp(), &body);
        let mut req = client
            .post(&url)
            .timeout(cfg.webhook_timeout)
            .header(TIMESTAMP_HEADER, ts)
            .header(SIGNATURE_HEADER, sig)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if replay {
            req = req.header(WEBHOOK_REPLAY_HEADER, "true");
        }
        let delivered = match req.send().await {
            Ok(resp) if resp.status().is_success() => true,
            Ok(resp) => {
                tracing::debug!(%event_id, %url, status = %resp.status(), attempt = n, "webhook not accepted");
                false
            }
            Err(e) => {
                tracing::debug!(%event_id, %url, error = %e, attempt = n, "webhook delivery failed");
                false
            }
        };
        let outcome = if delivered {
            Attempt::Delivered
        } else if n == attempts {
            Attempt::Failed
        } else {
            Attempt::Retrying
        };
        state.record_attempt(&event_id, &target_id, outcome);
        if outcome != Attempt::Retrying {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(Duration::from_secs(3600));
    }
}
