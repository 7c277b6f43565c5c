//! The durable log of a sandbox started with a data dir (`--data-dir`): one SQLite file,
//! `sandbox.sqlite3`, that holds every record (as JSON, by kind and id), the pending lifecycle
//! timers, the stored idempotent responses, the id generator and the webhook signing seed.
//!
//! Reads never touch the file: at start-up everything is loaded into the in-memory tables
//! ([`crate::store`]), and from then on the file is the write-ahead record of their state.
//!
//! # Durability
//!
//! Every committed [`crate::store::Store::write`] appends one entry (its puts, deletes, timers,
//! id-generator state) to an ordered log under the store's lock, so the log's order is the
//! order in which the changes became visible. A single committer thread writes the entries
//! that are ready, oldest first, in one SQLite transaction per batch (group commit: one
//! `fsync` covers every request that arrived meanwhile), with `synchronous=FULL` in WAL mode,
//! so a commit has reached the disk when `COMMIT` returns, surviving a power cut and not only
//! a process crash. The HTTP pipeline sends no answer before the log is durable up to
//! everything the answer could have seen ([`Log::wait`]), and a request with an idempotency
//! key reserves an entry before its handler runs ([`Log::reserve`]) and fills it with its
//! stored response afterwards: the committer cannot pass an unfilled entry, so the response
//! and the changes the handler made land in the same SQLite transaction. A crash therefore
//! loses only changes that were never acknowledged, and never half of one.
//!
//! If a commit fails (disk full, I/O error) the store stops acknowledging: every later
//! request answers `500` rather than report a change the file does not hold.
//!
//! # Schema
//!
//! The `meta` table records `schema_version`; [`MIGRATIONS`] are applied in order to bring an
//! older file up to date, and a file of a newer version is refused with
//! [`StoreError::NewerSchema`]. The file is checked (`PRAGMA quick_check`, and its size
//! against the page count in its header) before anything is loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags};

use crate::state::lock;

/// The database file inside the data dir.
pub(crate) const FILE_NAME: &str = "sandbox.sqlite3";

/// Schema migrations: `MIGRATIONS[n]` brings a file from version `n` to `n + 1`. Append new
/// ones at the end, never edit a released one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: records by kind and id, lifecycle timers, idempotent responses, metadata.
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
     CREATE TABLE records (
         kind TEXT NOT NULL,
         id   TEXT NOT NULL,
         json BLOB NOT NULL,
         PRIMARY KEY (kind, id)
     ) WITHOUT ROWID;
     CREATE TABLE timers (
         seq       INTEGER PRIMARY KEY NOT NULL,
         at_ns     INTEGER NOT NULL,
         name      TEXT NOT NULL,
         record_id TEXT NOT NULL
     );
     CREATE TABLE idempotency (
         slot         TEXT PRIMARY KEY NOT NULL,
         stored_at_ms INTEGER NOT NULL,
         fingerprint  BLOB NOT NULL,
         status       INTEGER NOT NULL,
         content_type TEXT,
         body         BLOB NOT NULL
     ) WITHOUT ROWID;",
];

/// Why a data dir could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory or file could not be created or read.
    #[error("cannot use data dir {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database file is damaged (truncated, overwritten, not a database).
    #[error(
        "the sandbox database {path} is corrupt or truncated ({detail}); refusing to start \
         rather than serve partial state (restore it from a backup, or delete the data dir \
         to start empty)"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What the check found.
        detail: String,
    },
    /// The file was written by a newer sandbox.
    #[error(
        "the sandbox database {path} has schema version {found}, newer than this \
         dakota-sandbox understands (up to {supported}); run a newer dakota-sandbox, or use \
         another data dir"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version recorded in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file is not a sandbox database.
    #[error("{path} is not a dakota-sandbox database (no meta table); use an empty data dir")]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// Another process holds the file.
    #[error("the sandbox database {path} is in use by another process (one sandbox per data dir)")]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// A stored record, timer or setting cannot be read by this build.
    #[error("the sandbox database {path} holds {what} this build cannot read: {detail}")]
    Unreadable {
        /// The database file.
        path: PathBuf,
        /// What could not be read.
        what: String,
        /// Why.
        detail: String,
    },
    /// SQLite failed.
    #[error("the sandbox database {path} failed: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Classifies a SQLite error at open time.
    fn sqlite(path: &Path, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let path = path.to_owned();
        match e.sqlite_error_code() {
            Some(C::DatabaseCorrupt | C::NotADatabase) => StoreError::Corrupt {
                path,
                detail: e.to_string(),
            },
            Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::InUse { path },
            _ => StoreError::Sqlite { path, source: e },
        }
    }
}

