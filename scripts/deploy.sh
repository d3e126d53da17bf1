#!/usr/bin/env bash
# Install a cross-built `aisle` and its systemd units on a Jetson over ssh (development and field
# updates of a device whose root filesystem is writable; images are built with the Yocto layer).
#
#   scripts/deploy.sh [--dry-run] [--binary PATH] [--config FILE] [--port N] [USER@]HOST
#
# Copies the aarch64 binary (default: the one `make cross` built), systemd/ (units, sysusers.d,
# tmpfiles.d) and a config to a temporary directory on the device, then as root there (sudo when
# USER is not root): installs /usr/bin/aisle and the units under /usr/lib, creates the user
# (systemd-sysusers) and /etc/aisle/credentials (systemd-tmpfiles), installs the config as
# /etc/aisle/aisle.toml (--config FILE replaces it, keeping the old one as aisle.toml.bak; without
# it, examples/appliance.toml is installed only when the device has no config), removes the
# aisle-prepare stamp so that the first-boot check runs again, `systemctl daemon-reload`, enables
# and restarts aisle.service, and shows its status.
# --dry-run prints the commands (and the script run on the device) instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TARGET=aarch64-unknown-linux-gnu
dry_run=0 binary="" config="" port=22 host=""
usage() { sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2; exit 2; }
while (($#)); do
  case $1 in
    --dry-run) dry_run=1 ;;
    --binary) binary=${2:?--binary needs a path}; shift ;;
    --config) config=${2:?--config needs a file}; shift ;;
    --port) port=${2:?--port needs a number}; shift ;;
    -h | --help) usage ;;
    -*) log "unknown option $1"; usage ;;
    *) [[ -z $host ]] || usage; host=$1 ;;
  esac
  shift
done
[[ -n $host ]] || usage
[[ $port =~ ^[0-9]+$ ]] || die "--port $port is not a number"

binary=${binary:-${CARGO_TARGET_DIR:-$REPO/target}/$TARGET/release/aisle}
if [[ ! -f $binary ]]; then
  ((dry_run)) || die "no binary at $binary: run \`make cross\` (or pass --binary PATH)"
  log "(dry run) $binary does not exist yet: \`make cross\` builds it"
elif [[ $(od -An -tx1 -j18 -N2 "$binary" | tr -d ' ') != b700 ]]; then
  die "$binary is not an aarch64 executable"
fi
[[ -z $config || -f $config ]] || die "no config file $config"

files=("$binary" "$REPO/systemd/aisle.service" "$REPO/systemd/aisle-prepare.service"
  "$REPO/systemd/aisle.sysusers" "$REPO/systemd/aisle.tmpfiles" "$REPO/examples/appliance.toml")
[[ -z $config ]] || files+=("$config")
config_name=""
[[ -z $config ]] || config_name=$(basename "$config")
[[ $config_name =~ ^[A-Za-z0-9._-]*$ ]] || die "rename $config: its file name goes into a shell command on the device"
stage=/tmp/aisle-deploy

# The script run on the device (POSIX sh: the image may have busybox only).
remote=$(cat <<REMOTE
set -eu
s=; [ "\$(id -u)" = 0 ] || s=sudo
cd $stage
\$s install -m 0755 aisle /usr/bin/aisle
\$s install -d /usr/lib/systemd/system /usr/lib/sysusers.d /usr/lib/tmpfiles.d /etc/aisle
\$s install -m 0644 aisle.service aisle-prepare.service /usr/lib/systemd/system/
\$s install -m 0644 aisle.sysusers /usr/lib/sysusers.d/aisle.conf
\$s install -m 0644 aisle.tmpfiles /usr/lib/tmpfiles.d/aisle.conf
\$s systemd-sysusers /usr/lib/sysusers.d/aisle.conf
\$s systemd-tmpfiles --create /usr/lib/tmpfiles.d/aisle.conf
if [ -n '$config_name' ]; then
  [ ! -f /etc/aisle/aisle.toml ] || \$s cp -p /etc/aisle/aisle.toml /etc/aisle/aisle.toml.bak
  \$s install -m 0644 '$config_name' /etc/aisle/aisle.toml
elif [ ! -f /etc/aisle/aisle.toml ]; then
  \$s install -m 0644 appliance.toml /etc/aisle/aisle.toml
fi
\$s rm -f /var/lib/aisle/prepared
\$s systemctl daemon-reload
\$s systemctl enable aisle.service
\$s systemctl restart aisle.service || true
\$s systemctl --no-pager --lines=20 status aisle-prepare.service aisle.service || true
rm -rf $stage
REMOTE
)

ssh_opts=(-p "$port" -o BatchMode=yes)
run() {
  if ((dry_run)); then printf '%q ' "$@" && echo; else "$@"; fi
}

log "deploying $(basename "$binary") and the units to $host"
run ssh "${ssh_opts[@]}" "$host" "rm -rf $stage && mkdir -m 0700 $stage"
run scp -P "$port" -o BatchMode=yes "${files[@]}" "$host:$stage/"
if ((dry_run)); then
  printf 'ssh %s %s sh -s <<EOF\n%s\nEOF\n' "${ssh_opts[*]}" "$host" "$remote"
else
  ssh "${ssh_opts[@]}" "$host" sh -s <<<"$remote"
fi
