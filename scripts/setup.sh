#!/usr/bin/env bash
# Prepare a Debian 12 machine for Aisle development. Idempotent; re-runs take about a second.
#   scripts/setup.sh          Debian packages (needs root or sudo), cargo check, converter venv, ORT library
#   scripts/setup.sh --venv   only the converter venv and the ORT library (used by fetch-models.sh)
#   scripts/setup.sh --oelint only the Yocto recipe linter's venv ($AISLE_CACHE/oelint-venv)
# The venv ($AISLE_VENV) holds TensorFlow + tf2onnx + onnxruntime, used only to convert and check
# models, py-motmetrics + TrackEval, the references of the MOT metrics' golden check, and the CUDA
# 12.6 NVRTC library that aisle-gpu's tests compile the kernels with.
# $AISLE_CACHE/lib/libonnxruntime.so is the ONNX Runtime the Rust code loads (ort load-dynamic).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# g++ and make build openh264's bundled C++ source (openh264-sys2) and run the Makefile.
# libav*-dev, clang and libclang-dev: ffmpeg-sys-next (aisle-video's `ffmpeg` feature) binds
# Debian's FFmpeg with bindgen and links it found through pkg-config.
APT_PACKAGES=(ffmpeg nasm unzip python3-venv pkg-config ca-certificates xz-utils g++ make
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev clang libclang-dev)
# GStreamer's RTSP server (through python3-gi, with the system /usr/bin/python3) serves the sample
# video to the RTSP tests: scripts/rtsp_server.py.
APT_PACKAGES+=(gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
# The MQTT broker of aisle-fleet's tests (one mosquitto per test on a free loopback port) and
# mosquitto_sub for operators.
APT_PACKAGES+=(mosquitto mosquitto-clients)
# The appliance checks of `make test`: systemd-analyze verify/security (offline: no systemd as
# PID 1 needed), systemd-sysusers and systemd-tmpfiles (scripts/check-units.sh); shellcheck for
# the deploy and check scripts; the aarch64 cross toolchain and qemu for the cross build and its
# unit tests under emulation (scripts/cross-aarch64.sh).
APT_PACKAGES+=(systemd shellcheck gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
CROSS_TARGET=aarch64-unknown-linux-gnu
# The Yocto recipe linter (scripts/lint-yocto.sh) in its own small venv, so that bumping it does
# not rebuild the TensorFlow venv. Its dependencies pinned as resolved on 2026-11-25.
OELINT_DEPS=("oelint-adv==9.11.2" "oelint-parser==8.13.2" "oelint-data==1.5.26" "anytree==2.13.0"
  "argcomplete==3.7.2" "colorama==0.4.6" "Deprecated==1.3.1" "regex==2026.9.29" "urllib3==2.8.0" "wrapt==2.5.2")
ORT_VERSION=1.31.1
# Pins: changing any line (or the stubs below) changes the stamp and rebuilds the venv.
PIP_DEPS=("tensorflow-cpu==2.15.1" "numpy==1.26.4" "onnx==1.16.2" "tf2onnx==1.17.0"
  "onnxruntime==$ORT_VERSION" "protobuf==4.25.9" "packaging~=23.1" "six==1.17.0" "importlib_resources==7.1.0")
# The MOT metrics reference (scripts/motmetrics_reference.py): py-motmetrics and what it imports,
# pinned for numpy 1.26 (motmetrics 1.4.0 breaks on numpy 2) and Python 3.11.
PIP_DEPS+=("motmetrics==1.4.0" "pandas==2.2.3" "scipy==1.14.1" "xmltodict==0.14.2"
  "python-dateutil==2.9.0.post0" "pytz==2025.2" "tzdata==2025.2")
# NVRTC of CUDA 12.6 (JetPack 6.1/6.2's CUDA): aisle-gpu's tests compile the CUDA kernels for
# sm_87/sm_72 with it, no GPU needed. Only `make test` puts its lib directory
# (site-packages/nvidia/cuda_nvrtc/lib) on LD_LIBRARY_PATH; nothing is exported globally. Keep it at
# the device's CUDA: a newer NVRTC emits PTX that the JetPack 6 driver cannot load.
PIP_DEPS+=("nvidia-cuda-nvrtc-cu12==12.6.85")
# Installed without their dependencies (those would pull jax, tensorflow-decision-forests, ...).
# sn-trackeval is TrackEval (HOTA's reference code); its metrics need only numpy and scipy, its
# declared dependencies (OpenCV, pycocotools, matplotlib, ...) serve datasets and plots we do not use.
PIP_NODEPS=("tensorflowjs==4.22.0" "tfjs-graph-converter==1.6.3" "tf-keras==2.15.1" "tensorflow-hub==0.16.1"
  "sn-trackeval==0.4.0")
# tensorflowjs imports these at module load, but the graph-model path never uses them.
STUBS=(tensorflow_decision_forests.py jax/__init__.py jax/experimental/__init__.py jax/experimental/jax2tf.py)

install_debian_packages() {
  local missing=() p sudo=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  command -v npm >/dev/null || missing+=(npm)
  ((${#missing[@]})) || return 0
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "missing Debian packages: ${missing[*]}; run this script as root"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q || die "apt-get update failed (network? /etc/apt/sources.list?)"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

check_cargo() {
  command -v cargo >/dev/null && return 0
  die "cargo not found. Install Rust with rustup, then re-run this script:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . \"\$HOME/.cargo/env\""
}

# The Rust standard library for the Jetson (scripts/cross-aarch64.sh).
add_cross_target() {
  rustup target list --installed 2>/dev/null | grep -qx "$CROSS_TARGET" && return 0
  command -v rustup >/dev/null || die "rustup not found: install the $CROSS_TARGET standard library for your toolchain"
  log "adding the Rust target $CROSS_TARGET"
  rustup target add "$CROSS_TARGET" || die "rustup target add $CROSS_TARGET failed (network?)"
}

setup_oelint_venv() {
  local venv=$AISLE_CACHE/oelint-venv want py
  py=$(command -v python3) || die "python3 not found: run scripts/setup.sh as root (installs python3-venv)"
  want=$(printf '%s\n' "$("$py" -V 2>&1)" "${OELINT_DEPS[@]}" | sha256sum | cut -d' ' -f1)
  [[ -f $venv/.aisle-stamp && $(<"$venv/.aisle-stamp") == "$want" ]] && return 0
  log "creating the oelint-adv venv $venv"
  rm -rf "$venv"
  "$py" -m venv "$venv" || die "python3 -m venv failed: run scripts/setup.sh as root (installs python3-venv)"
  "$venv/bin/pip" install -q --cache-dir "$AISLE_CACHE/pip-cache" --disable-pip-version-check --no-deps "${OELINT_DEPS[@]}" \
    || die "pip install oelint-adv failed (network? PyPI?); re-run scripts/setup.sh --oelint"
  "$venv/bin/oelint-adv" --version >/dev/null || die "oelint-adv in $venv does not run: rm -rf $venv and re-run"
  echo "$want" >"$venv/.aisle-stamp"
}

setup_venv() {
  local stamp=$AISLE_VENV/.aisle-stamp want py sp s
  py=$(command -v python3) || die "python3 not found: run scripts/setup.sh as root (installs python3-venv)"
  want=$(printf '%s\n' "$("$py" -V 2>&1)" "${PIP_DEPS[@]}" -- "${PIP_NODEPS[@]}" -- "${STUBS[@]}" | sha256sum | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  # A stamped venv built from other pins is rebuilt from scratch; an unstamped one is completed in place.
  if [[ -f $stamp ]] || ! "$AISLE_VENV/bin/python" -c '' 2>/dev/null; then
    log "creating venv $AISLE_VENV"
    rm -rf "$AISLE_VENV"
    "$py" -m venv "$AISLE_VENV" || die "python3 -m venv failed: run scripts/setup.sh as root (installs python3-venv)"
  fi
  log "installing pinned Python packages into $AISLE_VENV (first time: several minutes)"
  local pip=("$AISLE_VENV/bin/pip" install -q --cache-dir "$AISLE_CACHE/pip-cache" --disable-pip-version-check)
  "${pip[@]}" "${PIP_DEPS[@]}" || die "pip install failed (network? PyPI?); re-run scripts/setup.sh"
  "${pip[@]}" --no-deps "${PIP_NODEPS[@]}" || die "pip install --no-deps failed; re-run scripts/setup.sh"
  sp=$("$AISLE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for s in "${STUBS[@]}"; do mkdir -p "$sp/$(dirname "$s")"; echo "# stub (scripts/setup.sh)" >"$sp/$s"; done
  "$AISLE_VENV/bin/python" -c 'import tensorflowjs, tfjs_graph_converter.api, tf2onnx, onnxruntime, motmetrics, trackeval.metrics.hota' \
    >/dev/null 2>&1 || die "the venv at $AISLE_VENV does not import its packages: rm -rf $AISLE_VENV and re-run scripts/setup.sh"
  [[ -f $sp/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 ]] \
    || die "$sp/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 missing after pip install: rm -rf $AISLE_VENV and re-run scripts/setup.sh"
  echo "$want" >"$stamp"
}

# Copy the wheel's standalone libonnxruntime.so.X out of the venv: Rust loads $AISLE_CACHE/lib/libonnxruntime.so.
install_ort_lib() {
  local lib=$AISLE_CACHE/lib name=libonnxruntime.so.$ORT_VERSION src
  src=$(compgen -G "$AISLE_VENV/lib/python3*/site-packages/onnxruntime/capi/$name" | head -n1) || true
  [[ -n $src && -f $src ]] || die "$src missing: rm -rf $AISLE_VENV and re-run scripts/setup.sh"
  mkdir -p "$lib"
  if ! cmp -s "$src" "$lib/$name"; then
    cp "$src" "$lib/.$name.tmp" && mv -f "$lib/.$name.tmp" "$lib/$name"
  fi
  [[ $(readlink "$lib/libonnxruntime.so" 2>/dev/null) == "$name" ]] || ln -sfn "$name" "$lib/libonnxruntime.so"
}

if [[ ${1:-} == --oelint ]]; then
  setup_oelint_venv
  exit 0
fi
if [[ ${1:-} != --venv ]]; then
  install_debian_packages
  check_cargo
  add_cross_target
  setup_oelint_venv
fi
setup_venv
install_ort_lib
[[ ${1:-} == --venv ]] || log "setup done: ORT_DYLIB_PATH=$AISLE_CACHE/lib/libonnxruntime.so"
