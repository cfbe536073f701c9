#!/usr/bin/env bash
# Set up hvpt_mm and the canonical OpenMMLab stack. Idempotent.
#
#   scripts/setup.sh            # into the active venv / conda env, else ./.venv
#
# Environment:
#   HVPT_PYTHON     interpreter to install into (overrides the choice above)
#   HVPT_CACHE      cache folder outside the checkout (default ~/.cache/hvpt_mm):
#                   built mmcv wheels, the CUDA compiler and build logs
#   HVPT_MMCV_CUDA  1: build mmcv's CUDA ops (e.g. on a login node without a
#                   GPU); 0: CPU ops; unset: CUDA ops when torch is a CUDA
#                   build and a GPU is visible
#   TORCH_CUDA_ARCH_LIST  GPU architectures of a CUDA build, e.g. "8.0;9.0"
#                   (default: the visible GPUs', else those torch was built for)
#   MAX_JOBS        parallel compile jobs for mmcv (default: number of cores)
#
# The decisions live in scripts/mmcv_build.py and scripts/setup_checks.py
# (tested in tests/test_scripts/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HVPT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hvpt_mm}"
MMCV_VERSION=2.1.0
REQ="$ROOT/requirements"
CHECKS="$ROOT/scripts/setup_checks.py"
BUILD="$ROOT/scripts/mmcv_build.py"
mkdir -p "$CACHE/wheels" "$CACHE/logs"

