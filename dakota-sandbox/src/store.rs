//! The sandbox's records, behind a narrow interface, kept in memory and (with a data dir)
//! written through to a durable log ([`crate::durable`]).
//!
//! * **Records by resource type and id**: every record type implements [`Record`] (its
//!   [`Record::KIND`] names the table, [`Record::id`] the row). Ids are time-ordered KSUIDs
//!   minted by the store ([`Tx::next_id`]), so id order is creation order.
//! * **Ordered listing with cursor pagination**: [`Tables::scan`] walks a table in id order,
//!   [`Tables::after`] starts after a cursor; [`crate::pipeline::query`] turns
//!   them into pages with `Meta`.
//! * **Atomic multi-record updates**: [`Store::write`] runs a closure over a [`Tx`]; when the
//!   closure fails, every `put` and `delete` it made is undone, so a failed request leaves no
//!   partial write. Side effects that must only happen after a commit (lifecycle timers,
//!   webhook deliveries) are collected as [`Effect`]s and handed back on success.
//! * **Persistence**: with a data dir, a committed transaction's final record states (JSON
//!   by kind and id), the timers it scheduled or finished and the id generator's state go to
//!   the log as one entry, and reach the disk in one SQLite transaction before any answer
//!   that could have seen them is sent. At start-up the file is loaded back into the tables;
//!   reads are always served from memory.
//!
//! The in-memory tables are `BTreeMap`s, one per record type, under one mutex.
//!
//! # What a new record type or timer must add
//!
//! Persistence is generic: nothing in this module or in [`crate::durable`] names a resource.
//!
//! 1. **A record type**: derive `serde::Serialize` and `serde::Deserialize` on it (and on the
//!    plain enums/structs it holds; generated `dakota_api::types` already derive both; a
//!    `bytes::Bytes` field holding JSON takes `#[serde(with = "crate::store::utf8_bytes")]`),
//!    implement [`Record`] with a `KIND` that is new and never renamed (it is the row's key
//!    in the file), and register it with one line, `s.record::<MyRec>();`, in the area's
//!    `schema(s: &mut Schema)` function (called from [`crate::resources::schema`]).
//! 2. **A lifecycle timer**: declare it as a `static` [`TimerDef`] with a stable, unique name
//!    (`pub(crate) static SETTLE: TimerDef = TimerDef { name: "transaction.settle", run:
//!    settle };`), schedule it with `tx.schedule(at, &id, &SETTLE)`, and register it with
//!    `s.timer(&SETTLE);` beside the records. A pending timer is stored by name and resumed
//!    after a restart; its function must tolerate running late and finding the record
//!    changed or gone.
//! 3. Nothing else: a transaction that touches an unregistered record type or schedules an
//!    unregistered timer fails with `500` in every mode (so any test of the new area catches
//!    a missing line), and `tests::the_sandbox_schema_has_unique_names` checks that
//!    names are unique.
//!
//! Changing the JSON shape of a stored record is a schema change: add a migration to
//! [`crate::durable::MIGRATIONS`] that rewrites the affected rows (fields added as `Option`
//! or with `#[serde(default)]` need none).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::durable::{self, IdemRow, Log, Op, StoreError, Ticket};
use crate::ids::IdGen;
use crate::problem::ApiError;

/// A stored record of one resource type (see the module docs for what a new one must add).
pub(crate) trait Record: Clone + Send + Serialize + DeserializeOwned + 'static {
    /// The resource type (table name), e.g. `"customer"`.
    const KIND: &'static str;
    /// The record's id (unique within its type).
    fn id(&self) -> &str;
}

