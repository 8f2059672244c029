#!/usr/bin/env bash
# Fetch the Debian kernel sources kvmplan is tested against and extract the
# parts it analyses into a cache directory:
#   $KVMPLAN_TREES (default: ~/.cache/kvmplan/trees)/linux-6.1, linux-6.12
#
# Reproducible: the Debian release wanted for each tree is the one the
# bundled baseline was built from (its `source`, e.g. "Debian
# linux-source-6.1 6.1.192-2"). That exact package is downloaded with
# `apt-get download linux-source-6.1=6.1.192-2` (no system-wide install, so
# several releases can sit side by side in the download cache). When the
# archive no longer has it, the newest release apt serves is taken instead
# and the script says so: tests that depend on a release's line numbers then
# rebuild their reference data from the tree or skip, naming both releases.
#
# KVMPLAN_DEBIAN_RELEASES="6.1=6.1.176-1 6.12=6.12.118-1~deb12u1" asks for
# other releases (any the archive has); "6.1=candidate" takes what apt serves.
#
# Idempotent: a tree whose marker (.kvmplan-extracted) names the wanted
# package release and the same list of parts is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${KVMPLAN_TREES:-$HOME/.cache/kvmplan/trees}
debs=${KVMPLAN_DEBS:-$(dirname "$dest")/debs}
versions=${KVMPLAN_KERNELS:-"6.1 6.12"}
parts=(
  virt/kvm arch/x86/kvm arch/x86/virt arch/x86/include/asm include/linux
  include/uapi/linux include/kvm kernel/cpu.c kernel/reboot.c arch/arm64/kvm
  arch/x86/kernel arch/x86/power arch/x86/include/uapi/asm
  scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch
  Makefile
)
parts_id=$(printf '%s\n' "${parts[@]}" | cksum | cut -d' ' -f1)
if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi

# The Debian release a bundled baseline was built from ("6.1.192-2"), or "".
baseline_release() {
  python3 - "$1" <<'PY'
import gzip, json, sys
from pathlib import Path
path = Path("kvmplan/baseline/data") / f"linux-{sys.argv[1]}.json.gz"
try:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        head = f.read(4096)
    info = json.loads(head[:head.index(',"files":')] + "}")["info"]
    words = info.get("source", "").split()
    print(words[-1] if len(words) >= 3 and words[0] == "Debian" else "")
except (OSError, ValueError, KeyError):
    print("")
PY
}

# The release asked for in KVMPLAN_DEBIAN_RELEASES for major $1, or "".
requested_release() {
  local pair
  for pair in ${KVMPLAN_DEBIAN_RELEASES:-}; do
    [ "${pair%%=*}" = "$1" ] && { echo "${pair#*=}"; return; }
  done
  echo ""
}

# Download linux-source-$1 at release $2 (or apt's candidate when $2 is
# "candidate") into $debs; print the .deb's path.
download() {
  local v=$1 rel=$2 spec=linux-source-$1 deb
  [ "$rel" != candidate ] && spec="linux-source-$v=$rel"
  if [ "$rel" != candidate ]; then
    deb=$(ls "$debs"/linux-source-"${v}"_"${rel//\~/%7e}"_all.deb "$debs"/linux-source-"${v}"_"${rel}"_all.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] && { echo "$deb"; return 0; }
  fi
  mkdir -p "$debs"
  ( cd "$debs" && apt-get download -q "$spec" >/dev/null 2>&1 ) || {
    $sudo apt-get update -q >/dev/null 2>&1 || true
    ( cd "$debs" && apt-get download -q "$spec" >/dev/null 2>&1 ) || return 1
  }
  ls -t "$debs"/linux-source-"${v}"_*_all.deb | head -n 1
}

mkdir -p "$dest"
status=0
for v in $versions; do
  out=$dest/linux-$v
  want=$(requested_release "$v")
  [ -n "$want" ] || want=$(baseline_release "$v")
  [ -n "$want" ] || want=candidate
  if [ -f "$out/.kvmplan-extracted" ] && [ "$want" != candidate ] &&
     grep -qxF "linux-source-$v $want parts:$parts_id" "$out/.kvmplan-extracted"; then
    echo "fetch-kernels: linux-$v (Debian $want) already in $out"
    continue
  fi
  deb=$(download "$v" "$want") || deb=
  if [ -z "$deb" ] && [ "$want" != candidate ]; then
    echo "fetch-kernels: linux-source-$v $want is not in the apt archive any more; taking the release apt serves"
    deb=$(download "$v" candidate) || deb=
  fi
  if [ -z "$deb" ]; then
    echo "fetch-kernels: could not download linux-source-$v" >&2
    status=1
    continue
  fi
  got=$(dpkg-deb -f "$deb" Version)
  if [ "$want" != candidate ] && [ "$got" != "$want" ]; then
    echo "fetch-kernels: got linux-source-$v $got instead of $want (the bundled baseline's release): release-specific tests rebuild or skip"
  fi
  if [ -f "$out/.kvmplan-extracted" ] &&
     grep -qxF "linux-source-$v $got parts:$parts_id" "$out/.kvmplan-extracted"; then
    echo "fetch-kernels: linux-$v (Debian $got) already in $out"
    continue
  fi
  top=linux-source-$v
  members=()
  for p in "${parts[@]}"; do members+=("$top/$p"); done
  tmp=$(mktemp -d "$dest/.extract-$v.XXXXXX")
  echo "fetch-kernels: extracting linux-$v (Debian $got) into $out"
  # Some parts may not exist in every version; tar reports them, we don't care.
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-source-$v.tar.xz" |
    tar -C "$tmp" -xJ --wildcards "${members[@]}" 2>/dev/null || true
  if [ ! -d "$tmp/$top/virt/kvm" ]; then
    echo "fetch-kernels: extraction of $deb failed" >&2
    rm -rf "$tmp"
    status=1
    continue
  fi
  rm -rf "$out"
  mv "$tmp/$top" "$out"
  rmdir "$tmp"
  printf 'linux-source-%s %s parts:%s\n' "$v" "$got" "$parts_id" > "$out/.kvmplan-extracted"
done
exit $status
