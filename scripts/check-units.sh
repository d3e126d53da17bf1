#!/usr/bin/env bash
# Check the appliance's systemd files (systemd/), offline: no systemd as PID 1 needed.
#   1. `systemd-analyze verify` of aisle.service and aisle-prepare.service in a temporary root
#      (the host's unit directory, the units, stub executables for the binaries they run). Any
#      message fails: verify exits 0 on an unknown key or an unparsable value ("ignoring").
#   2. systemd-sysusers and systemd-tmpfiles apply aisle.sysusers / aisle.tmpfiles to that root.
#   3. `systemd-analyze security --offline=true` of both units: prints the open settings and fails
#      when an overall exposure is above $MAX_EXPOSURE (4.9: the top of the "OK" band; today 1.6).
#   4. Negative controls, so that a check that passes everything cannot go unnoticed: a copy with a
#      misspelt key, one with a bad value, one whose binary is missing, and one without its
#      sandbox must each fail the check that should catch it.
# Needs the Debian package `systemd` (scripts/setup.sh installs it). Takes about a second.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need systemd-analyze systemd-sysusers systemd-tmpfiles

# Exposure in tenths (systemd-analyze --threshold's unit): 49 = 4.9.
MAX_EXPOSURE=49
UNITS=(aisle.service aisle-prepare.service)
SRC=$REPO/systemd
HOST_UNITS=/usr/lib/systemd/system
[[ -d $HOST_UNITS ]] || HOST_UNITS=/lib/systemd/system

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# make_root DIR: a root with the host's units (sysinit.target, ...), ours, and stub executables.
make_root() {
  local root=$1 b
  mkdir -p "$root/usr/lib/systemd/system" "$root/usr/bin" "$root/bin" "$root/etc"
  cp -a "$HOST_UNITS/." "$root/usr/lib/systemd/system/"
  for b in "${UNITS[@]}"; do cp "$SRC/$b" "$root/usr/lib/systemd/system/$b"; done
  for b in usr/bin/aisle bin/kill bin/touch; do
    printf '#!/bin/sh\nexit 0\n' >"$root/$b" && chmod +x "$root/$b"
  done
}

# verify ROOT UNIT...: 0 only when systemd-analyze verify succeeds and says nothing.
verify() {
  local root=$1 out rc=0
  shift
  out=$(systemd-analyze verify --man=no --generators=no --root="$root" "$@" 2>&1) || rc=$?
  [[ -z $out ]] && return "$rc"
  printf '%s\n' "$out" >&2
  return 1
}

# exposure UNIT_FILE: run the security review (table on stderr) and print the overall exposure.
exposure() {
  local out
  out=$(systemd-analyze security --offline=true --no-pager "$1" 2>&1) || true
  printf '%s\n' "$out" | grep -E '^(✗|→)' >&2 || true
  printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}

# within_threshold UNIT_FILE: systemd-analyze's own threshold test.
within_threshold() {
  systemd-analyze security --offline=true --threshold="$MAX_EXPOSURE" --no-pager "$1" >/dev/null 2>&1
}

root=$work/root
make_root "$root"
verify "$root" "${UNITS[@]}" || die "systemd-analyze verify failed on ${UNITS[*]} (messages above)"
log "systemd-analyze verify: ${UNITS[*]} ok"

out=$(systemd-sysusers --root="$root" "$SRC/aisle.sysusers" 2>&1) \
  || die "systemd-sysusers rejects systemd/aisle.sysusers: $out"
grep -q '^aisle:' "$root/etc/passwd" || die "systemd/aisle.sysusers created no user aisle"
out=$(systemd-tmpfiles --root="$root" --create "$SRC/aisle.tmpfiles" 2>&1) \
  || die "systemd-tmpfiles rejects systemd/aisle.tmpfiles: $out"
[[ -d $root/etc/aisle/credentials ]] || die "systemd/aisle.tmpfiles did not create /etc/aisle/credentials"
log "sysusers.d and tmpfiles.d: ok"

for unit in "${UNITS[@]}"; do
  level=$(exposure "$SRC/$unit")
  [[ -n $level ]] || die "systemd-analyze security printed no exposure level for $unit"
  within_threshold "$SRC/$unit" \
    || die "$unit: exposure $level is above $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10)) (the settings marked ✗ above)"
  log "systemd-analyze security $unit: exposure $level (limit $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10)))"
done

# Negative controls.
bad=$work/bad
make_root "$bad"
sed 's/^ExecStart=/ExecStrat=/' "$SRC/aisle.service" >"$bad/usr/lib/systemd/system/aisle.service"
! verify "$bad" aisle.service 2>/dev/null || die "self-test: verify accepted a misspelt ExecStart="
sed 's/^Type=notify$/Type=notfy/' "$SRC/aisle.service" >"$bad/usr/lib/systemd/system/aisle.service"
! verify "$bad" aisle.service 2>/dev/null || die "self-test: verify accepted Type=notfy"
cp "$SRC/aisle.service" "$bad/usr/lib/systemd/system/aisle.service"
rm "$bad/usr/bin/aisle"
! verify "$bad" aisle.service 2>/dev/null || die "self-test: verify accepted a missing /usr/bin/aisle"
grep -vE '^(Protect|Private|Restrict|SystemCall|Capability|NoNewPrivileges|DevicePolicy|DeviceAllow|LockPersonality|User=|Group=|UMask)' \
  "$SRC/aisle.service" >"$work/aisle.service"
! within_threshold "$work/aisle.service" || die "self-test: the security threshold accepted a unit without sandbox"
log "self-test: a misspelt key, a bad value, a missing binary and a missing sandbox are each caught"
