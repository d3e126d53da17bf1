//! Greedy non-maximum suppression, per class.
//!
//! Candidates are visited in descending score (ties: lower index first, so the result does
//! not depend on sort stability); a candidate is dropped when its IoU with a kept box of the
//! same class exceeds the threshold. NaN scores are dropped. Same rule as `scripts/reference_detect.py`.

use aisle_types::Detection;

/// Keeps at most `max_out` detections; returns them in descending score order.
pub fn nms(dets: &mut Vec<Detection>, iou_threshold: f32, max_out: usize) {
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::with_capacity(order.len().min(max_out));
    for &i in &order {
        if kept.len() >= max_out {
            break;
        }
        let d = &dets[i];
        if d.score.is_nan() {
            continue;
        }
        let suppressed = kept
            .iter()
            .any(|&k| dets[k].class_id == d.class_id && dets[k].bbox.iou(&d.bbox) > iou_threshold);
        if !suppressed {
            kept.push(i);
        }
    }
    let mut out: Vec<Detection> = kept.iter().map(|&i| dets[i].clone()).collect();
    std::mem::swap(dets, &mut out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_types::BBox;

    fn d(x: f32, score: f32, class_id: u32) -> Detection {
        Detection {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            score,
            class_id,
        }
    }

    #[test]
    fn suppresses_overlaps_of_the_same_class_only() {
        let mut v = vec![
            d(0.0, 0.5, 0),
            d(1.0, 0.9, 0),
            d(1.0, 0.8, 1),
            d(50.0, 0.7, 0),
        ];
        nms(&mut v, 0.5, 10);
        let got: Vec<(f32, u32)> = v.iter().map(|x| (x.score, x.class_id)).collect();
        assert_eq!(got, vec![(0.9, 0), (0.8, 1), (0.7, 0)]);
    }

    #[test]
    fn caps_the_count_and_handles_nan_scores() {
        let mut v = vec![
            d(0.0, 0.1, 0),
            d(20.0, 0.3, 0),
            d(40.0, 0.2, 0),
            d(60.0, f32::NAN, 0),
        ];
        nms(&mut v, 0.5, 2);
        let scores: Vec<f32> = v.iter().map(|x| x.score).collect();
        assert_eq!(scores, vec![0.3, 0.2]);
        let mut empty = Vec::new();
        nms(&mut empty, 0.5, 3);
        assert!(empty.is_empty());
    }
}
