#!/usr/bin/env python3
"""Reference MOT metrics for crates/aisle-track's `metrics` module.

CLEAR MOT and identity metrics come from py-motmetrics 1.4.0 (PyPI), computed the way its users
do: `mm.io.loadtxt` reads both files, `mm.utils.compare_to_groundtruth(gt, hyp, 'iou',
distth=0.5)` accumulates the events, `mm.metrics.create().compute` summarises them.
py-motmetrics 1.4.0 has no HOTA, so HOTA comes from TrackEval's `metrics/hota.py` (the HOTA
authors' implementation; PyPI `sn-trackeval` 0.4.0, installed without its plotting and COCO
dependencies), fed the same boxes with TrackEval's own IoU (`_calculate_box_ious`, 'xywh').

    motmetrics_reference.py --make-fixtures        (re)write tests/fixtures/mot/* (seeded; deterministic)
    motmetrics_reference.py --out GOLDEN           compute every metric, write tests/golden/motmetrics.json
    motmetrics_reference.py --check GOLDEN         recompute and fail on any difference > 1e-9

Every fixture folder holds gt.txt (ground truth) and hyp.txt (tracker output), MOTChallenge text.
They are our own synthetic data. Ground-truth rows are filtered as `aisle_track::motchallenge`
reads them (column 7 == 0 dropped; on 9-column MOT16+ rows, a column-8 class other than 1 or -1
dropped) before they reach the references. When the installed motmetrics ships its TUD-Campus and TUD-Stadtmitte data
(ground truth and a tracker's output), the golden also holds their metrics; the Rust test reads
those files from the venv, nothing of them is copied into the repository.

Non-finite values (motmetrics' MOTP without any match is NaN) are written as the strings "NaN",
"Infinity", "-Infinity".
"""

import argparse
import contextlib
import io
import json
import math
import random
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "mot"
TOLERANCE = 1e-9

# Rust field name -> motmetrics metric name (compute(...) column).
MOTMETRICS = {
    "num_frames": "num_frames",
    "matches": "num_matches",
    "id_switches": "num_switches",
    "transfers": "num_transfer",
    "ascends": "num_ascend",
    "migrates": "num_migrate",
    "false_positives": "num_false_positives",
    "misses": "num_misses",
    "detections": "num_detections",
    "num_gt": "num_objects",
    "num_hyp": "num_predictions",
    "num_gt_ids": "num_unique_objects",
    "mostly_tracked": "mostly_tracked",
    "partially_tracked": "partially_tracked",
    "mostly_lost": "mostly_lost",
    "fragmentations": "num_fragmentations",
    "motp": "motp",
    "mota": "mota",
    "precision": "precision",
    "recall": "recall",
    "idtp": "idtp",
    "idfp": "idfp",
    "idfn": "idfn",
    "idp": "idp",
    "idr": "idr",
    "idf1": "idf1",
}
FLOAT_METRICS = {"motp", "mota", "precision", "recall", "idp", "idr", "idf1"}
# Rust field name -> TrackEval HOTA field (mean over the 19 alphas, as TrackEval summarises).
HOTA_MEANS = {
    "hota": "HOTA",
    "deta": "DetA",
    "assa": "AssA",
    "detre": "DetRe",
    "detpr": "DetPr",
    "assre": "AssRe",
    "asspr": "AssPr",
    "loca": "LocA",
}
HOTA_ARRAYS = {"hota_alpha": "HOTA", "deta_alpha": "DetA", "assa_alpha": "AssA"}


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

def q(v):
    """Quarter pixels: exact in f32 and f64, so Rust and Python see the same boxes."""
    return round(v * 4) / 4


def fmt(v):
    v = q(v)
    return str(int(v)) if v == int(v) else repr(v)


def line(frame, tid, box, conf=1, tail=(-1, -1, -1)):
    x, y, w, h = box
    fields = [str(frame), str(tid), fmt(x), fmt(y), fmt(max(w, 0.25)), fmt(max(h, 0.25)), str(conf)]
    return ",".join(fields + [str(t) for t in tail])


def write_fixture(name, gt_lines, hyp_lines):
    d = FIXTURES / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "gt.txt").write_text("\n".join(gt_lines) + "\n")
    (d / "hyp.txt").write_text("\n".join(hyp_lines) + "\n")


