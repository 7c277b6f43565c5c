//! The sandbox's records, behind a narrow interface a persistent store can implement too.
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
//!
//! The in-memory implementation keeps each table as a `BTreeMap` under one mutex.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::ids::IdGen;
use crate::problem::ApiError;

/// A stored record of one resource type.
pub(crate) trait Record: Clone + Send + 'static {
    /// The resource type (table name), e.g. `"customer"`.
    const KIND: &'static str;
    /// The record's id (unique within its type).
    fn id(&self) -> &str;
}

/// A lifecycle timer: `run` is applied to record `id` inside a write transaction once `at`
/// has come (by the background task; see [`crate::background`]).
pub(crate) type TimerFn = fn(&mut Tx<'_>, &str, DateTime<Utc>) -> Result<(), ApiError>;

/// Work to do once a transaction has committed.
#[derive(Clone)]
pub(crate) enum Effect {
    /// Fire a lifecycle timer.
    Timer {
        at: DateTime<Utc>,
        id: String,
        run: TimerFn,
    },
    /// Send a webhook delivery record (by event and target id).
    Deliver { event_id: String, target_id: String },
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Timer { at, id, .. } => write!(f, "Timer({id} at {at})"),
            Effect::Deliver {
                event_id,
                target_id,
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

/// One write transaction (see [`Store::write`]). Reads see the transaction's own writes.
pub(crate) struct Tx<'a> {
    tables: &'a mut Tables,
    undo: Vec<Undo>,
    effects: Vec<Effect>,
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
    /// Inserts or replaces a record.
    pub(crate) fn put<R: Record>(&mut self, rec: R) {
        let id = rec.id().to_owned();
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
        self.tables.ids.next(self.now)
    }

    /// Fires `run` on record `id` at `at` (once the transaction commits).
    pub(crate) fn schedule(&mut self, at: DateTime<Utc>, id: &str, run: TimerFn) {
        self.effects.push(Effect::Timer {
            at,
            id: id.to_owned(),
            run,
        });
    }

    /// Sends a webhook delivery record once the transaction commits.
    pub(crate) fn deliver(&mut self, event_id: &str, target_id: &str) {
        self.effects.push(Effect::Deliver {
            event_id: event_id.to_owned(),
            target_id: target_id.to_owned(),
        });
    }
}

/// The records of one sandbox.
#[derive(Debug, Default)]
pub(crate) struct Store {
    tables: Mutex<Tables>,
}

impl Store {
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

    /// Runs `f` as one atomic transaction: on `Err` every write is undone and no effect
    /// escapes; on `Ok` the effects to run after the commit are returned with the value.
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
        match out {
            Ok(v) => (Ok(v), tx.effects),
            Err(e) => {
                let undo = std::mem::take(&mut tx.undo);
                for u in undo.into_iter().rev() {
                    u(tx.tables);
                }
                (Err(e), Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
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

    fn note(id: &str, text: &str) -> Note {
        Note {
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn failed_transaction_leaves_no_partial_write() {
        let store = Store::default();
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
            tx.schedule(now, "a", |_, _, _| Ok(()));
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
        let store = Store::default();
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
        let store = Store::default();
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
}
