"""Real ``mpirun`` jobs of tests/mpi_child.py, for the MPI tests: where mpirun
is, the jobs' environment, starting a job and waiting for it under a timeout
(a rank left waiting fails the test instead of hanging it)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
CHILD = Path(__file__).resolve().parent / "mpi_child.py"


def env(**extra):
    """The jobs' environment: Open MPI as root, oversubscribed, one BLAS
    thread, no PYTHONPATH (the installed package), plus ``extra``."""
    values = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                  OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1", **extra)
    values.pop("PYTHONPATH", None)
    return values


def start(tmp_path, n, spec, name="job", **extra):
    """Start ``mpirun -n n mpi_child.py`` on ``spec`` (written to
    ``<tmp_path>/<name>.json``) with :func:`env` (``extra``); the Popen."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return subprocess.Popen([MPIRUN, "--oversubscribe", "-n", str(n), sys.executable,
                             str(CHILD), str(path)], cwd=tmp_path, env=env(**extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process, timeout=60):
    """(return code, stdout, stderr) of a job; the test fails if it runs longer
    than ``timeout`` seconds."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the MPI job did not finish in {timeout} s (a rank hung):\n{err[-3000:]}")
    return process.returncode, out, err
