#!/usr/bin/env bash
# Cross-build Aisle for the Jetson (aarch64-unknown-linux-gnu) on a Debian 12 x86-64 machine.
#   scripts/cross-aarch64.sh test    the pure crates' unit tests, built for aarch64 and run under
#                                    qemu-aarch64 (what `make test` runs)
#   scripts/cross-aarch64.sh build   the release `aisle` binary (`make cross`): prints its path
# scripts/setup.sh installs what it needs (Debian gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
# libc6-dev-arm64-cross qemu-user; `rustup target add aarch64-unknown-linux-gnu`). The build
# lands in $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu (CI: $AISLE_CACHE/target).
#
# The binary is built without aisled's default `ffmpeg` feature (H.265 decoding on the CPU through
# FFmpeg): that needs the target's libav*-dev (Debian multiarch libavcodec-dev:arm64 and friends)
# and a pkg-config and bindgen set up for the arm64 sysroot, which this script does not install.
# The aarch64 `aisle` decodes H.264 with openh264 (the Jetson's hardware decoder is the intended
# H.265 path); the Yocto recipe can turn FFmpeg on (PACKAGECONFIG "ffmpeg").
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TARGET=aarch64-unknown-linux-gnu
# Unit tests that run under qemu: the crates with no GPU, video or network dependency, whose
# arithmetic (floating point contraction, endianness of the spool's records, hashing) is what
# could differ on aarch64. aisle-fleet's unit tests need no broker (its broker tests are
# integration tests, not run here). Not run: aisle-video/-gpu/-infer/-vision and aisled (they
# need the sample media, models or libraries of the x86-64 cache, and are covered on x86-64).
# Integration tests: aisle-analytics' (visits, windows, privacy, lines; about 10 s under qemu) run
# too. Not aisle-sim's and aisle-track's: under qemu they take 75-95 s each (even optimised), and
# aisle-track's no_alloc test then fails spuriously (it counts allocations process-wide, and libtest's
# "running for over 60 seconds" notice allocates).
TEST_CRATES=(aisle-types aisle-config aisle-track aisle-analytics aisle-sim aisle-fleet)
INTEGRATION_TEST_CRATES=(aisle-analytics)

need cargo aarch64-linux-gnu-gcc qemu-aarch64
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" \
  || die "Rust target $TARGET missing: run scripts/setup.sh (rustup target add $TARGET)"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# C and C++ of the -sys crates (openh264, ring): cc-rs would guess the same names; explicit is clearer.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

# The tests' build profile: `dev` without optimisation or debug info, dependencies included (the
# workspace's dev profile builds dependencies at opt-level 3). Measured on the shared 2-core VM:
# 3 min 09 s cold instead of 18 min 08 s (at a lower load: 5-6 against 9-10), 540 MB instead of
# 1.4 GB, and the tests still run in about 15 s under qemu. Float results do not depend on the
# optimisation level in Rust, which is what these tests are here for.
PROFILE=(--profile cross-test --config 'profile.cross-test.inherits="dev"'
  --config 'profile.cross-test.opt-level=0' --config 'profile.cross-test.debug=false'
  --config 'profile.cross-test.package."*".opt-level=0')

cd "$REPO"
case ${1:-test} in
  test)
    args=()
    for c in "${TEST_CRATES[@]}"; do args+=(-p "$c"); done
    cargo test "${PROFILE[@]}" --target "$TARGET" "${args[@]}" --lib
    args=()
    for c in "${INTEGRATION_TEST_CRATES[@]}"; do args+=(-p "$c"); done
    cargo test "${PROFILE[@]}" --target "$TARGET" "${args[@]}" --tests
    ;;
  build)
    cargo build --release --target "$TARGET" -p aisled --no-default-features
    bin=${CARGO_TARGET_DIR:-$REPO/target}/$TARGET/release/aisle
    [[ -x $bin ]] || die "no binary at $bin after the build"
    # ELF e_machine (offset 18, little endian): 0xb7 = EM_AARCH64.
    [[ $(od -An -tx1 -j18 -N2 "$bin" | tr -d ' ') == b700 ]] || die "$bin is not an aarch64 executable"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" --version >&2 || die "$bin does not run under qemu-aarch64"
    printf '%s\n' "$bin"
    ;;
  *) die "usage: $0 [test|build]" ;;
esac
