#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: system packages, venv, Docker engine,
# local images, then each tier with its time. Stops only an engine it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
started_engine=0
cleanup() { [ "$started_engine" = 1 ] && scripts/docker-engine.sh stop || true; }
trap cleanup EXIT

python3 scripts/check_artifacts.py  # first: one message, not one failing test each, when they cannot resolve
bash scripts/sysdeps.sh test
make -s venv tools
if ! timeout 5 docker info >/dev/null 2>&1; then
  started_engine=1
fi
bash scripts/docker-engine.sh start
make -s images
# The real kind tests (tests/e2e/test_kind_real.py) run on kind's node image built here, offline.
if [ "${LAB_E2E_KIND:-}" = 1 ]; then
  make -s kind-node
fi

export TESTCONTAINERS_RYUK_DISABLED=true
# The e2e tier runs instances of different labs side by side on E2E_WORKERS workers (the tests of one instance
# in one group: tests/e2e/conftest.py), then the tests that act on the engine as a whole (engine_wide), alone.
E2E_WORKERS=${E2E_WORKERS:-2}
pytest_tier() {  # a tier (or part of one) with no test collected is not a failure of the suite
  local rc=0
  $PY -m pytest -q -p no:cacheprovider "$@" ${PYTEST_ARGS:-} || rc=$?
  [ $rc -eq 5 ] && rc=0
  return $rc
}
failed=0
summary=()
for tier in unit security integration contract e2e; do
  [ -d "tests/$tier" ] || continue
  start=$(date +%s)
  echo "=== tier $tier"
  rc=0
  if [ "$tier" = e2e ] && [ "$E2E_WORKERS" -gt 1 ]; then
    pytest_tier tests/e2e -n "$E2E_WORKERS" --dist loadgroup -m "not engine_wide" || rc=$?
    pytest_tier tests/e2e -m engine_wide || rc=$?
  else
    pytest_tier "tests/$tier" || rc=$?
  fi
  [ $rc -ne 0 ] && failed=1
  summary+=("$tier: $(( $(date +%s) - start ))s (exit $rc)")
done
echo "=== tier timings"
printf '  %s\n' "${summary[@]}"
exit $failed
