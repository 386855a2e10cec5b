"""Hostile calls to every public function and method (tests/hostile.py draws
them with hypothesis): each must raise ValueError, TypeError or MemoryError
naming the argument, or succeed with the right result; never crash.

Each group of targets runs in a child process (tests/hostile_runner.py),
which logs every case before running it: a segfault, abort or OOM kill fails
the test with the case that caused it. The "default" hypothesis profile
draws the same cases every run; HYPOTHESIS_PROFILE=explore draws new ones
(5x as many; DNN_HOSTILE_SCALE sets the factor).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hostile

HERE = Path(__file__).resolve().parent
COUNTS = {}


def run_child(targets, log, cwd, **environment):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               **environment)
    child = subprocess.run([sys.executable, str(HERE / "hostile_runner.py"), str(log), *targets],
                           capture_output=True, text=True, timeout=900, cwd=cwd, env=env)
    return child, log.read_text().splitlines() if log.exists() else []


def test_a_crashing_case_fails_the_run_and_is_named(tmp_path):
    """The harness itself: a segfault in a case ends the child with SIGSEGV, and the
    log names the case that did it."""
    # (under tools/sanitize.sh, ASan must let the deliberate SIGSEGV through
    # instead of reporting it)
    asan = os.environ.get("ASAN_OPTIONS")
    child, cases = run_child(["selftest.segfault"], tmp_path / "cases.txt", tmp_path,
                             **({"ASAN_OPTIONS": asan + ":handle_segv=0"} if asan else {}))
    assert child.returncode < 0, (child.returncode, child.stdout[-500:], child.stderr[-500:])
    assert cases and cases[-1].startswith("selftest(pointer <- NULL")


@pytest.mark.parametrize("group", sorted(hostile.GROUPS))
def test_hostile_calls_are_refused_clearly_and_never_crash(group, tmp_path):
    child, cases = run_child(hostile.GROUPS[group], tmp_path / "cases.txt", tmp_path)
    assert child.returncode == 0, (
        f"the child died (exit {child.returncode}) after {len(cases)} cases; the last one: "
        f"{cases[-1] if cases else '(none)'}\n{child.stderr[-3000:]}")
    results = json.loads(child.stdout.strip().splitlines()[-1])
    for target, result in results.items():
        COUNTS[target] = result["cases"]
    print(f"hostile cases tried ({group}):",
          ", ".join(f"{target} {result['cases']}" for target, result in results.items()),
          f"= {sum(result['cases'] for result in results.values())}, 0 crashes")
    failures = [failure for result in results.values() for failure in result["failures"]]
    assert not failures, f"{len(failures)} kinds of bad outcome:\n" + "\n".join(failures)
    for target in hostile.GROUPS[group]:
        assert results[target]["cases"] >= min(hostile.EXAMPLES[target], 8)
