#!/usr/bin/env bash
# Everything the tests need on a fresh machine, then the tests.
#
#   bash scripts/test.sh          the whole suite (what CI runs)
#   bash scripts/test.sh --fast   the fast tier: no real kernel trees, SPIN,
#                                 bot kills or long fuzzing (pytest -m "not slow")
#
# Installs: kvmplan with its test extras (pip); for the full suite also the
# Debian kernel sources (6.1 and 6.12, the releases the bundled baselines were
# built from when the archive has them) extracted by scripts/fetch-kernels.sh;
# spin and gcc (SPIN cross-check), graphviz, universal-ctags and git (apt).
# Other arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

fast=0
args=()
for a in "$@"; do
  if [ "$a" = --fast ]; then fast=1; else args+=("$a"); fi
done

python3 -m pip install -q -e '.[test]' || exit 1

if [ $fast = 1 ]; then
  python3 -m pytest -q -m "not slow" "${args[@]}"
  rc=$?
  [ $rc -eq 5 ] && echo "test.sh: pytest collected no tests" >&2
  exit $rc
fi

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  need=()
  command -v spin >/dev/null || need+=(spin)
  command -v gcc >/dev/null || need+=(gcc)
  command -v dot >/dev/null || need+=(graphviz)
  command -v ctags >/dev/null || need+=(universal-ctags)
  command -v git >/dev/null || need+=(git)
  if [ ${#need[@]} -gt 0 ]; then
    $sudo apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
      $sudo apt-get update -q >/dev/null 2>&1
      $sudo apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
        echo "test.sh: could not install ${need[*]}; tests that need them will skip"
    }
  fi
fi
bash scripts/fetch-kernels.sh || echo "test.sh: kernel trees unavailable; tests that need them will skip"

python3 -m pytest -q "${args[@]}"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
fi
exit $rc
