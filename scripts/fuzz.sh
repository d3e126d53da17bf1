#!/usr/bin/env bash
# Bounded coverage-guided fuzzing (cargo-fuzz / libFuzzer) of what cameras feed the decoders, of
# detections and MOTChallenge files fed to the tracker, its parser and the metrics, of config
# text, and of zone layouts and tracks fed to the zone analytics:
#   scripts/fuzz.sh [SECONDS] [--explore]      default 60 s per target
# Seeds the corpus with real access units of the sample videos, the example config and the
# configuration reference's examples, and fails (exit 1) on any crash,
# keeping the input under fuzz/artifacts/. By default (as `make test` runs it) each run starts
# from the seeds with a fixed libFuzzer seed, so CI explores the same inputs every time;
# `--explore` keeps a growing corpus in $AISLE_CACHE/fuzz and a random seed, for long runs.
# cargo-fuzz needs nightly-only compiler flags: the stable toolchain is used with
# RUSTC_BOOTSTRAP=1, so no second toolchain is needed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECONDS_PER_TARGET=${1:-60}
EXPLORE=${2:-}
CARGO_FUZZ_VERSION=0.13.2
TOOLS=$AISLE_CACHE/tools
CORPUS=$AISLE_CACHE/fuzz/corpus

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS (first time: a few minutes)"
  cargo install -q --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$TOOLS" \
    || die "cargo install cargo-fuzz failed (network? crates.io?)"
fi

# Seed corpus: the first access units of the H.264 and H.265 sample streams, in the target's
# input format (mode byte, then [u16 length, flags, bytes] per unit).
mkdir -p "$CORPUS/decode_access_units"
python3 - "$AISLE_MEDIA" "$CORPUS/decode_access_units" <<'PY'
import os, struct, sys
media, out = sys.argv[1], sys.argv[2]

def nals(data):
    i, starts = 0, []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    return [data[s:(e - 3)].rstrip(b"\x00") for s, e in zip(starts, starts[1:] + [len(data) + 3])]

def units(path, h265):
    """Groups NAL units into access units: parameter sets and SEI stick to the next slice."""
    pending, out = [], []
    for n in nals(open(path, "rb").read()):
        if not n:
            continue
        t = (n[0] >> 1) & 0x3F if h265 else n[0] & 0x1F
        pending.append(n)
        if (t < 32) if h265 else (t in (1, 5)):
            sync = (16 <= t <= 23) if h265 else (t == 5)
            out.append((b"".join(b"\x00\x00\x00\x01" + x for x in pending), sync))
            pending = []
    return out

for name, mode, h265 in (("vtest.h264", 0, False), ("vtest.h264", 1, False), ("vtest.h265", 2, True)):
    path = os.path.join(media, name)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-media.sh")
    aus = units(path, h265)
    for k in range(3):
        body = bytes([mode])
        for au, sync in aus[k * 4:k * 4 + 4]:
            au = au[:65535]
            body += struct.pack("<HB", len(au), 1 if sync else 0) + au
        with open(os.path.join(out, f"seed-{name}-{mode}-{k}"), "wb") as f:
            f.write(body)
PY