/// A lifecycle timer's function: applied to record `id` inside a write transaction once `at`
/// has come (by the background task; see [`crate::background`]).
pub(crate) type TimerFn = fn(&mut Tx<'_>, &str, DateTime<Utc>) -> Result<(), ApiError>;

/// A named lifecycle timer. Declare each as a `static` and register it in the [`Schema`]:
/// pending timers are stored by `name` and found again by it after a restart.
#[derive(Debug)]
pub(crate) struct TimerDef {
    /// Stable, unique name (stored in the data dir; never rename one).
    pub(crate) name: &'static str,
    /// What it does when due.
    pub(crate) run: TimerFn,
}

/// Every record type and timer the sandbox stores, by name: what the durable log needs to
/// read a data dir back. Built by [`crate::schema`].
#[derive(Default)]
pub(crate) struct Schema {
    kinds: HashMap<&'static str, LoadFn>,
    types: HashMap<TypeId, &'static str>,
    timers: HashMap<&'static str, &'static TimerDef>,
    conflicts: Vec<String>,
}

type LoadFn = fn(&mut Tables, &str, &[u8]) -> Result<(), serde_json::Error>;
type DumpFn = fn(&Tables, &str) -> Option<Result<Vec<u8>, serde_json::Error>>;

fn load_record<R: Record>(t: &mut Tables, id: &str, json: &[u8]) -> Result<(), serde_json::Error> {
    let rec: R = serde_json::from_slice(json)?;
    t.table_mut::<R>().insert(id.to_owned(), rec);
    Ok(())
}

fn dump_record<R: Record>(t: &Tables, id: &str) -> Option<Result<Vec<u8>, serde_json::Error>> {
    t.get::<R>(id).map(serde_json::to_vec)
}

impl Schema {
    /// Registers a record type (one line per type; see the module docs).
    pub(crate) fn record<R: Record>(&mut self) -> &mut Self {
        if self.kinds.insert(R::KIND, load_record::<R>).is_some() {
            self.conflicts
                .push(format!("record kind `{}` registered twice", R::KIND));
        }
        self.types.insert(TypeId::of::<R>(), R::KIND);
        self
    }

    /// Registers a lifecycle timer.
    pub(crate) fn timer(&mut self, def: &'static TimerDef) -> &mut Self {
        if let Some(old) = self.timers.insert(def.name, def) {
            if !std::ptr::eq(old, def) {
                self.conflicts
                    .push(format!("timer `{}` registered twice", def.name));
            }
        }
        self
    }

    /// Names used twice, if any.
    #[cfg(test)]
    pub(crate) fn conflicts(&self) -> &[String] {
        &self.conflicts
    }

    fn has_type(&self, t: TypeId) -> bool {
        self.types.contains_key(&t)
    }

    fn has_timer(&self, def: &'static TimerDef) -> bool {
        self.timers
            .get(def.name)
            .is_some_and(|d| std::ptr::eq(*d, def))
    }

    /// The timer registered under `name`.
    pub(crate) fn timer_named(&self, name: &str) -> Option<&'static TimerDef> {
        self.timers.get(name).copied()
    }
}

/// `bytes::Bytes` holding UTF-8 text (e.g. a JSON document), stored as a JSON string.
pub(crate) mod utf8_bytes {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(b) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Err(serde::ser::Error::custom("bytes are not UTF-8")),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        String::deserialize(d).map(Bytes::from)
    }
}

/// `#[serde(with = "crate::store::base64_bytes")]` for an `Option<bytes::Bytes>` field holding
/// arbitrary bytes (a file): stored as standard base64 text.
pub(crate) mod base64_bytes {
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(b: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_some(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(|v| Some(Bytes::from(v)))
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Work to do once a transaction has committed.
#[derive(Clone)]
pub(crate) enum Effect {
    /// Fire a lifecycle timer.
    Timer {
        at: DateTime<Utc>,
        seq: u64,
        id: String,
        timer: &'static TimerDef,
    },
    /// Send a webhook delivery record (by event and target id) once the log entry `lsn`
    /// (the transaction that created it; 0 in memory) is on disk.
    Deliver {
        event_id: String,
        target_id: String,
        lsn: u64,
    },
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Timer { at, id, timer, .. } => {
                write!(f, "Timer({} on {id} at {at})", timer.name)
            }
            Effect::Deliver {
                event_id,
                target_id,
                ..
            } => write!(f, "Deliver({event_id} to {target_id})"),
        }
    }
}

/// Every table.
#[derive(Default)]
pub(crate) struct Tables {
    tables: HashMap<TypeId, Box<dyn Any + Send>>,
    kinds: Vec<&'static str>,
    ids: IdGen,
    timer_seq: u64,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl Tables {
    fn table<R: Record>(&self) -> Option<&BTreeMap<String, R>> {
        self.tables
            .get(&TypeId::of::<R>())
            .and_then(|t| t.downcast_ref::<BTreeMap<String, R>>())
    }

    fn table_mut<R: Record>(&mut self) -> &mut BTreeMap<String, R> {
        // Tables are keyed by the record's type, so the downcast always succeeds.
        let kinds = &mut self.kinds;
        let entry = self.tables.entry(TypeId::of::<R>()).or_insert_with(|| {
            kinds.push(R::KIND);
            Box::new(BTreeMap::<String, R>::new())
        });
        match entry.downcast_mut::<BTreeMap<String, R>>() {
            Some(t) => t,
            None => unreachable_table(),
        }
    }

    /// The record of type `R` with this id.
    pub(crate) fn get<R: Record>(&self, id: &str) -> Option<&R> {
        self.table::<R>()?.get(id)
    }

    /// Whether a record of type `R` with this id exists.
    pub(crate) fn contains<R: Record>(&self, id: &str) -> bool {
        self.get::<R>(id).is_some()
    }

    /// Number of records of type `R`.
    pub(crate) fn count<R: Record>(&self) -> usize {
        self.table::<R>().map_or(0, BTreeMap::len)
    }

    /// Every record of type `R`, in id (creation) order.
    pub(crate) fn scan<R: Record>(&self) -> Box<dyn DoubleEndedIterator<Item = &R> + '_> {
        match self.table::<R>() {
            Some(t) => Box::new(t.values()),
            None => Box::new(std::iter::empty()),
        }
    }

