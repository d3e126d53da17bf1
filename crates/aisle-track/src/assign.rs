//! Optimal assignment (minimum total cost, gated) with buffers allocated once.
//!
//! The bipartite graph of admissible pairs (cost `<= max_cost`) is split into connected
//! components; each component is solved exactly with the Hungarian algorithm (shortest augmenting
//! paths with potentials, `O(n^2 m)`). In a store most components are one track and one
//! detection, so a frame with hundreds of people costs little more than building the cost matrix.
//! Inadmissible pairs are never matched. Within a component the solution has the largest number
//! of admissible pairs, and among those the least total cost.

/// Reusable solver state; sized for `max_rows x max_cols` at construction.
#[derive(Debug)]
pub struct Assigner {
    max_rows: usize,
    max_cols: usize,
    /// Full cost matrix, row-major, `rows x cols` of the current problem.
    cost: Vec<f32>,
    // Union-find over rows then cols.
    parent: Vec<u32>,
    // Component grouping.
    comp_rows: Vec<u32>,
    comp_cols: Vec<u32>,
    order_rows: Vec<u32>,
    order_cols: Vec<u32>,
    row_start: Vec<u32>,
    col_start: Vec<u32>,
    // Hungarian scratch (1-based, size n+1 / m+1).
    sub: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
    matches: Vec<(u32, u32)>,
}

/// Cost given to inadmissible pairs inside a component: larger than any sum of admissible costs.
const FORBIDDEN: f64 = 1e9;

impl Assigner {
    pub fn new(max_rows: usize, max_cols: usize) -> Self {
        let n = max_rows.max(max_cols);
        Self {
            max_rows,
            max_cols,
            cost: vec![0.0; max_rows * max_cols],
            parent: vec![0; max_rows + max_cols],
            comp_rows: vec![0; max_rows],
            comp_cols: vec![0; max_cols],
            order_rows: vec![0; max_rows],
            order_cols: vec![0; max_cols],
            row_start: vec![0; max_rows + max_cols + 1],
            col_start: vec![0; max_rows + max_cols + 1],
            sub: vec![0.0; max_rows * max_cols],
            u: vec![0.0; n + 1],
            v: vec![0.0; n + 1],
            p: vec![0; n + 1],
            way: vec![0; n + 1],
            minv: vec![0.0; n + 1],
            used: vec![false; n + 1],
            matches: Vec::with_capacity(max_rows.min(max_cols)),
        }
    }

    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    pub fn max_cols(&self) -> usize {
        self.max_cols
    }

