"""Damaged model files are rejected by dnn.load with a clear ValueError, never
crash it, and never get anything unpickled (tests/damaged_files.py makes them;
it runs in a child process so that a crash fails the test)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import damaged_files

HERE = Path(__file__).resolve().parent


def test_damaged_files_are_rejected_and_nothing_is_unpickled(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    child = subprocess.run([sys.executable, str(HERE / "damaged_files.py"), str(tmp_path)],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    log = (tmp_path / "log.txt").read_text().splitlines() if (tmp_path / "log.txt").exists() else []
    assert child.returncode == 0, (
        f"the loader's process died (exit {child.returncode}) on: "
        f"{log[-1] if log else '(nothing logged)'}\n{child.stderr[-3000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    results = report["results"]
    print("damaged model files:", json.dumps(results))
    assert not report["failures"], "\n".join(report["failures"])
    assert not (tmp_path / damaged_files.MARKER).exists(), "a pickle payload was unpickled"
    assert report["control_unpickled"], "the payload must be able to create its marker"
    damaged = sum(counts["files"] for kind, counts in results.items() if kind != "intact")
    assert damaged >= 500
    for kind in ("truncated", "pickle", "foreign"):
        assert results[kind]["rejected"] == results[kind]["files"] - (kind == "foreign" and 0)
    assert results["intact"]["loaded equal"] == results["intact"]["files"] == 2
    # bit flips land mostly in data guarded by the zip's CRCs; a few in fields no reader
    # looks at (timestamps...): those must load equal, and did (no failures above)
    assert results["bit flips"]["rejected"] > results["bit flips"]["files"] // 2