def fixture_crossing(rng):
    """Two people cross; the tracker swaps their ids at the crossing and keeps them swapped."""
    gt, hyp = [], []
    for f in range(1, 41):
        a = (100 + 10 * f, 200, 60, 150)
        b = (500 - 10 * f, 205, 62, 148)
        gt += [line(f, 1, a), line(f, 2, b)]
        noisy = lambda box: (box[0] + rng.uniform(-3, 3), box[1] + rng.uniform(-3, 3), box[2], box[3])
        ha, hb = (11, 12) if f <= 20 else (12, 11)
        hyp += [line(f, ha, noisy(a), 0.9), line(f, hb, noisy(b), 0.8)]
    return gt, hyp


def fixture_fragments(rng):
    """Gaps: re-acquired with the same id, with a new id, and a trailing loss."""
    gt, hyp = [], []
    for f in range(1, 61):
        box = (50 + 3 * f, 100, 70, 170)
        gt.append(line(f, 5, box))
        other = (600, 80 + 2 * f, 50, 120)
        gt.append(line(f, 6, other))
        jitter = lambda b: (b[0] + rng.uniform(-2, 2), b[1] + rng.uniform(-2, 2), b[2] + rng.uniform(-2, 2), b[3])
        if f <= 10 or 15 <= f <= 30 or 34 <= f <= 50:
            hyp.append(line(f, 1 if f < 34 else 2, jitter(box)))
        if f % 7 not in (3, 4) and f < 55:
            hyp.append(line(f, 9, jitter(other)))
    return gt, hyp


def fixture_sparse_frames(rng):
    """Non-contiguous frame numbers, frames with only ground truth, frames with only hypotheses."""
    gt, hyp = [], []
    gt_frames = [1, 2, 3, 7, 8, 20, 21, 22, 40, 100]
    hyp_frames = [2, 3, 5, 7, 8, 9, 21, 22, 41, 100, 150]
    for f in gt_frames:
        gt.append(line(f, 1, (10 + f, 10, 40, 90)))
        gt.append(line(f, 3, (300, 40 + f, 45, 100)))
    for f in hyp_frames:
        hyp.append(line(f, 7, (10 + f + rng.uniform(-4, 4), 12, 40, 88), 0.7))
        if f % 2:
            hyp.append(line(f, 8, (301, 40 + f, 44, 101), 0.6))
        hyp.append(line(f, 99, (900, 500, 30, 60), 0.2))
    return gt, hyp


def fixture_iou_threshold(rng):
    """IoUs exactly at HOTA's thresholds and at 0.5 (a CLEAR match), and just below 0.5: each
    hypothesis shares its ground-truth box's corner and contains it (IoU = 6000 / (w h))."""
    del rng
    sizes = [(300, 400), (200, 300), (200, 200), (150, 200), (120, 200), (100, 200), (100, 150),
             (100, 120), (100, 120.25), (100, 100), (80, 100), (75, 100), (60, 100)]
    gt, hyp = [], []
    for f in range(1, 27):
        for k in range(6):
            x = 1000 * k
            gt.append(line(f, k + 1, (x, 0, 60, 100)))
            w, h = sizes[(f + 2 * k) % len(sizes)]
            hyp.append(line(f, 11 + k, (x, 0, w, h)))
    return gt, hyp


def fixture_stale_reclaim(rng):
    """motmetrics never forgets an object's last hypothesis: an object that comes back can
    reclaim a hypothesis that has meanwhile been matched to another object."""
    del rng
    gt = [line(1, 1, (0, 0, 50, 100)),
          line(2, 2, (2, 0, 50, 100)),
          line(3, 1, (0, 2, 50, 100)), line(3, 2, (4, 0, 50, 100)),
          line(4, 1, (0, 2, 50, 100)), line(4, 2, (300, 0, 50, 100)),
          line(5, 2, (302, 0, 50, 100)), line(5, 1, (0, 3, 50, 100))]
    hyp = [line(1, 10, (0, 0, 50, 100)),
           line(2, 10, (1, 0, 50, 100)),
           line(3, 10, (2, 1, 50, 100)), line(3, 11, (200, 0, 50, 100)),
           line(4, 10, (1, 2, 50, 100)), line(4, 11, (301, 0, 50, 100)),
           line(5, 12, (302, 1, 50, 100)), line(5, 10, (0, 4, 50, 100))]
    return gt, hyp


