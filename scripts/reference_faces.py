#!/usr/bin/env python3
"""Python reference of Aisle's face pipeline, for parity tests of the Rust code
(crates/aisle-vision/src/face.rs, whose module documentation defines every step).

For each photo (a limited-range 4:2:0 Y4M written by scripts/fetch-media.sh from the sample
photos), independently in numpy:

1. colour and crops exactly as crates/aisle-vision/src/preprocess.rs (`CpuPreprocessor::crops`);
2. face detection: BlazeFace full-range on the square around the whole photo, anchors decoded,
   weighted non-maximum suppression;
3. per face: the 468-point face mesh on an upright square crop 1.5 times the face box (turned
   by the eye line), the head pose by a
   weighted rigid fit of MediaPipe's canonical face to the mesh (Horn's quaternion method), and
   the expression probabilities of face-api's FaceExpressionNet and of mini-Xception on the
   upright square around the face box, with the crop's sharpness (variance of the Laplacian);

with the models run by the onnxruntime wheel pinned in scripts/setup.sh.

usage: reference_faces.py --out tests/golden/faces.json
       reference_faces.py --check tests/golden/faces.json
         (recomputes and fails unless every face is found again and every figure agrees within
         the golden's tolerances: the golden must stay reproducible from this script and the pins)

Regenerate the golden only when a face model's source package, the converter pins, the ONNX
Runtime pin, the photos' conversion or the face pipeline's rules change on purpose; never to make
a failing parity test pass.
"""
import argparse
import json
import math
import os
import sys
import tomllib

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_detect import iou, yuv_to_rgb  # noqa: E402  (IoU of two boxes; the contract's colour)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("AISLE_CACHE", os.path.expanduser("~/.cache/aisle"))
F32 = np.float32
PHOTOS = ["sample1", "sample2", "sample3", "sample4", "sample5", "sample6", "astronaut"]

# The pipeline's rules (crates/aisle-vision/src/face.rs, FaceOptions::default()).
MIN_FACE_SCORE = 0.5
NMS_IOU = 0.3
MAX_FACES = 32
MESH_SCALE = 1.5
LANDMARK_STRIDE = 7          # the golden keeps every 7th landmark (and checks all through sums)
TOL = {"box": 1e-3, "score": 1e-3, "landmark": 1e-3, "prob": 1e-3, "angle_deg": 0.05, "sharpness": 1e-3}


def read_y4m(path):
    """One 4:2:0 frame of a Y4M file: (y, u, v) planes as uint8 arrays."""
    with open(path, "rb") as f:
        data = f.read()
    header, _, rest = data.partition(b"\n")
    fields = header.split()
    if fields[0] != b"YUV4MPEG2":
        raise SystemExit(f"{path}: not a YUV4MPEG2 file")
    w = h = None
    for fl in fields[1:]:
        if fl[:1] == b"W":
            w = int(fl[1:])
        elif fl[:1] == b"H":
            h = int(fl[1:])
        elif fl[:1] == b"C" and not fl[1:].startswith(b"420"):
            raise SystemExit(f"{path}: colour space {fl[1:].decode()} is not 4:2:0")
    frame_header, _, body = rest.partition(b"\n")
    if not frame_header.startswith(b"FRAME"):
        raise SystemExit(f"{path}: no FRAME")
    cw, ch = (w + 1) // 2, (h + 1) // 2
    a = np.frombuffer(body, np.uint8, w * h + 2 * cw * ch)
    return a[:w * h].reshape(h, w), a[w * h:w * h + cw * ch].reshape(ch, cw), a[w * h + cw * ch:].reshape(ch, cw)


def crop_taps(u, n_src):
    u = np.where(u >= F32(0.0), u, F32(0.0))          # NaN -> 0 as the Rust reference
    u = np.minimum(u, F32(n_src - 1))
    i0 = np.floor(u)
    f = (u - i0).astype(F32)
    i0 = i0.astype(np.int64)
    return i0, np.minimum(i0 + 1, n_src - 1), f