    /// Solve for the `rows x cols` problem whose costs are given by `cost(row, col)`; pairs with
    /// a cost above `max_cost` (or not finite) are not admissible. Returns the matched
    /// `(row, col)` pairs, sorted by row.
    ///
    /// `rows` and `cols` are clamped to the capacity given at construction.
    pub fn solve(
        &mut self,
        rows: usize,
        cols: usize,
        max_cost: f32,
        mut cost: impl FnMut(usize, usize) -> f32,
    ) -> &[(u32, u32)] {
        let rows = rows.min(self.max_rows);
        let cols = cols.min(self.max_cols);
        self.matches.clear();
        if rows == 0 || cols == 0 {
            return &self.matches;
        }
        for (i, p) in self.parent[..rows + cols].iter_mut().enumerate() {
            *p = i as u32;
        }
        for r in 0..rows {
            for c in 0..cols {
                let x = cost(r, c);
                let x = if x.is_finite() && x <= max_cost {
                    x
                } else {
                    f32::INFINITY
                };
                self.cost[r * cols + c] = x;
                if x.is_finite() {
                    union(&mut self.parent, r, rows + c);
                }
            }
        }
        // Component id per vertex = its root; group rows and cols by root with a counting sort.
        for i in 0..rows + cols {
            find(&mut self.parent, i);
        }
        let roots = rows + cols;
        self.row_start[..=roots].fill(0);
        self.col_start[..=roots].fill(0);
        for r in 0..rows {
            let root = self.parent[r] as usize;
            self.comp_rows[r] = root as u32;
            self.row_start[root + 1] += 1;
        }
        for c in 0..cols {
            let root = self.parent[rows + c] as usize;
            self.comp_cols[c] = root as u32;
            self.col_start[root + 1] += 1;
        }
        for k in 0..roots {
            self.row_start[k + 1] += self.row_start[k];
            self.col_start[k + 1] += self.col_start[k];
        }
        // Fill the orders (using `p`/`way` would alias; reuse minv-free counters via a second pass).
        {
            let (rs, cs) = (&mut self.row_start, &mut self.col_start);
            for r in 0..rows {
                let root = self.comp_rows[r] as usize;
                self.order_rows[rs[root] as usize] = r as u32;
                rs[root] += 1;
            }
            for c in 0..cols {
                let root = self.comp_cols[c] as usize;
                self.order_cols[cs[root] as usize] = c as u32;
                cs[root] += 1;
            }
            // After the pass, start[k] holds the end of group k, i.e. the start of group k+1:
            // shift back by one to restore the starts.
            for k in (1..=roots).rev() {
                rs[k] = rs[k - 1];
                cs[k] = cs[k - 1];
            }
            rs[0] = 0;
            cs[0] = 0;
        }
        for root in 0..roots {
            let (r0, r1) = (
                self.row_start[root] as usize,
                self.row_start[root + 1] as usize,
            );
            let (c0, c1) = (
                self.col_start[root] as usize,
                self.col_start[root + 1] as usize,
            );
            let (nr, nc) = (r1 - r0, c1 - c0);
            if nr == 0 || nc == 0 {
                continue;
            }
            if nr == 1 && nc == 1 {
                let (r, c) = (self.order_rows[r0], self.order_cols[c0]);
                if self.cost[r as usize * cols + c as usize].is_finite() {
                    self.matches.push((r, c));
                }
                continue;
            }
            self.solve_component(cols, r0, nr, c0, nc);
        }
        self.matches.sort_unstable();
        &self.matches
    }

