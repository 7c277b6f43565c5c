//! Crash safety of a sandbox with a data dir, against the real binary:
//!
//! * `sigkill_loses_no_acknowledged_write`: concurrent creates (customers and webhook targets,
//!   all with idempotency keys) and transitions (`simulate/onboarding`), SIGKILLed at random
//!   points at least 20 times and restarted on the same data dir; after every restart each
//!   write acknowledged before the kill reads back identical, each idempotency key replays its
//!   stored response byte for byte (recipients of approved customers too, a money-movement
//!   record), the webhook signing key is unchanged; at the end the
//!   pending auto-approval timers and webhook deliveries have resumed. Money movement rides
//!   along: fiat destinations of those recipients and one-off transactions to them, killed
//!   mid-flight; every acknowledged transaction reads back with its amount after each restart
//!   and, at the end, its lifecycle timers have resumed and carried it to `completed`.
//! * `a_damaged_database_is_refused`: a truncated or overwritten file stops the sandbox at
//!   start-up with a clear message (and a non-zero exit) instead of serving partial state.
//! * `a_newer_schema_is_refused`: a file of a newer schema version is refused.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dakota-sandbox");
const KEY: &str = "sk_sandbox_crashtest";
const KILLS: usize = 24;
const WORKERS: usize = 8;

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

struct Server {
    child: Child,
    base: String,
    public_key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "--port",
        "0",
        "--api-key",
        KEY,
        "--rate-limit",
        "4000000000",
        "--auto-approve-secs",
        "1",
        "--transaction-step-secs",
        "1",
        "--data-dir",
    ])
    .arg(dir);
    c
}

