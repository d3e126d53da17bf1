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
# The aisle recipe's LIC_FILES_CHKSUM hashes lines of the workspace's Cargo.toml: an edit above
# them breaks the BitBake build, so check it here.
lic=$(sed -n 's|^LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=\([0-9]*\);endline=\([0-9]*\);md5=\([0-9a-f]*\)"$|\1 \2 \3|p' \
  recipes-aisle/aisle/aisle_0.1.0.bb)
read -r first last md5 <<<"$lic"
if [[ -z ${md5:-} ]]; then
  log "aisle_0.1.0.bb: no LIC_FILES_CHKSUM on Cargo.toml found"; status=1
elif [[ $(sed -n "${first},${last}p" "$REPO/Cargo.toml" | md5sum | cut -d' ' -f1) != "$md5" ]]; then
  log "aisle_0.1.0.bb: LIC_FILES_CHKSUM no longer matches Cargo.toml lines $first-$last ($(sed -n "${first},${last}p" "$REPO/Cargo.toml")): update beginline/endline/md5"
  status=1
else
  log "aisle_0.1.0.bb: LIC_FILES_CHKSUM matches Cargo.toml lines $first-$last"
fi
exit "$status"