def crop(img, box, w, h, mean, std):
    """`CpuPreprocessor::crops` for one box on an 8-bit image (H x W x C): NHWC float32."""
    fh, fw, _ = img.shape
    x1, y1, x2, y2 = (F32(v) for v in box)
    sx = (x2 - x1) / F32(w)
    sy = (y2 - y1) / F32(h)
    xi0, xi1, fx = crop_taps((x1 + (np.arange(w, dtype=F32) + F32(0.5)) * sx) - F32(0.5), fw)
    yi0, yi1, fy = crop_taps((y1 + (np.arange(h, dtype=F32) + F32(0.5)) * sy) - F32(0.5), fh)
    p = img.astype(F32)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    p00, p10 = p[yi0][:, xi0], p[yi0][:, xi1]
    p01, p11 = p[yi1][:, xi0], p[yi1][:, xi1]
    top = p00 + (p10 - p00) * fx
    bottom = p01 + (p11 - p01) * fx
    val = top + (bottom - top) * fy
    c = img.shape[2]
    return ((val - np.array(mean[:c], F32)) / np.array(std[:c], F32))[None].astype(F32)


def rotated_crop(img, cx, cy, side, angle, w, h, mean, std):
    """`CpuPreprocessor::rotated_crop`: the square of `side` centred on (cx, cy), its x axis along
    (cos, sin) of `angle`, resized to w x h; every step in float32 in the Rust order."""
    fh, fw, _ = img.shape
    cx, cy, side = F32(cx), F32(cy), F32(side)
    c, s = F32(math.cos(float(angle))), F32(math.sin(float(angle)))
    sx, sy, half = side / F32(w), side / F32(h), side * F32(0.5)
    dx = ((np.arange(w, dtype=F32) + F32(0.5)) * sx - half)[None, :]
    dy = ((np.arange(h, dtype=F32) + F32(0.5)) * sy - half)[:, None]
    u = (cx + (dx * c - dy * s)) - F32(0.5)
    v = (cy + (dx * s + dy * c)) - F32(0.5)
    x0, x1, fx = crop_taps(u, fw)
    y0, y1, fy = crop_taps(v, fh)
    p = img.astype(F32)
    fx, fy = fx[..., None], fy[..., None]
    top = p[y0, x0] + (p[y0, x1] - p[y0, x0]) * fx
    bottom = p[y1, x0] + (p[y1, x1] - p[y1, x0]) * fx
    val = top + (bottom - top) * fy
    ch = img.shape[2]
    return ((val - np.array(mean[:ch], F32)) / np.array(std[:ch], F32))[None].astype(F32)


def gray(rgb):
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)[..., None]


def square(cx, cy, side):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, float(x)))))


def anchors(m):
    """Anchor centres in [0, 1], stride by stride, row by row, `anchors_per_cell` per cell."""
    size = m["input"]["width"]
    out = []
    for s, k in zip(m["output"]["strides"], m["output"]["anchors_per_cell"]):
        g = size // s
        for r in range(g):
            for c in range(g):
                out += [((c + 0.5) / g, (r + 0.5) / g)] * k
    return out


def detect_faces(sess, m, rgb, region):
    """BlazeFace on the square `region` (frame pixels): faces as (box, score, 6 key points) in
    frame pixels, after weighted NMS."""
    size = m["input"]["width"]
    x = crop(rgb, region, size, size, m["input"]["mean"], m["input"]["std"])
    outs = sess.run(None, {m["input"]["name"]: x})
    reg = next(o for o in outs if o.shape[-1] == 16)[0]
    logit = next(o for o in outs if o.shape[-1] == 1)[0][:, 0]
    side = region[2] - region[0]
    cands = []
    for i, (ax, ay) in enumerate(anchors(m)):
        score = sigmoid(logit[i])
        if score < MIN_FACE_SCORE:
            continue
        r = reg[i].astype(np.float64) / size
        cx, cy, w, h = ax + r[0], ay + r[1], r[2], r[3]
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        kps = [(ax + r[4 + 2 * k], ay + r[5 + 2 * k]) for k in range(6)]
        cands.append((score, i, box, kps))
    cands.sort(key=lambda c: (-c[0], c[1]))
    faces = []
    while cands and len(faces) < MAX_FACES:
        top = cands[0]
        cluster = [c for c in cands if iou(top[2], c[2]) > NMS_IOU]
        cands = [c for c in cands if iou(top[2], c[2]) <= NMS_IOU]
        wsum = sum(c[0] for c in cluster)
        box = [sum(c[0] * c[2][j] for c in cluster) / wsum for j in range(4)]
        kps = [(sum(c[0] * c[3][k][0] for c in cluster) / wsum, sum(c[0] * c[3][k][1] for c in cluster) / wsum)
               for k in range(6)]
        to_frame = lambda u, v: (region[0] + u * side, region[1] + v * side)  # noqa: E731
        fb = [*to_frame(box[0], box[1]), *to_frame(box[2], box[3])]
        faces.append({"score": top[0], "box": fb, "keypoints": [list(to_frame(u, v)) for u, v in kps]})
    return faces


