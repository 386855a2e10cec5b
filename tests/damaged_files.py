"""Damaged model files, made from a real saved network and fed to ``dnn.load``.

Run as a child process by tests/test_damaged_files.py (a crash must fail the
test, not take pytest down):

    python tests/damaged_files.py WORK_DIR

prints one JSON line: files made and their outcome per kind of damage, and the
failures. Each file name is written to WORK_DIR/log.txt before it is loaded.

Every file must be *rejected* (ValueError naming the file) or *load equal* to
the network saved (only damage that touches nothing the loader reads can do
that, e.g. a bit flip in a zip timestamp, an extra numeric field, a compressed
archive). Nothing may be unpickled: the pickle payloads below create
WORK_DIR/UNPICKLED when unpickled; the parent asserts it never appears.
"""
import io
import json
import os
import pickle
import sys
import zipfile

import numpy as np

import dnn

MARKER = "UNPICKLED"


class Payload:
    """Unpickling this creates ``path`` (open(path, "w")): observable, harmless."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _original():
    """A trained network with optimizer state, and one without (never trained)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4))
    y = rng.integers(0, 3, 12)
    net = dnn.Network([4, 5, 3], activation="tanh", output="softmax", seed=1)
    net.fit(X, y, epochs=3, optimizer="adam", batch_size=5)
    plain = dnn.Network([3, 2, 1], dtype="float32", seed=2)
    return net, plain


def _fields(path):
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _savez(path, fields, compressed=False):
    with open(path, "wb") as file:
        (np.savez_compressed if compressed else np.savez)(file, **fields)


def same_network(a, b):
    """The loaded network ``a`` equals ``b`` in everything save() writes."""
    if (a.layer_dims != b.layer_dims or a.activations != b.activations or a.output != b.output
            or a.dtype != b.dtype or a.init != b.init or a.slope != b.slope
            or a.epochs_ != b.epochs_ or a._optimizer != b._optimizer):
        return False
    if not np.array_equal(a._engine.parameters, b._engine.parameters):
        return False
    if b._optimizer is not None:
        return (np.array_equal(a._engine.moments, b._engine.moments)
                and a._engine.step_count == b._engine.step_count)
    return True


# ---------------------------------------------------------------------------
# Damage

def truncations(data):
    """The file cut at ~80 offsets over its length, and near both ends."""
    offsets = set(np.linspace(0, len(data) - 1, 80).astype(int).tolist())
    offsets |= {1, 2, 3, 4, 22, 30, len(data) - 1, len(data) - 2, len(data) - 22}
    for offset in sorted(offsets):
        yield f"truncated at {offset}", data[:offset]