    /// Hungarian algorithm on one component (rows `order_rows[r0..r0+nr]`, cols likewise).
    fn solve_component(&mut self, cols: usize, r0: usize, nr: usize, c0: usize, nc: usize) {
        // The algorithm needs n <= m: transpose when there are more rows than columns.
        let transpose = nr > nc;
        let (n, m) = if transpose { (nc, nr) } else { (nr, nc) };
        for i in 0..n {
            for j in 0..m {
                let (a, b) = if transpose { (j, i) } else { (i, j) };
                let r = self.order_rows[r0 + a] as usize;
                let c = self.order_cols[c0 + b] as usize;
                let x = self.cost[r * cols + c];
                self.sub[i * m + j] = if x.is_finite() {
                    f64::from(x)
                } else {
                    FORBIDDEN
                };
            }
        }
        let (u, v, p, way, minv, used) = (
            &mut self.u,
            &mut self.v,
            &mut self.p,
            &mut self.way,
            &mut self.minv,
            &mut self.used,
        );
        u[..=n].fill(0.0);
        v[..=m].fill(0.0);
        p[..=m].fill(0);
        way[..=m].fill(0);
        for i in 1..=n {
            p[0] = i;
            let mut j0 = 0usize;
            minv[..=m].fill(f64::INFINITY);
            used[..=m].fill(false);
            loop {
                used[j0] = true;
                let i0 = p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0usize;
                for j in 1..=m {
                    if !used[j] {
                        let cur = self.sub[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
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
            loop {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
        for (j, &i) in p.iter().enumerate().take(m + 1).skip(1) {
            if i == 0 {
                continue;
            }
            let (a, b) = if transpose {
                (j - 1, i - 1)
            } else {
                (i - 1, j - 1)
            };
            let r = self.order_rows[r0 + a];
            let c = self.order_cols[c0 + b];
            if self.cost[r as usize * cols + c as usize].is_finite() {
                self.matches.push((r, c));
            }
        }
    }
}

fn find(parent: &mut [u32], mut x: usize) -> usize {
    let mut root = x;
    while parent[root] as usize != root {
        root = parent[root] as usize;
    }
    while parent[x] as usize != root {
        let next = parent[x] as usize;
        parent[x] = root as u32;
        x = next;
    }
    root
}

fn union(parent: &mut [u32], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi] = lo as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive reference: the best assignment by (number of admissible pairs, -total cost).
    fn brute(costs: &[Vec<f32>], max_cost: f32) -> (usize, f64) {
        let rows = costs.len();
        let cols = costs.first().map_or(0, Vec::len);
        fn rec(
            r: usize,
            costs: &[Vec<f32>],
            max_cost: f32,
            used: &mut Vec<bool>,
            acc: (usize, f64),
            best: &mut (usize, f64),
        ) {
            if r == costs.len() {
                if acc.0 > best.0 || (acc.0 == best.0 && acc.1 < best.1 - 1e-9) {
                    *best = acc;
                }
                return;
            }
            rec(r + 1, costs, max_cost, used, acc, best);
            for c in 0..used.len() {
                let x = costs[r][c];
                if !used[c] && x <= max_cost {
                    used[c] = true;
                    rec(
                        r + 1,
                        costs,
                        max_cost,
                        used,
                        (acc.0 + 1, acc.1 + f64::from(x)),
                        best,
                    );
                    used[c] = false;
                }
            }
        }
        let mut best = (0, 0.0);
        rec(
            0,
            costs,
            max_cost,
            &mut vec![false; cols],
            (0, 0.0),
            &mut best,
        );
        let _ = rows;
        best
    }

    #[test]
    fn matches_brute_force_on_random_problems() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut solver = Assigner::new(8, 8);
        for case in 0..400 {
            let rows = 1 + (rnd() * 7.0) as usize;
            let cols = 1 + (rnd() * 7.0) as usize;
            let costs: Vec<Vec<f32>> = (0..rows)
                .map(|_| (0..cols).map(|_| rnd() as f32).collect())
                .collect();
            let max_cost = 0.3 + 0.6 * rnd() as f32;
            let got: Vec<(u32, u32)> = solver
                .solve(rows, cols, max_cost, |r, c| costs[r][c])
                .to_vec();
            let mut seen_c = [false; 8];
            let mut total = 0.0;
            let mut last_r = None;
            for &(r, c) in &got {
                assert!(last_r < Some(r), "case {case}: rows unique and sorted");
                last_r = Some(r);
                assert!(!seen_c[c as usize], "case {case}: column used twice");
                seen_c[c as usize] = true;
                let x = costs[r as usize][c as usize];
                assert!(x <= max_cost, "case {case}: inadmissible pair matched");
                total += f64::from(x);
            }
            let (n, best) = brute(&costs, max_cost);
            assert_eq!(got.len(), n, "case {case}: cardinality");
            assert!(
                (total - best).abs() < 1e-4,
                "case {case}: cost {total} vs {best}"
            );
        }
    }

    #[test]
    fn disjoint_components_and_capacity_clamp() {
        let mut solver = Assigner::new(3, 3);
        // Two clusters: rows 0,1 with cols 0,1; row 2 with col 2.
        let costs = [[0.1, 0.2, 9.0], [0.15, 0.9, 9.0], [9.0, 9.0, 0.05]];
        let got = solver.solve(3, 3, 1.0, |r, c| costs[r][c]).to_vec();
        assert_eq!(got, vec![(0, 1), (1, 0), (2, 2)]);
        // Asking for more than the capacity only sees the first 3x3.
        let got = solver.solve(10, 10, 1.0, |r, c| if r == c { 0.0 } else { 1.0 });
        assert_eq!(got.len(), 3);
        assert!(solver.solve(0, 5, 1.0, |_, _| 0.0).is_empty());
        assert!(solver.solve(2, 2, 1.0, |_, _| f32::NAN).is_empty());
    }
}
