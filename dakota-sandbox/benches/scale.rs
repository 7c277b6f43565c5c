//! Start-up time and memory of the sandbox binary, as ratios against baselines of the same run.
//!
//! `cargo bench -p dakota-sandbox --bench scale`
//!
//! * **Start-up**: time from spawning `dakota-sandbox --port 0` to its `api_key=` line (it is
//!   listening by then), against spawning the same binary with `--help` (process start-up and
//!   exit only). Median of several runs each.
//! * **Memory**: the server's resident set (`VmRSS` from `/proc`, Linux) after `BENCH_CUSTOMERS`
//!   (default 100,000) customers, each with its application, were created over HTTP, minus the
//!   resident set when idle, against the bytes of JSON the server returned for those customers.
//!   A ratio near 1 means the records cost about what their JSON does.
//! * **Persistence** (`--data-dir`): the same creates against a sandbox with a data dir, their
//!   throughput as a ratio of the in-memory run above; then the start-up time of a sandbox
//!   whose data dir holds those customers (median of several starts), against the in-memory
//!   start-up.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_dakota-sandbox");
const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Server {
    child: Child,
    base_url: String,
    api_key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn() -> Result<(Server, Duration), Box<dyn std::error::Error>> {
    spawn_on(None)
}

fn spawn_on(data_dir: Option<&Path>) -> Result<(Server, Duration), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0", "--rate-limit", "4000000000"]);
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (mut base_url, mut api_key) = (String::new(), String::new());
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(v) = line.strip_prefix("base_url=") {
            base_url = v.to_owned();
        } else if let Some(v) = line.strip_prefix("api_key=") {
            api_key = v.to_owned();
            break;
        }
    }
    let ready = started.elapsed();
    if base_url.is_empty() || api_key.is_empty() {
        return Err("the sandbox did not print base_url and api_key".into());
    }
    Ok((
        Server {
            child,
            base_url,
            api_key,
        },
        ready,
    ))
}

fn rss_bytes(pid: u32) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

/// Start-up medians: `(listening, --help)`.
fn startup() -> Result<Duration, Box<dyn std::error::Error>> {
    let (mut ready, mut exec) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        let status = Command::new(BIN)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        exec.push(t.elapsed());
        if !status.success() {
            return Err("dakota-sandbox --help failed".into());
        }
        let (server, r) = spawn()?;
        ready.push(r);
        drop(server);
    }
    let (r, e) = (median(ready), median(exec));
    println!("start-up ({RUNS} runs, medians):");
    println!(
        "  spawn to listening        {:>8.2} ms",
        r.as_secs_f64() * 1e3
    );
    println!(
        "  spawn and exit (--help)   {:>8.2} ms",
        e.as_secs_f64() * 1e3
    );
    println!(
        "  ratio                     {:>8.2}x",
        r.as_secs_f64() / e.as_secs_f64()
    );
    Ok(r)
}

/// Creates `n` customers (64 in flight); returns `(seconds, JSON bytes returned, failures)`.
async fn create(server: &Server, n: usize) -> (f64, u64, usize) {
    let http = reqwest::Client::new();
    let url = format!("{}/customers", server.base_url);
    let json_bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let failures = futures::stream::iter(0..n)
        .map(|i| {
            let (http, url, key, json_bytes) = (&http, &url, &server.api_key, json_bytes.clone());
            async move {
                let body = serde_json::json!({
                    "name": format!("Scale Customer {i:06}"),
                    "customer_type": if i % 2 == 0 { "business" } else { "individual" },
                    "external_id": format!("scale_{i:06}"),
                });
                let resp = http
                    .post(url)
                    .header("x-api-key", key)
                    .header("x-idempotency-key", uuid::Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                let ok = resp.status().is_success();
                let bytes = resp.bytes().await.ok()?;
                json_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                ok.then_some(())
            }
        })
        .buffer_unordered(64)
        .filter(|r| std::future::ready(r.is_none()))
        .count()
        .await;
    (
        started.elapsed().as_secs_f64(),
        json_bytes.load(Ordering::Relaxed),
        failures,
    )
}

fn customers() -> usize {
    std::env::var("BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Returns the in-memory create rate (customers per second).
async fn memory() -> Result<f64, Box<dyn std::error::Error>> {
    let n = customers();
    let (server, _) = spawn()?;
    let pid = server.child.id();
    // One warm-up request so the idle figure includes the runtime's first-use allocations.
    reqwest::Client::new()
        .get(format!("{}/customers", server.base_url))
        .header("x-api-key", &server.api_key)
        .send()
        .await?;
    let idle = rss_bytes(pid)?;
    let (secs, json, failures) = create(&server, n).await;
    let loaded = rss_bytes(pid)?;
    let grown = loaded.saturating_sub(idle);
    println!(
        "memory for {n} customers (+ applications), created in {secs:.1}s ({:.0}/s), {failures} failed:",
        n as f64 / secs
    );
    println!(
        "  resident idle             {:>8.1} MiB",
        idle as f64 / 1048576.0
    );
    println!(
        "  resident loaded           {:>8.1} MiB",
        loaded as f64 / 1048576.0
    );
    println!(
        "  growth per customer       {:>8.0} B",
        grown as f64 / n as f64
    );
    println!(
        "  JSON returned per customer{:>8.0} B",
        json as f64 / n as f64
    );
    println!(
        "  ratio growth / JSON       {:>8.2}x",
        grown as f64 / json.max(1) as f64
    );
    if failures > 0 {
        return Err(format!("{failures} creates failed").into());
    }
    Ok(n as f64 / secs)
}

/// Persistent mode: create throughput against `memory_rate`, then start-up with the data.
async fn persistence(
    memory_rate: f64,
    memory_startup: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = customers();
    let dir = std::env::temp_dir().join(format!("dakota-bench-{}", uuid::Uuid::new_v4().simple()));
    let (server, _) = spawn_on(Some(&dir))?;
    let (secs, _, failures) = create(&server, n).await;
    drop(server); // SIGKILL: the data dir is as a crash leaves it
    let rate = n as f64 / secs;
    let file = std::fs::metadata(dir.join("sandbox.sqlite3")).map_or(0, |m| m.len())
        + std::fs::metadata(dir.join("sandbox.sqlite3-wal")).map_or(0, |m| m.len());
    println!("persistence (--data-dir, synchronous=FULL, group commit):");
    println!("  {n} creates in             {secs:>8.1} s ({rate:.0}/s), {failures} failed");
    println!("  ratio to in-memory        {:>8.2}x", rate / memory_rate);
    println!(
        "  database (+ WAL)          {:>8.1} MiB ({:.0} B per customer)",
        file as f64 / 1048576.0,
        file as f64 / n as f64
    );
    let mut starts = Vec::new();
    for _ in 0..3 {
        let (server, ready) = spawn_on(Some(&dir))?;
        starts.push(ready);
        drop(server);
    }
    let s = median(starts);
    println!(
        "  start-up with {n} stored customers {:>8.0} ms (in memory, empty: {:.0} ms; {:.1}x)",
        s.as_secs_f64() * 1e3,
        memory_startup.as_secs_f64() * 1e3,
        s.as_secs_f64() / memory_startup.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if failures > 0 {
        return Err(format!("{failures} persistent creates failed").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = startup()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rate = rt.block_on(memory())?;
    rt.block_on(persistence(rate, started))
}