# Seed corpus of the tracker target: MOTChallenge text from our fixtures (mode byte 0).
mkdir -p "$CORPUS/track_detections"
for f in "$REPO"/tests/fixtures/mot/*/gt.txt; do
  name=$(basename "$(dirname "$f")")
  { printf '\0'; head -c 4000 "$f"; } >"$CORPUS/track_detections/seed-$name"
done

# Seed corpus of the config parser: the example config and the TOML blocks of the reference.
mkdir -p "$CORPUS/config_parse"
cp "$REPO/examples/vtest.toml" "$CORPUS/config_parse/seed-vtest.toml"
python3 - "$REPO/docs/config.md" "$CORPUS/config_parse" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
for k, block in enumerate(re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)):
    with open(os.path.join(sys.argv[2], f"seed-config-md-{k}.toml"), "w") as f:
        f.write(block)
PY

# Seed corpus of the analytics target: valid layouts (in the target's byte format, see
# fuzz/fuzz_targets/analytics_updates.rs) with people walking through them at 10 fps.
mkdir -p "$CORPUS/analytics_updates"
python3 - "$CORPUS/analytics_updates" <<'PY'
import os, struct, sys

def grid(v):
    """A coordinate byte for v in 1/16 steps (the target reads b % 18 / 16 - 1/16)."""
    return bytes([round(v * 16) + 1])

def zone(kind, name, pts, capacity=None):
    b = bytes([1, name, kind, 0])  # camera `cam`, name z<name>, kind, bottom-centre anchor
    b += bytes([0]) if capacity is None else bytes([2, capacity])
    b += bytes([len(pts)]) + b"".join(grid(x) + grid(y) for x, y in pts)
    return b

def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]

def seed(kinds, lines, people, k):
    b = struct.pack("<HH", 1000, 1000)
    # 60 s windows, 15 min reports, min_visit 0.5 s, bounce 2 s, engaged 5 s, re-entry 3 s,
    # grace 3 s, k, staff share 0.5, heatmap 16 x 9.
    b += bytes([5, 3, 5, 8, 5, 32, 5, 80, 3, 3, k, 0, 16, 9])
    zs = [rect(0.125, 0.125, 0.5, 0.5), rect(0.25, 0.25, 0.75, 0.75), rect(0.5, 0.5, 0.875, 0.9375),
          [(0.0625, 0.5), (0.4375, 0.5625), (0.25, 0.9375)]]
    b += bytes([len(kinds)]) + b"".join(zone(kd, i, zs[i], 4) for i, kd in enumerate(kinds))
    b += bytes([len(lines)])
    for i, ((x0, y0), (x1, y1)) in enumerate(lines):
        b += bytes([1, i]) + grid(x0) + grid(y0) + grid(x1) + grid(y1) + bytes([i % 2, 0])
    b += bytes([0, 5])  # epoch 2026-11-25T19:44:00Z, timescale 1000
    for f in range(120):
        b += bytes([6, 10])  # + 100 ms
        walkers = []
        for p in range(people):
            s = (f + 17 * p) % 120 / 120
            x, y = 0.1 + 0.8 * s, 0.1 + 0.8 * ((s * (p + 1)) % 1)
            walkers.append(bytes([1, p + 1, 1, round(x * 240), round(y * 240), 60, 120, 0]))
        b += bytes([len(walkers)]) + b"".join(walkers)
    return b

seeds = {
    "aisles": seed([1, 0, 0], [((0.0, 0.5), (1.0, 0.5))], 3, 2),
    "queue-staff": seed([3, 4, 5, 2], [((0.5, 0.0), (0.5, 1.0)), ((0.0, 0.25), (0.75, 0.25))], 5, 1),
}
for name, body in seeds.items():
    with open(os.path.join(sys.argv[1], f"seed-{name}"), "wb") as f:
        f.write(body)
PY

RUN_CORPUS=$CORPUS
SEED=(-seed=1)
if [[ $EXPLORE != --explore ]]; then
  RUN_CORPUS=$(mktemp -d)
  trap 'rm -rf "$RUN_CORPUS"' EXIT
  cp -r "$CORPUS/." "$RUN_CORPUS/"
  find "$RUN_CORPUS" -type f ! -name 'seed-*' -delete
else
  SEED=()
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$AISLE_CACHE/fuzz-target
cd "$REPO/fuzz"
# Inputs up to 256 KiB for the decoders (several access units), 16 KiB for the tracker (hundreds of
# detections: the metrics' assignments are cubic in the boxes per frame), 16 KiB for config text
# (the full reference example is under 8 KiB), 8 KiB for the analytics (hundreds of updates).
declare -A MAX_LEN=([decode_access_units]=262144 [track_detections]=16384 [config_parse]=16384 [analytics_updates]=8192)
for target in decode_access_units track_detections config_parse analytics_updates; do
  log "fuzzing $target for ${SECONDS_PER_TARGET}s"
  "$TOOLS/bin/cargo-fuzz" run --release "$target" "$RUN_CORPUS/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=3072 -max_len="${MAX_LEN[$target]}" "${SEED[@]}" \
    || die "fuzz target $target failed: the crashing input is in fuzz/artifacts/$target/"
done