def bit_flips(data, seed=0, count=160):
    rng = np.random.default_rng(seed)
    for index in range(count):
        flipped = bytearray(data)
        n_bits = 1 if index % 4 else int(rng.integers(2, 9))
        for _ in range(n_bits):
            position = int(rng.integers(0, len(data) * 8))
            flipped[position // 8] ^= 1 << (position % 8)
        yield f"{n_bits} bit(s) flipped ({index})", bytes(flipped)


def field_damage(fields):
    """Each field given a wrong version, shape, dtype or value; or missing."""
    wrong_values = {
        "format": [np.array("dnn-core-networks"), np.array(""), np.array(b"dnn-core-network")],
        "format_version": [np.array(0), np.array(2), np.array(-1), np.array(2 ** 40),
                           np.array(1.0), np.array("1"), np.array([1]), np.array(True)],
        "layer_dims": [np.array([4, 5]), np.array([4, 5, 3, 1]), np.array([4, 0, 3]),
                       np.array([4, -5, 3]), np.array([4, 10 ** 12, 3]), np.array([4, 5, 3.0]),
                       np.array([[4, 5, 3]]), np.array([], dtype=np.int64),
                       np.array([2 ** 62, 2 ** 62, 3]), np.array([3, 5, 4]), np.array([4])],
        "activations": [np.array(["swish"]), np.array(["tanh", "tanh"]), np.array([], dtype=str),
                        np.array("tanh"), np.array([1]), np.array(["softmax"])],
        "output": [np.array("relu"), np.array(["softmax"]), np.array(3)],
        "init": [np.array("zeros"), np.array(0)],
        "dtype": [np.array("float32"), np.array("float16"), np.array("int64"), np.array("object"),
                  np.array(8)],
        "slope": [np.array(np.nan), np.array(np.inf), np.array("0.01"), np.array([0.01]),
                  np.array(1)],
        "epochs": [np.array(-1), np.array(3.0), np.array([3])],
        "parameters": [],
        "optimizer": [np.array("sgd"), np.array(""), np.array(1), np.array(["adam"])],
        "optimizer_hyperparameters": [np.array([0.9, 0.999]), np.array([np.nan, 0.999, 1e-8]),
                                      np.array([1.5, 0.999, 1e-8]), np.array([0.9, 0.999, 0.0]),
                                      np.array([0.9, 0.999, -1e-8]), np.array([9, 9, 9]),
                                      np.array("adam")],
        "moments": [],
        "step_count": [np.array(-1), np.array(1.5), np.array([3])],
    }
    flat = fields["parameters"]
    wrong_values["parameters"] = [
        flat[:-1], np.append(flat, 0.0), flat.astype(np.float32), flat.astype(np.int64),
        flat.reshape(1, -1), np.where(np.arange(flat.size) == 3, np.nan, flat),
        np.where(np.arange(flat.size) == 0, np.inf, flat), flat.astype(np.complex128),
        np.array([], dtype=flat.dtype), flat.astype(str)]
    if "moments" in fields:
        moments = fields["moments"]
        wrong_values["moments"] = [
            moments[:1], moments.T, moments.reshape(-1), moments[:, :-1],
            moments.astype(np.float32), np.where(np.arange(moments.size).reshape(moments.shape)
                                                  == 5, np.inf, moments)]
    for key in fields:
        for value in wrong_values.get(key, []):
            damaged = dict(fields)
            damaged[key] = value
            yield f"{key} = {value.dtype} {value.shape} {str(value)[:40]!r}", damaged
        damaged = {k: v for k, v in fields.items() if k != key}
        yield f"{key} missing", damaged
    yield "extra numeric field", dict(fields, comment=np.array("hello"), extra=np.zeros(3))
    yield "compressed archive", fields


def pickle_bearing(fields, marker):
    """Object arrays whose unpickling would create ``marker``, in every place."""
    payload = np.empty(1, dtype=object)
    payload[0] = Payload(marker)
    for key in list(fields) + ["extra"]:
        damaged = dict(fields)
        damaged[key] = payload
        yield f"pickle payload as {key}", damaged


def foreign_files(fields, marker):
    """Files that are not model archives at all."""
    payload = Payload(marker)
    yield "empty file", b""
    yield "text", b"this is not a model\n" * 10
    yield "random bytes", np.random.default_rng(1).bytes(2048)
    yield "zip magic only", b"PK\x03\x04"
    yield "empty zip", _zip({})
    yield "raw pickle", pickle.dumps(payload)
    yield "raw pickle protocol 0", pickle.dumps(payload, protocol=0)
    buffer = io.BytesIO()
    np.save(buffer, np.array([payload], dtype=object), allow_pickle=True)
    yield "npy with pickled objects", buffer.getvalue()
    buffer = io.BytesIO()
    np.save(buffer, fields["parameters"])
    yield "npy of floats", buffer.getvalue()
    yield "zip of a pickle", _zip({"parameters.pkl": pickle.dumps(payload)})
    yield "zip with a pickle as .npy", _zip({"parameters.npy": pickle.dumps(payload)})
    yield "hdf5 signature", b"\x89HDF\r\n\x1a\n" + bytes(100)
    yield "gzip", b"\x1f\x8b\x08\x00" + bytes(100)
    yield "huge npy header", _zip({"parameters.npy": _npy_header("<f8", (10 ** 12,))})
    yield "npy header, no data", _zip({"format.npy": _npy_header("<U16", ())})


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _npy_header(descr, shape):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


# ---------------------------------------------------------------------------
# Running

def main(work):
    marker = os.path.join(work, MARKER)
    log = open(os.path.join(work, "log.txt"), "w", buffering=1)
    results, failures = {}, []

    def check(kind, description, path, original):
        log.write(f"{kind}: {description}\n")
        counts = results.setdefault(kind, {"files": 0, "rejected": 0, "loaded equal": 0})
        counts["files"] += 1
        try:
            loaded = dnn.load(path)
        except (ValueError, FileNotFoundError, IsADirectoryError) as error:
            if os.fspath(path) not in str(error):
                failures.append(f"{kind}: {description}: ValueError not naming the file: {error}")
            counts["rejected"] += 1
            return
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            failures.append(f"{kind}: {description}: {type(error).__name__}: {error}")
            return
        if same_network(loaded, original):
            counts["loaded equal"] += 1
        else:
            failures.append(f"{kind}: {description}: loaded, but differs from the network saved")

    for label, original in zip(("trained", "plain"), _original()):
        path = os.path.join(work, f"{label}.npz")
        original.save(path)
        data = open(path, "rb").read()
        fields = _fields(path)
        check("intact", label, path, original)
        number = 0

        def write(payload):
            nonlocal number
            number += 1
            target = os.path.join(work, f"{label}-{number}.npz")
            if isinstance(payload, dict):
                _savez(target, payload)
            else:
                with open(target, "wb") as file:
                    file.write(payload)
            return target

        for description, damaged in truncations(data):
            check("truncated", f"{label} {description}", write(damaged), original)
        for description, damaged in bit_flips(data, seed=len(label)):
            check("bit flips", f"{label} {description}", write(damaged), original)
        for description, damaged in field_damage(fields):
            if description == "compressed archive":
                number += 1
                target = os.path.join(work, f"{label}-{number}.npz")
                _savez(target, damaged, compressed=True)
                check("fields", f"{label} {description}", target, original)
                continue
            check("fields", f"{label} {description}", write(damaged), original)
        for description, damaged in pickle_bearing(fields, marker):
            number += 1
            target = os.path.join(work, f"{label}-{number}.npz")
            with open(target, "wb") as file:
                _savez_pickled(file, damaged)
            check("pickle", f"{label} {description}", target, original)
        for description, payload in foreign_files(fields, marker):
            check("foreign", f"{label} {description}", write(payload), original)
        check("foreign", f"{label} a directory", work, original)
        check("foreign", f"{label} a missing file", os.path.join(work, "missing.npz"), original)

    # control: the payload does create the marker when unpickled (so its absence means
    # something), written elsewhere so that the parent's check stays meaningful
    control = os.path.join(work, "control")
    pickle.loads(pickle.dumps(Payload(control))).close()
    log.write("done\n")
    print(json.dumps({"results": results, "failures": failures,
                      "control_unpickled": os.path.exists(control)}))


def _savez_pickled(file, fields):
    """np.savez, which pickles object arrays (as an attacker's writer would)."""
    with zipfile.ZipFile(file, "w") as archive:
        for key, value in fields.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=True)
            archive.writestr(f"{key}.npy", buffer.getvalue())


if __name__ == "__main__":
    main(sys.argv[1])
