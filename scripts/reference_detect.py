#!/usr/bin/env python3
"""Python reference of Aisle's detection pipeline, for parity tests of the Rust code.

Decodes the video with Debian's ffmpeg (H.264 decoding is bit-exact by the standard, so the
frames equal openh264's), then implements *independently, in numpy* the preprocessing defined in
crates/aisle-vision/src/preprocess.rs (BT.601 integer colour, pixel-centre bilinear sampling,
(x - mean) / std), runs the model with the onnxruntime wheel pinned in scripts/setup.sh, decodes
the outputs (CenterNet rows / NanoDet GFL) and applies the same greedy per-class NMS.

usage: reference_detect.py --model centernet --video vtest.mp4 --frames 0,100 --out golden.json
       reference_detect.py --check tests/golden/detect_centernet.json --video vtest.mp4
         (recomputes the golden's frames and fails unless counts are equal and boxes agree within
         1e-3 of the frame size: the goldens must stay reproducible from this script and the pins)

The outputs are kept as tests/golden/detect_<model>.json. Regenerate them (make goldens) only
when the model's source package, the converter pins, the ONNX Runtime pin, the sample video's
encoding settings or the detection rules (thresholds, decoding, NMS) change on purpose; never
to make a failing parity test pass.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tomllib

import numpy as np
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32 = np.float32


def load_manifest():
    with open(os.path.join(REPO, "models", "manifest.toml"), "rb") as f:
        return tomllib.load(f)


def read_frames(video, wanted):
    """Yields (index, Y, U, V) for the wanted frame indices, decoding with ffmpeg."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "csv=p=0", video], check=True, capture_output=True, text=True).stdout.strip()
    w, h = (int(x) for x in probe.split(",")[:2])
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + 2 * cw * ch
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-i", video, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                            stdout=subprocess.PIPE)
    last = max(wanted)
    idx = 0
    try:
        while idx <= last:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                raise SystemExit(f"{video}: ended at frame {idx}, before frame {last}")
            if idx in wanted:
                a = np.frombuffer(buf, np.uint8)
                y = a[:w * h].reshape(h, w)
                u = a[w * h:w * h + cw * ch].reshape(ch, cw)
                v = a[w * h + cw * ch:].reshape(ch, cw)
                yield idx, y, u, v
            idx += 1
    finally:
        proc.kill()
        proc.wait()


def yuv_to_rgb(y, u, v):
    h, w = y.shape
    uu = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)[:h, :w].astype(np.int32) - 128
    vv = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)[:h, :w].astype(np.int32) - 128
    c = y.astype(np.int32) - 16
    r = (298 * c + 409 * vv + 128) >> 8
    g = (298 * c - 100 * uu - 208 * vv + 128) >> 8
    b = (298 * c + 516 * uu + 128) >> 8
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def taps(n_out, scale, n_src):
    u = (np.arange(n_out, dtype=F32) + F32(0.5)) * F32(scale) - F32(0.5)
    u = np.clip(u, F32(0.0), F32(n_src - 1))
    i0 = np.floor(u)
    f = (u - i0).astype(F32)
    i0 = i0.astype(np.int64)
    return i0, np.minimum(i0 + 1, n_src - 1), f


def preprocess(rgb, spec):
    """Returns (tensor, (scale_x, scale_y, pad_x, pad_y))."""
    fh, fw, _ = rgb.shape
    w, h = spec["width"], spec["height"]
    if spec["resize"] == "stretch":
        px, py, cw, ch = 0, 0, w, h
    else:
        s = min(F32(w) / F32(fw), F32(h) / F32(fh))
        cw = int(min(max(round(float(F32(fw) * s)), 1), w))
        ch = int(min(max(round(float(F32(fh) * s)), 1), h))
        px, py = (w - cw) // 2, (h - ch) // 2
    sx, sy = F32(fw) / F32(cw), F32(fh) / F32(ch)
    x0, x1, fx = taps(cw, sx, fw)
    y0, y1, fy = taps(ch, sy, fh)
    p = rgb.astype(F32)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    p00, p10 = p[y0][:, x0], p[y0][:, x1]
    p01, p11 = p[y1][:, x0], p[y1][:, x1]
    top = p00 + (p10 - p00) * fx
    bottom = p01 + (p11 - p01) * fx
    val = top + (bottom - top) * fy
    mean = np.array(spec["mean"], F32)
    std = np.array(spec["std"], F32)
    out = np.empty((h, w, 3), F32)
    out[:] = (np.array(spec["pad"], F32) - mean) / std
    out[py:py + ch, px:px + cw] = (val - mean) / std
    if spec["layout"] == "nchw":
        out = out.transpose(2, 0, 1)
    return np.ascontiguousarray(out[None]), (sx, sy, F32(px), F32(py))


def decode_centernet(outputs, thr, keep):
    rows = next(o for o in outputs if o.ndim == 3 and o.shape[2] == 6)[0]
    dets = []
    for x1, y1, x2, y2, score, cls in rows:
        if not score >= thr or not np.isfinite(cls) or cls < 0 or int(round(float(cls))) not in keep:
            continue
        if x2 > x1 and y2 > y1:
            dets.append([x1, y1, x2, y2, score, int(round(float(cls)))])
    return dets


