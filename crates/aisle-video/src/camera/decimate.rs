//! Frame-rate decimation ([`RateDecimator`]) and the bounded hand-off queue between decoding
//! and analysis ([`FrameQueue`]).
//!
//! The decimator divides time into slots of `1/R` seconds on a grid that starts half an input
//! frame interval (measured between the first two frames, at most half a slot) before the
//! first frame, so that slot edges fall between input frames, and keeps the first frame of
//! each slot. Over any stretch of time it therefore keeps one frame per slot — exactly
//! `R` per second whatever the input rate `F > R` — spread evenly: 5 of 25 fps keeps every 5th
//! frame, 10 of 25 fps alternates gaps of 2 and 3 frames (averaging 2.5). Timestamp jitter
//! smaller than the distance of frames to a slot edge changes nothing, larger jitter can only
//! move which frame of a slot is kept, never how many; a gap leaves its slots empty and never
//! causes a catch-up burst. A jump back of more than a second (a new timebase) restarts the
//! grid. Arithmetic is exact (rational, `i128`).

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use aisle_types::MediaTime;

/// Keeps `R` frames per second of a faster stream, chosen evenly by timestamp.
#[derive(Debug, Clone)]
pub struct RateDecimator {
    /// Target rate `num / den` frames per second.
    num: u32,
    den: u32,
    first: Option<MediaTime>,
    origin: Option<MediaTime>,
    last_slot: Option<i128>,
    kept: u64,
    skipped: u64,
}

impl RateDecimator {
    /// `fps` frames per second (at least 1).
    pub fn new(fps: u32) -> Self {
        Self::with_rational(fps.max(1), 1)
    }

    /// `num / den` frames per second (e.g. 30000/1001); zero parts count as 1.
    pub fn with_rational(num: u32, den: u32) -> Self {
        Self {
            num: num.max(1),
            den: den.max(1),
            first: None,
            origin: None,
            last_slot: None,
            kept: 0,
            skipped: 0,
        }
    }

    /// Frames kept so far.
    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// Frames skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Starts a new grid at the next frame.
    pub fn reset(&mut self) {
        self.first = None;
        self.origin = None;
        self.last_slot = None;
    }

    /// The grid's origin from the first two frames: `first` less half their distance, at most
    /// half a slot (all in `first`'s timescale).
    fn origin_from(&self, first: MediaTime, second: MediaTime) -> MediaTime {
        let ts = i128::from(first.timescale.max(1));
        let second_in_first = i128::from(second.ticks) * ts / i128::from(second.timescale.max(1));
        let gap = (second_in_first - i128::from(first.ticks)).max(0);
        let half_slot = ts * i128::from(self.den) / (2 * i128::from(self.num));
        let back = (gap / 2).min(half_slot);
        MediaTime {
            ticks: i64::try_from(i128::from(first.ticks) - back).unwrap_or(first.ticks),
            timescale: first.timescale,
        }
    }

    /// The slot of `t` on the grid anchored at `origin`: `floor((t - origin) * R)`;
    /// `None` on arithmetic overflow (absurd timestamps) or a zero timescale.
    fn slot(&self, origin: MediaTime, t: MediaTime) -> Option<i128> {
        if origin.timescale == 0 || t.timescale == 0 {
            return None;
        }
        // (t - origin) = diff_num / diff_den seconds.
        let diff_num = i128::from(t.ticks)
            .checked_mul(i128::from(origin.timescale))?
            .checked_sub(i128::from(origin.ticks).checked_mul(i128::from(t.timescale))?)?;
        let diff_den = i128::from(t.timescale) * i128::from(origin.timescale);
        // floor(diff_num * num / (diff_den * den))
        let numer = diff_num.checked_mul(i128::from(self.num))?;
        let denom = diff_den.checked_mul(i128::from(self.den))?;
        Some(numer.div_euclid(denom))
    }

