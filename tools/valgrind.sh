#!/usr/bin/env bash
# Run a short training job (tools/valgrind_job.py) under valgrind's memcheck and
# count the errors attributable to dnn_core: invalid reads/writes, uses of
# uninitialised values, bad frees and "definitely lost" leaks with a frame in
# one of dnn_core's extension modules.
#
#   tools/valgrind.sh            (uses python3 with dnn installed, e.g. a venv's)
#
# PYTHONMALLOC=malloc so that valgrind sees Python's allocations; errors
# entirely inside CPython, numpy or OpenBLAS are counted apart (not ours) and
# listed with --all. Exits non-zero if any error is attributable to dnn_core.
# Environment: PYTHON (default python3), VALGRIND_LOG (default build/valgrind.xml).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
log="$(realpath -m "${VALGRIND_LOG:-build/valgrind.xml}")"
job="$PWD/tools/valgrind_job.py"
mkdir -p "$(dirname "$log")"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }

started=$SECONDS
# the installed package, not the source tree (-P), one BLAS thread
(cd / && PYTHONMALLOC=malloc OPENBLAS_NUM_THREADS=1 \
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --track-origins=yes --num-callers=40 \
        --xml=yes --xml-file="$log" \
        "$python" -P "$job")
echo "== valgrind run: $((SECONDS - started)) s"

"$python" - "$log" "${1:-}" <<'PY'
import collections
import sys
import xml.etree.ElementTree as ET

log, show_all = sys.argv[1], sys.argv[2] == "--all"
ours, theirs = collections.Counter(), collections.Counter()
for error in ET.parse(log).getroot().iter("error"):
    kind = error.findtext("kind")
    objects = [frame.findtext("obj") or "" for frame in error.iter("frame")]
    mine = any("/dnn_core/" in obj for obj in objects)
    (ours if mine else theirs)[kind] += 1
    if mine or show_all:
        what = error.findtext("what") or error.findtext("xwhat/text")
        print(("DNN_CORE " if mine else "other ") + f"{kind}: {what}")
        for frame in error.iter("frame"):
            print("    ", frame.findtext("fn"), frame.findtext("file") or frame.findtext("obj"),
                  frame.findtext("line") or "")
print(f"== errors attributable to dnn_core: {sum(ours.values())} {dict(ours)}")
print(f"== errors elsewhere (CPython, numpy, OpenBLAS): {sum(theirs.values())} {dict(theirs)}")
sys.exit(1 if ours else 0)
PY
