#!/usr/bin/env bash
# Fetch, convert and check the models of models/manifest.toml into $AISLE_MODELS (see models/README.md).
#   scripts/fetch-models.sh [NAME...]     default: every model in the manifest
# Idempotent: a re-run only re-checks (stamped) and takes about a second.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$REPO/scripts/setup.sh" --venv
PY=("$AISLE_VENV/bin/python" "$REPO/scripts/models.py")

srcs=$("${PY[@]}" sources "$@") || die "reading models/manifest.toml failed (see above)"
while read -r reg pkg ver; do
  fetch_pkg "$reg" "$pkg" "$ver" >/dev/null
done <<<"$srcs"

"${PY[@]}" ensure "$@" || die "fetch-models.sh failed (see the message above)"
