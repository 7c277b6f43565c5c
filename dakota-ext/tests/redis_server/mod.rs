//! A Redis for tests and benches: the server named by `DAKOTA_TEST_REDIS_URL` (CI starts one),
//! or a `redis-server` spawned on a free local port. When neither is possible the caller
//! prints `skipped: <reason>` and returns, unless `DAKOTA_REQUIRE_REDIS=1` (set by CI), which
//! turns the skip into a failure.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis server for one test.
pub struct TestRedis {
    /// `redis://127.0.0.1:<port>/`.
    pub url: String,
    /// A key prefix unique to this test, so tests sharing one server do not meet.
    pub prefix: String,
    own: Option<OwnServer>,
}

struct OwnServer {
    binary: String,
    port: u16,
    dir: PathBuf,
    /// Every write to an append-only file, fsynced (survives a kill).
    persist: bool,
    child: Option<Child>,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique(label: &str) -> String {
    format!("test:{label}:{}:", uuid::Uuid::new_v4().simple())
}

/// Prints the skip reason (or panics when Redis is required) and returns `None`.
fn skip(test: &str, reason: &str) -> Option<TestRedis> {
    if std::env::var("DAKOTA_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
        panic!("{test}: Redis is required (DAKOTA_REQUIRE_REDIS=1) but {reason}");
    }
    eprintln!("skipped: {test}: {reason}");
    None
}

impl TestRedis {
    /// Any Redis: `DAKOTA_TEST_REDIS_URL` if set, else a spawned one (in memory only, like a
    /// cache deployment).
    pub fn any(test: &str) -> Option<Self> {
        if let Ok(url) = std::env::var("DAKOTA_TEST_REDIS_URL") {
            if !url.trim().is_empty() {
                return Some(Self {
                    url,
                    prefix: unique(test),
                    own: None,
                });
            }
        }
        Self::spawn(test, false)
    }

    /// A Redis of this test's own (it will be stopped and restarted), persisting every write
    /// to an append-only file so a restart brings the data back.
    pub fn own(test: &str) -> Option<Self> {
        Self::spawn(test, true)
    }

    fn spawn(test: &str, persist: bool) -> Option<Self> {
        let binary =
            std::env::var("DAKOTA_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = std::env::temp_dir().join(format!(
            "dakota-test-redis-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return skip(test, &format!("cannot create {}: {e}", dir.display()));
        }
        let mut last = String::new();
        for _ in 0..5 {
            let port = match free_port() {
                Ok(p) => p,
                Err(e) => return skip(test, &format!("no free local port: {e}")),
            };
            let mut server = OwnServer {
                binary: binary.clone(),
                port,
                dir: dir.clone(),
                persist,
                child: None,
            };
            match server.start() {
                Ok(()) => {
                    return Some(Self {
                        url: format!("redis://127.0.0.1:{port}/"),
                        prefix: unique(test),
                        own: Some(server),
                    })
                }
                Err(e) => {
                    last = e;
                    server.dir = PathBuf::new(); // keep the directory for the next try
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        skip(
            test,
            &format!(
                "DAKOTA_TEST_REDIS_URL is not set and `{binary}` could not be started ({last})"
            ),
        )
    }

    /// Kills this test's own server (like a crash: no shutdown save beyond the append-only file).
    pub fn kill(&mut self) {
        if let Some(c) = self.own.as_mut().and_then(|s| s.child.as_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(s) = self.own.as_mut() {
            s.child = None;
        }
    }

    /// Starts this test's own server again on the same port with the same data.
    pub fn restart(&mut self) -> Result<(), String> {
        match self.own.as_mut() {
            Some(s) => s.start(),
            None => Err("not this test's own server".into()),
        }
    }
}

impl OwnServer {
    fn start(&mut self) -> Result<(), String> {
        let child = Command::new(&self.binary)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                if self.persist { "yes" } else { "no" },
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(&self.dir)
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn failed: {e}"))?;
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(reply) = resp(&addr, &["PING"]) {
                if reply.starts_with("+PONG") {
                    return Ok(());
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("exited with {status}"));
            }
            if Instant::now() > deadline {
                return Err("did not answer PING within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One RESP command over a fresh TCP connection; returns the start of the raw reply.
fn resp(addr: &str, args: &[&str]) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(out.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 16];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