/// One change an entry makes to the file.
#[derive(Debug)]
pub(crate) enum Op {
    Put {
        kind: &'static str,
        id: String,
        json: Vec<u8>,
    },
    Delete {
        kind: &'static str,
        id: String,
    },
    TimerAdd {
        seq: u64,
        at: DateTime<Utc>,
        name: &'static str,
        record_id: String,
    },
    TimerDone {
        seq: u64,
    },
    Meta {
        key: &'static str,
        value: rusqlite::types::Value,
    },
    IdemPut(IdemRow),
    IdemDelete {
        slot: String,
    },
}

/// A stored idempotent response.
#[derive(Debug, Clone)]
pub(crate) struct IdemRow {
    /// Scope and key (see `pipeline::idempotency`).
    pub(crate) slot: String,
    pub(crate) stored_at: DateTime<Utc>,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Meta keys.
pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_ID_COUNTER: &str = "id_counter";
pub(crate) const META_ID_LAST_TS: &str = "id_last_ts";
pub(crate) const META_WEBHOOK_SEED: &str = "webhook_seed";

/// Opens (creating if needed) the database of `dir`, checks it and brings its schema up to
/// date.
pub(crate) fn open(dir: &Path) -> Result<(Connection, PathBuf), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(FILE_NAME);
    let existed = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
    if existed {
        check_size(&path)?;
    }
    let mut conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::sqlite(&path, e))?;
    let setup = |conn: &Connection| -> rusqlite::Result<String> {
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        // One sandbox per file: the first write takes an exclusive lock, held until exit
        // (the OS drops it when the process dies, even by SIGKILL).
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        // FULL: the WAL is fsynced at every commit, so an acknowledged change survives a
        // power cut too (NORMAL would only survive a process crash).
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(mode)
    };
    let mode = setup(&conn).map_err(|e| StoreError::sqlite(&path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unreadable {
            path,
            what: "a journal mode".into(),
            detail: format!("WAL mode could not be enabled (got {mode})"),
        });
    }
    if existed {
        quick_check(&conn, &path)?;
    }
    migrate(&mut conn, &path, MIGRATIONS)?;
    Ok((conn, path))
}

/// The file must be at least as long as the page count its header records (a truncated file
/// can otherwise open and read as if the lost pages never held anything).
fn check_size(path: &Path) -> Result<(), StoreError> {
    let wal = path.with_file_name(format!("{FILE_NAME}-wal"));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        // Pages in the WAL may extend the file; quick_check covers that case.
        return Ok(());
    }
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    let mut data = Vec::with_capacity(100);
    {
        use std::io::Read as _;
        std::fs::File::open(path)
            .map_err(io)?
            .take(100)
            .read_to_end(&mut data)
            .map_err(io)?;
    }
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    if data.len() < 100 || !data.starts_with(b"SQLite format 3\0") {
        return Err(corrupt("no SQLite header".into()));
    }
    let page_size = match u16::from_be_bytes([data[16], data[17]]) {
        1 => 65536,
        n => usize::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([data[28], data[29], data[30], data[31]]));
    let expected = pages.saturating_mul(page_size as u64);
    if page_size >= 512 && pages > 0 && len < expected {
        return Err(corrupt(format!(
            "the file has {len} bytes, its header records {pages} pages of {page_size} bytes"
        )));
    }
    Ok(())
}

fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let rows: Vec<String> = (|| {
        let mut stmt = conn.prepare("PRAGMA quick_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })()
    .map_err(|e| StoreError::sqlite(path, e))?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: path.to_owned(),
        detail: format!(
            "quick_check: {}",
            rows.into_iter().take(3).collect::<Vec<_>>().join("; ")
        ),
    })
}

