//! Linear sum assignment (the Hungarian method, shortest augmenting paths with potentials,
//! O(n² m)) for the offline metrics: dense `f64` costs, rectangular matrices, every row or
//! every column assigned, whichever side is smaller, as `scipy.optimize.linear_sum_assignment`.

/// Minimum-cost assignment on a dense `rows x cols` matrix (row-major `cost`).
///
/// Returns `(row, col)` pairs sorted by row: `min(rows, cols)` of them. Costs must be finite:
/// a non-finite entry is treated as a very large cost so the solver always terminates.
pub(crate) fn solve(cost: &[f64], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 || cost.len() != rows * cols {
        return Vec::new();
    }
    let big = cost
        .iter()
        .filter(|c| c.is_finite())
        .fold(0.0f64, |m, c| m.max(c.abs()));
    let clean = |c: f64| if c.is_finite() { c } else { 4.0 * big + 1.0 };
    if rows <= cols {
        let assigned = solve_wide(|r, c| clean(cost[r * cols + c]), rows, cols);
        assigned.into_iter().enumerate().collect()
    } else {
        let assigned = solve_wide(|r, c| clean(cost[c * cols + r]), cols, rows);
        let mut pairs: Vec<(usize, usize)> = assigned
            .into_iter()
            .enumerate()
            .map(|(c, r)| (r, c))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

/// `n <= m`: the column assigned to each of the `n` rows.
fn solve_wide(cost: impl Fn(usize, usize) -> f64, n: usize, m: usize) -> Vec<usize> {
    // 1-based arrays; index 0 is the virtual source/sink.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row matched to column j (0: none)
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = f64::INFINITY);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                // Only reachable with non-finite reduced costs; costs are sanitised above.
                break;
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        // Augment along the path back to the source.
        while j0 != 0 {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        }
    }
    let mut row_to_col = vec![0usize; n];
    for j in 1..=m {
        if p[j] != 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    row_to_col
}

/// Maximum-cardinality, then minimum-cost matching where `None` marks a forbidden pair: the
/// semantics of py-motmetrics' `lap.linear_sum_assignment` with NaN entries (scipy back end),
/// which replaces forbidden pairs by a cost larger than any feasible alternative.
pub(crate) fn solve_partial(cost: &[Option<f64>], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    let valid_max = cost.iter().flatten().fold(None, |m: Option<f64>, c| {
        Some(m.map_or(c.abs(), |m| m.max(c.abs())))
    });
    let Some(c) = valid_max else {
        return Vec::new();
    };
    let c = c + 1.0;
    let large = 2.0 * rows.min(cols) as f64 * c + 1.0;
    let dense: Vec<f64> = cost.iter().map(|x| x.unwrap_or(large)).collect();
    solve(&dense, rows, cols)
        .into_iter()
        .filter(|&(r, c)| cost[r * cols + c].is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(cost: &[f64], cols: usize, pairs: &[(usize, usize)]) -> f64 {
        pairs.iter().map(|&(r, c)| cost[r * cols + c]).sum()
    }

    /// Exhaustive minimum over all injective row->column maps (small matrices only).
    fn brute(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn go(cost: &[f64], rows: usize, cols: usize, r: usize, used: &mut Vec<bool>) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[r * cols + c] + go(cost, rows, cols, r + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        if rows <= cols {
            go(cost, rows, cols, 0, &mut vec![false; cols])
        } else {
            let t: Vec<f64> = (0..cols * rows)
                .map(|k| cost[(k % rows) * cols + k / rows])
                .collect();
            go(&t, cols, rows, 0, &mut vec![false; rows])
        }
    }

    #[test]
    fn matches_brute_force_on_random_matrices() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for rows in 1..=5 {
            for cols in 1..=5 {
                for _ in 0..20 {
                    let cost: Vec<f64> = (0..rows * cols)
                        .map(|_| (rnd() * 10.0).floor() - 3.0)
                        .collect();
                    let pairs = solve(&cost, rows, cols);
                    assert_eq!(pairs.len(), rows.min(cols));
                    let mut rs: Vec<_> = pairs.iter().map(|p| p.0).collect();
                    let mut cs: Vec<_> = pairs.iter().map(|p| p.1).collect();
                    rs.dedup();
                    cs.sort_unstable();
                    cs.dedup();
                    assert_eq!(rs.len(), pairs.len());
                    assert_eq!(cs.len(), pairs.len());
                    assert_eq!(total(&cost, cols, &pairs), brute(&cost, rows, cols));
                }
            }
        }
    }

    #[test]
    fn partial_prefers_more_matches_over_lower_cost() {
        // Row 0 alone could take column 0 at cost 0.1, but then row 1 has nothing.
        let cost = [Some(0.1), Some(0.4), Some(0.45), None];
        let pairs = solve_partial(&cost, 2, 2);
        assert_eq!(pairs, vec![(0, 1), (1, 0)]);
        assert!(solve_partial(&[None, None], 1, 2).is_empty());
        assert!(solve(&[], 0, 3).is_empty());
        // Non-finite costs never hang the solver.
        assert_eq!(solve(&[f64::NAN, 1.0], 1, 2), vec![(0, 1)]);
    }
}