    /// Records of type `R` with an id after `cursor`, in id order.
    pub(crate) fn after<R: Record>(
        &self,
        cursor: &str,
    ) -> Box<dyn DoubleEndedIterator<Item = &R> + '_> {
        match self.table::<R>() {
            Some(t) => Box::new(
                t.range::<str, _>((Bound::Excluded(cursor), Bound::Unbounded))
                    .map(|(_, v)| v),
            ),
            None => Box::new(std::iter::empty()),
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_table<T>() -> T {
    // A table is created under its record type's `TypeId`: it cannot hold another type.
    panic!("store table of the wrong type")
}

/// The request a transaction serves (stamped on the events it emits).
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub(crate) request_id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
}

type Undo = Box<dyn FnOnce(&mut Tables) + Send>;

/// A record a transaction wrote (its final state is what the log stores).
struct Touch {
    type_id: TypeId,
    kind: &'static str,
    id: String,
    dump: DumpFn,
}

/// One write transaction (see [`Store::write`]). Reads see the transaction's own writes.
pub(crate) struct Tx<'a> {
    tables: &'a mut Tables,
    undo: Vec<Undo>,
    effects: Vec<Effect>,
    touched: Vec<Touch>,
    timers_done: Vec<u64>,
    ids_used: bool,
    /// The time of the request (or timer) the transaction serves.
    pub(crate) now: DateTime<Utc>,
    /// The request it serves, if any.
    pub(crate) origin: Option<Origin>,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Tables;
    fn deref(&self) -> &Tables {
        self.tables
    }
}

impl Tx<'_> {
    fn touch<R: Record>(&mut self, id: &str) {
        self.touched.push(Touch {
            type_id: TypeId::of::<R>(),
            kind: R::KIND,
            id: id.to_owned(),
            dump: dump_record::<R>,
        });
    }

    /// Inserts or replaces a record.
    pub(crate) fn put<R: Record>(&mut self, rec: R) {
        let id = rec.id().to_owned();
        self.touch::<R>(&id);
        let previous = self.tables.table_mut::<R>().insert(id.clone(), rec);
        self.undo.push(Box::new(move |t: &mut Tables| {
            let table = t.table_mut::<R>();
            match previous {
                Some(p) => {
                    table.insert(id, p);
                }
                None => {
                    table.remove(&id);
                }
            }
        }));
    }

    /// Removes a record, returning it.
    pub(crate) fn delete<R: Record>(&mut self, id: &str) -> Option<R> {
        let removed = self.tables.table_mut::<R>().remove(id)?;
        self.touch::<R>(id);
        let back = removed.clone();
        self.undo.push(Box::new(move |t: &mut Tables| {
            t.table_mut::<R>().insert(back.id().to_owned(), back);
        }));
        Some(removed)
    }

