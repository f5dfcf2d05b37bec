# Sourced by scripts/studio and scripts/test: make .venv on first use, reinstall when the pins change.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.studio-installed"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" "$ROOT/requirements-nodeps.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$PY" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "Setting up $VENV (first run takes a few minutes)..." >&2
    [ -x "$PY" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip >&2
    "$PY" -m pip install --quiet -c "$ROOT/requirements.lock" -e "$ROOT[dev,package,ray]" >&2   # ray: the optional extra, for its tests
    "$PY" -m pip install --quiet --no-deps --ignore-requires-python -r "$ROOT/requirements-nodeps.txt" >&2
    echo "$want" > "$STAMP"
fi