/// Starts the binary on `dir` and waits until it listens.
fn start(dir: &Path) -> Server {
    let mut child = command(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let (mut base, mut public_key) = (String::new(), String::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        if let Some(v) = line.strip_prefix("base_url=") {
            base = v.to_owned();
        } else if let Some(v) = line.strip_prefix("webhook_public_key=") {
            public_key = v.to_owned();
            break;
        }
    }
    assert!(
        !base.is_empty() && !public_key.is_empty(),
        "the sandbox did not start"
    );
    Server {
        child,
        base,
        public_key,
    }
}

/// Runs the binary on `dir`, expecting it to refuse to start: returns its stderr.
fn refused(dir: &Path) -> String {
    let mut child = command(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the sandbox");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the sandbox started on a damaged data dir instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(!status.success(), "exit status {status}; stderr: {err}");
    assert!(!out.contains("base_url="), "it served: {out}");
    err
}

/// One acknowledged (2xx) idempotent write.
#[derive(Debug, Clone)]
struct Ack {
    path: String,
    key: String,
    body: Vec<u8>,
    status: u16,
    response: Vec<u8>,
    what: Written,
}

#[derive(Debug, Clone)]
enum Written {
    Customer {
        id: String,
        application_id: String,
        name: String,
    },
    Target {
        id: String,
        url: String,
    },
    Approval {
        application_id: String,
    },
    Recipient {
        id: String,
        customer_id: String,
        name: String,
    },
    Destination {
        id: String,
        recipient_id: String,
    },
    Transaction {
        id: String,
        amount: String,
    },
}

#[derive(Default)]
struct Shared {
    acks: Mutex<Vec<Ack>>,
    customers: Mutex<Vec<(String, String)>>,
    /// Acknowledged recipients: (recipient id, customer id).
    recipients: Mutex<Vec<(String, String)>>,
    /// Acknowledged fiat destinations: (destination id, customer id).
    destinations: Mutex<Vec<(String, String)>>,
    targets: AtomicUsize,
    attempted: AtomicUsize,
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    key: &str,
    body: &[u8],
) -> Option<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
    let resp = http
        .post(format!("{base}{path}"))
        .header("x-api-key", KEY)
        .header("x-idempotency-key", key)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.ok()?.to_vec();
    Some((status, headers, bytes))
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let resp = http
        .get(format!("{base}{path}"))
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("GET after restart");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// One worker: creates and transitions until the server dies or `stop` is set.
async fn worker(base: String, hook: String, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::new();
    while !stop.load(Ordering::Relaxed) {
        let roll: u32 = rand::rng().random_range(0..100);
        let key = uuid::Uuid::new_v4().to_string();
        let pick = {
            let c = shared.customers.lock().expect("customers");
            (!c.is_empty()).then(|| c[rand::rng().random_range(0..c.len())].clone())
        };
        let recipient_path = pick
            .as_ref()
            .map(|(c, _)| format!("/customers/{c}/recipients"));
        let recipient = {
            let r = shared.recipients.lock().expect("recipients");
            (!r.is_empty()).then(|| r[rand::rng().random_range(0..r.len())].clone())
        };
        let destination = {
            let d = shared.destinations.lock().expect("destinations");
            (!d.is_empty()).then(|| d[rand::rng().random_range(0..d.len())].clone())
        };
        let destination_path = recipient
            .as_ref()
            .map(|(r, _)| format!("/recipients/{r}/destinations"));
        let (path, body) = if roll < 8 && shared.targets.load(Ordering::Relaxed) < 4 {
            let url = format!("{hook}/t/{}", uuid::Uuid::new_v4().simple());
            (
                "/webhooks/targets",
                json!({"url": url, "event_types": ["customer.created"]}),
            )
        } else if let (true, Some((_, app))) = (roll < 25, &pick) {
            (
                "/sandbox/simulate/onboarding",
                json!({"type": "kyb_approve", "applicant_id": app,
                       "simulation_id": format!("sim_{}", uuid::Uuid::new_v4().simple())}),
            )
        } else if let (true, Some(p)) = (roll < 32, &destination_path) {
            (
                p.as_str(),
                json!({"destination_type": "fiat_us", "name": "Payee bank",
                       "aba_routing_number": "021000021", "account_number": "000123456789",
                       "account_type": "checking", "account_holder_name": "Crash Payee",
                       "bank_name": "Chase"}),
            )
        } else if let (true, Some((d, c))) = (roll < 40, &destination) {
            let cents: u32 = rand::rng().random_range(100..100_000);
            (
                "/transactions",
                json!({"customer_id": c, "destination_id": d, "source_network_id": "base-mainnet",
                       "source_asset": "USDC", "destination_asset": "USD",
                       "amount": format!("{}.{:02}", cents / 100, cents % 100)}),
            )
        } else if let (true, Some(p)) = (roll < 52, &recipient_path) {
            // Money movement: a recipient of a customer (refused until its KYB is active,
            // which auto-approval makes it within a second).
            let n = uuid::Uuid::new_v4().simple().to_string();
            (
                p.as_str(),
                json!({"name": format!("Payee {}", &n[..8]),
                       "address": {"street1": "1 Harbor Way", "city": "Boston", "country": "US"}}),
            )
        } else {
            let n = uuid::Uuid::new_v4().simple().to_string();
            (
                "/customers",
                json!({"name": format!("Crash Co {}", &n[..8]), "customer_type": "business",
                       "external_id": format!("crash_{n}")}),
            )
        };
        let bytes = serde_json::to_vec(&body).expect("encode");
        shared.attempted.fetch_add(1, Ordering::Relaxed);
        let Some((status, _, response)) = post(&http, &base, path, &key, &bytes).await else {
            return; // the server is gone: this request was never acknowledged
        };
        if !(200..300).contains(&status) {
            continue;
        }
        let v: Value = serde_json::from_slice(&response).expect("2xx JSON");
        let what = match path {
            "/customers" => {
                let w = Written::Customer {
                    id: v["id"].as_str().expect("id").to_owned(),
                    application_id: v["application_id"].as_str().expect("app").to_owned(),
                    name: body["name"].as_str().expect("name").to_owned(),
                };
                if let Written::Customer {
                    id, application_id, ..
                } = &w
                {
                    shared
                        .customers
                        .lock()
                        .expect("customers")
                        .push((id.clone(), application_id.clone()));
                }
                w
            }
            "/webhooks/targets" => {
                shared.targets.fetch_add(1, Ordering::Relaxed);
                Written::Target {
                    id: v["id"].as_str().expect("id").to_owned(),
                    url: body["url"].as_str().expect("url").to_owned(),
                }
            }
            p if p.ends_with("/recipients") => {
                let id = v["id"].as_str().expect("id").to_owned();
                let customer_id = pick.as_ref().map(|(c, _)| c.clone()).unwrap_or_default();
                shared
                    .recipients
                    .lock()
                    .expect("recipients")
                    .push((id.clone(), customer_id.clone()));
                Written::Recipient {
                    id,
                    customer_id,
                    name: body["name"].as_str().expect("name").to_owned(),
                }
            }
            p if p.ends_with("/destinations") => {
                let id = v["id"].as_str().expect("id").to_owned();
                let (recipient_id, customer_id) = recipient.clone().unwrap_or_default();
                shared
                    .destinations
                    .lock()
                    .expect("destinations")
                    .push((id.clone(), customer_id));
                Written::Destination { id, recipient_id }
            }
            "/transactions" => Written::Transaction {
                id: v["id"].as_str().expect("id").to_owned(),
                amount: body["amount"].as_str().expect("amount").to_owned(),
            },
            _ => Written::Approval {
                application_id: body["applicant_id"].as_str().expect("app").to_owned(),
            },
        };
        shared.acks.lock().expect("acks").push(Ack {
            path: path.to_owned(),
            key,
            body: bytes,
            status,
            response,
            what,
        });
    }
}

/// Whether a transaction read back carries the amount it was created with (compared as
/// numbers: the response may format it differently).
fn amount_matches(t: &Value, amount: &str) -> bool {
    let read = t["amount"].as_str().and_then(|s| s.parse::<f64>().ok());
    read.is_some() && read == amount.parse::<f64>().ok()
}

/// Checks acknowledged writes against a restarted server; returns how many were lost.
async fn verify(http: &reqwest::Client, base: &str, acks: &[Ack]) -> usize {
    let mut lost = 0;
    for a in acks {
        let mut ok = true;
        // The idempotency key replays the stored response byte for byte.
        match post(http, base, &a.path, &a.key, &a.body).await {
            Some((status, headers, bytes)) => {
                let replayed = headers
                    .get("idempotent-replayed")
                    .is_some_and(|v| v == "true");
                if status != a.status || bytes != a.response || !replayed {
                    eprintln!(
                        "replay of {} {} differs: {status} replayed={replayed}\n  was: {}\n  now: {}",
                        a.path,
                        a.key,
                        String::from_utf8_lossy(&a.response),
                        String::from_utf8_lossy(&bytes)
                    );
                    ok = false;
                }
            }
            None => ok = false,
        }
        // The record reads back as written.
        match &a.what {
            Written::Customer {
                id,
                application_id,
                name,
                ..
            } => {
                let (s, c) = get(http, base, &format!("/customers/{id}")).await;
                let (sa, app) = get(http, base, &format!("/applications/{application_id}")).await;
                if s != 200
                    || c["id"] != json!(id)
                    || c["name"] != json!(name)
                    || c["customer_type"] != json!("business")
                    || c["application_id"] != json!(application_id)
                    || sa != 200
                    || app["application_id"] != json!(application_id)
                {
                    eprintln!("customer {id} reads back wrong: {s} {c} / {sa} {app}");
                    ok = false;
                }
            }
            Written::Target { id, url } => {
                let (s, t) = get(http, base, &format!("/webhooks/targets/{id}")).await;
                if s != 200 || t["url"] != json!(url) {
                    eprintln!("target {id} reads back wrong: {s} {t}");
                    ok = false;
                }
            }
            Written::Recipient {
                id,
                customer_id,
                name,
            } => {
                let (s, r) = get(http, base, &format!("/recipients/{id}")).await;
                let (sl, list) = get(
                    http,
                    base,
                    &format!("/customers/{customer_id}/recipients?limit=100"),
                )
                .await;
                let listed = list["data"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|x| x["id"] == json!(id)));
                if s != 200 || r["name"] != json!(name) || sl != 200 || !listed {
                    eprintln!("recipient {id} reads back wrong: {s} {r} / {sl} listed={listed}");
                    ok = false;
                }
            }
            Written::Destination { id, recipient_id } => {
                // The API reads destinations through their recipient's list only.
                let (s, list) = get(
                    http,
                    base,
                    &format!("/recipients/{recipient_id}/destinations?limit=100"),
                )
                .await;
                let listed = list["data"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|x| x["destination_id"] == json!(id)));
                if s != 200 || !listed {
                    eprintln!("destination {id} not listed after the restart: {s} {list}");
                    ok = false;
                }
            }
            Written::Transaction { id, amount } => {
                let (s, t) = get(http, base, &format!("/transactions/{id}")).await;
                if s != 200 || t["id"] != json!(id) || !amount_matches(&t, amount) {
                    eprintln!("transaction {id} reads back wrong: {s} {t}");
                    ok = false;
                }
            }
            Written::Approval { application_id } => {
                let (s, app) = get(http, base, &format!("/applications/{application_id}")).await;
                if s != 200 || app["decision_method"] != json!("manual") {
                    eprintln!("approval of {application_id} lost: {s} {app}");
                    ok = false;
                }
            }
        }
        if !ok {
            lost += 1;
        }
    }
    lost
}