    /// Removes the oldest records of type `R` until at most `keep` remain (bounded logs).
    pub(crate) fn trim_oldest<R: Record>(&mut self, keep: usize) {
        while self.count::<R>() > keep {
            let Some(first) = self.scan::<R>().next().map(|r| r.id().to_owned()) else {
                break;
            };
            self.delete::<R>(&first);
        }
    }

    /// A fresh time-ordered KSUID.
    pub(crate) fn next_id(&mut self) -> String {
        self.ids_used = true;
        self.tables.ids.next(self.now)
    }

    /// Fires `timer` on record `id` at `at` (once the transaction commits). The timer must be
    /// registered in the [`Schema`].
    pub(crate) fn schedule(&mut self, at: DateTime<Utc>, id: &str, timer: &'static TimerDef) {
        self.tables.timer_seq += 1;
        self.effects.push(Effect::Timer {
            at,
            seq: self.tables.timer_seq,
            id: id.to_owned(),
            timer,
        });
    }

    /// Marks timer `seq` as done (it is removed from the data dir with this transaction).
    pub(crate) fn finish_timer(&mut self, seq: u64) {
        self.timers_done.push(seq);
    }

    /// Sends a webhook delivery record once the transaction commits.
    pub(crate) fn deliver(&mut self, event_id: &str, target_id: &str) {
        self.effects.push(Effect::Deliver {
            event_id: event_id.to_owned(),
            target_id: target_id.to_owned(),
            lsn: 0,
        });
    }
}

/// What a data dir held besides the records, handed to the state at start-up.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Pending timers: sequence number, due time, timer, record id.
    pub(crate) timers: Vec<(u64, DateTime<Utc>, &'static TimerDef, String)>,
    /// Stored idempotent responses, oldest first.
    pub(crate) idempotency: Vec<IdemRow>,
    /// The webhook signing seed in force.
    pub(crate) webhook_seed: Option<[u8; 32]>,
}

