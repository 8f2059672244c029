#!/usr/bin/env bash
# Install the Debian kernel source packages and extract the parts kvmplan
# analyses into a cache directory:
#   $KVMPLAN_TREES (default: ~/.cache/kvmplan/trees)/linux-6.1, linux-6.12
# Idempotent: a tree already extracted (marked by .kvmplan-extracted) is kept.
set -euo pipefail

dest=${KVMPLAN_TREES:-$HOME/.cache/kvmplan/trees}
versions=${KVMPLAN_KERNELS:-"6.1 6.12"}
parts=(
  virt/kvm arch/x86/kvm arch/x86/virt arch/x86/include/asm include/linux
  include/uapi/linux include/kvm kernel/cpu.c arch/arm64/kvm
  arch/x86/kernel/cpu arch/x86/kernel/reboot.c arch/x86/power/cpu.c
  scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch
  Makefile
)

mkdir -p "$dest"
for v in $versions; do
  out=$dest/linux-$v
  if [ -f "$out/.kvmplan-extracted" ]; then
    echo "fetch-kernels: linux-$v already in $out"
    continue
  fi
  tarball=/usr/src/linux-source-$v.tar.xz
  if [ ! -f "$tarball" ]; then
    echo "fetch-kernels: installing linux-source-$v (apt)"
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    $sudo apt-get install -y -q "linux-source-$v" >/dev/null 2>&1 || {
      $sudo apt-get update -q >/dev/null 2>&1
      $sudo apt-get install -y -q "linux-source-$v" >/dev/null
    }
  fi
  top=linux-source-$v
  members=()
  for p in "${parts[@]}"; do members+=("$top/$p"); done
  tmp=$(mktemp -d "$dest/.extract-$v.XXXXXX")
  echo "fetch-kernels: extracting linux-$v into $out"
  # Some parts may not exist in every version; tar reports them, we don't care.
  tar -C "$tmp" -xJf "$tarball" --wildcards "${members[@]}" 2>/dev/null || true
  [ -d "$tmp/$top/virt/kvm" ] || { echo "fetch-kernels: extraction of $tarball failed" >&2; exit 1; }
  rm -rf "$out"
  mv "$tmp/$top" "$out"
  rmdir "$tmp"
  deb=$(dpkg-query -W -f='${Version}' "linux-source-$v" 2>/dev/null || echo unknown)
  printf 'linux-source-%s %s\n' "$v" "$deb" > "$out/.kvmplan-extracted"
done
