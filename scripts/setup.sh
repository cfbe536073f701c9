#!/usr/bin/env bash
# Set up hvpt_mm and the canonical OpenMMLab stack. Idempotent.
#
#   scripts/setup.sh            # into the active venv / conda env, else ./.venv
#
# Environment:
#   HVPT_PYTHON   interpreter to install into (overrides the choice above)
#   HVPT_CACHE    cache folder outside the checkout (default ~/.cache/hvpt_mm);
#                 the built mmcv wheel and build logs live there
#   MAX_JOBS      parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HVPT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hvpt_mm}"
MMCV_VERSION=2.1.0
mkdir -p "$CACHE/wheels" "$CACHE/logs"

say() { printf '\033[1;34m[hvpt setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[hvpt setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- python
if [[ -n "${HVPT_PYTHON:-}" && "$HVPT_PYTHON" != "$ROOT/.venv/bin/python" ]]; then
  PY="$HVPT_PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [[ -n "${CONDA_PREFIX:-}" && -x "$CONDA_PREFIX/bin/python" ]]; then
  PY="$CONDA_PREFIX/bin/python"
else
  if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
    BASE_PY="$(command -v python3.11 || command -v python3)" \
      || die "no python3 found; install Python 3.11 (Debian: apt install python3 python3-venv)"
    say "creating virtual environment $ROOT/.venv with $BASE_PY"
    "$BASE_PY" -m venv "$ROOT/.venv" \
      || die "could not create a venv (Debian: apt install python3-venv)"
  fi
  PY="$ROOT/.venv/bin/python"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
say "python: $PY ($("$PY" --version 2>&1))"

# Fast path: nothing changed since the last successful setup.
STAMP_DIR="$("$PY" -c 'import sys; print(sys.prefix)')"
STAMP="$STAMP_DIR/.hvpt_mm_setup"
FINGERPRINT="$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$0" | sha1sum | cut -c1-16):$ROOT"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FINGERPRINT" ]] \
   && (cd / && "$PY" -c 'import hvpt_mm, mmcv.ops, mmdet, mmseg, mmpretrain' 2>/dev/null); then
  say "already set up (stamp $STAMP); nothing to do"
  exit 0
fi

# ---------------------------------------------------------------- torch
if "$PY" - <<'EOF' 2>/dev/null
import torch, torchvision
from packaging.version import Version
assert Version(torch.__version__.split('+')[0]) >= Version('2.1')
EOF
then
  say "keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  say "installing torch (requirements/torch.txt)"
  "${PIP[@]}" install -r "$ROOT/requirements/torch.txt"
fi

# ---------------------------------------------------------------- mmcv
mmcv_ok() {
  "$PY" - <<EOF 2>/dev/null
import mmcv, mmcv.ops
from mmcv.ops import nms  # needs the compiled extension
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
EOF
}

if mmcv_ok; then
  say "keeping installed mmcv $MMCV_VERSION with compiled ops"
else
  "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
  # The wheel is ABI-bound to the torch build and the Python version.
  TAG="$("$PY" -c 'import sys, torch; print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}")')"
  WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-$TAG"
  WHEEL="$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$WHEEL" ]]; then
    # torch's ATen.h states the C++ standard it needs (C++20 from torch 2.10).
    CXX_STD="$("$PY" - <<'EOF'
