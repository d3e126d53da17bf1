#!/usr/bin/env bash
# Lint the Yocto layer (yocto-layer/meta-aisle) with oelint-adv, for both release series the
# layer declares (scarthgap, wrynose), and check that aisle-crates.inc matches Cargo.lock.
# oelint-adv comes from its own small venv ($AISLE_CACHE/oelint-venv, pinned in
# scripts/setup.sh --oelint). Any finding fails, informational ones included.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OELINT=$AISLE_CACHE/oelint-venv/bin/oelint-adv
[[ -x $OELINT ]] || "$REPO/scripts/setup.sh" --oelint

# Recipe-wide findings (reported on line 1, so they cannot be suppressed inline with nooelint):
#  - HOMEPAGE, BUGTRACKER: Aisle has no public site or bug tracker to point at; inventing one
#    would be worse than leaving it unset.
#  - CVE_PRODUCT: there is no NVD entry for Aisle or for its models; the recipe name "aisle"
#    would match unrelated products in cve-check.
#  - BBCLASSEXTEND: device-only recipes (a daemon for the Jetson, its model data): no native or
#    nativesdk variant makes sense.
SUPPRESS=(oelint.var.mandatoryvar.HOMEPAGE oelint.var.suggestedvar.BUGTRACKER
  oelint.var.suggestedvar.CVE_PRODUCT oelint.var.bbclassextend)

cd "$REPO/yocto-layer/meta-aisle"
mapfile -t files < <(find . -name '*.bb' -o -name '*.bbappend' -o -name '*.inc' | sort)
args=(--quiet --relpaths --mode all)
for s in "${SUPPRESS[@]}"; do args+=(--suppress "$s"); done
status=0
for release in scarthgap wrynose; do
  out=$("$OELINT" "${args[@]}" --release "$release" "${files[@]}" 2>&1) || true
  if [[ -n $out ]]; then
    printf '%s\n' "$out" >&2
    log "oelint-adv ($release): findings above"
    status=1
  else
    log "oelint-adv ($release): ${#files[@]} files clean"
  fi
done
"$REPO/scripts/gen-yocto-crates.py" --check || status=1
exit "$status"
