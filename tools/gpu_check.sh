#!/usr/bin/env bash
# GPU check of omniseg3d_mesh, unattended, in under 8 minutes from a bare checkout, offline.
#
# What it does (each step logged to OUT/<step>.log, timed in OUT/summary.txt; a failing
# step is recorded and the next one still runs):
#   1. env       nvidia-smi, python, torch + CUDA, nvcc, ninja, whether open3d is there
#   2. venv      a virtual environment that sees the system's torch (--system-site-packages)
#   3. deps      the project's other dependencies from WHEELS (no index, no internet)
#   4. nvdiffrast  built from NVDIFFRAST_SRC against the installed torch
#                (TORCH_CUDA_ARCH_LIST=9.0 pip install --no-build-isolation <src>: about 60 s on 16 cores)
#   5. project   pip install --no-deps -e .  (open3d is NOT installed: the GPU side does not need it)
#   6. tests     the GPU tests: tests/render/test_nvdiffrast.py (compared with the stored CPU-backend
#                reference tests/render/data/nvdiffrast_reference.npz, since open3d is absent), the tests
#                marked gpu in tests/test_fit.py (a fit on CUDA), and the no-open3d import test
#   7. bench     tools/bench_fit.py rows: 90k vertices x 60 views with --device cuda, 2.04M vertices x 300
#                views (--vertices 2000000, masks streamed from disk), then 90k x 60 with the fit on the CPU
#                (all cores); nvdiffrast fragments in all three
#
# Usage:
#   tools/gpu_check.sh NVDIFFRAST_SRC WHEELS [OUT]        (OUT defaults to ./gpu_check_out)
#
# The machine needs: an NVIDIA GPU, torch 2.11 with CUDA 13 (importable by `python3`), nvcc, ninja.
#
# Prepare on a machine WITH internet, using the GPU machine's Python version (3.12 below; check it with
# `python3 -V` there), and copy both folders over:
#
#   git clone --depth 1 https://github.com/NVlabs/nvdiffrast nvdiffrast-src
#   pip download -d wheels --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       "numpy>=1.24" "scipy>=1.10" "trimesh>=4.0" "scikit-learn>=1.3" "pillow>=9.0" "pyyaml>=6.0" "rich>=13.0" \
#       "pytest>=7.4" "pytest-timeout>=2.2" setuptools wheel
#
# pip download brings their dependencies along (joblib, threadpoolctl, markdown-it-py, mdurl, pygments,
# iniconfig, pluggy, packaging). Not in the list on purpose: torch (the machine's own), open3d (105 MB; the
# GPU tests use the stored reference instead), segment-anything (its GPU test skips without it).
#
# Environment knobs: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default 9.0 = H100/H200),
# MAX_JOBS (nvcc jobs, default: all cores), GPU_CHECK_SKIP_BIG=1 (skip the 2M x 300 row),
# GPU_CHECK_DRY_RUN=1 (a CPU-only rehearsal of steps 1, 6 and 7 with the current python: no installs,
# no build, CPU devices, a small bench scene; used to test this script on machines without a GPU).
set -u -o pipefail

