//! The engine's notion of now. In the daemon it is the wall clock; in tests it runs on tokio's
//! clock from a fixed start, so `tokio::time::pause()` and `advance()` move it and every timer
//! with it.

use crate::time::Millis;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// `None`: the wall clock. `Some`: `base_ms` at tokio's `base`.
    fixed: Option<(Millis, Instant)>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { fixed: None }
    }

    /// A clock that reads `start_ms` now and then follows tokio's (possibly paused) time.
    pub fn tokio_from(start_ms: Millis) -> Self {
        Clock {
            fixed: Some((start_ms, Instant::now())),
        }
    }

    pub fn now_ms(&self) -> Millis {
        match self.fixed {
            None => crate::time::now_ms(),
            Some((base_ms, base)) => {
                base_ms + Millis::try_from(base.elapsed().as_millis()).unwrap_or(Millis::MAX)
            }
        }
    }

    /// The tokio instant at which this clock reads `ms` (now, if that has passed).
    pub fn instant_at(&self, ms: Millis) -> Instant {
        let ahead = ms.saturating_sub(self.now_ms()).max(0);
        Instant::now() + Duration::from_millis(u64::try_from(ahead).unwrap_or(u64::MAX))
    }
}