def fixture_disjoint(rng):
    """A tracker whose boxes never overlap the ground truth: no match at all (MOTP is NaN)."""
    gt = [line(f, 1, (10, 10, 40, 80)) for f in range(1, 6)]
    hyp = [line(f, 2, (500 + rng.uniform(0, 5), 10, 40, 80)) for f in range(1, 6)]
    return gt, hyp


def fixture_gt_flags(rng):
    """MOT16-style ground truth (flag, class, visibility): rows flagged 0 and non-pedestrian
    classes are not ground truth; tracker boxes on them are false positives."""
    gt, hyp = [], []
    for f in range(1, 21):
        boxes = {1: (50 + f, 60, 40, 100), 2: (200, 60 + f, 40, 100), 3: (400, 60, 40, 100), 4: (600, 60, 80, 50)}
        gt.append(line(f, 1, boxes[1], 1, (1, 1.0)))
        gt.append(line(f, 2, boxes[2], 0 if f > 10 else 1, (1, 0.5)))     # ignored from frame 11
        gt.append(line(f, 3, boxes[3], 1, (7, 1.0)))                       # static person
        gt.append(line(f, 4, boxes[4], 1, (3, 0.8)))                       # car
        for k, b in boxes.items():
            if k != 4 or f % 2:
                hyp.append(line(f, 20 + k, (b[0] + rng.uniform(-2, 2), b[1], b[2], b[3]), 0.5))
    return gt, hyp


