"""Atomic writes (dnn._files.atomic_write and every writer that uses it):
real processes killed with SIGKILL during a save, a real full disk (a small
tmpfs) and a real file-size limit (RLIMIT_FSIZE). The target always holds the
complete old file or the complete new one."""
import errno
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

import dnn
from dnn import cli
from dnn._files import atomic_write

#: layers of the network saved in the kill test: 30.7 MB of float64 parameters
BIG = [800, 1600, 1600, 1]
KILL_TRIALS = 24


def strays(folder, target="model.npz"):
    return sorted(n for n in os.listdir(folder) if n.startswith(f".{target}.")
                  and n.endswith(".tmp"))


def same_parameters(a, b):
    pa, pb = a.parameters, b.parameters
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


# ---------------------------------------------------------------------------
# unit

def test_replaces_the_target_whole(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old content")
    with atomic_write(target) as file:
        file.write(b"new")
        assert target.read_bytes() == b"old content"  # untouched until complete
        assert strays(tmp_path, "f.bin")               # the temporary file, beside it
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.bin"]
    with atomic_write(str(target), "w", encoding="utf-8") as file:  # text mode
        file.write("text é\n")
    assert target.read_text(encoding="utf-8") == "text é\n"


@pytest.mark.parametrize("error", [ValueError("the caller's"), KeyboardInterrupt()])
def test_a_failing_writer_leaves_the_old_file(tmp_path, error):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old content")
    with pytest.raises(type(error)) as raised:  # as it is, not an OSError
        with atomic_write(target) as file:
            file.write(b"half of the new")
            raise error
    assert raised.value is error
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_a_failing_write_is_an_oserror_naming_the_target(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old content")
    with pytest.raises(OSError) as raised:
        with atomic_write(target) as file:
            file.write(b"x")
            raise OSError(errno.EIO, "Input/output error")
    assert raised.value.errno == errno.EIO and raised.value.filename == str(target)
    assert str(target) in str(raised.value)
    assert isinstance(raised.value.__cause__, OSError)
    assert target.read_bytes() == b"old content" and os.listdir(tmp_path) == ["f.bin"]


def test_permissions_kept_or_the_umask_default(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    with atomic_write(target) as file:
        file.write(b"new")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    old_mask = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "new.bin") as file:
            file.write(b"new")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.bin").st_mode) == 0o640  # 0o666 & ~0o027


def test_a_symbolic_link_is_followed(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "model.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    net = dnn.Network([2, 3, 1], seed=0)
    net.save(link)
    assert link.is_symlink() and same_parameters(dnn.load(real), net)
    assert os.listdir(tmp_path / "real") == ["model.npz"]


def test_missing_folder_and_folder_target(tmp_path):
    missing = tmp_path / "no" / "such" / "model.npz"
    with pytest.raises(FileNotFoundError) as raised:
        dnn.Network([2, 3, 1], seed=0).save(missing)
    assert raised.value.filename == str(missing) and str(missing) in str(raised.value)
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        dnn.Network([2, 3, 1], seed=0).save(tmp_path / "dir")
    assert raised.value.filename == str(tmp_path / "dir")
    assert os.listdir(tmp_path) == ["dir"] and os.listdir(tmp_path / "dir") == []


def test_save_writes_once_and_loads(tmp_path):
    net = dnn.Network([3, 5, 2], "tanh", "softmax", seed=4)
    target = tmp_path / "model.npz"
    target.write_bytes(b"not a model yet")
    net.save(target)
    assert same_parameters(dnn.load(target), net) and os.listdir(tmp_path) == ["model.npz"]


# ---------------------------------------------------------------------------
# kill -9 during a save over a good file

CHILD = textwrap.dedent("""
    import sys, dnn
    path = sys.argv[1]
    net = dnn.Network({big}, seed=2, n_threads=1)
    params = net.parameters
    print("ready", flush=True)
    for i in range(1, 1000):
        params["b1"][0, 0] = i          # save i holds the marker i
        net.parameters = params
        print("saving", i, flush=True)
        net.save(path)
        print("saved", i, flush=True)
""").format(big=BIG)


def test_sigkill_during_save_never_leaves_an_unreadable_file(tmp_path):
    target = tmp_path / "model.npz"
    old = dnn.Network(BIG, seed=1, n_threads=1)
    good = tmp_path / "good.npz"
    began = time.perf_counter()
    old.save(good)
    save_seconds = time.perf_counter() - began
    new = dnn.Network(BIG, seed=2, n_threads=1)  # what the child saves, but b1[0, 0]
    new_params = new.parameters

    rng = random.Random(20261202)
    outcomes = {"old": 0, "new": 0}
    stray_trials = trials = 0
    markers = []
    for trial in range(KILL_TRIALS):
        for name in strays(tmp_path):
            os.unlink(tmp_path / name)
        shutil.copyfile(good, target)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(target)],
                                 stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            assert child.stdout.readline().strip() == "ready"
            # wait for the start of a random save (1st-3rd), then a random delay
            # spread over 1.5 save durations: most kills land in the write
            for _ in range(rng.randint(1, 3)):
                line = child.stdout.readline()
                while line and not line.startswith("saving"):
                    line = child.stdout.readline()
            time.sleep(rng.uniform(0.0, 1.5 * save_seconds))
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=60)
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        trials += 1
        stray_trials += bool(strays(tmp_path))

        loaded = dnn.load(target)  # must always succeed
        params = loaded.parameters
        if same_parameters(loaded, old):
            outcomes["old"] += 1
            continue
        marker = params["b1"][0, 0]
        assert marker == int(marker) and marker >= 1, marker
        expected = dict(new_params, b1=new_params["b1"].copy())
        expected["b1"][0, 0] = marker
        assert all(np.array_equal(params[k], expected[k]) for k in expected), \
            f"trial {trial}: neither the old model nor a complete new one"
        outcomes["new"] += 1
        markers.append(int(marker))

    print(f"\n{trials} SIGKILL trials (save {save_seconds * 1e3:.0f} ms, "
          f"{sum(v.size for v in new_params.values()) * 8 / 1e6:.1f} MB): old {outcomes['old']}, "
          f"new {outcomes['new']} (saves {sorted(markers)}); "
          f"{stray_trials} left a .tmp beside the target (killed mid-write)")
    assert trials == KILL_TRIALS >= 20
    assert outcomes["old"] + outcomes["new"] == trials
    # the kills did land during writes (a temporary file was being written)
    assert stray_trials >= 1


# ---------------------------------------------------------------------------
# a full disk: a real small tmpfs

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (mounted for the test, unmounted after)."""
    folder = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command; the RLIMIT_FSIZE test covers a failing write")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused ({mounted.stderr.strip() or 'not root'}); "
                    "test_file_size_limit covers a failing write with a real EFBIG")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def free_blocks(folder):
    return os.statvfs(folder).f_bfree


def fill(folder):
    """Fill the file system up (a filler file written until ENOSPC)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return folder / "filler"


def test_disk_full_during_save_keeps_the_old_model(small_disk):
    target = small_disk / "model.npz"
    old = dnn.Network([10, 8, 1], seed=1)
    old.save(target)
    before = target.read_bytes()
    free = free_blocks(small_disk)
    too_big = dnn.Network([400, 1000, 1], seed=2)  # 3.2 MB > 2 MiB
    with pytest.raises(OSError) as raised:
        too_big.save(target)
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(target) and str(target) in str(raised.value)
    assert target.read_bytes() == before and same_parameters(dnn.load(target), old)
    assert os.listdir(small_disk) == ["model.npz"]  # no temporary file left
    assert free_blocks(small_disk) == free          # its space given back
    # the same network saves where there is room, and over the old file once room is made
    small = dnn.Network([10, 8, 1], seed=3)
    small.save(target)
    assert same_parameters(dnn.load(target), small)


def test_full_disk_predict_out_keeps_the_old_file(small_disk, tmp_path, capsys):
    net = dnn.Network([2, 3, 1], seed=0)
    model = tmp_path / "m.npz"
    net.save(model)
    data = tmp_path / "x.csv"
    rows = np.random.default_rng(0).standard_normal((2000, 2))
    data.write_text("".join(f"{a},{b}\n" for a, b in rows))
    out = small_disk / "predictions.csv"
    out.write_text("prediction\nold\n")
    filler = fill(small_disk)
    status = cli.main(["predict", "--model", str(model), "--data", str(data),
                       "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and str(out) in err, err
    assert out.read_text() == "prediction\nold\n"
    assert sorted(os.listdir(small_disk)) == ["filler", "predictions.csv"]
    filler.unlink()
    assert cli.main(["predict", "--model", str(model), "--data", str(data),
                     "--out", str(out)]) == 0
    assert len(out.read_text().split()) == 2001


def test_full_disk_onnx_keeps_the_old_file(small_disk):
    pytest.importorskip("onnx", reason="to_onnx needs onnx")
    net = dnn.Network([600, 1000, 1], seed=0)  # 4.8 MB of float64 weights > 2 MiB
    path = small_disk / "net.onnx"
    path.write_bytes(b"old onnx")
    with pytest.raises(OSError) as raised:
        net.to_onnx(path)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert path.read_bytes() == b"old onnx" and os.listdir(small_disk) == ["net.onnx"]


def test_full_disk_plot_keeps_the_old_png(small_disk, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot is drawn with matplotlib")
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    data.write_text("x1,x2,label\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in X))
    png = small_disk / "curves.png"
    png.write_bytes(b"\x89PNG old")
    filler = fill(small_disk)
    status = cli.main(["train", "--data", str(data), "--epochs", "2", "--quiet",
                       "--out", str(tmp_path / "m.npz"), "--plot", str(png)])
    err = capsys.readouterr().err
    assert status == 2 and str(png) in err, err
    assert png.read_bytes() == b"\x89PNG old"
    assert sorted(os.listdir(small_disk)) == ["curves.png", "filler"]
    filler.unlink()


# ---------------------------------------------------------------------------
# a real EFBIG: a child process under RLIMIT_FSIZE (no mount needed)

LIMITED = textwrap.dedent("""
    import errno, os, resource, signal, sys
    import numpy as np, dnn
    target = sys.argv[1]
    old = dnn.Network([10, 8, 1], seed=1)
    old.save(target)
    before = open(target, "rb").read()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # write() fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
    try:
        dnn.Network([400, 1000, 1], seed=2).save(target)   # 3.2 MB > 1 MiB
    except OSError as error:
        assert error.errno == errno.EFBIG, error
        assert error.filename == target and target in str(error), error
    else:
        raise AssertionError("the save did not fail")
    assert open(target, "rb").read() == before
    loaded = dnn.load(target)
    assert all(np.array_equal(loaded.parameters[k], v) for k, v in old.parameters.items())
    assert os.listdir(os.path.dirname(target)) == [os.path.basename(target)], \\
        os.listdir(os.path.dirname(target))
    print("ok")
""")


def test_file_size_limit_keeps_the_old_model(tmp_path):
    target = tmp_path / "model.npz"
    done = subprocess.run([sys.executable, "-c", LIMITED, str(target)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
