#!/usr/bin/env bash
# Everything the tests need on a fresh machine, then the tests.
# Installs: kvmplan with its test extras (pip); the Debian kernel sources
# (6.1 and 6.12) extracted by scripts/fetch-kernels.sh; spin, graphviz and
# universal-ctags (apt) for the cross-checks that use them; git (apt) for the
# bot's public-inbox archives.
set -uo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -e '.[test]' || exit 1

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  need=()
  command -v spin >/dev/null || need+=(spin)
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

python3 -m pytest -q "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
fi
exit $rc