def upright(face, scale):
    """`face::upright_square`: centre, side and eye-line angle (float32) of the face's crop."""
    x1, y1, x2, y2 = (F32(v) for v in face["box"])
    (rx, ry), (lx, ly) = face["keypoints"][0], face["keypoints"][1]
    angle = F32(math.atan2(float(F32(ly)) - float(F32(ry)), float(F32(lx)) - float(F32(rx))))
    cx, cy = (x1 + x2) / F32(2.0), (y1 + y2) / F32(2.0)
    return cx, cy, F32(scale) * max(x2 - x1, y2 - y1), angle


def mesh(sess, m, rgb, face):
    """Face mesh on the upright square 1.5 x the face box, turned by the eye line: landmarks
    (x, y, z) in frame pixels, presence."""
    cx, cy, side, angle = upright(face, MESH_SCALE)
    size = m["input"]["width"]
    t = rotated_crop(rgb, cx, cy, side, angle, size, size, m["input"]["mean"], m["input"]["std"])
    outs = sess.run(None, {m["input"]["name"]: t})
    pts = next(o for o in outs if o.size == 1404).reshape(468, 3).astype(F32)
    presence = sigmoid(next(o for o in outs if o.size == 1).ravel()[0])
    c, s = F32(math.cos(float(angle))), F32(math.sin(float(angle)))
    k = side / F32(size)
    dx = pts[:, 0] * k - side * F32(0.5)
    dy = pts[:, 1] * k - side * F32(0.5)
    lm = np.stack([cx + (dx * c - dy * s), cy + (dx * s + dy * c), pts[:, 2] * k], axis=1)
    return lm.astype(np.float64), presence


def head_pose(landmarks, geometry):
    """Yaw, pitch, roll in degrees: the rotation of the weighted least-squares similarity that maps
    the canonical face onto the mesh (y up, z towards the camera: the mesh's y and z negated),
    by Horn's quaternion method; R = Ry(yaw) Rx(pitch) Rz(roll)."""
    ids = [i for i, _ in geometry["procrustes"]]
    w = np.array([wt for _, wt in geometry["procrustes"]], np.float64)
    a = np.array(geometry["vertices"], np.float64)[ids]
    b = landmarks[ids] * np.array([1.0, -1.0, -1.0])
    w = w / w.sum()
    ca, cb = (w[:, None] * a).sum(0), (w[:, None] * b).sum(0)
    s = ((a - ca) * w[:, None]).T @ (b - cb)      # sum w a b^T
    sxx, sxy, sxz = s[0]
    syx, syy, syz = s[1]
    szx, szy, szz = s[2]
    n = np.array([
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz]])
    vals, vecs = np.linalg.eigh(n)
    q0, qx, qy, qz = vecs[:, np.argmax(vals)]
    r = np.array([
        [q0 * q0 + qx * qx - qy * qy - qz * qz, 2 * (qx * qy - q0 * qz), 2 * (qx * qz + q0 * qy)],
        [2 * (qy * qx + q0 * qz), q0 * q0 - qx * qx + qy * qy - qz * qz, 2 * (qy * qz - q0 * qx)],
        [2 * (qz * qx - q0 * qy), 2 * (qz * qy + q0 * qx), q0 * q0 - qx * qx - qy * qy + qz * qz]])
    return euler(r)


def euler(r):
    """(yaw, pitch, roll) in degrees of R = Ry(yaw) Rx(pitch) Rz(roll)."""
    pitch = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return [math.degrees(yaw), math.degrees(pitch), math.degrees(roll)]


