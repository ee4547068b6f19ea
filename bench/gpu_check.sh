#!/usr/bin/env bash
# One device check, a few minutes on an H100/H200: the GPU-relevant tests, `jaxcalc bench` on the
# device in float32 and float64, 1e9 float32 points for f1/f2, the grid benchmark's device check
# (bench/bench_grid.py --device-check, when present) and the per-call table against plain jax.jit
# (bench/bench_calls.py). Everything lands in $OUT: gpu_check.log, bench-float32.json,
# bench-float64.json, bench-1e9-float32.json, bench-float32.png, calls-device.md, calls-numpy.md
# (+ the grid check's files). Each step has its own timeout, so one failure cannot eat the budget.
#
#   OUT=/tmp/gpu bash bench/gpu_check.sh       # from anywhere; runs the package from this tree
#
# Needs python3 with jax (CUDA), numpy, sympy, matplotlib, pytest; nothing is installed. Test files
# whose imports are missing (hypothesis, optax, scipy, ...) are skipped and listed. Without a GPU
# (or with JAXCALC_GPU_CHECK_QUICK=1) it runs tiny sizes: a dry run of this script on any machine.
# JAXCALC_GPU_CHECK_TESTS="tests/a.py tests/b.py" overrides the test selection.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-bench/results/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Several JAX processes share the GPU here (tests start subprocesses, steps follow each other):
# JAX's default grab of 75% of device memory per process would starve the next one.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

step() {  # step NAME SECONDS COMMAND...: run with a timeout, log the exit status and duration
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    echo "=== $name (limit ${limit} s): $*"
    timeout -k 10 "$limit" "$@"
    rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s$([ $rc = 124 ] && echo ' (timed out)')"
}

bench() {  # bench NAME SECONDS ARGS...: `jaxcalc bench`, its table in the log, its JSON in $OUT
    local name=$1 limit=$2
    shift 2
    step "$name" "$limit" python3 -m jaxcalc bench --no-progress --max-call-seconds 1 \
        --time-budget "$budget" --save "$OUT/$name.json" "$@"
}

select_tests() {  # JAX-heavy test files whose imports are all installed
    python3 - <<'EOF'
import ast, importlib.util, pathlib, sys
# NumPy-only, notebook and plotting tests tell nothing about a GPU.
skip = {"test_fd.py", "test_notebooks.py", "test_plot.py", "test_demo.py"}
for path in sorted(pathlib.Path("tests").glob("test_*.py")):
    if path.name in skip:
        continue
    tree = ast.parse(path.read_text())
    roots = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in tree.body
              if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    missing = sorted(r for r in roots if r != "conftest" and not importlib.util.find_spec(r))
    if missing:
        print(f"skipping {path} (missing {', '.join(missing)})", file=sys.stderr)
    else:
        print(path)
EOF
}

{
echo "=== gpu_check $(date -u +%FT%TZ) in $PWD"
command -v nvidia-smi >/dev/null && nvidia-smi -L
backend=$(timeout 120 python3 -c "import jax; print(jax.default_backend())")
python3 -c "import jax, numpy, sympy; print('jax', jax.__version__, jax.devices(), '| numpy',
numpy.__version__, '| sympy', sympy.__version__)"
if [ "${JAXCALC_GPU_CHECK_QUICK:-0}" = 1 ] || [ "$backend" = cpu ] || [ -z "$backend" ]; then
    quick=1 sizes="1e3 1e4" budget=30
    echo "=== quick mode (backend: ${backend:-none}): tiny sizes, no 1e9 step"
else
    quick=0 sizes="1e6 1e7 1e8" budget=75
fi
tests=${JAXCALC_GPU_CHECK_TESTS:-$(select_tests)}
# shellcheck disable=SC2086  # word splitting of the lists is intended
step tests 200 python3 -m pytest -q -rf -m "not slow" --maxfail=10 -p no:cacheprovider $tests
# shellcheck disable=SC2086
bench bench-float32 110 --dtype float32 --sizes $sizes --plot "$OUT/bench-float32.png"
# shellcheck disable=SC2086
bench bench-float64 110 --dtype float64 --sizes $sizes
if [ "$quick" = 0 ]; then
    bench bench-1e9-float32 60 "3*x**2 + 1" "x**3 - 1/x" --dtype float32 --sizes 1e9 \
        --methods jaxcalc_ad jaxcalc_symbolic
fi
if [ -f bench/bench_grid.py ]; then
    OUT="$OUT" step grid 90 python3 bench/bench_grid.py --device-check
fi
for inputs in device numpy; do  # per call against plain jax.jit, inputs on the device or in NumPy
    step "calls-$inputs" 120 python3 bench/bench_calls.py --sections percall --rounds 21 \
        --batch 100 --inputs "$inputs" --out "$OUT/calls-$inputs.md"
done
echo "=== gpu_check done after $SECONDS s; files in $OUT:"
ls -la "$OUT"
} 2>&1 | tee -a "$OUT/gpu_check.log"
