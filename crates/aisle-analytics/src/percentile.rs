//! Percentiles of dwell times: exact (linear interpolation between order statistics, numpy's
//! default `linear` method) from samples, or interpolated from the fixed histogram when more
//! visits ended than the sample buffer holds.

use aisle_types::metrics::DWELL_BUCKETS_S;

/// The `p` quantile (`0..=1`) of ascending `sorted` samples: `x[floor(r)] + (x[ceil(r)] -
/// x[floor(r)]) * frac(r)` with `r = p * (n - 1)`; `None` when empty.
pub(crate) fn quantile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let r = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = r.floor() as usize;
    let hi = r.ceil() as usize;
    let frac = r - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// The `p` quantile estimated from a dwell histogram over [`DWELL_BUCKETS_S`]: the rank
/// `p * (n - 1)` is located in its bucket and placed linearly inside it (samples assumed spread
/// evenly, each at the centre of its share of the bucket). The open last bucket ends at `max`;
/// the result never exceeds `max`. `None` when the histogram is empty.
pub(crate) fn quantile_histogram(hist: &[u32], p: f64, max: f64) -> Option<f64> {
    let n: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    if n == 0 {
        return None;
    }
    let rank = p.clamp(0.0, 1.0) * (n - 1) as f64;
    let mut before = 0u64;
    for (b, &c) in hist.iter().enumerate() {
        if c == 0 {
            continue;
        }
        if rank < (before + u64::from(c)) as f64 || before + u64::from(c) == n {
            let lower = if b == 0 { 0.0 } else { DWELL_BUCKETS_S[b - 1] };
            let upper = DWELL_BUCKETS_S.get(b).copied().unwrap_or(max).min(max);
            let upper = upper.max(lower);
            let frac = ((rank - before as f64 + 0.5) / f64::from(c)).clamp(0.0, 1.0);
            return Some((lower + (upper - lower) * frac).min(max));
        }
        before += u64::from(c);
    }
    Some(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_types::metrics::{dwell_bucket, DWELL_HISTOGRAM_LEN};

    #[test]
    fn matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [50, 90]) = [2.5, 3.7]
        let s = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile_sorted(&s, 0.5).unwrap() - 2.5).abs() < 1e-12);
        assert!((quantile_sorted(&s, 0.9).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.9), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        // numpy.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90) = 91.0
        let t: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        assert!((quantile_sorted(&t, 0.9).unwrap() - 91.0).abs() < 1e-9);
    }

    #[test]
    fn histogram_estimate_lands_in_the_right_bucket() {
        let samples: Vec<f64> = (0..1000).map(|i| 1.0 + f64::from(i) * 0.05).collect();
        let mut hist = [0u32; DWELL_HISTOGRAM_LEN];
        for &s in &samples {
            hist[dwell_bucket(s)] += 1;
        }
        let max = samples[999];
        for p in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let exact = quantile_sorted(&samples, p).unwrap();
            let est = quantile_histogram(&hist, p, max).unwrap();
            let b = dwell_bucket(exact);
            let lower = if b == 0 { 0.0 } else { DWELL_BUCKETS_S[b - 1] };
            let upper = DWELL_BUCKETS_S.get(b).copied().unwrap_or(max);
            assert!(est >= lower && est <= upper, "p {p}: {est} vs {exact}");
        }
        assert!(quantile_histogram(&hist, 1.0, max).unwrap() <= max);
        assert_eq!(
            quantile_histogram(&[0; DWELL_HISTOGRAM_LEN], 0.5, 0.0),
            None
        );
    }
}
