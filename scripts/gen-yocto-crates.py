#!/usr/bin/env python3
"""Generate yocto-layer/meta-aisle/recipes-aisle/aisle/aisle-crates.inc from Cargo.lock.

The same entries as oe-core's `bitbake -c update_crates` (class cargo-update-recipe-crates): one
`crate://crates.io/<name>/<version>;name=<name>-<version>` SRC_URI entry per crates.io package of
the lock file, and its `sha256sum` varflag from the lock's checksum, so BitBake fetches exactly
the crates Cargo.lock pins and checks each download. Only the workspace's Cargo.lock is read:
fuzz/ has its own lock file that the image does not build (update_crates would walk into it).

    scripts/gen-yocto-crates.py           rewrite the file
    scripts/gen-yocto-crates.py --check   exit 1 when the committed file differs (CI)
"""

import pathlib
import sys
import tomllib

REPO = pathlib.Path(__file__).resolve().parent.parent
LOCK = REPO / "Cargo.lock"
OUT = REPO / "yocto-layer/meta-aisle/recipes-aisle/aisle/aisle-crates.inc"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def render(lock: dict) -> str:
    uris, sums = [], []
    for pkg in lock["package"]:
        source = pkg.get("source")
        if source is None:  # a workspace member: part of the recipe's own source
            continue
        if source != CRATES_IO:
            sys.exit(f"{pkg['name']} {pkg['version']} comes from {source}: only crates.io sources are supported")
        if "checksum" not in pkg:
            sys.exit(f"{pkg['name']} {pkg['version']} has no checksum in Cargo.lock")
        key = f"{pkg['name']}-{pkg['version']}"
        uris.append(f"crate://crates.io/{pkg['name']}/{pkg['version']};name={key}")
        sums.append(f'SRC_URI[{key}.sha256sum] = "{pkg["checksum"]}"')
    return "\n".join(
        [
            "# Generated from Cargo.lock by scripts/gen-yocto-crates.py: do not edit. CI checks it is current.",
            "",
            "# from Cargo.lock",
            # oelint-adv's layout: the first entry on the assignment's line, the others indented.
            'SRC_URI += "' + " \\\n            ".join(uris) + '"',
            "",
            *sums,
            "",
        ]
    )


def main() -> int:
    with LOCK.open("rb") as f:
        text = render(tomllib.load(f))
    rel = OUT.relative_to(REPO)
    if sys.argv[1:] == ["--check"]:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{rel} is not up to date with Cargo.lock: run scripts/gen-yocto-crates.py and commit it", file=sys.stderr)
            return 1
        print(f"{rel}: up to date with Cargo.lock", file=sys.stderr)
        return 0
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {rel}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
