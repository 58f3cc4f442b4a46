#!/usr/bin/env bash
# Packaging check (called by `make wheel-check`, part of `make test`): build the sdist and the wheel
# with `python -m build` (the wheel is built from the sdist, so both are exercised), install the wheel
# into a fresh virtualenv with the pinned versions of requirements/constraints.txt, and run
# `supreme --version` and `supreme demo` from a folder outside the checkout, so nothing is imported
# from the source tree.  Usage: .ci/wheel_check.sh PYTHON   (a Python that has `build` installed)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/supreme-wheel-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m build --quiet --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; echo "wheel-check: python -m build failed" >&2; exit 1; }
WHEEL=$(ls "$WORK"/dist/*.whl)
SDIST=$(ls "$WORK"/dist/*.tar.gz)
echo "wheel-check: built $(basename "$SDIST") and $(basename "$WHEEL")"
"$PYTHON" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["supreme/py.typed", "sim/models/defaults/trading_signal.yaml"]
missing = [n for n in need if n not in names] + ([] if any(n.endswith("licenses/LICENSE") for n in names)
                                                 else ["dist-info/licenses/LICENSE"])
sys.exit(f"wheel-check: the wheel lacks {missing}" if missing else 0)
PY

"$PYTHON" -m venv "$WORK/venv"
# uv (a dev dependency) installs the pinned stack in seconds from its cache; pip is the fallback
UV=$(dirname "$PYTHON")/uv
if [ -x "$UV" ]; then
  "$UV" pip install --quiet --python "$WORK/venv/bin/python" -c "$ROOT/requirements/constraints.txt" "$WHEEL"
else
  "$WORK/venv/bin/python" -m pip install --quiet -c "$ROOT/requirements/constraints.txt" "$WHEEL"
fi
cd "$WORK"
"$WORK/venv/bin/supreme" --version
"$WORK/venv/bin/python" -c "import supreme, pathlib, sys; p = pathlib.Path(supreme.__file__).parent; \
sys.exit(0 if (p / 'py.typed').exists() and str(p).startswith('$WORK') else 'py.typed missing or wrong supreme')"
"$WORK/venv/bin/supreme" demo --no-progress --out "$WORK/out" >"$WORK/demo.log" 2>&1 \
  || { cat "$WORK/demo.log"; echo "wheel-check: supreme demo failed from the wheel" >&2; exit 1; }
test -s "$WORK/out/report.md" || { echo "wheel-check: the demo wrote no report.md" >&2; exit 1; }
echo "wheel-check: supreme demo ran from the installed wheel ($(grep -c . "$WORK/demo.log") lines of output)"