say() { printf '\033[1;34m[hvpt setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[hvpt setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# Python version, C++ compiler and Python.h, before anything is installed.
# Without mmcv's ops installed a missing compiler stops here.
preflight() {
  local optional=""
  (cd / && "$1" -c 'import mmcv.ops' 2>/dev/null) && optional="--compiler-optional"
  "$1" "$CHECKS" preflight $optional || die "$1 cannot build the stack (see above)"
}

# ---------------------------------------------------------------- python
OWN_VENV=0
if [[ -n "${HVPT_PYTHON:-}" && "$HVPT_PYTHON" != "$ROOT/.venv/bin/python" ]]; then
  PY="$HVPT_PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [[ -n "${CONDA_PREFIX:-}" && -x "$CONDA_PREFIX/bin/python" ]]; then
  PY="$CONDA_PREFIX/bin/python"
else
  OWN_VENV=1
  PY="$ROOT/.venv/bin/python"
  if [[ ! -x "$PY" ]]; then
    BASE_PY=""
    for cand in python3.11 python3.12 python3.10 python3; do
      p="$(command -v "$cand" || true)"
      if [[ -n "$p" ]] && "$p" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null; then
        BASE_PY="$p"; break
      fi
    done
    # None in range: preflight says why python3 cannot be used.
    BASE_PY="${BASE_PY:-$(command -v python3 || true)}"
    [[ -n "$BASE_PY" ]] || die "no python3 found; install Python 3.11 (Debian / Ubuntu: sudo apt-get install python3.11 python3.11-venv python3.11-dev)"
    preflight "$BASE_PY"
    say "creating virtual environment $ROOT/.venv with $BASE_PY"
    "$BASE_PY" -m venv "$ROOT/.venv" \
      || die "could not create a venv (Debian / Ubuntu: sudo apt-get install python3-venv)"
  fi
fi
"$PY" -c '' 2>/dev/null || die "cannot run the interpreter $PY"
PIP=("$PY" -m pip --disable-pip-version-check)
say "python: $PY ($("$PY" --version 2>&1))"
preflight "$PY"

# Fast path: nothing changed since the last successful setup, same build
# of mmcv's ops (the plan's key records CPU or CUDA and the architectures).
STAMP="$("$PY" -c 'import sys; print(sys.prefix)')/.hvpt_mm_setup"
plan_key() { (cd / && "$PY" "$BUILD" plan 2>/dev/null | sed -n 's/^MMCV_KEY=//p'); }
FINGERPRINT="$(cat "$REQ"/*.txt "$ROOT/setup.py" "$0" "$CHECKS" "$BUILD" | sha1sum | cut -c1-16):$ROOT"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FINGERPRINT:$(plan_key)" ]] \
   && (cd / && "$PY" -c 'import hvpt_mm, mmcv.ops, mmdet, mmseg, mmpretrain' 2>/dev/null) \
   && "$PY" "$CHECKS" mim-folder --check "$ROOT" 2>/dev/null; then
  say "already set up (stamp $STAMP); nothing to do"
  exit 0
fi

if [[ "$OWN_VENV" == 0 ]]; then
  # Say what the stack's pins change before changing anything.
  "$PY" "$CHECKS" pins "$REQ/build.txt" "$REQ/runtime.txt" \
    "$REQ/optional.txt" "$REQ/tests.txt" | while IFS= read -r line; do say "$line"; done \
    || die "cannot read the installed versions of $PY"
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
  "${PIP[@]}" install -r "$REQ/torch.txt"
fi

# Constraints for every later pip call: the installed torch and mmcv's pin
# (the requirement files add the rest with -c).
PINS="$(mktemp "$CACHE/constraints.XXXXXX")"
trap 'rm -f "$PINS"' EXIT
"$PY" - >"$PINS" <<EOF
from importlib.metadata import version  # torch.__version__ adds +cu130
print(f"torch=={version('torch')}\ntorchvision=={version('torchvision')}")
print('mmcv==$MMCV_VERSION')
EOF
CONSTRAINTS=(-c "$PINS" -c "$REQ/build.txt" -c "$REQ/runtime.txt" -c "$REQ/optional.txt")

# ---------------------------------------------------------------- mmcv
PLAN="$(cd / && "$PY" "$BUILD" plan)" || die "cannot plan the mmcv build (see above)"
eval "$PLAN"
say "mmcv ops: $MMCV_MODE build ($MMCV_REASON)"
if [[ "$MMCV_MODE" == cuda ]]; then
  say "  CUDA $MMCV_CUDA, architectures $MMCV_ARCH_LIST ($MMCV_ARCH_SOURCE)"
fi
OPS_CHECK=("$PY" "$BUILD" ops-check --device "$MMCV_OPS_DEVICE")
[[ "$MMCV_MODE" == cuda ]] && OPS_CHECK+=(--expect-cuda "$MMCV_CUDA")
mmcv_ok() {
  : >"$CACHE/logs/ops-check.err"
  (cd / && "$PY" -c "import mmcv, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null \
    && "${OPS_CHECK[@]}" 2>"$CACHE/logs/ops-check.err") \
    | while IFS= read -r line; do say "$line"; done
  return "${PIPESTATUS[0]}"
}

if mmcv_ok; then
  say "keeping installed mmcv $MMCV_VERSION with compiled ops"
else
  if [[ -s "$CACHE/logs/ops-check.err" ]]; then
    say "the installed mmcv does not serve this build: $(tail -n 1 "$CACHE/logs/ops-check.err" | sed 's/.*ERROR:[^ ]* //')"
  fi
  "${PIP[@]}" install -q -r "$REQ/build.txt" -c "$PINS"
  # A cached wheel for this key, or a new build (the wheel is ABI-bound to
  # the torch build and the Python version; CPU and CUDA apart).
  WHEEL="$(cd / && "$PY" "$BUILD" wheel --cache "$CACHE" --version "$MMCV_VERSION")" \
    || die "no mmcv $MMCV_VERSION wheel (see above)"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL"
  # mmcv's own runtime dependencies (not torch); mmcv.ops imports mmengine.
  "${PIP[@]}" install -q addict packaging Pillow pyyaml yapf opencv-python \
    -r "$REQ/runtime.txt" "${CONSTRAINTS[@]}"
  mmcv_ok || { cat "$CACHE/logs/ops-check.err" >&2;
    die "mmcv $MMCV_VERSION installed from $WHEEL fails its ops check; remove $(dirname "$WHEEL") and re-run"; }
fi

# ---------------------------------------------------------------- the rest
say "installing mmengine, mmpretrain, mmdet, mmsegmentation and hvpt_mm"
"${PIP[@]}" install -q -r "$REQ/build.txt" -r "$REQ/runtime.txt" \
  -r "$REQ/optional.txt" -c "$PINS"
# The test tools under the stack's pins: openmim's dependencies would
# otherwise upgrade numpy to 2.x and downgrade setuptools.
say "installing the test tools (requirements/tests.txt) under the stack's pins"
"${PIP[@]}" install -q -r "$REQ/tests.txt" "${CONSTRAINTS[@]}"
"$PY" "$CHECKS" verify "$PINS" "$REQ/build.txt" "$REQ/runtime.txt" "$REQ/optional.txt" \
  || die "the environment breaks the stack's pins (above; numpy must stay < 2)"
# Editable in setuptools' compat mode: the checkout is a path entry and
# hvpt_mm imports from it (pip passes the setting only with --use-pep517;
# without, it runs setup.py develop, which drops it). mim looks for configs
# and tools in site-packages/hvpt_mm/.mim: a link to the checkout's.
"${PIP[@]}" install -q --no-deps --no-build-isolation --use-pep517 -e "$ROOT" \
  --config-settings editable_mode=compat
"$PY" "$CHECKS" mim-folder "$ROOT" || die "mim cannot find the package's configs (see above)"

(cd / && "$PY" - <<'EOF') || die "the installed stack does not import; see the traceback above"
import torch, mmcv, mmengine, mmpretrain, mmdet, mmseg, hvpt_mm
import mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401
print(f'torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} (ops), mmpretrain {mmpretrain.__version__}, '
      f'mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'hvpt_mm {hvpt_mm.__version__}')
EOF
# Real photos for the demo (Debian package dataset-fashion-mnist).
if ! PYTHONPATH="$ROOT/tools/dataset_converters" "$PY" -c 'from demo_scenes import find_fashion_mnist as f; f()' 2>/dev/null; then
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
echo "$FINGERPRINT:$MMCV_KEY" >"$STAMP"
say "done"
