//! Pieces of the settled past (rollup sums, availability tallies, an hour's incidents), kept a
//! few minutes: a 30-day span then reads only its last hours on each call, so it costs about
//! what a one-day span does. A piece is settled when it ended an hour ago (the writer commits
//! within seconds; only a store stalled for longer writes later, and then an entry is at most
//! [`TTL`] out of date).

use super::StoreError;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const AFTER_MS: i64 = super::rollup::HOUR_MS;
const TTL: Duration = Duration::from_secs(300);
const MAX_ENTRIES: usize = 512;

/// Database file, what the piece is (a table or a kind), from, to and the checks asked
/// for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String, &'static str, i64, i64, String);

impl Key {
    pub fn new(db: &str, kind: &'static str, from: i64, to: i64, checks: &str) -> Key {
        Key(db.to_string(), kind, from, to, checks.to_string())
    }
}

type Entry = (Instant, Arc<dyn Any + Send + Sync>);

fn cache() -> &'static Mutex<HashMap<Key, Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The kept piece under `key`, or `make`'s, kept; without a key (a database in memory,
/// or a piece not yet settled) always `make`'s.
pub fn get_or<T: Send + Sync + 'static>(
    key: Option<Key>,
    make: impl FnOnce() -> Result<T, StoreError>,
) -> Result<Arc<T>, StoreError> {
    let Some(key) = key else {
        return make().map(Arc::new);
    };
    if let Some(hit) = get(&key) {
        return Ok(hit);
    }
    // Made outside the lock: two callers may both make it; the second one's is kept.
    let made = Arc::new(make()?);
    put(key, made.clone());
    Ok(made)
}

fn get<T: Send + Sync + 'static>(key: &Key) -> Option<Arc<T>> {
    let cache = cache().lock().ok()?;
    let (at, piece) = cache.get(key)?;
    if at.elapsed() >= TTL {
        return None;
    }
    piece.clone().downcast::<T>().ok()
}

fn put(key: Key, piece: Arc<dyn Any + Send + Sync>) {
    if let Ok(mut cache) = cache().lock() {
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < TTL);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), piece));
    }
}

/// Pieces that stay true while a cheap fingerprint of what they were read from is unchanged
/// (the incidents table, the ended runs), whatever their age.
type Printed = (Vec<i64>, Arc<dyn Any + Send + Sync>);

fn printed() -> &'static Mutex<HashMap<Key, Printed>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Printed>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The piece kept under `key` if it was made at the same `print`, else `make`'s, kept.
pub fn get_or_at<T: Send + Sync + 'static>(
    key: Option<Key>,
    print: Vec<i64>,
    make: impl FnOnce() -> Result<T, StoreError>,
) -> Result<Arc<T>, StoreError> {
    let Some(key) = key else {
        return make().map(Arc::new);
    };
    if let Ok(cache) = printed().lock() {
        if let Some((at, piece)) = cache.get(&key) {
            if *at == print {
                if let Ok(hit) = piece.clone().downcast::<T>() {
                    return Ok(hit);
                }
            }
        }
    }
    let made = Arc::new(make()?);
    if let Ok(mut cache) = printed().lock() {
        if cache.len() >= 64 && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, (print, made.clone()));
    }
    Ok(made)
}