/// Applies `migrations[found..]` in one transaction and records the new version.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let err = |e| StoreError::sqlite(path, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    let tables: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .map_err(err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(err)?
    };
    let found: i64 = if tables.iter().any(|t| t == "meta") {
        tx.query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [META_SCHEMA_VERSION],
            |r| r.get(0),
        )
        .map_err(|_| StoreError::Foreign {
            path: path.to_owned(),
        })?
    } else if tables.is_empty() {
        0
    } else {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
        });
    };
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported,
        });
    }
    let from = usize::try_from(found.max(0)).unwrap_or(0);
    for (n, sql) in migrations.iter().enumerate().skip(from) {
        tx.execute_batch(sql).map_err(err)?;
        tracing::info!(version = n + 1, "migrated the sandbox database");
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![META_SCHEMA_VERSION, supported],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

/// What the committer has made durable.
#[derive(Debug, Clone, Default)]
struct Durable {
    /// Every entry up to this one is on disk.
    lsn: u64,
    /// Set once a commit failed: nothing more is acknowledged.
    failed: Option<String>,
}

#[derive(Default)]
struct Seq {
    /// The last entry reserved.
    last: u64,
    /// Entries not yet committed, by position; `None` while reserved but not filled.
    pending: BTreeMap<u64, Option<Vec<Op>>>,
    closed: bool,
}

/// The ordered log and its committer thread.
pub(crate) struct Log {
    shared: Arc<Shared>,
    committer: Option<JoinHandle<()>>,
}

struct Shared {
    seq: Mutex<Seq>,
    ready: Condvar,
    durable: tokio::sync::watch::Sender<Durable>,
    path: PathBuf,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("path", &self.shared.path)
            .finish()
    }
}

/// A reserved log entry, filled when dropped (see [`Log::reserve`]).
pub(crate) struct Ticket<'a> {
    log: &'a Log,
    lsn: u64,
    ops: Vec<Op>,
}

impl Ticket<'_> {
    /// Adds a change to the entry.
    pub(crate) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.log.fill(self.lsn, ops);
    }
}

/// Why an answer cannot be acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct NotDurable(pub(crate) String);

impl Log {
    /// Starts the committer over an open connection.
    pub(crate) fn start(conn: Connection, path: PathBuf) -> Log {
        let (durable, _) = tokio::sync::watch::channel(Durable::default());
        let shared = Arc::new(Shared {
            seq: Mutex::new(Seq::default()),
            ready: Condvar::new(),
            durable,
            path,
        });
        let worker = shared.clone();
        let handle = std::thread::Builder::new()
            .name("dakota-sandbox-commit".into())
            .spawn(move || commit_loop(&worker, conn));
        let committer = match handle {
            Ok(h) => Some(h),
            Err(e) => {
                shared.durable.send_modify(|d| {
                    d.failed = Some(format!("could not start the commit thread: {e}"));
                });
                None
            }
        };
        Log { shared, committer }
    }