/// A webhook receiver: records `(type, data.object.id)` of every delivery.
async fn receiver() -> (String, Arc<Mutex<HashSet<(String, String)>>>) {
    let seen: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let s = s.clone();
        async move {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                let ty = v["type"].as_str().unwrap_or_default().to_owned();
                let id = v["data"]["object"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                s.lock().expect("seen").insert((ty, id));
            }
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = temp_dir("crash");
    let started = Instant::now();
    let (hook, seen) = rt.block_on(receiver());
    let http = reqwest::Client::new();
    let shared = Arc::new(Shared::default());
    let mut public_key: Option<String> = None;
    let mut checked = 0usize;
    let mut lost = 0usize;
    let mut verified = 0usize; // acks[..verified] were checked after a restart
    let mut kills = 0usize;

    for cycle in 0..=KILLS {
        let server = start(&dir);
        match &public_key {
            None => public_key = Some(server.public_key.clone()),
            Some(k) => assert_eq!(&server.public_key, k, "the webhook signing key changed"),
        }
        if cycle == 0 {
            // A global target: every event is delivered to the receiver.
            let url = format!("{hook}/all");
            let body = serde_json::to_vec(&json!({"url": url, "global": true})).expect("encode");
            let key = uuid::Uuid::new_v4().to_string();
            let (status, _, response) = rt
                .block_on(post(&http, &server.base, "/webhooks/targets", &key, &body))
                .expect("create the global target");
            assert_eq!(status, 201, "{}", String::from_utf8_lossy(&response));
            let v: Value = serde_json::from_slice(&response).expect("target");
            shared.acks.lock().expect("acks").push(Ack {
                path: "/webhooks/targets".to_owned(),
                key,
                body,
                status,
                response,
                what: Written::Target {
                    id: v["id"].as_str().expect("id").to_owned(),
                    url,
                },
            });
        }
        let acks: Vec<Ack> = shared.acks.lock().expect("acks").clone();
        if cycle == KILLS {
            // Final run: before anything reads a customer (reads apply due transitions too),
            // the auto-approval timers and pending deliveries must resume by themselves.
            let customers: Vec<String> = acks
                .iter()
                .filter_map(|a| match &a.what {
                    Written::Customer { id, .. } => Some(id.clone()),
                    _ => None,
                })
                .collect();
            let deadline = Instant::now() + Duration::from_secs(15);
            let missing = loop {
                let seen = seen.lock().expect("seen").clone();
                let missing: Vec<&String> = customers
                    .iter()
                    .filter(|id| {
                        !seen.contains(&("customer.kyb_status.updated".into(), (*id).clone()))
                    })
                    .collect();
                if missing.is_empty() || Instant::now() > deadline {
                    if let Some(m) = missing.first() {
                        eprintln!("e.g. {m} in {}", dir.display());
                    }
                    break missing.len();
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            assert_eq!(
                missing,
                0,
                "of {} acknowledged customers, {missing} never had their approval delivered",
                customers.len()
            );
            // The transactions' lifecycle timers resume by themselves too: each acknowledged
            // one reaches `completed` (one step per second in this run).
            let transactions: Vec<String> = acks
                .iter()
                .filter_map(|a| match &a.what {
                    Written::Transaction { id, .. } => Some(id.clone()),
                    _ => None,
                })
                .collect();
            let deadline = Instant::now() + Duration::from_secs(20);
            let unfinished = loop {
                let mut unfinished = Vec::new();
                for id in &transactions {
                    let (_, t) =
                        rt.block_on(get(&http, &server.base, &format!("/transactions/{id}")));
                    if t["status"] != json!("completed") {
                        unfinished.push((id.clone(), t["status"].clone()));
                    }
                }
                if unfinished.is_empty() || Instant::now() > deadline {
                    break unfinished;
                }
                std::thread::sleep(Duration::from_millis(250));
            };
            assert!(
                unfinished.is_empty(),
                "of {} acknowledged transactions, {} did not complete after the restarts, e.g. {:?}",
                transactions.len(),
                unfinished.len(),
                unfinished.first()
            );
            lost += rt.block_on(verify(&http, &server.base, &acks));
            checked += acks.len();
            drop(server);
            break;
        }
        // Every write acknowledged in the previous run is checked right after the restart.
        lost += rt.block_on(verify(&http, &server.base, &acks[verified..]));
        checked += acks.len() - verified;
        verified = acks.len();

        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WORKERS)
            .map(|_| {
                rt.spawn(worker(
                    server.base.clone(),
                    hook.clone(),
                    shared.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(80..450)));
        // On a loaded machine (fsync per commit, a busy disk) the window above can pass with
        // nothing acknowledged: wait for a few acknowledgements (at most 10 s) so every kill
        // lands among writes the test then checks.
        let cycle_started = Instant::now();
        while shared.acks.lock().expect("acks").len() < verified + 5
            && cycle_started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut server = server;
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reap");
        kills += 1;
        stop.store(true, Ordering::Relaxed);
        rt.block_on(async {
            for h in handles {
                let _ = h.await;
            }
        });
    }

    let acks = shared.acks.lock().expect("acks").len();
    let by_kind = shared.acks.lock().expect("acks").iter().fold(
        HashMap::<String, usize>::new(),
        |mut m, a| {
            let kind = match &a.what {
                Written::Recipient { .. } => "/customers/{id}/recipients",
                Written::Destination { .. } => "/recipients/{id}/destinations",
                _ => a.path.as_str(),
            };
            *m.entry(kind.to_owned()).or_default() += 1;
            m
        },
    );
    eprintln!(
        "crash test: {kills} SIGKILLs, {} requests sent, {acks} acknowledged ({by_kind:?}), \
         {checked} acknowledged-write checks after restarts, {lost} lost, {:.1} s",
        shared.attempted.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= 20);
    assert!(
        acks >= 100,
        "too few writes acknowledged to mean much: {acks}"
    );
    assert!(
        by_kind
            .get("/customers/{id}/recipients")
            .is_some_and(|n| *n > 0),
        "no recipient was acknowledged: {by_kind:?}"
    );
    assert!(
        by_kind.get("/transactions").is_some_and(|n| *n > 0),
        "no transaction was acknowledged: {by_kind:?}"
    );
    assert_eq!(lost, 0, "acknowledged writes lost or changed after a crash");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A data dir with a few customers, the sandbox killed and the WAL folded into the file.
fn populated(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let server = start(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        for i in 0..40 {
            let body = serde_json::to_vec(
                &json!({"name": format!("Corp {i}"), "customer_type": "business"}),
            )
            .expect("encode");
            let key = uuid::Uuid::new_v4().to_string();
            let (status, _, _) = post(&http, &server.base, "/customers", &key, &body)
                .await
                .expect("create");
            assert_eq!(status, 201);
        }
    });
    drop(server); // SIGKILL
    let conn = rusqlite::Connection::open(dir.join("sandbox.sqlite3")).expect("open");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    dir
}

#[test]
fn a_damaged_database_is_refused() {
    let good = populated("damage");
    let file = good.join("sandbox.sqlite3");
    let original = std::fs::read(&file).expect("read");
    assert!(original.len() >= 4 * 4096, "{} bytes", original.len());
    // The intact file opens (so the refusals below are about the damage).
    drop(start(&good));

    let page = 4096;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "last page truncated",
            original[..original.len() - page].to_vec(),
        ),
        (
            "half a page cut off",
            original[..original.len() - page / 2].to_vec(),
        ),
        ("a page overwritten", {
            let mut b = original.clone();
            b[page..2 * page].fill(0xA5);
            b
        }),
        ("header overwritten", {
            let mut b = original.clone();
            b[..100].fill(0x42);
            b
        }),
    ];
    for (what, bytes) in cases {
        let dir = temp_dir("damaged");
        std::fs::write(dir.join("sandbox.sqlite3"), bytes).expect("write");
        let err = refused(&dir);
        assert!(
            err.contains("corrupt or truncated") && err.contains("refusing to start"),
            "{what}: {err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&good);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = populated("newer");
    let conn = rusqlite::Connection::open(dir.join("sandbox.sqlite3")).expect("open");
    conn.execute(
        "UPDATE meta SET value = 999 WHERE key = 'schema_version'",
        [],
    )
    .expect("bump the version");
    drop(conn);
    let err = refused(&dir);
    assert!(
        err.contains("schema version 999") && err.contains("newer than this dakota-sandbox"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