def decode_nanodet(outputs, spec_in, spec_out, thr, keep, num_classes):
    bins = spec_out["reg_max"] + 1
    dets = []
    for s in spec_out["strides"]:
        gw, gh = spec_in["width"] // s, spec_in["height"] // s
        cells = gw * gh
        cls = next(o for o in outputs if o.shape == (1, cells, num_classes))[0]
        reg = next(o for o in outputs if o.shape == (1, cells, 4 * bins))[0]
        for i in range(cells):
            for k in keep:
                score = cls[i, k]
                if not score >= thr:
                    continue
                r = reg[i].reshape(4, bins)
                e = np.exp(r - r.max(axis=1, keepdims=True))
                d = (e * np.arange(bins, dtype=F32)).sum(axis=1) / e.sum(axis=1) * F32(s)
                cx, cy = F32((i % gw) + 0.5) * F32(s), F32((i // gw) + 0.5) * F32(s)
                box = [cx - d[0], cy - d[1], cx + d[2], cy + d[3]]
                if box[2] > box[0] and box[3] > box[1]:
                    dets.append(box + [score, k])
    return dets


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0.0 if union <= 0 else inter / union


def nms(dets, thr, max_out):
    order = sorted(range(len(dets)), key=lambda i: (-dets[i][4], i))
    kept = []
    for i in order:
        if len(kept) >= max_out:
            break
        if not any(dets[k][5] == dets[i][5] and iou(dets[k], dets[i]) > thr for k in kept):
            kept.append(i)
    return [dets[i] for i in kept]


def compare(golden, frames, fw, fh):
    """Exit status 0 when `frames` reproduce the golden's counts and boxes (1e-3 of the frame size)."""
    tol = [1e-3 * fw, 1e-3 * fh, 1e-3 * fw, 1e-3 * fh, 1e-3]
    worst, bad = 0.0, []
    for g, f in zip(golden["frames"], frames):
        if g["count"] != f["count"]:
            bad.append(f"frame {g['index']}: {f['count']} people, golden says {g['count']}")
            continue
        free = list(f["boxes"])
        for gb in g["boxes"]:
            errs = [max(abs(a - b) / t for a, b, t in zip(fb, gb, tol)) for fb in free]
            k = min(range(len(errs)), key=errs.__getitem__)
            worst = max(worst, errs[k])
            if errs[k] > 1.0:
                bad.append(f"frame {g['index']}: golden box {gb} unmatched (closest {free[k]})")
            free.pop(k)
    if bad:
        print(f"reference_detect: {golden['model']} golden NOT reproduced:", *bad, sep="\n  ", file=sys.stderr)
        return 1
    print(f"reference_detect: {golden['model']} golden reproduced on {len(frames)} frames "
          f"(worst box error {worst:.3f} of the tolerance)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--video", required=True)
    ap.add_argument("--frames", help="comma-separated frame indices")
    ap.add_argument("--check", metavar="GOLDEN", help="recompute GOLDEN and compare instead of writing")
    ap.add_argument("--models-dir", default=os.path.join(os.environ.get("AISLE_CACHE", os.path.expanduser("~/.cache/aisle")), "models"))
    ap.add_argument("--score-threshold", type=float, default=0.3)
    ap.add_argument("--nms-iou", type=float, default=0.5)
    ap.add_argument("--max-detections", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    golden = None
    if a.check:
        with open(a.check) as f:
            golden = json.load(f)
        a.model = golden["model"]
        a.frames = ",".join(str(fr["index"]) for fr in golden["frames"])
        a.score_threshold, a.nms_iou = golden["score_threshold"], golden["nms_iou"]
    elif not (a.model and a.frames and a.out):
        ap.error("--model, --frames and --out are required unless --check is given")

    man = load_manifest()
    m = man["models"][a.model]
    classes = man["classes"][m["output"]["classes"]]
    keep = [classes.index("person")]
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(os.path.join(a.models_dir, m["file"]), so, providers=["CPUExecutionProvider"])
    thr = F32(a.score_threshold)

    frames = sorted({int(x) for x in a.frames.split(",")})
    out_frames = []
    for idx, y, u, v in read_frames(a.video, set(frames)):
        rgb = yuv_to_rgb(y, u, v)
        x, (sx, sy, px, py) = preprocess(rgb, m["input"])
        outputs = sess.run(None, {m["input"]["name"]: x})
        if m["output"]["decoder"] == "centernet":
            dets = decode_centernet(outputs, thr, keep)
        else:
            dets = decode_nanodet(outputs, m["input"], m["output"], thr, keep, len(classes))
        fh, fw = y.shape
        mapped = []
        for x1, y1, x2, y2, score, k in dets:
            b = [float(np.clip((x1 - px) * sx, 0, fw)), float(np.clip((y1 - py) * sy, 0, fh)),
                 float(np.clip((x2 - px) * sx, 0, fw)), float(np.clip((y2 - py) * sy, 0, fh))]
            if b[2] > b[0] and b[3] > b[1]:
                mapped.append(b + [float(score), k])
        kept = nms(mapped, a.nms_iou, a.max_detections)
        out_frames.append({
            "index": idx,
            "input_sum": float(x.astype(np.float64).sum()),
            "input_abs_sum": float(np.abs(x.astype(np.float64)).sum()),
            "count": len(kept),
            "boxes": [[round(v, 4) for v in d[:5]] for d in kept],
        })
        if golden is None:
            print(f"{a.model} frame {idx}: {len(kept)} people", file=sys.stderr)

    if golden is not None:
        sys.exit(compare(golden, out_frames, fw, fh))

    doc = {
        "_comment": "Generated by scripts/reference_detect.py (see its docstring for when it may be regenerated). "
                    "Boxes: x1, y1, x2, y2 in frame pixels, score; after class filter and NMS, by descending score.",
        "model": a.model,
        "video": os.path.basename(a.video),
        "onnxruntime": ort.__version__,
        "score_threshold": a.score_threshold,
        "nms_iou": a.nms_iou,
        "classes": ["person"],
        "frames": out_frames,
    }
    text = json.dumps(doc, indent=1)
    # One box per line: collapse arrays of plain numbers.
    text = re.sub(r"\[\s*([-0-9.e,\s]+?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    with open(a.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