    /// Reserves the next entry; the committer waits for it to be filled (when the ticket is
    /// dropped) before committing it or anything after it.
    pub(crate) fn reserve(&self) -> Ticket<'_> {
        let mut seq = lock(&self.shared.seq);
        seq.last += 1;
        let lsn = seq.last;
        seq.pending.insert(lsn, None);
        Ticket {
            log: self,
            lsn,
            ops: Vec::new(),
        }
    }

    /// Appends a filled entry; returns its position.
    pub(crate) fn append(&self, ops: Vec<Op>) -> u64 {
        let mut seq = lock(&self.shared.seq);
        seq.last += 1;
        let lsn = seq.last;
        seq.pending.insert(lsn, Some(ops));
        drop(seq);
        self.shared.ready.notify_one();
        lsn
    }

    fn fill(&self, lsn: u64, ops: Vec<Op>) {
        let mut seq = lock(&self.shared.seq);
        if let Some(slot) = seq.pending.get_mut(&lsn) {
            *slot = Some(ops);
        }
        drop(seq);
        self.shared.ready.notify_one();
    }

    /// The last entry reserved so far.
    pub(crate) fn last(&self) -> u64 {
        lock(&self.shared.seq).last
    }

    /// Waits until every entry up to `lsn` is on disk.
    pub(crate) async fn wait(&self, lsn: u64) -> Result<(), NotDurable> {
        let mut rx = self.shared.durable.subscribe();
        let d = rx
            .wait_for(|d| d.failed.is_some() || d.lsn >= lsn)
            .await
            .map_err(|_| NotDurable("the commit thread stopped".into()))?;
        match &d.failed {
            Some(f) => Err(NotDurable(f.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        lock(&self.shared.seq).closed = true;
        self.shared.ready.notify_all();
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
    }
}

fn commit_loop(log: &Shared, mut conn: Connection) {
    loop {
        let (batch, closed) = {
            let mut seq = lock(&log.seq);
            loop {
                let ready = matches!(seq.pending.first_key_value(), Some((_, Some(_))));
                if ready || seq.closed {
                    break;
                }
                seq = log
                    .ready
                    .wait(seq)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            let mut batch = Vec::new();
            while let Some(entry) = seq.pending.first_entry() {
                if entry.get().is_none() {
                    break;
                }
                let lsn = *entry.key();
                if let Some(ops) = entry.remove() {
                    batch.push((lsn, ops));
                }
            }
            (batch, seq.closed)
        };
        if let Some(&(last, _)) = batch.last() {
            if log.durable.borrow().failed.is_none() {
                match commit(&mut conn, &batch) {
                    Ok(()) => log.durable.send_modify(|d| d.lsn = last),
                    Err(e) => {
                        tracing::error!(error = %e, path = %log.path.display(), "could not commit to the sandbox database; no further change is acknowledged");
                        log.durable
                            .send_modify(|d| d.failed = Some(format!("could not save: {e}")));
                    }
                }
            }
        }
        if closed && batch.is_empty() {
            return;
        }
    }
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Timers keep full precision: one fired a hair early finds nothing due and is spent.
fn ns(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn commit(conn: &mut Connection, batch: &[(u64, Vec<Op>)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO records (kind, id, json) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, id) DO UPDATE SET json = excluded.json",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM records WHERE kind = ?1 AND id = ?2")?;
        for (_, ops) in batch {
            for op in ops {
                match op {
                    Op::Put { kind, id, json } => {
                        put.execute(params![kind, id, json])?;
                    }
                    Op::Delete { kind, id } => {
                        delete.execute(params![kind, id])?;
                    }
                    Op::TimerAdd {
                        seq,
                        at,
                        name,
                        record_id,
                    } => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO timers (seq, at_ns, name, record_id)
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            i64::try_from(*seq).unwrap_or(i64::MAX),
                            ns(*at),
                            name,
                            record_id
                        ])?;
                    }
                    Op::TimerDone { seq } => {
                        tx.prepare_cached("DELETE FROM timers WHERE seq = ?1")?
                            .execute([i64::try_from(*seq).unwrap_or(i64::MAX)])?;
                    }
                    Op::Meta { key, value } => {
                        tx.prepare_cached(
                            "INSERT INTO meta (key, value) VALUES (?1, ?2)
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        )?
                        .execute(params![key, value])?;
                    }
                    Op::IdemPut(row) => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO idempotency
                             (slot, stored_at_ms, fingerprint, status, content_type, body)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![
                            row.slot,
                            ms(row.stored_at),
                            &row.fingerprint[..],
                            row.status,
                            row.content_type,
                            row.body
                        ])?;
                    }
                    Op::IdemDelete { slot } => {
                        tx.prepare_cached("DELETE FROM idempotency WHERE slot = ?1")?
                            .execute([slot])?;
                    }
                }
            }
        }
    }
    tx.commit()
}

/// Everything stored besides the records, read at start-up.
#[derive(Debug, Default)]
pub(crate) struct Rest {
    pub(crate) id_counter: u64,
    pub(crate) id_last_ts: u32,
    pub(crate) timers: Vec<(u64, DateTime<Utc>, String, String)>,
    pub(crate) idempotency: Vec<IdemRow>,
    pub(crate) webhook_seed: Option<[u8; 32]>,
}

fn at_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

/// Reads every record, in kind and id order, handing each to `each`.
pub(crate) fn load_records(
    conn: &Connection,
    path: &Path,
    mut each: impl FnMut(&str, &str, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let mut stmt = conn
        .prepare("SELECT kind, id, json FROM records")
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let kind = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
        let id = row.get_ref(1).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
        let json = row.get_ref(2).and_then(|v| Ok(v.as_blob()?)).map_err(err)?;
        each(kind, id, json)?;
    }
    Ok(())
}