import os, re, torch
header = os.path.join(os.path.dirname(torch.__file__), 'include', 'ATen', 'ATen.h')
code = open(header).read() if os.path.exists(header) else ''
m = re.search(r'__cplusplus\s*<\s*(\d{6})L', code)
year = int(m.group(1)[:4]) if m else 2017
print({2011: 'c++14', 2014: 'c++14', 2017: 'c++17', 2020: 'c++20'}.get(year, f'c++{str(year)[2:]}'))
EOF
)"
    LOG="$CACHE/logs/mmcv-$MMCV_VERSION-$TAG-$(date +%Y%m%d-%H%M%S).log"
    SRC="$(mktemp -d "$CACHE/mmcv-src.XXXXXX")"
    say "building mmcv $MMCV_VERSION with ops for $TAG, -std=$CXX_STD (about 7 minutes on 2 cores)"
    say "build log: $LOG"
    {
      "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$SRC" \
      && tar -xzf "$SRC/mmcv-$MMCV_VERSION.tar.gz" -C "$SRC" \
      && sed -i "s/-std=c++17/-std=$CXX_STD/g" "$SRC/mmcv-$MMCV_VERSION/setup.py" \
      && (cd "$SRC/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
          "${PIP[@]}" wheel -v --no-deps --no-build-isolation . -w "$SRC/dist")
    } >"$LOG" 2>&1 &
    START=$(date +%s)
    BUILD_PID=$!
    # Show progress: compiled units so far out of the ~77 the CPU build has.
    while kill -0 "$BUILD_PID" 2>/dev/null; do
      sleep 20
      n=$(grep -oE '\[[0-9]+/[0-9]+\]' "$LOG" 2>/dev/null | tail -n1 || true)
      say "  ... mmcv build running ($(( $(date +%s) - START ))s, compiled ${n:-[0/?]})"
    done
    if ! wait "$BUILD_PID"; then
      cause="see the end of the log"
      if grep -q 'C++20 or later' "$LOG"; then
        cause="the torch headers need a newer C++ standard than -std=$CXX_STD"
      elif grep -q "No module named 'pkg_resources'" "$LOG"; then
        cause="setuptools without pkg_resources; pip install 'setuptools<81'"
      elif grep -qE 'g\+\+: (command )?not found|error: command .g\+\+. failed: No such file' "$LOG"; then
        cause="no C++ compiler; apt install g++"
      elif grep -qE 'Killed signal|killed|out of memory' "$LOG"; then
        cause="the compiler ran out of memory; retry with MAX_JOBS=1"
      elif grep -qE 'Could not find a version|Failed to establish|No matching distribution' "$LOG"; then
        cause="the mmcv sdist could not be downloaded from PyPI"
      fi
      tail -n 25 "$LOG" >&2
      die "mmcv build failed: $cause. Full log: $LOG"
    fi
    mkdir -p "$WHEEL_DIR"
    mv "$SRC"/dist/mmcv-*.whl "$WHEEL_DIR/"
    rm -rf "$SRC"
    WHEEL="$(ls "$WHEEL_DIR"/mmcv-*.whl | head -n1)"
    say "cached $WHEEL"
  else
    say "using cached mmcv wheel $WHEEL"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL"
  # mmcv's own runtime dependencies (not torch); mmcv.ops imports mmengine.
  "${PIP[@]}" install -q addict packaging Pillow pyyaml yapf opencv-python \
    -r "$ROOT/requirements/runtime.txt"
  mmcv_ok || die "mmcv $MMCV_VERSION installed from $WHEEL but mmcv.ops does not import; remove $WHEEL_DIR and re-run"
fi

# ---------------------------------------------------------------- the rest
say "installing mmengine, mmpretrain, mmdet, mmsegmentation, test tools and hvpt_mm"
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt" \
  -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/optional.txt" \
  -r "$ROOT/requirements/tests.txt"
# compat mode: mmengine finds an editable package (and its .mim configs)
# through its distribution location, which PEP 660 finders hide.
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" \
  --config-settings editable_mode=compat

(cd / && "$PY" - <<'EOF') || die "the installed stack does not import; see the traceback above"
import torch, mmcv, mmengine, mmpretrain, mmdet, mmseg, hvpt_mm
import mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401
from mmcv.ops import RoIAlign, nms  # noqa: F401
print(f'torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} (ops), mmpretrain {mmpretrain.__version__}, '
      f'mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'hvpt_mm {hvpt_mm.__version__}')
EOF
# Real photos for the demo (Debian package dataset-fashion-mnist).
if ! "$PY" -c 'from hvpt_mm.datasets.demo_scenes import find_fashion_mnist as f; f()' 2>/dev/null; then
  SUDO=""
  [[ "$(id -u)" != 0 ]] && sudo -n true 2>/dev/null && SUDO="sudo -n"
  if command -v apt-get >/dev/null && { [[ "$(id -u)" == 0 ]] || [[ -n "$SUDO" ]]; }; then
    say "installing the demo photos (apt-get install dataset-fashion-mnist)"
    $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
      || say "WARNING: could not install dataset-fashion-mnist; the demo needs it (see README)"
  else
    say "WARNING: the demo needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist, or set HVPT_FASHION_MNIST to a folder with its 4 IDX files"
  fi
fi
echo "$FINGERPRINT" >"$STAMP"
say "done"