def fixture_crowd(rng, n_obj, n_frames, noise, p_drop, p_fp, p_swap, p_new_id):
    """A seeded synthetic scene: people walking with varying lifespans; a simulated tracker
    with localisation noise, missed detections (single and bursts), id swaps between nearby
    tracks, new ids after a loss, short false tracks and single false positives."""
    W, H = 1600, 900
    people = []
    for k in range(n_obj):
        start = rng.randint(1, n_frames // 2) if rng.random() < 0.5 else 1
        end = min(n_frames, start + rng.randint(n_frames // 4, n_frames))
        w = rng.uniform(35, 110)
        people.append({
            "id": k + 1, "start": start, "end": end, "w": w, "h": w * rng.uniform(2.1, 2.8),
            "x": rng.uniform(0, W - 120), "y": rng.uniform(0, H - 320),
            "vx": rng.uniform(-4, 4), "vy": rng.uniform(-2, 2),
        })
    gt, hyp = [], []
    hyp_id = {p["id"]: 100 + p["id"] for p in people}
    next_id = 1000
    lost = {p["id"]: 0 for p in people}
    ghosts = []  # [id, x, y, w, h, frames_left]
    for f in range(1, n_frames + 1):
        visible = []
        for p in people:
            if not p["start"] <= f <= p["end"]:
                continue
            p["x"] += p["vx"] + rng.gauss(0, 0.7)
            p["y"] += p["vy"] + rng.gauss(0, 0.4)
            if not 0 <= p["x"] <= W - p["w"]:
                p["vx"] = -p["vx"]
                p["x"] = min(max(p["x"], 0), W - p["w"])
            if not 0 <= p["y"] <= H - p["h"]:
                p["vy"] = -p["vy"]
                p["y"] = min(max(p["y"], 0), H - p["h"])
            visible.append(p)
        rng.shuffle(visible)
        for p in sorted(visible, key=lambda p: p["id"]):
            gt.append(line(f, p["id"], (p["x"], p["y"], p["w"], p["h"])))
        # Swaps between two visible tracks that are close to each other.
        if len(visible) >= 2 and rng.random() < p_swap:
            a = rng.choice(visible)
            b = min((p for p in visible if p is not a), key=lambda p: abs(p["x"] - a["x"]) + abs(p["y"] - a["y"]))
            hyp_id[a["id"]], hyp_id[b["id"]] = hyp_id[b["id"]], hyp_id[a["id"]]
        rows = []
        for p in visible:
            if lost[p["id"]] > 0:
                lost[p["id"]] -= 1
                if lost[p["id"]] == 0 and rng.random() < p_new_id:
                    hyp_id[p["id"]] = next_id
                    next_id += 1
                continue
            if rng.random() < p_drop:
                lost[p["id"]] = 1 if rng.random() < 0.6 else rng.randint(2, 12)
                continue
            s = noise * p["w"]
            box = (p["x"] + rng.gauss(0, s), p["y"] + rng.gauss(0, s * 1.5),
                   p["w"] * (1 + rng.gauss(0, noise)), p["h"] * (1 + rng.gauss(0, noise)))
            rows.append(line(f, hyp_id[p["id"]], box, round(rng.uniform(0.3, 1.0), 2)))
        if rng.random() < p_fp:
            rows.append(line(f, next_id, (rng.uniform(0, W - 80), rng.uniform(0, H - 200), rng.uniform(30, 80),
                                          rng.uniform(80, 200)), 0.3))
            next_id += 1
        if rng.random() < p_fp / 4:
            ghosts.append([next_id, rng.uniform(0, W - 80), rng.uniform(0, H - 200), 50, 120, rng.randint(3, 15)])
            next_id += 1
        for g in ghosts:
            g[1] += rng.uniform(-3, 3)
            g[5] -= 1
            rows.append(line(f, g[0], (g[1], g[2], g[3], g[4]), 0.4))
        ghosts = [g for g in ghosts if g[5] > 0]
        rng.shuffle(rows)
        hyp += rows
    return gt, hyp


def fixture_distractors(rng):
    """MOT17 distractor classes (static person 7, distractor 8, reflection 12, person on vehicle
    2) next to pedestrians, a car (3) and a zero-marked pedestrian: TrackEval's pre-processing
    removes the tracker boxes matched to a distractor (Hungarian on IoU >= 0.5 over every
    ground-truth box), so only the boxes on the car and the zero-marked pedestrian stay false
    positives. Frames 21-30 put a walker and a static person side by side with tracker boxes
    between them, where the assignment decides which box goes."""
    gt, hyp = [], []
    for f in range(1, 41):
        walker = (100 + 6 * f, 200, 60, 150)
        static = (300, 200, 60, 150)
        gt.append(line(f, 1, walker, 1, (1, 1.0)))
        gt.append(line(f, 2, static, 1, (7, 0.9)))
        gt.append(line(f, 3, (700, 100 + 2 * f, 50, 130), 1, (8, 0.4)))          # distractor
        gt.append(line(f, 4, (900, 300, 55, 140), 1, (12, 1.0)))                 # reflection
        gt.append(line(f, 5, (1100, 250, 70, 120), 0, (2, 0.7)))                 # person on vehicle, flag 0
        gt.append(line(f, 6, (1300, 280, 160, 90), 1, (3, 1.0)))                 # car
        gt.append(line(f, 7, (1500, 200, 50, 140), 0 if f % 3 == 0 else 1, (1, 0.3)))  # pedestrian, sometimes flag 0
        j = lambda b, e=3: (b[0] + rng.uniform(-e, e), b[1] + rng.uniform(-e, e), b[2], b[3])
        hyp.append(line(f, 11, j(walker), 0.9))
        if f % 4:
            hyp.append(line(f, 12, j(static), 0.6))
        if f % 5 != 1:
            hyp.append(line(f, 13, j((700, 100 + 2 * f, 50, 130), 12), 0.4))   # near 0.5 IoU at times
        if f % 2:
            hyp.append(line(f, 14, j((900, 300, 55, 140)), 0.5))
        hyp.append(line(f, 15, j((1100, 250, 70, 120)), 0.5))
        hyp.append(line(f, 16, j((1300, 280, 160, 90)), 0.7))
        hyp.append(line(f, 17, j((1500, 200, 50, 140)), 0.8))
        if 21 <= f <= 30:
            # Between walker and static person: overlaps both, and competes with box 12.
            mid = ((walker[0] + static[0]) / 2, 200, 60, 150)
            hyp.append(line(f, 18, j(mid, 2), 0.5))
    return gt, hyp


FIXTURE_MAKERS = {
    "crossing_swap": fixture_crossing,
    "fragments": fixture_fragments,
    "sparse_frames": fixture_sparse_frames,
    "iou_threshold": fixture_iou_threshold,
    "stale_reclaim": fixture_stale_reclaim,
    "disjoint": fixture_disjoint,
    "gt_flags": fixture_gt_flags,
    "crowd_light": lambda rng: fixture_crowd(rng, 20, 200, 0.04, 0.05, 0.3, 0.02, 0.5),
    "crowd_heavy": lambda rng: fixture_crowd(rng, 25, 150, 0.12, 0.12, 0.8, 0.06, 0.7),
    "crowd_churn": lambda rng: fixture_crowd(rng, 30, 200, 0.08, 0.08, 0.5, 0.04, 0.9),
    "distractors": fixture_distractors,
}


def make_fixtures():
    for k, (name, maker) in enumerate(FIXTURE_MAKERS.items()):
        gt, hyp = maker(random.Random(20261125 + k))
        write_fixture(name, gt, hyp)
        print(f"wrote {FIXTURES.relative_to(REPO)}/{name}: {len(gt)} gt rows, {len(hyp)} hyp rows")


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def import_references():
    import motmetrics as mm
    import numpy as np
    # trackeval's package __init__ reports optional datasets it cannot import (pycocotools, ...).
    with contextlib.redirect_stdout(io.StringIO()):
        from trackeval.metrics.hota import HOTA
        from trackeval.datasets._base_dataset import _BaseDataset
    return mm, np, HOTA, _BaseDataset


def load(mm, path):
    """Loads a MOTChallenge file as motmetrics does, then keeps what `read_sequence` keeps:
    rows whose column 7 is not 0 and, on 9-column rows (MOT16+ gt), whose class is 1 or -1."""
    df = mm.io.loadtxt(str(path), fmt="mot15-2D")
    columns = [len(l.split(",")) for l in Path(path).read_text().splitlines() if l.strip()]
    assert len(columns) == len(df), f"{path}: unexpected layout for this script"
    nine = pd_series(df, [c == 9 for c in columns])
    keep = (df["Confidence"] != 0) & (~nine | df["ClassId"].isin([1, -1]))
    return df[keep]


def pd_series(df, values):
    import pandas as pd
    return pd.Series(values, index=df.index)


def hota(np, HOTA, BaseDataset, gt, hyp):
    frames = sorted(set(gt.index.get_level_values("FrameId")) | set(hyp.index.get_level_values("FrameId")))
    gt_ids = {v: k for k, v in enumerate(sorted(set(gt.index.get_level_values("Id"))))}
    hyp_ids = {v: k for k, v in enumerate(sorted(set(hyp.index.get_level_values("Id"))))}
    cols = ["X", "Y", "Width", "Height"]
    by_frame_gt = dict(iter(gt[cols].groupby("FrameId")))
    by_frame_hyp = dict(iter(hyp[cols].groupby("FrameId")))
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": [], "num_timesteps": len(frames),
            "num_gt_ids": len(gt_ids), "num_tracker_ids": len(hyp_ids),
            "num_gt_dets": len(gt), "num_tracker_dets": len(hyp)}
    for f in frames:
        g = by_frame_gt.get(f)
        h = by_frame_hyp.get(f)
        gi = np.array([gt_ids[i] for i in g.index.get_level_values("Id")], dtype=int) if g is not None else np.zeros(0, int)
        hi = np.array([hyp_ids[i] for i in h.index.get_level_values("Id")], dtype=int) if h is not None else np.zeros(0, int)
        if len(gi) and len(hi):
            sim = BaseDataset._calculate_box_ious(g.values.astype(float), h.values.astype(float), box_format="xywh")
        else:
            sim = np.zeros((len(gi), len(hi)))
        data["gt_ids"].append(gi)
        data["tracker_ids"].append(hi)
        data["similarity_scores"].append(sim)
    metric = HOTA()
    res = metric.eval_sequence(data)
    out = {k: float(np.mean(res[v])) for k, v in HOTA_MEANS.items()}
    out.update({k: [float(x) for x in res[v]] for k, v in HOTA_ARRAYS.items()})
    return out, [float(a) for a in metric.array_labels]


def evaluate(refs, gt_path, hyp_path, name, preprocess=False):
    mm, np, HOTA, BaseDataset = refs
    gt, hyp = load(mm, gt_path), load(mm, hyp_path)
    if preprocess:
        kept = trackeval_kept(np, gt_path, hyp_path)
        hyp = hyp[[(int(f), int(i)) in kept for f, i in hyp.index]]
    acc = mm.utils.compare_to_groundtruth(gt, hyp, "iou", distth=0.5)
    summary = mm.metrics.create().compute(acc, metrics=list(MOTMETRICS.values()), name=name)
    out = {}
    for ours, theirs in MOTMETRICS.items():
        v = float(summary[theirs].iloc[0])
        if ours in FLOAT_METRICS:
            out[ours] = v
        else:
            assert v == int(v), f"{name}: {theirs} = {v} is not a count"
            out[ours] = int(v)
    out["num_hyp_ids"] = int(hyp.index.get_level_values("Id").nunique())
    h, alphas = hota(np, HOTA, BaseDataset, gt, hyp)
    out.update(h)
    return out, alphas


# TrackEval 0.4.0's MotChallenge2DBox classes.
MOT_CLASSES = {"pedestrian": 1, "person_on_vehicle": 2, "car": 3, "bicycle": 4, "motorbike": 5,
               "non_mot_vehicle": 6, "static_person": 7, "distractor": 8, "occluder": 9,
               "occluder_on_ground": 10, "occluder_full": 11, "reflection": 12, "crowd": 13}
# Fixtures also scored after TrackEval's MOTChallenge pre-processing (`<name>+trackeval`).
PREPROCESSED = ["distractors", "gt_flags"]


def trackeval_kept(np, gt_path, hyp_path):
    """(frame, id) of the tracker rows that TrackEval's MOTChallenge pre-processing keeps:
    `MotChallenge2DBox.get_preprocessed_seq_data` itself (benchmark MOT17), on the raw data its
    loader would build (every ground-truth row with its class and zero mark; IoU 'xywh')."""
    with contextlib.redirect_stdout(io.StringIO()):
        from trackeval.datasets.mot_challenge_2d_box import MotChallenge2DBox
    ds = MotChallenge2DBox.__new__(MotChallenge2DBox)
    ds.benchmark, ds.do_preproc = "MOT17", True
    ds.class_name_to_class_id = MOT_CLASSES
    ds.valid_class_numbers = list(MOT_CLASSES.values())
    rows = lambda p: [[float(x) for x in l.split(",")] for l in Path(p).read_text().splitlines() if l.strip()]
    gt, hyp = rows(gt_path), rows(hyp_path)
    n = int(max(r[0] for r in gt + hyp))
    raw = {k: [] for k in ["gt_ids", "gt_dets", "gt_classes", "gt_extras", "tracker_ids", "tracker_dets",
                           "tracker_classes", "tracker_confidences", "similarity_scores"]}
    raw["num_timesteps"], raw["seq"] = n, Path(gt_path).parent.name
    for t in range(1, n + 1):
        g = [r for r in gt if int(r[0]) == t]
        h = [r for r in hyp if int(r[0]) == t]
        gd = np.array([r[2:6] for r in g], dtype=float).reshape(-1, 4)
        hd = np.array([r[2:6] for r in h], dtype=float).reshape(-1, 4)
        raw["gt_ids"].append(np.array([int(r[1]) for r in g], dtype=int))
        raw["gt_dets"].append(gd)
        raw["gt_classes"].append(np.array([int(r[7]) for r in g], dtype=int))
        raw["gt_extras"].append({"zero_marked": np.array([int(r[6]) for r in g], dtype=int)})
        raw["tracker_ids"].append(np.array([int(r[1]) for r in h], dtype=int))
        raw["tracker_dets"].append(hd)
        raw["tracker_classes"].append(np.ones(len(h), dtype=int))
        # The original id rides in the confidence, which pre-processing carries along.
        raw["tracker_confidences"].append(np.array([r[1] for r in h], dtype=float))
        raw["similarity_scores"].append(ds._calculate_similarities(gd, hd) if len(g) and len(h)
                                        else np.zeros((len(g), len(h))))
    data = ds.get_preprocessed_seq_data(raw, "pedestrian")
    return {(t + 1, int(c)) for t, cs in enumerate(data["tracker_confidences"]) for c in cs}


def encode(v):
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def compute():
    refs = import_references()
    mm = refs[0]
    sequences, alphas = [], None
    names = sorted(p.name for p in FIXTURES.iterdir() if (p / "gt.txt").is_file())
    for name in names:
        d = FIXTURES / name
        metrics, alphas = evaluate(refs, d / "gt.txt", d / "hyp.txt", name)
        sequences.append({"name": name, "root": "repo",
                          "gt": str((d / "gt.txt").relative_to(REPO)), "hyp": str((d / "hyp.txt").relative_to(REPO)),
                          "metrics": {k: encode(v) for k, v in metrics.items()}})
        if name in PREPROCESSED:
            metrics, _ = evaluate(refs, d / "gt.txt", d / "hyp.txt", name, preprocess=True)
            sequences.append({"name": f"{name}+trackeval", "root": "repo", "preprocess": "trackeval",
                              "gt": str((d / "gt.txt").relative_to(REPO)), "hyp": str((d / "hyp.txt").relative_to(REPO)),
                              "metrics": {k: encode(v) for k, v in metrics.items()}})
    data = Path(mm.__file__).parent / "data"
    for seq in ["TUD-Campus", "TUD-Stadtmitte"]:
        gt, hyp = data / seq / "gt.txt", data / seq / "test.txt"
        if gt.is_file() and hyp.is_file():
            metrics, _ = evaluate(refs, gt, hyp, seq)
            sequences.append({"name": seq, "root": "site-packages",
                              "gt": f"motmetrics/data/{seq}/gt.txt", "hyp": f"motmetrics/data/{seq}/test.txt",
                              "metrics": {k: encode(v) for k, v in metrics.items()}})
    versions = {p: metadata.version(p) for p in ["motmetrics", "sn-trackeval", "numpy", "pandas", "scipy"]}
    return {
        "generator": "scripts/motmetrics_reference.py",
        "references": versions,
        "clear_mot": "mm.utils.compare_to_groundtruth(gt, hyp, 'iou', distth=0.5); mm.metrics.create().compute",
        "hota": "trackeval.metrics.hota.HOTA().eval_sequence; means over the alphas",
        "hota_alphas": alphas,
        "sequences": sequences,
    }


def compare(golden, fresh):
    problems = []
    if golden.get("hota_alphas") != fresh["hota_alphas"]:
        problems.append("hota_alphas differ")
    g = {s["name"]: s for s in golden.get("sequences", [])}
    f = {s["name"]: s for s in fresh["sequences"]}
    for name in sorted(set(g) ^ set(f)):
        problems.append(f"{name}: only in {'the golden' if name in g else 'the fixtures/venv'}")
    worst = 0.0
    for name in sorted(set(g) & set(f)):
        gm, fm = g[name]["metrics"], f[name]["metrics"]
        for key in sorted(set(gm) | set(fm)):
            a, b = gm.get(key), fm.get(key)
            pairs = list(zip(a, b)) if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) else [(a, b)]
            for x, y in pairs:
                if isinstance(x, (int, float)) and isinstance(y, (int, float)):
                    worst = max(worst, abs(x - y))
                    if abs(x - y) > TOLERANCE:
                        problems.append(f"{name}.{key}: golden {x!r}, recomputed {y!r}")
                elif x != y:
                    problems.append(f"{name}.{key}: golden {x!r}, recomputed {y!r}")
    return problems, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--make-fixtures", action="store_true", help="rewrite tests/fixtures/mot/*")
    mode.add_argument("--out", type=Path, help="write the golden JSON here")
    mode.add_argument("--check", type=Path, help="recompute and compare with this golden JSON")
    args = ap.parse_args()
    if args.make_fixtures:
        make_fixtures()
        return 0
    fresh = compute()
    if args.out:
        args.out.write_text(json.dumps(fresh, indent=1, allow_nan=False) + "\n")
        print(f"wrote {args.out}: {len(fresh['sequences'])} sequences")
        return 0
    golden = json.loads(args.check.read_text())
    problems, worst = compare(golden, fresh)
    if problems:
        print(f"{args.check}: py-motmetrics/TrackEval disagree with the golden file:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        print("regenerate only on purpose: scripts/motmetrics_reference.py --out " + str(args.check), file=sys.stderr)
        return 1
    print(f"{args.check}: {len(fresh['sequences'])} sequences agree with py-motmetrics/TrackEval "
          f"(max abs difference {worst:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