/// Reads the metadata, timers and idempotent responses (dropping those past `keep_since`).
pub(crate) fn load_rest(
    conn: &Connection,
    path: &Path,
    keep_since: DateTime<Utc>,
) -> Result<Rest, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let meta = |key: &str| -> Result<Option<rusqlite::types::Value>, StoreError> {
        match conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)) {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(err(e)),
        }
    };
    use rusqlite::types::Value;
    let int = |v: Option<Value>| match v {
        Some(Value::Integer(i)) => i,
        _ => 0,
    };
    let mut out = Rest {
        id_counter: u64::try_from(int(meta(META_ID_COUNTER)?)).unwrap_or(0),
        id_last_ts: u32::try_from(int(meta(META_ID_LAST_TS)?)).unwrap_or(0),
        ..Rest::default()
    };
    out.webhook_seed = match meta(META_WEBHOOK_SEED)? {
        None => None,
        Some(Value::Blob(b)) => {
            Some(
                <[u8; 32]>::try_from(b.as_slice()).map_err(|_| StoreError::Unreadable {
                    path: path.to_owned(),
                    what: "a webhook signing seed".into(),
                    detail: format!("{} bytes instead of 32", b.len()),
                })?,
            )
        }
        Some(_) => {
            return Err(StoreError::Unreadable {
                path: path.to_owned(),
                what: "a webhook signing seed".into(),
                detail: "not a blob".into(),
            })
        }
    };
    {
        let mut stmt = conn
            .prepare("SELECT seq, at_ns, name, record_id FROM timers ORDER BY seq")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    DateTime::from_timestamp_nanos(r.get(1)?),
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(err)?;
        out.timers = rows.collect::<rusqlite::Result<_>>().map_err(err)?;
    }
    conn.execute(
        "DELETE FROM idempotency WHERE stored_at_ms <= ?1",
        [ms(keep_since)],
    )
    .map_err(err)?;
    {
        let mut stmt = conn
            .prepare(
                "SELECT slot, stored_at_ms, fingerprint, status, content_type, body
                 FROM idempotency ORDER BY stored_at_ms",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                let fp: Vec<u8> = r.get(2)?;
                Ok(IdemRow {
                    slot: r.get(0)?,
                    stored_at: at_ms(r.get(1)?),
                    fingerprint: <[u8; 32]>::try_from(fp.as_slice()).unwrap_or([0; 32]),
                    status: r.get(3)?,
                    content_type: r.get(4)?,
                    body: r.get(5)?,
                })
            })
            .map_err(err)?;
        out.idempotency = rows.collect::<rusqlite::Result<_>>().map_err(err)?;
    }
    Ok(out)
}

/// Records the webhook signing seed (at start-up, before the committer runs).
pub(crate) fn save_seed(conn: &Connection, path: &Path, seed: &[u8; 32]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![META_WEBHOOK_SEED, &seed[..]],
    )
    .map(|_| ())
    .map_err(|e| StoreError::sqlite(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_files_are_migrated_newer_refused() {
        let dir = std::env::temp_dir().join(format!("dakota-migrate-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(FILE_NAME);
        let v1 = [
            "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
                   CREATE TABLE a (x INTEGER);",
        ];
        let v2 = [v1[0], "ALTER TABLE a ADD COLUMN y INTEGER DEFAULT 7;"];
        {
            let mut conn = Connection::open(&path).expect("open");
            migrate(&mut conn, &path, &v1).expect("v1");
            conn.execute("INSERT INTO a (x) VALUES (1)", [])
                .expect("row");
        }
        {
            let mut conn = Connection::open(&path).expect("open");
            migrate(&mut conn, &path, &v2).expect("v1 -> v2");
            let (x, y): (i64, i64) = conn
                .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("migrated row");
            assert_eq!((x, y), (1, 7));
            let v: i64 = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .expect("version");
            assert_eq!(v, 2);
        }
        let mut conn = Connection::open(&path).expect("open");
        match migrate(&mut conn, &path, &v1) {
            Err(
                e @ StoreError::NewerSchema {
                    found: 2,
                    supported: 1,
                    ..
                },
            ) => {
                assert!(
                    e.to_string().contains("newer than this dakota-sandbox"),
                    "{e}"
                );
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
