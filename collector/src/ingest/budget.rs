//! One memory budget for what requests hold at once: ingest bodies as they arrive, their
//! decompressed form, and what live tails hold for readers that have not taken it yet
//! (`[limits] max_memory_bytes`). Each request's own limits
//! (`max_body_bytes`, `max_decoded_bytes`) bound one request; this bounds them all together,
//! so that 60 parallel compression bombs, each refused alone at 413, cannot take the collector
//! to gigabytes between them (issue 26 §6).
//!
//! A request reserves its body's size before reading it (the declared `Content-Length`, or
//! `max_body_bytes` without one) and reserves again as its decompressed form grows, before
//! the buffer grows. A reservation that cannot be had within [`WAIT`] refuses the request with
//! 503 (agents keep the batch and retry, against the next collector if they know one); it is
//! given back when the request ends. A live tail reserves each chunk it queues for its reader
//! without waiting, and gives it back once the reader took it; a tail that finds no room is
//! ended (its reader is too slow for the memory there is).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Units of the budget: a permit stands for this many bytes.
const UNIT: usize = 1024;

/// How long a body waits for room in the budget before it is refused.
pub const WAIT: Duration = Duration::from_secs(1);

/// The budget shared by all requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    bytes: usize,
}

/// Part of the budget held by one request; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    held: Option<OwnedSemaphorePermit>,
}

/// The budget is spent: the refusal names it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the collector's memory for request bodies is in use ({limit} bytes, [limits] max_memory_bytes); retry in a moment"
)]
pub struct Spent {
    pub limit: usize,
}

fn units(bytes: usize) -> u32 {
    bytes.div_ceil(UNIT).min(u32::MAX as usize) as u32
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> MemoryBudget {
        MemoryBudget {
            permits: Arc::new(Semaphore::new(units(bytes) as usize)),
            bytes,
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }

    /// Reserves `bytes` if they are free now (a live tail's chunk: it never waits).
    pub fn try_reserve(&self, bytes: usize) -> Result<Reservation, Spent> {
        match self.permits.clone().try_acquire_many_owned(units(bytes)) {
            Ok(p) => Ok(Reservation {
                budget: self.clone(),
                held: Some(p),
            }),
            Err(_) => Err(Spent { limit: self.bytes }),
        }
    }

    /// Reserves `bytes`, waiting up to `wait` for them.
    pub async fn reserve(&self, bytes: usize, wait: Duration) -> Result<Reservation, Spent> {
        let fut = self.permits.clone().acquire_many_owned(units(bytes));
        match tokio::time::timeout(wait, fut).await {
            Ok(Ok(p)) => Ok(Reservation {
                budget: self.clone(),
                held: Some(p),
            }),
            _ => Err(Spent { limit: self.bytes }),
        }
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.held.as_ref().map_or(0, |p| p.num_permits() * UNIT)
    }

    /// Holds at least `bytes` in all, taking more now if it can (no waiting: this runs on a
    /// blocking thread in the middle of decompression).
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), Spent> {
        let have = self.bytes();
        if bytes <= have {
            return Ok(());
        }
        let more = self
            .budget
            .permits
            .clone()
            .try_acquire_many_owned(units(bytes - have))
            .map_err(|_| Spent {
                limit: self.budget.bytes,
            })?;
        match &mut self.held {
            Some(p) => p.merge(more),
            None => self.held = Some(more),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_share_the_budget_and_give_it_back() {
        let b = MemoryBudget::new(1 << 20);
        let mut r = b.reserve(600 << 10, WAIT).await.unwrap();
        assert_eq!(b.available(), 424 << 10);
        assert!(
            b.reserve(600 << 10, Duration::from_millis(10))
                .await
                .is_err()
        );
        r.grow_to(900 << 10).unwrap();
        assert!(r.grow_to(2 << 20).is_err(), "past the budget");
        assert_eq!(r.bytes(), 900 << 10, "a refused growth keeps what it had");
        drop(r);
        assert_eq!(b.available(), 1 << 20);
        let err = b
            .reserve(2 << 20, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("max_memory_bytes"), "{err}");
    }
}
