# Aisle: the two commands of the README are `make demo` and `make test`; the rest are their parts.
#
# Everything fetched (Python venv, models, sample media, ONNX Runtime) lives in $(AISLE_CACHE),
# outside the repository. CI also keeps its cargo build there (CARGO_TARGET_DIR, see .ci/run).

SHELL := /bin/bash
export AISLE_CACHE ?= $(HOME)/.cache/aisle
CARGO ?= cargo
VIDEO ?= $(AISLE_CACHE)/media/vtest.mp4
MODEL ?= nanodet

.PHONY: demo detect test test-gpu setup models media build lint fuzz bench goldens check appliance-check cross cross-test

## demo: fetch what is missing, build, and run the whole pipeline (detection, tracking, zone
## analytics) on the sample video with the zones of examples/vtest.toml; prints metric records
## and publishes them to the embedded MQTT broker on 127.0.0.1:$(DEMO_MQTT_PORT) (watch them with
## `aisle watch`, started first in another terminal).
DEMO_MQTT_PORT ?= 1883
demo: models media build
	$(CARGO) run --release -q -p aisled -- run --config examples/vtest.toml --embedded-broker $(DEMO_MQTT_PORT)

## detect: per-frame person counts in VIDEO with MODEL.
detect: models media build
	$(CARGO) run --release -q -p aisled -- detect --input $(VIDEO) --model $(MODEL)

# The CUDA 12.6 NVRTC of the venv's nvidia-cuda-nvrtc-cu12 wheel (scripts/setup.sh): aisle-gpu's
# tests compile the kernels with it and, with AISLE_REQUIRE_NVRTC=1, fail instead of skipping
# without it. Expanded when used, i.e. after `setup` has built the venv.
NVRTC_LIB_DIR = $(shell $(AISLE_CACHE)/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)/nvidia/cuda_nvrtc/lib

## test: fetch what is missing, then formatting, lints, the golden check, bounded fuzzing and every test
## (aisle-gpu's kernels compiled by NVRTC for sm_87 and sm_72 within their register budget), the
## appliance checks (systemd units, Yocto layer) and the aarch64 cross build's unit tests under qemu.
test: models media lint fuzz appliance-check cross-test
	$(AISLE_CACHE)/venv/bin/python scripts/reference_detect.py --check tests/golden/detect_centernet.json --video $(AISLE_CACHE)/media/vtest.mp4
	$(AISLE_CACHE)/venv/bin/python scripts/reference_detect.py --check tests/golden/detect_nanodet.json --video $(AISLE_CACHE)/media/vtest.mp4
	$(AISLE_CACHE)/venv/bin/python scripts/motmetrics_reference.py --check tests/golden/motmetrics.json
	$(AISLE_CACHE)/venv/bin/python scripts/reference_faces.py --check tests/golden/faces.json
	@test -f "$(NVRTC_LIB_DIR)/libnvrtc.so.12" || { echo "libnvrtc.so.12 not found in '$(NVRTC_LIB_DIR)': rm -rf $(AISLE_CACHE)/venv and run scripts/setup.sh --venv" >&2; exit 1; }
	LD_LIBRARY_PATH="$(NVRTC_LIB_DIR)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}" AISLE_REQUIRE_NVRTC=1 $(CARGO) test --workspace

## test-gpu: on a machine with an NVIDIA GPU: the GPU preprocessor against the CPU reference on
## the sample video, device frames against host frames, the kernel's throughput against the
## device's memory bandwidth (aisle-gpu's tests/gpu_device.rs, #[ignore]d in `test`), the same
## under compute-sanitizer, and `aisle detect` with GPU and CPU preprocessing giving identical
## detections (scripts/gpu-check.sh).
test-gpu: media models
	scripts/gpu-check.sh

setup:
	scripts/setup.sh

## appliance-check: the systemd units (systemd-analyze verify, and security with exposure <= 4.9),
## the Yocto layer (oelint-adv; aisle-crates.inc current with Cargo.lock), shellcheck of the
## appliance scripts, and a dry run of the deploy script.
appliance-check: setup
	scripts/check-units.sh
	scripts/lint-yocto.sh
	shellcheck -x scripts/check-units.sh scripts/gpu-check.sh scripts/lint-yocto.sh scripts/cross-aarch64.sh scripts/deploy.sh scripts/setup.sh
	scripts/deploy.sh --dry-run root@jetson.invalid >/dev/null

## cross: the release `aisle` for the Jetson (aarch64-unknown-linux-gnu), without FFmpeg
## (scripts/cross-aarch64.sh); then `scripts/deploy.sh HOST` installs it.
cross: setup
	scripts/cross-aarch64.sh build

## cross-test: the pure crates' unit tests built for aarch64 and run under qemu-aarch64.
cross-test: setup
	scripts/cross-aarch64.sh test

models: setup
	scripts/fetch-models.sh

media: setup
	scripts/fetch-media.sh

build:
	$(CARGO) build --release -p aisled

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## fuzz: coverage-guided fuzzing of the decoders' input, the tracker's, config text and the zone
## analytics' layouts and tracks, FUZZ_SECONDS per target (default 60).
FUZZ_SECONDS ?= 60
fuzz: media
	scripts/fuzz.sh $(FUZZ_SECONDS)

## check: probe the configured parts (ONNX Runtime, models, GPU libraries).
check: build
	$(CARGO) run --release -q -p aisled -- check

## bench: per-stage medians (decode, preprocess, inference, postprocess) for both detectors,
## camera ingest throughput (4 RTSP cameras, H.264 and H.265) in frames per second per core,
## the tracker's update cost with 10, 50 and 200 people in view, and the zone analytics' update
## cost (16 zones, 2 lines) with 10, 50 and 200 people, and of a window and a report close.
bench: models media
	$(CARGO) bench -p aisled --bench pipeline
	$(CARGO) bench -p aisled --bench ingest
	$(CARGO) bench -p aisled --bench faces
	$(CARGO) bench -p aisle-track --bench update
	$(CARGO) bench -p aisle-analytics --bench update

## goldens: regenerate the Python reference outputs (read scripts/reference_detect.py first).
goldens: models media
	for m in centernet nanodet; do \
	  $(AISLE_CACHE)/venv/bin/python scripts/reference_detect.py --model $$m --video $(VIDEO) \
	    --frames 0,50,100,200,300,400,500,600,700,794 --out tests/golden/detect_$$m.json; \
	done
	$(AISLE_CACHE)/venv/bin/python scripts/reference_faces.py --out tests/golden/faces.json