def sharpness(g):
    """Variance of the 4-neighbour Laplacian over the interior of a gray crop (0..255 units)."""
    g = g[0, :, :, 0].astype(np.float64) * 127.5 + 127.5
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def session(models_dir, m, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(os.path.join(models_dir, m["file"]), so, providers=["CPUExecutionProvider"])


def run(models_dir, threads):
    with open(os.path.join(REPO, "models", "manifest.toml"), "rb") as f:
        man = tomllib.load(f)["models"]
    det_m, mesh_m = man["blazeface"], man["face_mesh"]
    emo_m, fer_m = man["faceapi_expression"], man["mini_xception"]
    det, mesh_s = session(models_dir, det_m, threads), session(models_dir, mesh_m, threads)
    emo, fer = session(models_dir, emo_m, threads), session(models_dir, fer_m, threads)
    with open(os.path.join(models_dir, mesh_m["geometry"]["file"])) as f:
        geometry = json.load(f)
    photos = []
    for name in PHOTOS:
        y, u, v = read_y4m(os.path.join(CACHE, "media", "faces", f"{name}.y4m"))
        rgb = yuv_to_rgb(y, u, v)
        fh, fw = y.shape
        region = square(fw / 2, fh / 2, max(fw, fh))
        faces = detect_faces(det, det_m, rgb, region)
        for fc in faces:
            lm, presence = mesh(mesh_s, mesh_m, rgb, fc)
            cx, cy, side, angle = upright(fc, 1.0)
            ecrop = rotated_crop(rgb, cx, cy, side, angle, 112, 112, emo_m["input"]["mean"], emo_m["input"]["std"])
            e = emo.run(None, {emo_m["input"]["name"]: ecrop})[0][0]
            gcrop = rotated_crop(gray(rgb), cx, cy, side, angle, 64, 64, fer_m["input"]["mean"], fer_m["input"]["std"])
            x = fer.run(None, {fer_m["input"]["name"]: gcrop})[0][0]
            fc.update({
                "presence": presence,
                "landmarks": lm[::LANDMARK_STRIDE].tolist(),
                "landmark_sums": lm.sum(0).tolist(),
                "pose": head_pose(lm, geometry),
                "faceapi": [float(p) for p in e],
                "mini_xception": [float(p) for p in x],
                "sharpness": sharpness(gcrop),
            })
        photos.append({"name": name, "width": fw, "height": fh, "faces": faces})
        print(f"{name}: {len(faces)} faces", file=sys.stderr)
    return photos


def rounded(v):
    if isinstance(v, list):
        return [rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    if isinstance(v, float):
        return float(f"{v:.7g}")
    return v


def compare(golden, photos):
    bad = []
    for g, p in zip(golden["photos"], photos):
        n = g["name"]
        if len(g["faces"]) != len(p["faces"]):
            bad.append(f"{n}: {len(p['faces'])} faces, golden {len(g['faces'])}")
            continue
        scale = max(g["width"], g["height"])
        for i, (a, b) in enumerate(zip(g["faces"], p["faces"])):
            side = max(a["box"][2] - a["box"][0], a["box"][3] - a["box"][1])
            checks = [
                ("box", np.abs(np.subtract(a["box"], b["box"])).max() / scale, TOL["box"]),
                ("keypoints", np.abs(np.subtract(a["keypoints"], b["keypoints"])).max() / scale, TOL["box"]),
                ("score", abs(a["score"] - b["score"]), TOL["score"]),
                ("presence", abs(a["presence"] - b["presence"]), TOL["score"]),
                ("landmarks", np.abs(np.subtract(a["landmarks"], b["landmarks"])).max() / side, TOL["landmark"]),
                ("pose", np.abs(np.subtract(a["pose"], b["pose"])).max(), TOL["angle_deg"]),
                ("faceapi", np.abs(np.subtract(a["faceapi"], b["faceapi"])).max(), TOL["prob"]),
                ("mini_xception", np.abs(np.subtract(a["mini_xception"], b["mini_xception"])).max(), TOL["prob"]),
                ("sharpness", abs(a["sharpness"] - b["sharpness"]) / max(1.0, a["sharpness"]), TOL["sharpness"]),
            ]
            bad += [f"{n} face {i} {k}: {d:.3g} > {t}" for k, d, t in checks if not d <= t]
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--check", metavar="GOLDEN")
    ap.add_argument("--models-dir", default=os.path.join(CACHE, "models"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not (a.out or a.check):
        ap.error("--out or --check is required")
    photos = rounded(run(a.models_dir, a.threads))
    if a.check:
        with open(a.check) as f:
            golden = json.load(f)
        bad = compare(golden, photos)
        if bad:
            print("\n".join(["faces golden does not reproduce:"] + bad[:20]), file=sys.stderr)
            sys.exit(1)
        print(f"{a.check}: reproduced ({sum(len(p['faces']) for p in photos)} faces)", file=sys.stderr)
        return
    doc = {
        "generator": "scripts/reference_faces.py",
        "onnxruntime": ort.__version__,
        "rules": {"min_face_score": MIN_FACE_SCORE, "nms_iou": NMS_IOU, "max_faces": MAX_FACES,
                  "mesh_scale": MESH_SCALE, "landmark_stride": LANDMARK_STRIDE},
        "tolerance": TOL,
        "photos": photos,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=None)
        f.write("\n")
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
