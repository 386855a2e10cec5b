#!/usr/bin/env bash
# Build dnn_core with AddressSanitizer + UndefinedBehaviorSanitizer and Cython's
# bounds/initialization checks (DNN_SANITIZE=1, see setup.py), install it into a
# throwaway virtual environment and run the whole test suite under it.
#
#   tools/sanitize.sh [pytest arguments...]     (default: the whole suite, -q)
#
# Python itself is not instrumented, so the ASan runtime is LD_PRELOADed. Leak
# detection is off (CPython and numpy keep memory until exit by design; leaks
# are tools/valgrind.sh's and tests/test_reliability.py's job). Any report
# aborts the process that hit it (the test run fails) and is written to
# $DNN_SANITIZE_LOGS (default: build/sanitize/logs); the script prints how many
# report files there are and exits non-zero if there is any.
# Needs gcc with libasan/libubsan (Debian: libgcc-12-dev, installed with gcc).
# Environment: PYTHON (default python3), DNN_SANITIZE_VENV (reuse this venv
# instead of a temporary one; it must have --system-site-packages with numpy,
# scipy, cython, pytest, hypothesis).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
python="${PYTHON:-python3}"
logs="${DNN_SANITIZE_LOGS:-$repo/build/sanitize/logs}"

if [[ -n "${DNN_SANITIZE_VENV:-}" ]]; then
    venv="$DNN_SANITIZE_VENV"
    [[ -x "$venv/bin/python" ]] || "$python" -m venv --system-site-packages "$venv"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    venv="$tmp/venv"
    "$python" -m venv --system-site-packages "$venv"
fi

started=$SECONDS
echo "== building the checked extension (DNN_SANITIZE=1) into $venv"
DNN_SANITIZE=1 "$venv/bin/python" -m pip install --no-build-isolation --no-deps -q "$repo"
built=$SECONDS

libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
for lib in "$libasan" "$libubsan"; do
    [[ -f "$lib" ]] || { echo "sanitize.sh: $lib not found (gcc's sanitizer runtime)" >&2; exit 2; }
done
# the extension really is instrumented (else the run would prove nothing)
# (found without importing it: without the preloaded runtime ASan would abort)
engine="$(ls "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"/dnn_core/_engine.*.so)"
if ! ldd "$engine" | grep libasan >/dev/null; then
    echo "sanitize.sh: $engine is not linked with libasan" >&2
    exit 2
fi

rm -rf "$logs"
mkdir -p "$logs"
# allocator_may_return_null: a huge allocation is numpy's MemoryError, as without ASan;
# PYTHONMALLOC=malloc: Python objects go through ASan's allocator too
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
export PYTHONMALLOC=malloc
export PYTHONFAULTHANDLER=1
export PATH="$venv/bin:$PATH"     # the `dnn` console script of this build
export DNN_SANITIZE=1      # tests that measure resident memory skip (ASan's own)
# one BLAS thread: OpenBLAS's threads spin-wait, which on a busy machine makes the
# course's long trainings many times slower (BLAS is not what is checked here)
export OPENBLAS_NUM_THREADS=1
status=0
echo "== running the tests under ASan + UBSan"
# -P: not the source tree on sys.path (the tests must import the installed package)
"$venv/bin/python" -P -m pytest -p no:cacheprovider "${@:--q}" || status=$?
unset LD_PRELOAD

# a report is an ERROR (ASan) or a runtime error (UBSan); a log holding only
# ASan's "failed to allocate" WARNINGs is allocator_may_return_null at work (numpy
# then raises MemoryError, as a hostile-input test wants)
reports=$({ grep -l -E "ERROR: AddressSanitizer|runtime error:|SUMMARY:" -r "$logs" || true; } | wc -l)
echo "== build $((built - started)) s, tests $((SECONDS - built)) s (wall), pytest exit status $status"
echo "== CPU time (user, system) of this shell, then of its children:"
times
echo "== sanitizer reports: $reports (in $logs; $(find "$logs" -type f | wc -l) log files)"
for file in $(find "$logs" -type f); do
    echo "--- $file"
    head -40 "$file"
done
if (( reports > 0 )); then
    exit 1
fi
exit "$status"
