//! A scriptable, fault-injecting HTTP/1.1 server for client tests. It runs on its own thread
//! and runtime (so tests can pause their own clock) and answers each request with whatever
//! the test's script says: a response, a dropped connection, a truncated body.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// What to do with a request.
pub enum Action {
    /// Answer with status, extra headers, body.
    Respond(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Close the connection without answering.
    Close,
    /// Send headers claiming `claimed` bytes, then only `body`, then close.
    Truncate(u16, usize, Vec<u8>),
    /// Write these bytes as the whole answer (garbage, oversized headers), then close.
    Raw(Vec<u8>),
    /// Never answer (hold the connection open for an hour).
    Hang,
    /// Send `len` bytes of JSON-looking filler, generated as it goes (never held in memory),
    /// with a `Content-Length` when `announce`, else chunked.
    Stream {
        status: u16,
        content_type: &'static str,
        len: usize,
        announce: bool,
    },
}

pub fn json(status: u16, v: serde_json::Value) -> Action {
    Action::Respond(
        status,
        vec![("content-type", "application/json".into())],
        v.to_string().into_bytes(),
    )
}

pub fn problem(status: u16, title: &str) -> Action {
    Action::Respond(
        status,
        vec![("content-type", "application/problem+json".into()), ("x-request-id", "req_test_1".into())],
        serde_json::json!({"type": "about:blank", "title": title, "status": status, "request_id": "req_test_1"}).to_string().into_bytes(),
    )
}

type Script = Box<dyn Fn(&Seen, usize) -> Action + Send + Sync>;

pub struct FaultServer {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _thread: std::thread::JoinHandle<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl FaultServer {
    /// Start a server; `script(request, index)` decides each answer (index counts from 0).
    pub fn start(script: impl Fn(&Seen, usize) -> Action + Send + Sync + 'static) -> Self {
        let script: Arc<Script> = Arc::new(Box::new(script));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let seen2 = seen.clone();
        let thread =
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).expect("send addr");
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        acc = listener.accept() => {
                            let Ok((sock, _)) = acc else { continue };
                            let script = script.clone();
                            let seen = seen2.clone();
                            tokio::spawn(async move { let _ = serve(sock, script, seen).await; });
                        }
                    }
                }
            });
            });
        let addr = addr_rx.recv().expect("server address");
        Self {
            url: format!("http://{addr}"),
            seen,
            _thread: thread,
            shutdown: Some(stop_tx),
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // Read one request (headers + content-length body).
        let header_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_string();
        let path = first.next().unwrap_or_default().to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < header_end + 4 + len {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[header_end + 4..header_end + 4 + len].to_vec();
        buf.drain(..header_end + 4 + len);
        let req = Seen {
            method,
            path,
            headers,
            body,
        };
        let index = {
            let mut s = seen.lock().expect("lock");
            s.push(req.clone());
            s.len() - 1
        };
        match script(&req, index) {
            Action::Close => return Ok(()),
            Action::Respond(status, hdrs, body) => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (k, v) in hdrs {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                sock.write_all(out.as_bytes()).await?;
                sock.write_all(&body).await?;
            }
            Action::Raw(bytes) => {
                sock.write_all(&bytes).await?;
                sock.flush().await?;
                return Ok(());
            }
            Action::Hang => {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                return Ok(());
            }
            Action::Stream {
                status,
                content_type,
                len,
                announce,
            } => {
                let framing = if announce {
                    format!("content-length: {len}")
                } else {
                    "transfer-encoding: chunked".to_string()
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n{framing}\r\n\r\n"
                );
                sock.write_all(head.as_bytes()).await?;
                let chunk = vec![b' '; 64 * 1024];
                let mut left = len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if announce {
                        sock.write_all(&chunk[..n]).await?;
                    } else {
                        sock.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                        sock.write_all(&chunk[..n]).await?;
                        sock.write_all(b"\r\n").await?;
                    }
                    left -= n;
                }
                if !announce {
                    sock.write_all(b"0\r\n\r\n").await?;
                }
            }
            Action::Truncate(status, claimed, body) => {
                let out = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {claimed}\r\n\r\n");
                sock.write_all(out.as_bytes()).await?;
                sock.write_all(&body).await?;
                sock.flush().await?;
                return Ok(());
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A realistic customer body (own example values).
pub fn customer_json(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "name": "Acme Corp",
        "customer_type": "individual",
        "kyb_status": "pending",
        "kyc_status": "pending",
        "created_at": 1767225600,
        "updated_at": 1767225600
    })
}

pub const CUSTOMER_ID: &str = "36NrHzLJ2pQx0Kw1dU9fB4aT7Ze";
