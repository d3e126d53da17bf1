//! The bookkeeping of a small pool of reusable buffers, keyed by size, bounded in count and bytes.
//!
//! [`GpuPreprocessor`](crate::GpuPreprocessor) keeps one pool of device frame buffers and one of
//! device tensors, so that a steady stream of frames of one size into one model allocates device
//! memory once instead of twice per frame (`cuMemAlloc`/`cuMemFree` synchronise with the device
//! and cost tens to hundreds of microseconds each). The pool holds buffers that are *not* in
//! use; a preprocessing call takes what it needs and puts it back when the device is done with
//! it.
//!
//! Rules:
//! - [`take`](BufferPool::take) returns a free buffer of exactly the requested size (the most
//!   recently returned one first), or `None` (a miss: the caller allocates).
//! - [`put`](BufferPool::put) keeps a buffer for reuse; when that makes the pool hold more than
//!   `max_buffers` buffers or `max_bytes` bytes, the least recently returned buffers are evicted
//!   (handed back to the caller, which drops them, freeing the memory). A buffer larger than
//!   `max_bytes` on its own is never kept.
//!
//! Exact sizes, not "at least": a tensor buffer must have exactly the model input's length
//! (copies and launches use the whole buffer), and a pipeline uses a handful of sizes (one per
//! camera resolution and one per model input), so exact matching wastes nothing.
//!
//! The type is generic over the buffer so the rules are tested without CUDA.

use std::collections::VecDeque;

/// Counters of a [`BufferPool`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// [`take`](BufferPool::take) calls answered with a pooled buffer.
    pub hits: u64,
    /// [`take`](BufferPool::take) calls that found no buffer of the size (the caller allocated).
    pub misses: u64,
    /// Buffers evicted (or refused) by [`put`](BufferPool::put) to stay within the bounds.
    pub evictions: u64,
}

/// Free buffers of type `B` keyed by their size in bytes; see the module documentation.
#[derive(Debug)]
pub struct BufferPool<B> {
    /// Least recently returned first.
    free: VecDeque<(usize, B)>,
    free_bytes: usize,
    max_buffers: usize,
    max_bytes: usize,
    stats: PoolStats,
}

impl<B> BufferPool<B> {
    /// An empty pool that keeps at most `max_buffers` free buffers of at most `max_bytes` bytes
    /// in all.
    pub fn new(max_buffers: usize, max_bytes: usize) -> BufferPool<B> {
        BufferPool {
            free: VecDeque::new(),
            free_bytes: 0,
            max_buffers,
            max_bytes,
            stats: PoolStats::default(),
        }
    }

    /// A free buffer of exactly `bytes` bytes (the most recently returned one), or `None`.
    pub fn take(&mut self, bytes: usize) -> Option<B> {
        match self.free.iter().rposition(|(size, _)| *size == bytes) {
            Some(i) => {
                self.stats.hits += 1;
                let (size, buffer) = self.free.remove(i)?;
                self.free_bytes -= size;
                Some(buffer)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Keeps `buffer` (of `bytes` bytes) for reuse. Returns the buffers evicted to stay within
    /// the bounds, least recently returned first (possibly `buffer` itself, when it alone is
    /// larger than `max_bytes` or `max_buffers` is 0); the caller drops them.
    #[must_use = "the evicted buffers are to be dropped (freed) by the caller"]
    pub fn put(&mut self, bytes: usize, buffer: B) -> Vec<B> {
        if bytes > self.max_bytes || self.max_buffers == 0 {
            self.stats.evictions += 1;
            return vec![buffer];
        }
        self.free.push_back((bytes, buffer));
        self.free_bytes += bytes;
        let mut evicted = Vec::new();
        while self.free.len() > self.max_buffers || self.free_bytes > self.max_bytes {
            let Some((size, old)) = self.free.pop_front() else {
                break;
            };
            self.free_bytes -= size;
            self.stats.evictions += 1;
            evicted.push(old);
        }
        evicted
    }

    /// Number of free buffers held.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// `true` when no buffer is held.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// Bytes held in free buffers.
    pub fn free_bytes(&self) -> usize {
        self.free_bytes
    }

    /// The hit, miss and eviction counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Drops every free buffer.
    pub fn clear(&mut self) {
        self.free.clear();
        self.free_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_exact_sizes_most_recent_first() {
        let mut pool: BufferPool<&str> = BufferPool::new(4, 1000);
        assert_eq!(pool.take(100), None);
        assert!(pool.put(100, "a").is_empty());
        assert!(pool.put(200, "b").is_empty());
        assert!(pool.put(100, "c").is_empty());
        assert_eq!(pool.free_bytes(), 400);
        // Exact size only, the most recently returned first.
        assert_eq!(pool.take(150), None);
        assert_eq!(pool.take(100), Some("c"));
        assert_eq!(pool.take(100), Some("a"));
        assert_eq!(pool.take(100), None);
        assert_eq!(pool.take(200), Some("b"));
        assert!(pool.is_empty());
        assert_eq!(pool.free_bytes(), 0);
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 3,
                misses: 3,
                evictions: 0
            }
        );
    }

    #[test]
    fn evicts_least_recently_returned_beyond_the_bounds() {
        // Count bound.
        let mut pool: BufferPool<u32> = BufferPool::new(2, 1000);
        assert!(pool.put(10, 1).is_empty());
        assert!(pool.put(20, 2).is_empty());
        assert_eq!(pool.put(30, 3), vec![1]);
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.free_bytes(), 50);

        // Byte bound: 400 + 400 fits, a third 400 pushes out the oldest.
        let mut pool: BufferPool<u32> = BufferPool::new(8, 1000);
        assert!(pool.put(400, 1).is_empty());
        assert!(pool.put(400, 2).is_empty());
        assert_eq!(pool.put(400, 3), vec![1]);
        assert_eq!(pool.free_bytes(), 800);
        // A big one evicts as many as needed.
        assert_eq!(pool.put(900, 4), vec![2, 3]);
        assert_eq!(pool.free_bytes(), 900);
        // Larger than the whole budget: never kept, the pool is unchanged.
        assert_eq!(pool.put(1001, 5), vec![5]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.take(900), Some(4));
        assert_eq!(pool.stats().evictions, 4);

        // A pool of no buffers keeps nothing.
        let mut none: BufferPool<u32> = BufferPool::new(0, 1000);
        assert_eq!(none.put(1, 7), vec![7]);
        assert!(none.is_empty());
    }

    #[test]
    fn steady_state_allocates_once() {
        // One frame size and one tensor size, take-and-put per frame: one miss each, then hits.
        let mut pool: BufferPool<usize> = BufferPool::new(4, 4 << 20);
        let mut allocated = 0;
        for _ in 0..100 {
            for size in [663_552, 786_432] {
                let b = pool.take(size).unwrap_or_else(|| {
                    allocated += 1;
                    size
                });
                assert!(pool.put(size, b).is_empty());
            }
        }
        assert_eq!(allocated, 2);
        assert_eq!(pool.stats().hits, 198);
        pool.clear();
        assert!(pool.is_empty() && pool.free_bytes() == 0);
    }
}
