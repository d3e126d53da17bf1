//! Hand-computed cases; `tests/metrics_crosscheck.rs` compares with py-motmetrics/TrackEval.

use super::*;

fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
    BBox::new(x, y, x + w, y + h)
}

fn seq(rows: &[(u32, u64, BBox)]) -> MotSequence {
    let mut s = MotSequence::default();
    for &(f, id, bb) in rows {
        s.push(f, id, bb);
    }
    s
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn perfect_tracking_scores_one() {
    let rows: Vec<_> = (1..=5)
        .flat_map(|f| {
            [
                (f, 1, b(f as f32, 0.0, 10.0, 20.0)),
                (f, 2, b(100.0, f as f32, 10.0, 20.0)),
            ]
        })
        .collect();
    let gt = seq(&rows);
    let m = evaluate(&gt, &gt);
    assert_eq!(
        (m.num_gt, m.num_gt_ids, m.num_frames, m.matches),
        (10, 2, 5, 10)
    );
    assert_eq!(
        (m.id_switches, m.misses, m.false_positives, m.fragmentations),
        (0, 0, 0, 0)
    );
    assert!(close(m.mota, 1.0) && close(m.motp, 0.0) && close(m.idf1, 1.0));
    assert!(close(m.hota, 1.0) && close(m.deta, 1.0) && close(m.assa, 1.0) && close(m.loca, 1.0));
    assert_eq!(m.mostly_tracked, 2);
}

#[test]
fn swapped_ids_are_two_switches_and_halve_idf1() {
    let (p, q) = (b(0.0, 0.0, 10.0, 10.0), b(50.0, 0.0, 10.0, 10.0));
    let gt = seq(&[
        (1, 1, p),
        (1, 2, q),
        (2, 1, p),
        (2, 2, q),
        (3, 1, p),
        (3, 2, q),
        (4, 1, p),
        (4, 2, q),
    ]);
    let hyp = seq(&[
        (1, 1, p),
        (1, 2, q),
        (2, 1, p),
        (2, 2, q),
        (3, 2, p),
        (3, 1, q),
        (4, 2, p),
        (4, 1, q),
    ]);
    let m = evaluate(&gt, &hyp);
    assert_eq!(
        (m.id_switches, m.matches, m.transfers, m.migrates, m.ascends),
        (2, 6, 2, 0, 0)
    );
    assert!(close(m.mota, 0.75), "{}", m.mota);
    assert_eq!((m.idtp, m.idfp, m.idfn), (4, 4, 4));
    assert!(close(m.idf1, 0.5));
    // Every pair of ids aligns 2/(4+4-2) = 1/3; all detections match (DetA = 1), AssA = 1/3.
    assert!(close(m.deta, 1.0) && close(m.assa, 1.0 / 3.0));
    assert!(close(m.hota, (1.0f64 / 3.0).sqrt()));
}

#[test]
fn gaps_between_tracked_frames_are_fragmentations() {
    let p = b(0.0, 0.0, 10.0, 10.0);
    let gt = seq(&(1..=6).map(|f| (f, 7, p)).collect::<Vec<_>>());
    let hyp = seq(&[(1, 3, p), (2, 3, p), (5, 3, p)]);
    let m = evaluate(&gt, &hyp);
    assert_eq!(
        (
            m.fragmentations,
            m.misses,
            m.partially_tracked,
            m.mostly_tracked
        ),
        (1, 3, 1, 0)
    );
    assert!(close(m.mota, 0.5));
    assert!(close(m.recall, 0.5) && close(m.precision, 1.0));
}

#[test]
fn iou_of_exactly_one_half_matches() {
    let gt = seq(&[
        (1, 1, b(0.0, 0.0, 10.0, 10.0)),
        (1, 2, b(100.0, 0.0, 10.0, 10.0)),
    ]);
    // IoU 0.5 exactly with the first; 0.4999... impossible to reach with the second.
    let hyp = seq(&[
        (1, 1, b(0.0, 0.0, 10.0, 20.0)),
        (1, 2, b(100.0, 0.0, 10.0, 20.25)),
    ]);
    let m = evaluate(&gt, &hyp);
    assert_eq!((m.matches, m.misses, m.false_positives), (1, 1, 1));
    assert!(close(m.motp, 0.5));
    assert_eq!(iou(&b(0.0, 0.0, 10.0, 10.0), &b(0.0, 0.0, 10.0, 20.0)), 0.5);
}

#[test]
fn empty_sides_follow_the_references() {
    let empty = MotSequence::default();
    let m = evaluate(&empty, &empty);
    assert!(m.mota.is_nan() && m.motp.is_nan() && m.idf1.is_nan());
    assert_eq!((m.hota, m.loca, m.num_frames), (0.0, 1.0, 0));
    let gt = seq(&[(1, 1, b(0.0, 0.0, 1.0, 1.0)), (2, 1, b(0.0, 0.0, 1.0, 1.0))]);
    let m = evaluate(&gt, &empty);
    assert_eq!((m.misses, m.num_gt, m.mostly_lost), (2, 2, 1));
    assert!(close(m.mota, 0.0) && m.motp.is_nan() && close(m.idf1, 0.0) && m.hota == 0.0);
    let m = evaluate(&empty, &gt);
    assert_eq!(m.false_positives, 2);
    assert!(m.mota == f64::NEG_INFINITY && m.hota == 0.0);
    // Frames present with no boxes do not count; degenerate boxes never match.
    let mut g = gt.clone();
    g.frames.insert(9, Vec::new());
    g.push(3, 2, BBox::new(5.0, 5.0, 5.0, 9.0));
    let m = evaluate(&g, &g);
    assert_eq!((m.num_frames, m.misses, m.false_positives), (3, 1, 1));
}

#[test]
fn alphas_are_numpys_arange() {
    let a = hota_alphas();
    assert_eq!(a[0], 0.05);
    assert_eq!(a[1], 0.1);
    assert!((a[18] - 0.95).abs() < 1e-15);
    assert!(a.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn invalid_input_never_panics() {
    // Repeated ids within a frame, inverted and empty boxes, NaN coordinates.
    let p = b(0.0, 0.0, 10.0, 10.0);
    let gt = seq(&[(1, 1, p), (1, 1, p), (2, 1, BBox::new(5.0, 5.0, 0.0, 0.0))]);
    let hyp = seq(&[
        (1, 2, p),
        (1, 2, p),
        (1, 2, p),
        (2, 3, BBox::new(f32::NAN, 0.0, 1.0, 1.0)),
    ]);
    let m = evaluate(&gt, &hyp);
    assert_eq!((m.num_gt, m.num_hyp), (3, 4));
    let _ = evaluate(&hyp, &gt);
    // Random small scenes with many overlaps.
    let mut s = 7u64;
    let mut rnd = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    for _ in 0..50 {
        let (mut g, mut h) = (MotSequence::default(), MotSequence::default());
        for f in 0..10 {
            for _ in 0..rnd(5) {
                g.push(
                    f,
                    rnd(6),
                    b(
                        rnd(20) as f32,
                        rnd(20) as f32,
                        1.0 + rnd(10) as f32,
                        1.0 + rnd(10) as f32,
                    ),
                );
            }
            for _ in 0..rnd(5) {
                h.push(
                    f,
                    rnd(6),
                    b(
                        rnd(20) as f32,
                        rnd(20) as f32,
                        rnd(10) as f32,
                        rnd(10) as f32,
                    ),
                );
            }
        }
        let m = evaluate(&g, &h);
        assert!(m.hota.is_nan() || (0.0..=1.0).contains(&m.hota));
    }
}