/// The records of one sandbox.
pub(crate) struct Store {
    tables: Mutex<Tables>,
    schema: Schema,
    log: Option<Log>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// The answer when a change cannot be made durable.
fn not_saved(detail: &str) -> ApiError {
    ApiError::internal(format!(
        "The sandbox could not save this change to its data dir ({detail})"
    ))
}

impl Store {
    /// An in-memory store of the record types and timers in `schema`.
    pub(crate) fn new(schema: Schema) -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            schema,
            log: None,
        }
    }

    /// A store kept in `dir` (created if needed): checks the file, migrates it, loads every
    /// record into memory and starts the log. The webhook signing seed in force is the
    /// stored one, unless `seed` is `explicit` (then it is stored), or there is none yet.
    pub(crate) fn open(
        schema: Schema,
        dir: &Path,
        seed: ([u8; 32], bool),
        keep_responses_since: DateTime<Utc>,
    ) -> Result<(Self, Recovered), StoreError> {
        let started = std::time::Instant::now();
        let (conn, path) = durable::open(dir)?;
        let opened = started.elapsed();
        let mut tables = Tables::default();
        let mut rows = 0usize;
        let unreadable = |what: String, detail: String| StoreError::Unreadable {
            path: path.clone(),
            what,
            detail,
        };
        durable::load_records(&conn, &path, |kind, id, json| {
            let Some(load) = schema.kinds.get(kind) else {
                return Err(unreadable(
                    format!("records of kind `{kind}`"),
                    "unknown kind (written by another version?)".into(),
                ));
            };
            rows += 1;
            load(&mut tables, id, json)
                .map_err(|e| unreadable(format!("{kind} {id}"), e.to_string()))
        })?;
        let loaded = started.elapsed();
        let rest = durable::load_rest(&conn, &path, keep_responses_since)?;
        tracing::info!(
            path = %path.display(),
            records = rows,
            timers = rest.timers.len(),
            responses = rest.idempotency.len(),
            open_and_check_ms = opened.as_millis(),
            records_ms = (loaded - opened).as_millis(),
            rest_ms = (started.elapsed() - loaded).as_millis(),
            "loaded the data dir"
        );
        tables.ids = IdGen::resume(rest.id_counter, rest.id_last_ts);
        let mut recovered = Recovered {
            idempotency: rest.idempotency,
            ..Recovered::default()
        };
        for (seq, at, name, id) in rest.timers {
            let Some(def) = schema.timer_named(&name) else {
                return Err(unreadable(
                    format!("a timer `{name}`"),
                    "unknown timer (written by another version?)".into(),
                ));
            };
            tables.timer_seq = tables.timer_seq.max(seq);
            recovered.timers.push((seq, at, def, id));
        }
        let (given, explicit) = seed;
        let in_force = match rest.webhook_seed {
            Some(stored) if !explicit => stored,
            _ => {
                durable::save_seed(&conn, &path, &given)?;
                given
            }
        };
        recovered.webhook_seed = Some(in_force);
        let log = Log::start(conn, path);
        Ok((
            Self {
                tables: Mutex::new(tables),
                schema,
                log: Some(log),
            },
            recovered,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // Every transaction undoes its writes before an error leaves it, so the tables are
        // consistent even if a holder panicked.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads under the lock.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Tables) -> T) -> T {
        f(&self.lock())
    }

    /// Reserves a log entry that the caller fills (by pushing to the ticket) and that is
    /// committed together with every entry appended after it (see [`crate::durable`]);
    /// `None` in memory.
    pub(crate) fn reserve(&self) -> Option<Ticket<'_>> {
        self.log.as_ref().map(Log::reserve)
    }

    /// Waits until every change made so far is on disk (at once in memory). An answer that
    /// may have seen a change is only sent after this.
    pub(crate) async fn settle(&self) -> Result<(), ApiError> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        log.wait(log.last()).await.map_err(|e| not_saved(&e.0))
    }

    /// Waits until the log entry `lsn` (and all before it) is on disk.
    pub(crate) async fn settle_to(&self, lsn: u64) -> Result<(), ApiError> {
        match &self.log {
            Some(log) if lsn > 0 => log.wait(lsn).await.map_err(|e| not_saved(&e.0)),
            _ => Ok(()),
        }
    }

    /// Runs `f` as one atomic transaction: on `Err` every write is undone and no effect
    /// escapes; on `Ok` the transaction's entry is appended to the log (with a data dir) and
    /// the effects to run after the commit are returned with the value.
    pub(crate) fn write<T>(
        &self,
        now: DateTime<Utc>,
        origin: Option<Origin>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
    ) -> (Result<T, ApiError>, Vec<Effect>) {
        let mut guard = self.lock();
        let mut tx = Tx {
            tables: &mut guard,
            undo: Vec::new(),
            effects: Vec::new(),
            touched: Vec::new(),
            timers_done: Vec::new(),
            ids_used: false,
            now,
            origin,
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx)));
        let out = match run {
            Ok(r) => r,
            Err(_) => {
                tracing::error!("a store transaction panicked; its writes were undone");
                Err(ApiError::internal(
                    "The sandbox failed while handling this request",
                ))
            }
        };
        let out = out.and_then(|v| self.commit(&tx).map(|lsn| (v, lsn)));
        match out {
            Ok((v, entry)) => {
                let mut effects = tx.effects;
                for e in &mut effects {
                    if let Effect::Deliver { lsn, .. } = e {
                        *lsn = entry;
                    }
                }
                (Ok(v), effects)
            }
            Err(e) => {
                let undo = std::mem::take(&mut tx.undo);
                for u in undo.into_iter().rev() {
                    u(tx.tables);
                }
                (Err(e), Vec::new())
            }
        }
    }

    /// Checks that everything the transaction wrote is registered, and appends its entry to
    /// the log (with a data dir); returns the entry's position (0 when none).
    fn commit(&self, tx: &Tx<'_>) -> Result<u64, ApiError> {
        if let Some(t) = tx.touched.iter().find(|t| !self.schema.has_type(t.type_id)) {
            tracing::error!(
                kind = t.kind,
                "record type not registered in the store schema"
            );
            return Err(ApiError::internal(format!(
                "record kind `{}` is not registered in the store schema",
                t.kind
            )));
        }
        for e in &tx.effects {
            if let Effect::Timer { timer, .. } = e {
                if !self.schema.has_timer(timer) {
                    tracing::error!(
                        timer = timer.name,
                        "timer not registered in the store schema"
                    );
                    return Err(ApiError::internal(format!(
                        "timer `{}` is not registered in the store schema",
                        timer.name
                    )));
                }
            }
        }
        let Some(log) = &self.log else {
            return Ok(0);
        };
        let mut ops = Vec::new();
        let mut seen = HashSet::new();
        for t in tx.touched.iter().rev() {
            if !seen.insert((t.type_id, t.id.as_str())) {
                continue;
            }
            match (t.dump)(tx.tables, &t.id) {
                Some(Ok(json)) => ops.push(Op::Put {
                    kind: t.kind,
                    id: t.id.clone(),
                    json,
                }),
                Some(Err(e)) => {
                    return Err(ApiError::internal(format!(
                        "could not encode a {} record: {e}",
                        t.kind
                    )))
                }
                None => ops.push(Op::Delete {
                    kind: t.kind,
                    id: t.id.clone(),
                }),
            }
        }
        for e in &tx.effects {
            if let Effect::Timer { at, seq, id, timer } = e {
                ops.push(Op::TimerAdd {
                    seq: *seq,
                    at: *at,
                    name: timer.name,
                    record_id: id.clone(),
                });
            }
        }
        for seq in &tx.timers_done {
            ops.push(Op::TimerDone { seq: *seq });
        }
        if tx.ids_used {
            let (counter, last_ts) = tx.tables.ids.state();
            ops.push(Op::Meta {
                key: durable::META_ID_COUNTER,
                value: i64::try_from(counter).unwrap_or(i64::MAX).into(),
            });
            ops.push(Op::Meta {
                key: durable::META_ID_LAST_TS,
                value: i64::from(last_ts).into(),
            });
        }
        if ops.is_empty() {
            return Ok(0);
        }
        Ok(log.append(ops))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Note {
        id: String,
        text: String,
    }

    impl Record for Note {
        const KIND: &'static str = "note";
        fn id(&self) -> &str {
            &self.id
        }
    }

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Stray {
        id: String,
    }

    impl Record for Stray {
        const KIND: &'static str = "stray";
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn touch_note(tx: &mut Tx<'_>, id: &str, _at: DateTime<Utc>) -> Result<(), ApiError> {
        if let Some(mut n) = tx.get::<Note>(id).cloned() {
            n.text.push('!');
            tx.put(n);
        }
        Ok(())
    }

    static TOUCH: TimerDef = TimerDef {
        name: "note.touch",
        run: touch_note,
    };
    static UNREGISTERED: TimerDef = TimerDef {
        name: "note.unregistered",
        run: touch_note,
    };

    fn schema() -> Schema {
        let mut s = Schema::default();
        s.record::<Note>().timer(&TOUCH);
        s
    }

    fn mem() -> Store {
        Store::new(schema())
    }

    fn note(id: &str, text: &str) -> Note {
        Note {
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn failed_transaction_leaves_no_partial_write() {
        let store = mem();
        let now = Utc::now();
        let (r, _) = store.write(now, None, |tx| {
            tx.put(note("a", "one"));
            tx.put(note("b", "two"));
            Ok(())
        });
        assert!(r.is_ok());
        let (r, effects) = store.write(now, None, |tx| {
            tx.put(note("a", "changed"));
            tx.delete::<Note>("b");
            tx.put(note("c", "new"));
            tx.schedule(now, "a", &TOUCH);
            Err::<(), _>(ApiError::bad_request("no"))
        });
        assert!(r.is_err());
        assert!(effects.is_empty());
        store.read(|t| {
            assert_eq!(t.get::<Note>("a"), Some(&note("a", "one")));
            assert_eq!(t.get::<Note>("b"), Some(&note("b", "two")));
            assert!(t.get::<Note>("c").is_none());
        });
    }

    #[test]
    fn ordered_scans_and_cursors() {
        let store = mem();
        let (_, _) = store.write(Utc::now(), None, |tx| {
            for id in ["c", "a", "d", "b"] {
                tx.put(note(id, id));
            }
            Ok(())
        });
        store.read(|t| {
            let ids = |it: Box<dyn DoubleEndedIterator<Item = &Note> + '_>| {
                it.map(|n| n.id.clone()).collect::<Vec<_>>()
            };
            assert_eq!(ids(t.scan::<Note>()), ["a", "b", "c", "d"]);
            assert_eq!(ids(t.after::<Note>("b")), ["c", "d"]);
            assert_eq!(t.count::<Note>(), 4);
        });
    }

    #[test]
    fn trim_keeps_the_newest() {
        let store = mem();
        let (_, _) = store.write(Utc::now(), None, |tx| {
            for id in ["a", "b", "c", "d"] {
                tx.put(note(id, id));
            }
            tx.trim_oldest::<Note>(2);
            Ok(())
        });
        store.read(|t| {
            assert_eq!(
                t.scan::<Note>().map(|n| n.id.as_str()).collect::<Vec<_>>(),
                ["c", "d"]
            );
        });
    }

    #[test]
    fn unregistered_kinds_and_timers_fail_the_transaction() {
        let store = mem();
        let (r, _) = store.write(Utc::now(), None, |tx| {
            tx.put(note("a", "one"));
            tx.put(Stray { id: "s".into() });
            Ok(())
        });
        let e = r.expect_err("unregistered kind");
        assert!(
            e.detail.contains("`stray` is not registered"),
            "{}",
            e.detail
        );
        assert_eq!(store.read(|t| t.count::<Note>()), 0, "undone");
        let (r, effects) = store.write(Utc::now(), None, |tx| {
            tx.put(note("a", "one"));
            tx.schedule(Utc::now(), "a", &UNREGISTERED);
            Ok(())
        });
        assert!(r.is_err() && effects.is_empty());
    }

    #[test]
    fn the_sandbox_schema_has_unique_names() {
        let s = crate::schema();
        assert!(s.conflicts().is_empty(), "{:?}", s.conflicts());
        assert!(s.timer_named("application.lifecycle").is_some());
    }

    #[tokio::test]
    async fn a_data_dir_keeps_records_timers_ids_and_seed() {
        let dir = std::env::temp_dir().join(format!("dakota-store-{}", uuid::Uuid::new_v4()));
        let horizon = Utc::now() - chrono::Duration::hours(1);
        let at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("ms");
        let (first_id, seq) = {
            let (store, rec) =
                Store::open(schema(), &dir, ([1; 32], false), horizon).expect("open");
            assert_eq!(rec.webhook_seed, Some([1; 32]));
            let (r, effects) = store.write(Utc::now(), None, |tx| {
                let id = tx.next_id();
                tx.put(note(&id, "kept"));
                tx.put(note("gone", "x"));
                tx.schedule(at, &id, &TOUCH);
                Ok(id)
            });
            let id = r.expect("write");
            let seq = match &effects[..] {
                [Effect::Timer { seq, .. }] => *seq,
                other => panic!("{other:?}"),
            };
            let (r, _) = store.write(Utc::now(), None, |tx| {
                tx.delete::<Note>("gone");
                Ok(())
            });
            r.expect("delete");
            store.settle().await.expect("durable");
            (id, seq)
        };
        let (store, rec) = Store::open(schema(), &dir, ([2; 32], false), horizon).expect("reopen");
        assert_eq!(
            rec.webhook_seed,
            Some([1; 32]),
            "the stored seed wins over a random one"
        );
        store.read(|t| {
            assert_eq!(t.get::<Note>(&first_id), Some(&note(&first_id, "kept")));
            assert!(t.get::<Note>("gone").is_none());
        });
        assert_eq!(rec.timers.len(), 1);
        let (s, when, def, id) = &rec.timers[0];
        assert_eq!(
            (*s, *when, def.name, id.as_str()),
            (seq, at, "note.touch", first_id.as_str())
        );
        let (r, _) = store.write(Utc::now(), None, |tx| {
            tx.finish_timer(seq);
            (def.run)(tx, &first_id, at)?;
            Ok(tx.next_id())
        });
        assert!(
            r.expect("fire") > first_id,
            "ids continue in order after a restart"
        );
        store.settle().await.expect("durable");
        drop(store);
        let (store, rec) = Store::open(schema(), &dir, ([3; 32], true), horizon).expect("reopen");
        assert!(rec.timers.is_empty(), "a finished timer is gone");
        assert_eq!(
            rec.webhook_seed,
            Some([3; 32]),
            "an explicit seed replaces the stored one"
        );
        assert_eq!(
            store.read(|t| t.get::<Note>(&first_id).map(|n| n.text.clone())),
            Some("kept!".into())
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
