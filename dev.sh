#!/usr/bin/env bash
# One entry point for people and CI: installs everything from the lock file, then runs what you ask.
#   ./dev.sh ui     install, then start the Dagster UI (webserver + daemon) with the pipelines loaded
#   ./dev.sh test   install, then lint and run the whole test suite
#   ./dev.sh bench  install, then run every benchmark under benchmarks/
#   ./dev.sh setup  install only
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION="0.13.9"
PY="${PYTHON:-python3}"

setup() {
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed as '$PY' (set PYTHON=/path/to/python3.11 to choose one)." >&2
    exit 2
  fi
  if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "==> installing uv $UV_VERSION into .tools/"
    "$PY" -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  echo "==> installing locked dependencies into .venv/"
  # The interpreter's real path, not a launcher's (a pyenv shim): uv compares it with the
  # .venv's and, on a mismatch, deletes and recreates .venv on every call, under the feet
  # of anything running from it (a second `./dev.sh ui`, a test run).
  UV_PYTHON="$("$PY" -c 'import sys; print(sys.executable)')" UV_PYTHON_DOWNLOADS=never \
    .tools/bin/uv sync --frozen --quiet
  # Bytecode for every installed module and ours, written even when PYTHONDONTWRITEBYTECODE
  # is set (as in CI): without it each `elysiactl` start recompiles Dagster, the Weaviate
  # client and pyarrow from source (~2x its start-up CPU). Up-to-date files are skipped,
  # so only the first setup pays (~20 s CPU).
  .venv/bin/python -m compileall -q -j 0 .venv/lib/python*/site-packages elysia_pipelines >/dev/null
}

# The browser end-to-end test drives Debian's chromium (Playwright cannot download browsers
# here). Install it when missing and we may (root + apt-get, as in CI); else say it is skipped.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (Debian package) for the browser test"
    if ! apt-cache show chromium >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q
    fi
    # A stale package list gives 404s: refresh once and retry before giving up.
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
      && ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; then
      echo "==> installing chromium failed (see apt-get above): the browser test will be skipped"
    fi
  else
    echo "==> chromium not found and cannot install it (needs root and apt-get):" \
      "the browser test will be skipped; install the 'chromium' package to run it"
  fi
}

# The Postgres deployment test (test_postgres_deployment.py) starts a private PostgreSQL
# server from Debian's `postgresql` binaries. Install them when missing and we may (root +
# apt-get, as in CI); else say the test is skipped.
ensure_postgres() {
  if { command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; } \
    || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing postgresql (Debian package) for the Postgres deployment test"
    if ! apt-cache show postgresql >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql \
      && ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; }; then
      echo "==> installing postgresql failed (see apt-get above): the Postgres test will be skipped"
    fi
  else
    echo "==> PostgreSQL (initdb, postgres) not found and cannot install it (needs root and" \
      "apt-get): the Postgres deployment test will be skipped; install the 'postgresql' package to run it"
  fi
}

export ELYSIA_HOME="${ELYSIA_HOME:-$PWD/.elysia}"

case "${1:-}" in
  setup)
    setup
    ;;
  ui)
    setup
    mkdir -p "$ELYSIA_HOME"
    ELYSIA_HOME="$(cd "$ELYSIA_HOME" && pwd)"  # absolute: the UI runs from DAGSTER_HOME
    export DAGSTER_HOME="${DAGSTER_HOME:-$ELYSIA_HOME/dagster_home}"
    mkdir -p "$DAGSTER_HOME"
    DAGSTER_HOME="$(cd "$DAGSTER_HOME" && pwd)"
    project="$PWD"
    [ -f "$DAGSTER_HOME/dagster.yaml" ] || cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
    echo "==> Dagster UI on http://${HOST:-127.0.0.1}:${PORT:-3000} (ELYSIA_HOME=$ELYSIA_HOME, DAGSTER_HOME=$DAGSTER_HOME)"
    export VIRTUAL_ENV="$project/.venv" PATH="$project/.venv/bin:$PATH"
    # Started from DAGSTER_HOME with the project's workspace.yaml: Dagster reads the
    # instance config there, and there is no other dagster.yaml in the working directory
    # for it to warn about (the project root's is the template copied above).
    cd "$DAGSTER_HOME"
    exec "$project/.venv/bin/dg" dev -w "$project/workspace.yaml" -h "${HOST:-127.0.0.1}" -p "${PORT:-3000}"
    ;;
  test)
    setup
    ensure_chromium
    ensure_postgres
    shift
    echo "==> ruff"
    .venv/bin/ruff check elysia_pipelines elysia_pipelines_tests benchmarks
    echo "==> pytest"
    set +e
    # Two workers: the suite is mostly waiting on subprocesses and sockets.
    .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
      echo "error: pytest collected no tests; that is a failure." >&2
      exit 1
    fi
    exit "$rc"
    ;;
  bench)
    setup
    shift
    # One process per benchmark, then one table of every measure (see benchmarks/run_all.py).
    exec .venv/bin/python benchmarks/run_all.py "$@"
    ;;
  *)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