if [ $# -lt 2 ]; then
    sed -n '2,45p' "$0"
    exit 2
fi
SRC=$(cd "$1" 2>/dev/null && pwd) || { echo "nvdiffrast source folder $1 not found" >&2; exit 2; }
WHEELS=$(cd "$2" 2>/dev/null && pwd) || { echo "wheels folder $2 not found" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${3:-$REPO/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PYTHON=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY_RUN:-0}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
cd "$REPO"
: > "$OUT/summary.txt"
START=$(date +%s)

# step NAME TIMEOUT_S COMMAND...: run, log to OUT/NAME.log, record rc and seconds
step() {
    local name=$1 limit=$2
    shift 2
    local t0 rc
    t0=$(date +%s)
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    echo "   rc=$rc  $(( $(date +%s) - t0 )) s  (log: $name.log)" | tee -a "$OUT/summary.txt"
    return $rc
}

# 1. environment
step env 60 bash -c "
    date -u; uname -a; nproc; free -g || true
    nvidia-smi || echo 'nvidia-smi: not found'
    command -v nvcc && nvcc --version || echo 'nvcc: not found'
    command -v ninja && ninja --version || echo 'ninja: not found'
    $PYTHON -V
    $PYTHON -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no CUDA device\")'
    $PYTHON -c 'import importlib.util as u; print(\"open3d installed:\", u.find_spec(\"open3d\") is not None)'
    ls $WHEELS
"

if [ "$DRY" = "1" ]; then
    PY=$PYTHON
    DEVICE=cpu BACKEND=cpu BENCH_SMALL="--vertices 20000 --views 8 --steps 100"
    echo "dry run: no installs, CPU devices" | tee -a "$OUT/summary.txt"
else
    # 2. a venv that sees the system torch, so nothing outside this checkout changes
    VENV=$REPO/.gpu_venv
    step venv 120 "$PYTHON" -m venv --system-site-packages "$VENV"
    PY=$VENV/bin/python
    # 3. the project's other dependencies, offline
    step deps 180 "$PY" -m pip install "numpy>=1.24" "scipy>=1.10" "trimesh>=4.0" "scikit-learn>=1.3" "pillow>=9.0" \
        "pyyaml>=6.0" "rich>=13.0" "pytest>=7.4" "pytest-timeout>=2.2" setuptools wheel
    # 4. nvdiffrast, compiled against this torch (it needs torch present: no build isolation)
    step nvdiffrast 420 "$PY" -m pip install -v --no-build-isolation "$SRC"
    step nvdiffrast_import 240 "$PY" -c "import nvdiffrast, nvdiffrast.torch as dr, torch; print(getattr(nvdiffrast, '__version__', '?')); dr.RasterizeCudaContext(device='cuda'); print('RasterizeCudaContext ok')"
    # 5. the project itself, without open3d
    step project 180 "$PY" -m pip install --no-deps --no-build-isolation -e "$REPO"
    DEVICE=cuda BACKEND=nvdiffrast BENCH_SMALL=""
fi

# 6. GPU tests (open3d absent: the stored reference stands in for the CPU backend)
step tests 300 "$PY" -m pytest -q -rs -p no:cacheprovider --junitxml="$OUT/tests.xml" \
    tests/render/test_nvdiffrast.py "tests/test_core.py::test_gpu_side_modules_import_without_open3d"
step tests_marked_gpu 300 "$PY" -m pytest -q -rs -p no:cacheprovider -m gpu --junitxml="$OUT/tests_gpu.xml" \
    tests/test_fit.py tests/render/test_nvdiffrast.py

# 7. bench rows (each prints its table with the command that made it)
step bench_90k 300 "$PY" tools/bench_fit.py --device "$DEVICE" --backend "$BACKEND" $BENCH_SMALL
if [ "$DRY" != "1" ]; then
    if [ "${GPU_CHECK_SKIP_BIG:-0}" != "1" ]; then
        step bench_2m 420 "$PY" tools/bench_fit.py --device "$DEVICE" --backend "$BACKEND" --vertices 2000000 --views 300 --masks disk
    fi
    # the same fragments with the fit on the CPU (all cores): what the GPU buys the step loop
    step bench_90k_cpu_fit 240 "$PY" tools/bench_fit.py --device cpu --backend "$BACKEND" --threads "$(nproc)"
fi

{
    echo
    echo "total $(( $(date +%s) - START )) s"
    for f in "$OUT"/bench_*.log; do
        [ -f "$f" ] || continue
        echo
        echo "-- $(basename "$f")"
        sed -n '/^| device/,$p' "$f"
    done
    echo
    echo "-- test summary"
    grep -h -E "passed|failed|error|skipped|SKIPPED" "$OUT"/tests*.log || true
} >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
echo "all output in $OUT"
