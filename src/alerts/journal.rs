//! Where the engine and the outbox record what they decide: the store writer's ops lane in the
//! daemon (never dropped, committed in order), an in-memory list in tests.

use crate::store::alerts::AlertOp;
use crate::store::writer::{Op, WriterInput};
use std::sync::Mutex;
use tokio::sync::watch;

pub trait Journal: Send + Sync {
    /// Records `op`; returns its sequence number (0 when the store is gone, at a stop).
    fn record(&self, op: AlertOp) -> u64;

    /// The last sequence number committed.
    fn committed(&self) -> watch::Receiver<u64>;
}

impl Journal for WriterInput {
    fn record(&self, op: AlertOp) -> u64 {
        self.send_op(Op::Alert(Box::new(op))).unwrap_or(0)
    }

    fn committed(&self) -> watch::Receiver<u64> {
        WriterInput::committed(self)
    }
}

/// Keeps every op in memory and counts each as committed at once (for tests).
pub struct MemoryJournal {
    ops: Mutex<Vec<AlertOp>>,
    committed: watch::Sender<u64>,
}

impl Default for MemoryJournal {
    fn default() -> Self {
        MemoryJournal {
            ops: Mutex::new(Vec::new()),
            committed: watch::channel(0).0,
        }
    }
}

impl MemoryJournal {
    pub fn ops(&self) -> Vec<AlertOp> {
        self.ops.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Journal for MemoryJournal {
    fn record(&self, op: AlertOp) -> u64 {
        let Ok(mut ops) = self.ops.lock() else {
            return 0;
        };
        ops.push(op);
        let seq = ops.len() as u64;
        self.committed.send_replace(seq);
        seq
    }

    fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }
}