    /// Whether to analyse the frame with presentation time `pts`.
    pub fn keep(&mut self, pts: MediaTime) -> bool {
        let origin = match (self.origin, self.first) {
            (Some(o), _) => o,
            (None, Some(first)) => *self.origin.insert(self.origin_from(first, pts)),
            (None, None) => {
                self.first = Some(pts);
                self.last_slot = Some(0);
                self.kept += 1;
                return true;
            }
        };
        let slot = match self.slot(origin, pts) {
            Some(s) => s,
            None => {
                self.origin = Some(pts);
                0
            }
        };
        let keep = match self.last_slot {
            None => true,
            Some(last) if slot > last => true,
            // More than a second back: a new timebase; restart the grid here.
            Some(last) if slot < last - i128::from(self.num.div_ceil(self.den)).max(1) => {
                self.reset();
                self.first = Some(pts);
                self.last_slot = Some(0);
                self.kept += 1;
                return true;
            }
            Some(_) => false,
        };
        if keep {
            self.last_slot = Some(slot);
            self.kept += 1;
        } else {
            self.skipped += 1;
        }
        keep
    }
}

/// A bounded first-in first-out queue that never grows past its capacity: pushing into a full
/// queue drops the oldest item (stale frames are worth less than fresh ones to live
/// analytics) and counts it.
#[derive(Debug, Clone)]
pub struct FrameQueue<T> {
    items: VecDeque<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> FrameQueue<T> {
    /// A queue holding at most `capacity` items; storage is allocated once, here.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            items: VecDeque::with_capacity(capacity.get()),
            capacity: capacity.get(),
            dropped: 0,
        }
    }

    /// Appends `item`; when the queue was full, removes and returns the oldest item.
    pub fn push(&mut self, item: T) -> Option<T> {
        let evicted = if self.items.len() >= self.capacity {
            self.dropped += 1;
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        evicted
    }

    /// Removes the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items dropped because the queue was full, since construction.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Removes every item (not counted as dropped).
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: i64) -> MediaTime {
        MediaTime {
            ticks: v,
            timescale: 1000,
        }
    }

    #[test]
    fn five_of_twenty_five_is_every_fifth() {
        let mut d = RateDecimator::new(5);
        let kept: Vec<i64> = (0..50).filter(|k| d.keep(ms(k * 40))).collect();
        assert_eq!(kept, [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
    }

    #[test]
    fn ten_of_twenty_five_alternates() {
        let mut d = RateDecimator::new(10);
        let kept: Vec<i64> = (0..25).filter(|k| d.keep(ms(k * 40))).collect();
        let gaps: Vec<i64> = kept.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g == 2 || *g == 3), "{gaps:?}");
        assert_eq!(kept.len(), 10);
        let mut d = RateDecimator::new(10);
        assert_eq!((0..2500).filter(|k| d.keep(ms(k * 40))).count(), 1000);
    }

    #[test]
    fn gaps_do_not_burst_and_jumps_back_restart() {
        let mut d = RateDecimator::new(5);
        assert!(d.keep(ms(0)));
        // 3 s gap: one frame kept for the slot it lands in, then the normal pattern.
        assert!(d.keep(ms(3000)));
        assert!(!d.keep(ms(3040)));
        assert!(!d.keep(ms(3080)));
        // Back in time by 10 s: new grid.
        assert!(d.keep(ms(-7000)));
        assert!(!d.keep(ms(-6960)));
        // Mixed timescales and absurd values never panic.
        assert!(
            d.keep(MediaTime {
                ticks: i64::MAX,
                timescale: 1
            }) || d.skipped() > 0
        );
        let _ = d.keep(MediaTime {
            ticks: 5,
            timescale: 0,
        });
        let _ = d.keep(MediaTime {
            ticks: i64::MIN,
            timescale: u32::MAX,
        });
    }

    #[test]
    fn queue_drops_oldest_and_counts() {
        let mut q = FrameQueue::new(NonZeroUsize::new(3).unwrap());
        for i in 0..10 {
            let evicted = q.push(i);
            assert!(q.len() <= 3);
            assert_eq!(evicted, (i >= 3).then(|| i - 3));
        }
        assert_eq!(q.dropped(), 7);
        assert_eq!(q.pop(), Some(7));
        assert_eq!(q.len(), 2);
        assert_eq!(q.capacity(), 3);
        q.clear();
        assert!(q.is_empty());
    }
}
