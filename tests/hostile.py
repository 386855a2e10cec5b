"""Hostile calls to the public API, as hypothesis strategies.

A *target* is one public function or method. For each, ``TARGETS[name]`` is a
strategy drawing a :class:`Case`: a valid call (small random arrays and
settings) in which ONE argument has been replaced by a hostile value (wrong
shape, rank or dtype, NaN, empty, huge, a string where a number goes, ...).

:func:`judge` runs a case and says what went wrong (None: acceptable). A case
is acceptable when

- the call raises ValueError, TypeError or MemoryError whose message names
  one of the case's ``blame`` names (the hostile argument, or an argument it
  must agree with), OSError naming the file for path arguments; or
- the call succeeds and its result equals that of the *canonical* call (the
  same call with the hostile value replaced by what it should mean: the
  C-ordered copy of a Fortran-ordered array, the float64 values of an int
  array Network converts, ...), unless the case says it must fail.

Adding a target: write a function ``def _my_target(draw)`` that draws valid
arguments, then ``return _mutated(draw, "my_target", call, args, kinds, related)``
with ``call(args) -> result`` (return what should be compared), ``kinds`` the
kind of each argument that may be made hostile (``ARRAY``, ``LABELS``,
``PARAMS``, ``real(...)``, ``integer(...)``, ``choice(...)``, ...), and
``related`` the arguments whose shapes must agree with each one. Register it
in ``TARGETS`` and in a group of ``GROUPS`` (one child process per group).
"""
import contextlib
import io
import math
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from decimal import Decimal

import numpy as np
from hypothesis import strategies as st

import dnn
from dnn import course as C
from dnn import functional as F
from dnn_core import registry

FLOATS = (np.float64, np.float32)
HIDDEN = registry.hidden_activations()
FUNCTIONAL_ACTIVATIONS = HIDDEN + ("softmax",)
#: layer sizes no machine holds (the library must refuse them before allocating)
HUGE_SIZES = (10 ** 5, 3 * 10 ** 5, 10 ** 6, 2 ** 31, 2 ** 40, 2 ** 62, 10 ** 30)
#: scratch directory of the process (paths for save/load)
SCRATCH = tempfile.mkdtemp(prefix="dnn-hostile-")


@dataclass
class Case:
    target: str
    argument: str
    mutation: str
    call: object                     # () -> result
    blame: tuple                     # names one of which an error must mention
    must_fail: bool                  # True: success is itself a failure
    reference: object = None         # () -> result of the canonical call
    path_argument: bool = False      # OSError naming the path is acceptable
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return f"{self.target}({self.argument} <- {self.mutation})"


# ---------------------------------------------------------------------------
# Judging

ACCEPTED = (ValueError, TypeError, MemoryError)


def judge(case):
    """Run ``case``; return None if the outcome is acceptable, else a description."""
    with contextlib.redirect_stdout(io.StringIO()):  # course.predict prints
        try:
            result = case.call()
        except dnn.DivergenceError:
            return None  # a legal learning rate that diverges: the documented error
        except ACCEPTED as error:
            return _named(case, error)
        except OSError as error:
            if case.path_argument:
                return None if str(error) else f"OSError without a message: {error!r}"
            return f"{type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            return f"unexpected {type(error).__name__}: {error}"
        if case.must_fail:
            return f"accepted: returned {_short(result)}"
        if getattr(case, "finite_result", False) and not _all_finite(result):
            return f"returned NaN or inf from finite inputs: {_short(result)}"
        if case.reference is None:
            return None
        try:
            expected = case.reference()
        except Exception as error:  # noqa: BLE001
            return f"succeeded, but the canonical call raised {type(error).__name__}: {error}"
    difference = _difference(result, expected)
    return None if difference is None else f"succeeded with a wrong result: {difference}"


def _named(case, error):
    message = str(error)
    if any(name in message for name in case.blame):
        return None
    return f"{type(error).__name__} naming none of {case.blame}: {message}"


def _all_finite(value):
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return all(_all_finite(v) for v in value)
    if isinstance(value, dnn.History):
        return _all_finite(value.cost)
    array = np.asarray(value)
    return array.dtype.kind not in "fc" or bool(np.isfinite(array).all())


def _short(value):
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def _difference(actual, expected, where="result"):
    """None if equal (floats to rounding), else where they differ."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"{where}: keys {sorted(map(str, actual))} != {sorted(map(str, expected))}"
        for key in expected:
            found = _difference(actual[key], expected[key], f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"{where}: {_short(actual)} != {_short(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected)):
            found = _difference(a, e, f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(expected, dnn.History):
        return _difference(actual.cost, expected.cost, f"{where}.cost")
    if expected is None or isinstance(expected, (str, bool)):
        return None if actual == expected else f"{where}: {actual!r} != {expected!r}"
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape:
        return f"{where}: shape {a.shape} != {e.shape}"
    if a.dtype.kind in "fc" or e.dtype.kind in "fc":
        single = np.float32 in (a.dtype.type, e.dtype.type)
        rtol = 1e-5 if single else 1e-10
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        if not np.allclose(a, e, rtol=rtol, atol=rtol * scale, equal_nan=True):
            return f"{where}: max difference {np.max(np.abs(a - e)):g}"
        return None
    return None if np.array_equal(a, e) else f"{where}: {_short(a)} != {_short(e)}"


# ---------------------------------------------------------------------------
# Hostile values, by kind of argument. Each mutator draws
# (value, mutation name, must_fail, canonical value or None, blame-all flag).

@dataclass
class Mutated:
    value: object
    name: str
    must_fail: bool
    canonical: object = None          # what the value means, when it may be accepted
    blame_related: bool = False       # an error may name the related arguments
    blame_all: bool = False           # an error may name any array argument (dtype mixing)


_NO_CANONICAL = object()


def _noncontiguous(array):
    wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    wide[..., ::2] = array
    return wide[..., ::2]


def _readonly(array):
    array = array.copy()
    array.flags.writeable = False
    return array


def _at_random(draw, array, value):
    array = np.array(array, copy=True)
    index = tuple(draw(st.integers(0, n - 1)) for n in array.shape)
    array[index] = value
    return array


@st.composite
def _array_mutation(draw, array, labels=None, converts=False):
    """See _array_mutation_of."""
    return draw(_array_mutation_of(array, labels, converts))


@st.composite
def _array_mutation_of(draw, array, labels=None, converts=False):
    """A hostile version of a valid float ``array``.

    labels: None for data, else "binary", "classes" or "targets" (the range
    rules of labels). converts: the API converts numeric dtypes to its own
    (Network) instead of refusing them (functional).
    """
    kind = draw(st.sampled_from([
        "fortran", "noncontiguous", "readonly", "byteswapped", "list",
        "int64", "int32", "uint8", "bool", "float16", "other float", "complex",
        "object", "str", "bytes", "datetime",
        "nan", "inf", "-inf", "transposed", "extra row", "missing row", "extra column",
        "missing column", "1-D", "3-D", "0-D", "empty rows", "empty columns", "empty 1-D",
        "None", "string", "ragged list", "dict", "huge"]))
    same = array.dtype.type
    if kind in ("nan", "inf", "-inf", "huge") and array.dtype.kind != "f":
        array, same = array.astype(np.float64), np.float64
    if kind == "fortran":
        return Mutated(np.asfortranarray(array), kind, False, array)
    if kind == "noncontiguous":
        return Mutated(_noncontiguous(array), kind, False, array)
    if kind == "readonly":
        return Mutated(_readonly(array), kind, False, array)
    if kind == "byteswapped":
        return Mutated(array.astype(array.dtype.newbyteorder()), kind, False, array)
    if kind == "list":
        # a list of Python floats is float64: fine when the call is float64
        return Mutated(array.tolist(), kind, False,
                       array if same is np.float64 or converts else None, blame_all=True)
    if kind in ("int64", "int32", "uint8", "bool"):
        values = array > 0.5 if kind == "bool" else np.abs(np.round(array * 3)).astype(kind)
        values = values.astype(kind)
        return Mutated(values, kind, not converts and labels is None,
                       values.astype(same))
    if kind == "float16":
        values = array.astype(np.float16)
        return Mutated(values, kind, not converts and labels is None, values.astype(same))
    if kind == "other float":
        other = np.float32 if same is np.float64 else np.float64
        values = array.astype(other)
        return Mutated(values, kind, False, values.astype(same), blame_all=True)
    if kind == "complex":
        return Mutated(array + 0j, kind, True)
    if kind == "object":
        return Mutated(array.astype(object), kind, True)
    if kind == "str":
        return Mutated(array.astype(str), kind, True)
    if kind == "bytes":
        return Mutated(array.astype("S8"), kind, True)
    if kind == "datetime":
        return Mutated(np.zeros(array.shape, dtype="datetime64[s]"), kind, True)
    if kind in ("nan", "inf", "-inf"):
        return Mutated(_at_random(draw, array, float(kind)), kind, True)
    if kind == "huge":
        # finite, but no float can be multiplied by it without overflow
        big = np.finfo(same).max
        huge = Mutated(_at_random(draw, array, draw(st.sampled_from([big, -big]))), kind,
                       False, blame_related=True, blame_all=True)
        huge.finite_result = True
        return huge
    if kind == "transposed":
        if array.ndim != 2:
            return Mutated(array.T, kind, False, array)
        return Mutated(array.T, kind, array.T.shape != array.shape,
                       array.T if array.T.shape == array.shape else None, blame_related=True)
    if kind in ("extra row", "missing row", "extra column", "missing column"):
        axis = 0 if "row" in kind or array.ndim == 1 else 1
        if "extra" in kind:
            values = np.concatenate([array, np.take(array, [0], axis=axis)], axis=axis)
        else:
            values = np.delete(array, 0, axis=axis)
        examples = "row" if converts else "column"  # Network: one sample per row
        if examples in kind and values.size and labels is None:
            either = Mutated(values, kind, False, blame_related=True)
            either.finite_result = True
            return either
        return Mutated(values, kind, True, blame_related=True)
    if kind == "1-D":
        return Mutated(array.reshape(-1), kind, False, array, blame_related=True)
    if kind == "3-D":
        return Mutated(array[None], kind, False, array, blame_related=True)
    if kind == "0-D":
        return Mutated(array.reshape(-1)[0], kind, array.size != 1, array, blame_related=True)
    if kind in ("empty rows", "empty columns", "empty 1-D"):
        shape = {"empty rows": (0,) + array.shape[1:], "empty 1-D": (0,),
                 "empty columns": array.shape[:1] + (0,) * (array.ndim - 1)}[kind]
        return Mutated(np.zeros(shape, dtype=array.dtype), kind, True, blame_related=True)
    if kind == "None":
        return Mutated(None, kind, True)
    if kind == "string":
        return Mutated("0.5", kind, True)
    if kind == "ragged list":
        rows = array.reshape(array.shape[0], -1).tolist() if array.ndim else [[0.5]]
        return Mutated(rows + [[0.5] * (len(rows[0]) + 1)], kind, True, blame_related=True)
    if kind == "dict":
        return Mutated({"values": array}, kind, True)
    raise AssertionError(kind)


@st.composite
def _label_values(draw, array, labels):
    """Label values outside what the loss allows (kept as a separate draw so that
    range rules are exercised often)."""
    kind = draw(st.sampled_from(["2", "-1", "0.5", "1e30", "-0.0"]))
    value = float(kind)
    values = _at_random(draw, array, value)
    legal = {"binary": 0 <= value <= 1, "targets": True,
             "classes": 0 <= value <= 1}[labels]
    return Mutated(values, f"label {kind}", not legal, values if legal else None)


def real_values():
    return st.sampled_from([
        math.nan, math.inf, -math.inf, -1.0, -1e-300, 0.0, 0.5, 1.0, 2.0, 1e300, True,
        False, "0.1", None, 1j, [0.1], np.float32(0.25), np.float64(0.25), np.int64(1),
        Fraction(1, 4), Decimal("0.25"), 10 ** 400, -(10 ** 400), np.array(0.25),
        np.array([0.25])])


@dataclass
class Real:
    low: float = None
    high: float = None
    low_inclusive: bool = True
    none_ok: bool = False      # None means a default

    def valid(self, value):
        import numbers
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return False
        try:
            value = float(value)
        except OverflowError:
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or
                                     (value == self.low and not self.low_inclusive)):
            return False
        return self.high is None or value <= self.high

    def mutate(self, draw, current):
        value = draw(real_values())
        if value is None and self.none_ok:
            return Mutated(value, "None", False, None)
        if self.valid(value):
            return Mutated(value, repr(value), False, float(value))
        return Mutated(value, repr(value), True)


def real(low=None, high=None, low_inclusive=True, none_ok=False):
    return Real(low, high, low_inclusive, none_ok)


@dataclass
class Integer:
    low: int = 0
    huge: bool = True          # huge values are safe to try (no work proportional to them)
    none_ok: bool = False      # None means a default

    def valid(self, value):
        import numbers
        return (not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral)
                and value >= self.low and (self.huge or value < 10 ** 6))

    def mutate(self, draw, current):
        options = [-1, 0, 1, 2, 1.5, 2.0, True, False, "3", None, np.int32(2), np.uint8(1),
                   np.float64(2.0), [2]]
        if self.huge:
            options += [2 ** 31, 2 ** 63, 10 ** 30]
        value = draw(st.sampled_from(options))
        if value is None and self.none_ok:
            return Mutated(value, "None", False, None)
        if self.valid(value):
            return Mutated(value, repr(value), False, int(value))
        return Mutated(value, repr(value), True)


def integer(low=0, huge=True, none_ok=False):
    return Integer(low, huge, none_ok)


@dataclass
class Choice:
    options: tuple
    default: str = None

    def mutate(self, draw, current):
        value = draw(st.sampled_from(
            ["", "RELU", " relu", "relu ", "nonsense", None, 1, b"relu", ["relu"], ("relu",),
             np.str_("relu"), "sigmoid", "softmax", "linear", "identity", "mse", "he", "adam"]))
        valid = isinstance(value, str) and value in self.options
        if isinstance(value, (list, tuple)) and all(v in self.options for v in value):
            return Mutated(value, repr(value), False)  # one name per layer, where allowed
        if value is None and self.default is not None:
            return Mutated(value, "None", False, self.default, blame_all=True)
        return Mutated(value, repr(value), not valid, value if valid else None,
                       blame_all=valid)


def choice(options, default=None):
    return Choice(tuple(options), default)


class Dtype:
    def mutate(self, draw, current):
        value = draw(st.sampled_from(
            ["float32", "float64", "f4", "<f8", np.float32, np.float64, float, np.dtype("f4"),
             "float16", np.float16, "int32", np.int64, "complex128", "object", "U8", "foo",
             "", 3, [np.float32], bool]))
        try:
            canonical = np.dtype(value)
        except TypeError:
            canonical = None
        valid = canonical in (np.dtype(np.float32), np.dtype(np.float64))
        return Mutated(value, repr(value), not valid, canonical if valid else None)


class LayerDims:
    def __init__(self, n_in, n_out, hidden=True):
        self.n_in, self.n_out, self.hidden = n_in, n_out, hidden

    def mutate(self, draw, current):
        kind = draw(st.sampled_from(["empty", "one", "zero", "negative", "float", "bool",
                                     "string", "None", "int", "nested", "numpy ints",
                                     "numpy float array", "huge", "huge", "huge", "huge", "many"]))
        dims = list(current)
        if kind == "empty":
            return Mutated([], kind, True)
        if kind == "one":
            return Mutated(dims[:1], kind, True)
        if kind in ("zero", "negative", "float", "bool", "string", "None", "nested"):
            index = draw(st.integers(0, len(dims) - 1))
            dims[index] = {"zero": 0, "negative": -3, "float": 2.5, "bool": True,
                           "string": "4", "None": None, "nested": [4]}[kind]
            return Mutated(dims, kind, True)
        if kind == "int":
            return Mutated(7, kind, True)
        if kind == "numpy ints":
            return Mutated(np.array(dims), kind, False, dims)
        if kind == "numpy float array":
            return Mutated(np.array(dims, dtype=float), kind, True)
        if kind == "many":
            return Mutated([dims[0]] + [1] * 200 + [dims[-1]], kind, False, None)
        # huge: a size (or two) no memory holds, anywhere in the list
        size = draw(st.sampled_from(HUGE_SIZES))
        if self.hidden or len(dims) > 2:
            index = draw(st.integers(0, len(dims) - 1))
        else:
            index = draw(st.integers(0, 1))
        dims[index] = size
        if draw(st.booleans()) and len(dims) > 1:
            dims[(index + 1) % len(dims)] = draw(st.sampled_from(HUGE_SIZES))
        return Mutated(dims, f"huge {dims}", _too_big(dims))


def _too_big(dims):
    """More weights than any machine here holds (all drawn sizes are either
    below ~4e6 weights or above 1e10)."""
    return max(a * b for a, b in zip(dims, dims[1:])) > 10 ** 9


class Path:
    def mutate(self, draw, current):
        kind = draw(st.sampled_from(["None", "int", "float", "list", "directory",
                                     "missing directory", "empty", "bytes", "pathlike"]))
        if kind == "None":
            return Mutated(None, kind, True)
        if kind == "int":
            return Mutated(draw(st.sampled_from([0, 1, 2, 255, -1, 10 ** 30])), kind, True)
        if kind == "float":
            return Mutated(1.5, kind, True)
        if kind == "list":
            return Mutated([current], kind, True)
        if kind == "directory":
            return Mutated(SCRATCH, kind, True)
        if kind == "missing directory":
            return Mutated(os.path.join(SCRATCH, "no such dir", "model.npz"), kind, True)
        if kind == "empty":
            return Mutated("", kind, True)
        if kind == "bytes":
            return Mutated(os.fsencode(current), kind, False, current)
        import pathlib
        return Mutated(pathlib.Path(current), kind, False, current)


ARRAY = "array"
LABELS_BINARY = "binary"
LABELS_TARGETS = "targets"
LABELS_CLASSES = "classes"


# ---------------------------------------------------------------------------
# Valid arguments

def _dims(draw, n_layers=None, max_size=4):
    L = draw(st.integers(1, 3)) if n_layers is None else n_layers
    return [draw(st.integers(1, max_size)) for _ in range(L + 1)]


def _matrix(draw, shape, dtype, low=-2.0, high=2.0):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def _params(draw, dims, dtype):
    return {key: value for layer in range(1, len(dims))
            for key, value in (
                (f"W{layer}", _matrix(draw, (dims[layer], dims[layer - 1]), dtype)),
                (f"b{layer}", _matrix(draw, (dims[layer], 1), dtype)))}


def _binary(draw, shape, dtype):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return (np.random.default_rng(seed).random(shape) < 0.5).astype(dtype)


def _one_hot(draw, n, m, dtype):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return np.eye(n, dtype=dtype)[:, np.random.default_rng(seed).integers(0, n, m)]


# ---------------------------------------------------------------------------
# Mutating one argument

@st.composite
def _dict_mutation(draw, params, prefix, name):
    """A hostile version of a {"W1": ...} (prefix "") or {"dW1": ...} (prefix "d") dict."""
    kind = draw(st.sampled_from(["entry", "entry", "entry", "missing key", "extra layer",
                                 "not a dict", "None", "int keys", "value None",
                                 "empty"]))
    keys = sorted(params)
    if kind == "entry":
        key = draw(st.sampled_from(keys))
        labels = None
        mutated = draw(_array_mutation(params[key]))
        value = dict(params)
        value[key] = mutated.value
        canonical = None
        if mutated.canonical is not None:
            canonical = dict(params)
            canonical[key] = mutated.canonical
        mutated.value, mutated.canonical = value, canonical
        mutated.name = f"[{key!r}] <- {mutated.name}"
        mutated.extra_blame = (key,)
        return mutated
    if kind == "missing key":
        key = draw(st.sampled_from(keys))
        value = {k: v for k, v in params.items() if k != key}
        m = Mutated(value, f"without {key!r}", True)
        m.extra_blame = (key,)
        return m
    if kind == "extra layer":
        L = len([k for k in params if k.startswith(prefix + "W")])
        value = dict(params)
        value[f"{prefix}W{L + 1}"] = np.ones((1, 1))
        return Mutated(value, kind, prefix == "", params if prefix == "d" else None)
    if kind == "not a dict":
        return Mutated(list(params.values()), kind, True)
    if kind == "None":
        return Mutated(None, kind, True)
    if kind == "int keys":
        return Mutated({index: v for index, v in enumerate(params.values())}, kind, True)
    if kind == "value None":
        key = draw(st.sampled_from(keys))
        value = dict(params)
        value[key] = None
        m = Mutated(value, f"{key!r} None", True)
        m.extra_blame = (key,)
        return m
    return Mutated({}, kind, True)


def _mutate(draw, kind, value, name, converts):
    if kind == ARRAY:
        return draw(_array_mutation(value, converts=converts))
    if kind in (LABELS_BINARY, LABELS_TARGETS, LABELS_CLASSES):
        if draw(st.integers(0, 3)) == 0 and np.asarray(value).dtype.kind == "f":
            return draw(_label_values(value, kind))
        return draw(_array_mutation(value, labels=kind, converts=True))
    if kind == "params":
        return draw(_dict_mutation(value, "", name))
    if kind == "grads":
        return draw(_dict_mutation(value, "d", name))
    return kind.mutate(draw, value)


def _mutated(draw, target, call, args, kinds, related=None, all_arrays=(), converts=False,
             must_fail_always=False, path_arguments=(), extra_blame=()):
    """Draw one argument of ``args`` to make hostile; return the Case."""
    related = related or {}
    name = draw(st.sampled_from(sorted(kinds)))
    mutated = _mutate(draw, kinds[name], args[name], name, converts)
    hostile = dict(args)
    hostile[name] = mutated.value
    blame = [name] + list(getattr(mutated, "extra_blame", ())) + list(extra_blame)
    if name in path_arguments and isinstance(mutated.value, (str, bytes)) and mutated.value:
        blame.append(os.fsdecode(mutated.value))  # "<file name>: not a dnn model file"
    if mutated.blame_related:
        blame += list(related.get(name, ()))
    if mutated.blame_all:
        blame += list(all_arrays)
    reference = None
    if mutated.canonical is not None:
        canonical = dict(args)
        canonical[name] = mutated.canonical
        reference = (lambda canonical=canonical: call(canonical))
    case = Case(target, name, mutated.name, lambda: call(hostile), tuple(blame),
                mutated.must_fail or must_fail_always, reference, name in path_arguments)
    case.finite_result = getattr(mutated, "finite_result", False)
    return case


# ---------------------------------------------------------------------------
# Targets: the functional API

DT = st.sampled_from(FLOATS)


@st.composite
def _initialize_parameters(draw):
    dims = _dims(draw)
    args = dict(layer_dims=dims, init=draw(st.sampled_from(F.INITS)), seed=draw(st.integers(0, 9)),
                dtype=draw(DT))
    kinds = dict(layer_dims=LayerDims(dims[0], dims[-1]), init=choice(F.INITS),
                 seed=_Seed(), dtype=Dtype())
    return _mutated(draw, "initialize_parameters", lambda a: F.initialize_parameters(**a),
                    args, kinds)


class _Seed:
    def mutate(self, draw, current):
        value = draw(st.sampled_from([-1, -(2 ** 70), 1.5, "seed", [1, -2], True, np.int64(3),
                                      2 ** 70, None, np.random.default_rng(1)]))
        if isinstance(value, np.random.Generator):
            return Mutated(value, "Generator", False, None)
        valid = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
        if value is None:
            return Mutated(value, "None", False, None)
        return Mutated(value, repr(value), not valid, value if valid else None)


def _layer(draw, dtype):
    n_prev, n, m = (draw(st.integers(1, 4)) for _ in range(3))
    return (_matrix(draw, (n_prev, m), dtype), _matrix(draw, (n, n_prev), dtype),
            _matrix(draw, (n, 1), dtype))


LAYER_RELATED = {"A_prev": ("W",), "W": ("A_prev", "b"), "b": ("W",)}


@st.composite
def _linear_forward(draw):
    A_prev, W, b = _layer(draw, draw(DT))
    args = dict(A_prev=A_prev, W=W, b=b)
    return _mutated(draw, "linear_forward", lambda a: F.linear_forward(**a)[0], args,
                    dict(A_prev=ARRAY, W=ARRAY, b=ARRAY), LAYER_RELATED, ("A_prev", "W", "b"))


@st.composite
def _linear_activation_forward(draw):
    A_prev, W, b = _layer(draw, draw(DT))
    args = dict(A_prev=A_prev, W=W, b=b, activation=draw(st.sampled_from(FUNCTIONAL_ACTIVATIONS)),
                slope=0.01)
    return _mutated(draw, "linear_activation_forward",
                    lambda a: F.linear_activation_forward(**a)[0], args,
                    dict(A_prev=ARRAY, W=ARRAY, b=ARRAY, activation=choice(FUNCTIONAL_ACTIVATIONS),
                         slope=real()), LAYER_RELATED, ("A_prev", "W", "b"))


def _network_args(draw, output=None):
    dtype = draw(DT)
    dims = _dims(draw)
    m = draw(st.integers(1, 5))
    output = output or draw(st.sampled_from(["sigmoid", "softmax", "identity"]))
    return dtype, dims, m, output


PARAMS_RELATED = ("X", "parameters")


@st.composite
def _forward(draw):
    dtype, dims, m, output = _network_args(draw)
    args = dict(X=_matrix(draw, (dims[0], m), dtype), parameters=_params(draw, dims, dtype),
                hidden_activation=draw(st.sampled_from(HIDDEN)), output_activation=output,
                slope=0.01)
    return _mutated(draw, "forward", lambda a: F.forward(**a)[0], args,
                    dict(X=ARRAY, parameters="params",
                         hidden_activation=choice(FUNCTIONAL_ACTIVATIONS),
                         output_activation=choice(FUNCTIONAL_ACTIVATIONS), slope=real()),
                    {"X": ("W1",)}, ("X", "parameters", "W", "b"))


LOSSES = ("binary_crossentropy", "categorical_crossentropy", "mse", "mean_squared_error")


@st.composite
def _compute_cost(draw):
    dtype = draw(DT)
    loss = draw(st.sampled_from(LOSSES[:3]))
    n = 1 if loss == "binary_crossentropy" else draw(st.integers(1, 4))
    m = draw(st.integers(1, 5))
    from_logits = draw(st.booleans())
    if from_logits or loss == "mse":
        AL = _matrix(draw, (n, m), dtype)
    elif loss == "categorical_crossentropy":
        AL = _matrix(draw, (n, m), dtype, 0.1, 1.0)
        AL = (AL / AL.sum(axis=0)).astype(dtype)
    else:
        AL = _matrix(draw, (n, m), dtype, 0.05, 0.95)
    Y = (_one_hot(draw, n, m, dtype) if loss == "categorical_crossentropy"
         else _binary(draw, (n, m), dtype) if loss == "binary_crossentropy"
         else _matrix(draw, (n, m), dtype))
    labels = {"binary_crossentropy": LABELS_BINARY, "mse": LABELS_TARGETS,
              "categorical_crossentropy": LABELS_CLASSES}[loss]
    args = dict(AL=AL, Y=Y, loss=loss, from_logits=from_logits)
    return _mutated(draw, "compute_cost", lambda a: F.compute_cost(**a), args,
                    dict(AL=ARRAY, Y=labels, loss=choice(LOSSES, "binary_crossentropy")), {"AL": ("Y",), "Y": ("AL",)},
                    ("AL", "Y"))


@st.composite
def _linear_backward(draw):
    A_prev, W, b = _layer(draw, draw(DT))
    dZ = _matrix(draw, (W.shape[0], A_prev.shape[1]), W.dtype)
    args = dict(dZ=dZ, cache=(A_prev, W, b))
    return _mutated(draw, "linear_backward", lambda a: F.linear_backward(**a), args,
                    dict(dZ=ARRAY, cache=_Cache(("A_prev", "W", "b"))),
                    {"dZ": ("cache", "A_prev", "W"), "cache": ("dZ",)}, ("dZ", "cache"))


class _Cache:
    """A hostile version of a cache (a nested tuple of arrays)."""

    def __init__(self, names, where="cache"):
        self.names, self.where = names, where

    def mutate(self, draw, current):
        kind = draw(st.sampled_from(["member", "member", "member", "short", "long", "None",
                                     "array", "list"]))
        flat, rebuild = _flatten(current)
        if kind == "member":
            index = draw(st.integers(0, len(flat) - 1))
            mutated = draw(_array_mutation(flat[index]))
            unused = len(flat) == 4 or mutated.name in ("nan", "inf", "-inf", "huge")
            if self.names[index] == "b" and unused:
                mutated.must_fail, mutated.canonical = False, current  # unused by backward
                mutated.value = flat[index]
            values = list(flat)
            values[index] = mutated.value
            canonical = None
            if mutated.canonical is not None:
                canonical = list(flat)
                canonical[index] = mutated.canonical
                canonical = rebuild(canonical)
            mutated.value, mutated.canonical = rebuild(values), canonical
            mutated.name = f"{self.names[index]} <- {mutated.name}"
            mutated.extra_blame = (self.where, self.names[index])
            return mutated
        if kind == "short":
            return Mutated(current[:-1] if isinstance(current, tuple) else current, kind, True)
        if kind == "long":
            return Mutated(tuple(current) + (None,), kind, True)
        if kind == "None":
            return Mutated(None, kind, True)
        if kind == "array":
            return Mutated(np.ones(3), kind, True)
        return Mutated(list(current), kind, False, current)


def _flatten(cache):
    """((A_prev, W, b), Z) or (A_prev, W, b) -> flat list and its rebuild."""
    if len(cache) == 2 and isinstance(cache[0], tuple):
        (A_prev, W, b), Z = cache
        return [A_prev, W, b, Z], lambda v: ((v[0], v[1], v[2]), v[3])
    return list(cache), tuple


@st.composite
def _linear_activation_backward(draw):
    activation = draw(st.sampled_from(FUNCTIONAL_ACTIVATIONS))
    A_prev, W, b = _layer(draw, draw(DT))
    A, cache = F.linear_activation_forward(A_prev, W, b, activation)
    dA = _matrix(draw, A.shape, A.dtype)
    args = dict(dA=dA, cache=cache, activation=activation, slope=0.01)
    return _mutated(draw, "linear_activation_backward", lambda a: F.linear_activation_backward(**a),
                    args, dict(dA=ARRAY, cache=_Cache(("A_prev", "W", "b", "Z")),
                               activation=choice(FUNCTIONAL_ACTIVATIONS), slope=real()),
                    {"dA": ("cache", "Z"), "cache": ("dA",)}, ("dA", "cache"))


class _Caches:
    def mutate(self, draw, current):
        kind = draw(st.sampled_from(["one", "one", "one", "empty", "None", "dropped",
                                     "reversed", "tuple"]))
        if kind == "one":
            index = draw(st.integers(0, len(current) - 1))
            mutated = _Cache(("A_prev", "W", "b", "Z"), f"caches[{index}]").mutate(
                draw, current[index])
            caches = list(current)
            caches[index] = mutated.value
            canonical = None
            if mutated.canonical is not None:
                canonical = list(current)
                canonical[index] = mutated.canonical
            mutated.value, mutated.canonical = caches, canonical
            mutated.extra_blame = (f"caches[{index}]", f"caches[{index + 1}]", "AL", "caches")
            mutated.name = f"[{index}] <- {mutated.name}"
            return mutated
        if kind == "empty":
            return Mutated([], kind, True)
        if kind == "None":
            return Mutated(None, kind, True)
        if kind == "dropped":
            m = Mutated(list(current[1:]), kind, True)
            if len(current) > 1:
                m = Mutated(list(current[1:]), kind, False)
                m.finite_result = True
            m.extra_blame = ("caches", "AL", "Y")
            return m
        if kind == "reversed":
            # (layers of equal shapes make a consistent chain either way)
            m = Mutated(list(reversed(current)), kind, False,
                        current if len(current) == 1 else None)
            m.finite_result = True
            m.extra_blame = ("caches", "AL")
            return m
        return Mutated(tuple(current), kind, False, current)


@st.composite
def _backward(draw):
    dtype, dims, m, output = _network_args(draw)
    hidden = draw(st.sampled_from(HIDDEN))
    X = _matrix(draw, (dims[0], m), dtype)
    params = _params(draw, dims, dtype)
    AL, caches = F.forward(X, params, hidden, output)
    loss = {"sigmoid": "binary_crossentropy", "softmax": "categorical_crossentropy"}.get(
        output, "mse")
    Y = (_one_hot(draw, dims[-1], m, dtype) if output == "softmax"
         else _binary(draw, AL.shape, dtype) if output == "sigmoid" else _matrix(draw, AL.shape, dtype))
    labels = {"binary_crossentropy": LABELS_BINARY, "mse": LABELS_TARGETS,
              "categorical_crossentropy": LABELS_CLASSES}[loss]
    args = dict(AL=AL, Y=Y, caches=caches, hidden_activation=hidden, output_activation=output,
                loss=None, slope=0.01)
    return _mutated(draw, "backward", lambda a: F.backward(**a), args,
                    dict(AL=ARRAY, Y=labels, caches=_Caches(),
                         hidden_activation=choice(FUNCTIONAL_ACTIVATIONS),
                         output_activation=choice(FUNCTIONAL_ACTIVATIONS),
                         loss=choice(LOSSES, {"sigmoid": "binary_crossentropy",
                                              "softmax": "categorical_crossentropy"}.get(
                                                  output, "mse")), slope=real()),
                    {"AL": ("caches",), "Y": ("AL",)}, ("AL", "Y", "caches"))


@st.composite
def _update_parameters(draw):
    dtype = draw(DT)
    dims = _dims(draw)
    params = _params(draw, dims, dtype)
    grads = {f"d{key}": _matrix(draw, value.shape, dtype) for key, value in params.items()}
    inplace = draw(st.booleans())
    args = dict(parameters=params, grads=grads, learning_rate=0.1, inplace=inplace)

    def call(a):
        if inplace and isinstance(a["parameters"], dict):  # keep the drawn arrays pristine
            a = dict(a, parameters={k: (np.array(v, copy=True, order="K")
                                        if isinstance(v, np.ndarray) and v.flags.writeable else v)
                                    for k, v in a["parameters"].items()})
        return F.update_parameters(**a)

    return _mutated(draw, "update_parameters", call, args,
                    dict(parameters="params", grads="grads", learning_rate=real(low=0.0)),
                    {}, ("parameters", "grads"))


@st.composite
def _predict(draw):
    dtype, dims, m, output = _network_args(draw)
    args = dict(X=_matrix(draw, (dims[0], m), dtype), parameters=_params(draw, dims, dtype),
                hidden_activation=draw(st.sampled_from(HIDDEN)), output_activation=output,
                slope=0.01, threshold=0.5)
    return _mutated(draw, "predict", lambda a: F.predict(**a), args,
                    dict(X=ARRAY, parameters="params", hidden_activation=choice(HIDDEN),
                         output_activation=choice(FUNCTIONAL_ACTIVATIONS), slope=real(),
                         threshold=real(0.0, 1.0)),
                    {"X": ("W1",)}, ("X", "parameters", "W", "b"))


@st.composite
def _gradient_check(draw):
    dtype, dims, m, output = _network_args(draw)
    dims = [min(n, 3) for n in dims[:3]]
    X = _matrix(draw, (dims[0], m), dtype)
    Y = (_one_hot(draw, dims[-1], m, dtype) if output == "softmax"
         else _binary(draw, (dims[-1], m), dtype) if output == "sigmoid"
         else _matrix(draw, (dims[-1], m), dtype))
    labels = {"sigmoid": LABELS_BINARY, "softmax": LABELS_CLASSES}.get(output, LABELS_TARGETS)
    args = dict(parameters=_params(draw, dims, dtype), X=X, Y=Y, epsilon=1e-7,
                hidden_activation="tanh", output_activation=output, loss=None, slope=0.01)
    return _mutated(draw, "gradient_check", lambda a: F.gradient_check(**a), args,
                    dict(parameters="params", X=ARRAY, Y=labels, epsilon=real(0.0, None, False),
                         hidden_activation=choice(FUNCTIONAL_ACTIVATIONS),
                         output_activation=choice(FUNCTIONAL_ACTIVATIONS),
                         loss=choice(LOSSES, {"sigmoid": "binary_crossentropy",
                                              "softmax": "categorical_crossentropy"}.get(
                                                  output, "mse"))),
                    {"X": ("W1", "Y"), "Y": ("AL", "X")}, ("X", "parameters", "Y", "W", "b"))


# ---------------------------------------------------------------------------
# Targets: dnn.course

@st.composite
def _course_initialize(draw):
    which = draw(st.sampled_from(["initialize_parameters", "initialize_parameters_deep",
                                  "initialize_parameters_deep_application"]))
    dims = _dims(draw)
    if which == "initialize_parameters":
        dims = _dims(draw, 2)
        args = dict(n_x=dims[0], n_h=dims[1], n_y=dims[2])
        kinds = {key: _CourseSize(key) for key in args}
        call = lambda a: C.initialize_parameters(**a)  # noqa: E731
    else:
        args = dict(layer_dims=dims)
        kinds = dict(layer_dims=LayerDims(dims[0], dims[-1]))
        call = lambda a, f=getattr(C, which): f(**a)  # noqa: E731
    case = _mutated(draw, f"course.{which}", call, args, kinds)
    case.blame += ("(n_x, n_h, n_y)",)
    return case


class _CourseSize:
    def __init__(self, name):
        self.name = name

    def mutate(self, draw, current):
        value = draw(st.sampled_from([0, -1, 2.5, True, "3", None] + list(HUGE_SIZES)))
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return Mutated(value, repr(value), value * 4 > 10 ** 9)
        return Mutated(value, repr(value), True)


@st.composite
def _course_forward(draw):
    which = draw(st.sampled_from(["linear_forward", "linear_activation_forward",
                                  "L_model_forward"]))
    dtype = draw(DT)
    if which == "L_model_forward":
        dims, m = _dims(draw), draw(st.integers(1, 5))
        args = dict(X=_matrix(draw, (dims[0], m), dtype), parameters=_params(draw, dims, dtype))
        return _mutated(draw, "course.L_model_forward", lambda a: C.L_model_forward(**a)[0],
                        args, dict(X=ARRAY, parameters="params"), {"X": ("W1",)},
                        ("X", "parameters", "W", "b"))
    A_prev, W, b = _layer(draw, dtype)
    name = "A" if which == "linear_forward" else "A_prev"
    args = {name: A_prev, "W": W, "b": b}
    kinds = {name: ARRAY, "W": ARRAY, "b": ARRAY}
    if which == "linear_activation_forward":
        args["activation"] = draw(st.sampled_from(["relu", "sigmoid"]))
        kinds["activation"] = choice(FUNCTIONAL_ACTIVATIONS)
    related = {name: ("W", "A_prev"), "W": ("A_prev", "b"), "b": ("W",)}
    case = _mutated(draw, f"course.{which}", lambda a, f=getattr(C, which): f(**a)[0], args,
                    kinds, related, ("A_prev", "W", "b"))
    if case.argument == "A":
        case.blame += ("A_prev",)  # the course's A is the functional API's A_prev
    return case


@st.composite
def _course_cost_and_backward(draw):
    which = draw(st.sampled_from(["compute_cost", "linear_backward",
                                  "linear_activation_backward", "L_model_backward"]))
    dtype = draw(DT)
    dims, m = _dims(draw), draw(st.integers(1, 5))
    dims[-1] = 1
    X = _matrix(draw, (dims[0], m), dtype)
    params = _params(draw, dims, dtype)
    AL, caches = C.L_model_forward(X, params)
    Y = _binary(draw, AL.shape, dtype)
    if which == "compute_cost":
        return _mutated(draw, "course.compute_cost", lambda a: C.compute_cost(**a),
                        dict(AL=AL, Y=Y), dict(AL=ARRAY, Y=LABELS_TARGETS),  # course mode
                        {"AL": ("Y",), "Y": ("AL",)}, ("AL", "Y"))
    if which == "L_model_backward":
        return _mutated(draw, "course.L_model_backward", lambda a: C.L_model_backward(**a),
                        dict(AL=AL, Y=Y, caches=caches),
                        dict(AL=ARRAY, Y=LABELS_TARGETS, caches=_Caches()),  # course mode
                        {"AL": ("caches",), "Y": ("AL",)}, ("AL", "Y", "caches"))
    (A_prev, W, b), Z = caches[-1]
    if which == "linear_backward":
        return _mutated(draw, "course.linear_backward", lambda a: C.linear_backward(**a),
                        dict(dZ=_matrix(draw, Z.shape, dtype), cache=(A_prev, W, b)),
                        dict(dZ=ARRAY, cache=_Cache(("A_prev", "W", "b"))),
                        {"dZ": ("cache", "A_prev", "W"), "cache": ("dZ",)}, ("dZ", "cache"))
    return _mutated(draw, "course.linear_activation_backward",
                    lambda a: C.linear_activation_backward(**a),
                    dict(dA=_matrix(draw, Z.shape, dtype), cache=caches[-1], activation="sigmoid"),
                    dict(dA=ARRAY, cache=_Cache(("A_prev", "W", "b", "Z")),
                         activation=choice(FUNCTIONAL_ACTIVATIONS)),
                    {"dA": ("cache", "Z"), "cache": ("dA",)}, ("dA", "cache"))


@st.composite
def _course_update_predict(draw):
    which = draw(st.sampled_from(["update_parameters", "predict"]))
    dtype = draw(DT)
    dims, m = _dims(draw), draw(st.integers(1, 5))
    dims[-1] = 1
    params = _params(draw, dims, dtype)
    if which == "update_parameters":
        grads = {f"d{key}": _matrix(draw, value.shape, dtype) for key, value in params.items()}
        return _mutated(draw, "course.update_parameters", lambda a: C.update_parameters(**a),
                        dict(params=params, grads=grads, learning_rate=0.0075),
                        dict(params="params", grads="grads", learning_rate=real(low=0.0)),
                        {}, ("params", "parameters", "grads"),
                        extra_blame=("parameters",))
    X = _matrix(draw, (dims[0], m), dtype)
    y = _binary(draw, (1, m), dtype)
    case = _mutated(draw, "course.predict", lambda a: C.predict(**a),
                    dict(X=X, y=y, parameters=params), dict(X=ARRAY, parameters="params"),
                    {"X": ("W1", "y")}, ("X", "parameters", "W", "b"), extra_blame=("y",))
    return case


@st.composite
def _course_models(draw):
    which = draw(st.sampled_from(["two_layer_model", "L_layer_model"]))
    dtype = draw(DT)
    dims = _dims(draw, 2 if which == "two_layer_model" else None)
    dims[-1] = 1
    m = draw(st.integers(1, 5))
    args = dict(X=_matrix(draw, (dims[0], m), dtype), Y=_binary(draw, (1, m), dtype),
                layers_dims=tuple(dims) if which == "two_layer_model" else dims,
                learning_rate=0.0075, num_iterations=draw(st.integers(1, 3)))
    # course mode: the course's code takes real-valued labels
    kinds = dict(X=ARRAY, Y=LABELS_TARGETS, layers_dims=LayerDims(dims[0], 1),
                 learning_rate=real(low=0.0), num_iterations=integer(1, huge=False))
    return _mutated(draw, f"course.{which}", lambda a, f=getattr(C, which): f(**a), args, kinds,
                    {"X": ("layers_dims", "Y"), "Y": ("X",), "layers_dims": ("X", "Y")},
                    ("X", "Y"))


# ---------------------------------------------------------------------------
# Targets: dnn.Network and dnn.load

NET_OUTPUTS = tuple(registry.OUTPUTS)
OPTIMIZERS = tuple(registry.OPTIMIZERS)


def _net_setup(draw):
    dtype = draw(st.sampled_from(["float64", "float32"]))
    output = draw(st.sampled_from(NET_OUTPUTS))
    dims = _dims(draw)
    if output == "softmax":
        dims[-1] = max(dims[-1], 2)
    m = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 9))
    X = _matrix(draw, (m, dims[0]), np.float64)
    if output == "softmax":
        y = np.random.default_rng(seed).integers(0, dims[-1], m)
        labels = LABELS_CLASSES
    elif output == "sigmoid":
        y = _binary(draw, (m, dims[-1]), np.float64)
        labels = LABELS_BINARY
    elif registry.OUTPUTS[output].target == "count":
        y = np.abs(_matrix(draw, (m, dims[-1]), np.float64))   # counts: >= 0
        labels = LABELS_TARGETS
    else:
        y = _matrix(draw, (m, dims[-1]), np.float64)
        labels = LABELS_TARGETS
    spec = dict(layer_dims=dims, activation=draw(st.sampled_from(HIDDEN)), output=output,
                dtype=dtype, seed=seed)
    return spec, X, y, labels


def _network(spec):
    return dnn.Network(**spec)


@st.composite
def _network_constructor(draw):
    spec, *_ = _net_setup(draw)
    if len(spec["layer_dims"]) == 2:  # with hidden layers, so that activation matters
        spec["layer_dims"].insert(1, 2)
    spec.update(init=draw(st.sampled_from(F.INITS)), slope=0.01, n_threads=None)
    kinds = dict(layer_dims=LayerDims(spec["layer_dims"][0], spec["layer_dims"][-1]),
                 activation=choice(HIDDEN), output=choice(NET_OUTPUTS), init=choice(F.INITS),
                 dtype=Dtype(), seed=_Seed(), slope=real(), n_threads=integer(1, none_ok=True))

    def call(a):
        net = dnn.Network(**a)
        return net.parameters

    return _mutated(draw, "Network", call, spec, kinds)


class _Activations:
    """activation as a per-layer list."""

    def mutate(self, draw, current):
        value = draw(st.sampled_from([["relu", 3], ["relu"] * 7, [], ["softmax"], [None],
                                      ("tanh", "relu"), "tanh"]))
        return Mutated(value, repr(value), True)


class _Optimizer:
    def mutate(self, draw, current):
        value = draw(st.sampled_from(["sgd", "ADAM", "", None, 3, dnn.optimizers.Adam,
                                      "adam", dnn.optimizers.Momentum(0.5)]))
        valid = value in ("adam", "ADAM") or isinstance(value, dnn.optimizers.Optimizer)
        if value is None:
            return Mutated(value, "None", False)  # partial_fit: the last optimizer
        return Mutated(value, repr(value), not valid, value if valid else None)


class _KeepProb:
    def mutate(self, draw, current):
        value = draw(st.sampled_from([0.0, -0.5, 1.5, math.nan, True, "0.5", [0.5] * 9,
                                      [0.5, "a"], [], 10 ** 400, 1.0, None]))
        valid = value is None or value == 1.0
        if isinstance(value, list) and not value:
            return Mutated(value, "[]", False)   # right for a network without hidden layers
        return Mutated(value, repr(value), not valid, value if valid else None)


def _quiet(epoch, logs):
    return None


class _Callbacks:
    def mutate(self, draw, current):
        value = draw(st.sampled_from([5, [5], "abc", [None], (print, 3), None, (), [_quiet]]))
        valid = value in (None, ()) or value == [_quiet]
        return Mutated(value, repr(value), not valid, value if valid else None)


class _ValidationData:
    def __init__(self, labels, data):
        self.labels, self.data = labels, data

    def mutate(self, draw, current):
        current = self.data if current is None else current
        X, y = current
        kind = draw(st.sampled_from(["X", "y", "X", "y", "single", "triple", "array", "string"]))
        if kind in ("X", "y"):
            index = 0 if kind == "X" else 1
            mutated = draw(_array_mutation(np.asarray(current[index], dtype=float),
                                           labels=None if kind == "X" else self.labels,
                                           converts=True))
            pair = list(current)
            pair[index] = mutated.value
            canonical = None
            if mutated.canonical is not None:
                canonical = list(current)
                canonical[index] = mutated.canonical
                canonical = tuple(canonical)
            mutated.value, mutated.canonical = tuple(pair), canonical
            mutated.extra_blame = (f"validation_data[{index}]",)
            mutated.name = f"[{index}] <- {mutated.name}"
            return mutated
        value = {"single": (X,), "triple": (X, y, y), "array": np.asarray(X),
                 "string": "data"}[kind]
        return Mutated(value, kind, True)


def _fit_kinds(labels, data):
    return dict(
        X=ARRAY, y=labels, epochs=integer(0, huge=False), batch_size=integer(1, none_ok=True),
        optimizer=_Optimizer(), learning_rate=real(0.0, None, False, none_ok=True),
        l2=real(low=0.0),
        keep_prob=_KeepProb(), validation_data=_ValidationData(labels, data),
        validation_split=real(0.0, 1.0), patience=integer(1), min_delta=real(low=0.0),
        callbacks=_Callbacks(), epochs_huge=_HugeEpochs())


class _HugeEpochs:
    def mutate(self, draw, current):
        value = draw(st.sampled_from([10 ** 13, 2 ** 62, 10 ** 30]))
        return Mutated(value, repr(value), True)


@st.composite
def _network_fit(draw):
    spec, X, y, labels = _net_setup(draw)
    method = draw(st.sampled_from(["fit", "fit", "partial_fit"]))
    args = dict(X=X, y=y, batch_size=draw(st.sampled_from([None, 2])), learning_rate=0.01,
                l2=0.0, keep_prob=None)
    kinds = _fit_kinds(labels, (X[:2], y[:2]))
    if method == "fit":
        cut = max(1, X.shape[0] // 2)
        args.update(epochs=2, optimizer="adam", validation_data=(X[:cut], y[:cut]),
                    patience=2, min_delta=0.0, callbacks=None, epochs_huge=2,
                    validation_split=0.0, early_stopping=draw(st.booleans()))
        if draw(st.booleans()):
            args["validation_data"] = None
            args["validation_split"] = 0.0
    else:
        kinds = {k: v for k, v in kinds.items() if k in ("X", "y", "batch_size", "optimizer",
                                                           "learning_rate", "l2", "keep_prob")}
        args["optimizer"] = None

    def call(a):
        a = dict(a)
        net = _network(spec)
        if "epochs_huge" in a:
            huge = a.pop("epochs_huge")
            if huge != 2:
                a["epochs"] = huge
        if method == "partial_fit" and a["optimizer"] is None:
            a.pop("optimizer")
        history = getattr(net, method)(**a)
        return history, net.parameters

    blame_related = {"X": ("y",), "y": ("X",), "batch_size": ("X",),
                     "validation_split": ("X",), "keep_prob": ("keep_prob",),
                     "validation_data": ("validation_data",)}
    case = _mutated(draw, f"Network.{method}", call, args, kinds, blame_related, ("X", "y"),
                    converts=True)
    if case.argument == "epochs_huge":
        case.blame += ("epochs",)
    return case


@st.composite
def _network_wide_batch(draw):
    """A batch times a layer width beyond memory: the workspace must be refused."""
    width = draw(st.sampled_from([60000, 200000]))
    m = draw(st.sampled_from([40000, 100000]))
    method = draw(st.sampled_from(["fit", "compute_gradients"]))
    X = np.zeros((m, 1))
    y = np.zeros(m)

    def call():
        net = dnn.Network([1, width, 1], seed=0)
        if method == "fit":
            return net.fit(X, y, epochs=1, optimizer="gd")
        return net.compute_gradients(X, y)

    return Case(f"Network.{method}", "X", f"{m} rows through {width} units", call,
                ("X", "batch_size"), True)


@st.composite
def _network_inference(draw):
    spec, X, y, labels = _net_setup(draw)
    method = draw(st.sampled_from(["predict", "predict_proba", "evaluate",
                                   "compute_gradients"]))
    args = dict(X=X)
    kinds = dict(X=ARRAY)
    if method in ("evaluate", "compute_gradients"):
        args["y"], kinds["y"] = y, labels
    if method == "compute_gradients":
        args["l2"], kinds["l2"] = 0.1, real(low=0.0)
    net = _network(spec)
    return _mutated(draw, f"Network.{method}", lambda a: getattr(net, method)(**a), args, kinds,
                    {"X": ("y",), "y": ("X",)}, ("X", "y"), converts=True)


@st.composite
def _network_parameters(draw):
    spec, *_ = _net_setup(draw)
    dims = spec["layer_dims"]
    params = _params(draw, dims, np.dtype(spec["dtype"]).type)

    def call(a):
        net = _network(spec)
        net.parameters = a["parameters"]
        return net.parameters

    return _mutated(draw, "Network.parameters", call, dict(parameters=params),
                    dict(parameters="params"), {}, ("parameters",))


@st.composite
def _network_save_load(draw):
    spec, X, y, labels = _net_setup(draw)
    method = draw(st.sampled_from(["save", "load"]))
    path = os.path.join(SCRATCH, f"model-{draw(st.integers(0, 3))}.npz")
    net = _network(spec)
    net.save(path)
    if method == "save":
        def call(a):
            _network(spec).save(**a)
            return dnn.load(a["path"] if not isinstance(a["path"], bytes)
                            else os.fsdecode(a["path"])).parameters
        return _mutated(draw, "Network.save", call, dict(path=path, optimizer_state=True),
                        dict(path=Path()), path_arguments=("path",))
    return _mutated(draw, "load", lambda a: dnn.load(**a).parameters, dict(path=path),
                    dict(path=Path()), path_arguments=("path",))


TARGETS = {
    "initialize_parameters": _initialize_parameters(),
    "linear_forward": _linear_forward(),
    "linear_activation_forward": _linear_activation_forward(),
    "forward": _forward(),
    "compute_cost": _compute_cost(),
    "linear_backward": _linear_backward(),
    "linear_activation_backward": _linear_activation_backward(),
    "backward": _backward(),
    "update_parameters": _update_parameters(),
    "predict": _predict(),
    "gradient_check": _gradient_check(),
    "course.initialize": _course_initialize(),
    "course.forward": _course_forward(),
    "course.cost_and_backward": _course_cost_and_backward(),
    "course.update_and_predict": _course_update_predict(),
    "course.models": _course_models(),
    "Network": _network_constructor(),
    "Network.fit": _network_fit(),
    "Network.wide_batch": _network_wide_batch(),
    "Network.inference": _network_inference(),
    "Network.parameters": _network_parameters(),
    "Network.save_load": _network_save_load(),
}

# ---------------------------------------------------------------------------
# Targets: the scikit-learn wrappers (dnn.sklearn)

class _AnyLabels:
    """A classifier's y: any hashable labels are classes (strings too); only a
    wrong shape, NaN or a non-array must fail."""

    def mutate(self, draw, current):
        mutated = draw(_array_mutation(np.asarray(current, dtype=float), labels="targets",
                                       converts=True))
        if not mutated.must_fail and mutated.canonical is None:
            return mutated
        legal_values = mutated.name not in ("nan", "inf", "-inf", "None", "string", "dict",
                                            "ragged list", "complex", "datetime", "0-D")
        if legal_values and "empty" not in mutated.name and "row" not in mutated.name:
            return Mutated(mutated.value, mutated.name, False)  # other classes: fine
        return mutated


SKLEARN_PARAMETERS = dict(
    hidden_layer_sizes=_CourseSize("hidden_layer_sizes"), alpha=real(low=0.0),
    learning_rate_init=real(0.0, None, False), max_iter=integer(1, huge=False),
    batch_size=integer(1), momentum=real(0.0, 1.0), beta_1=real(0.0, 1.0),
    epsilon=real(0.0, None, False), dropout=real(0.0, 1.0), validation_fraction=real(0.0, 1.0),
    tol=real(low=0.0), n_iter_no_change=integer(1), activation=choice(
        ("relu", "tanh", "logistic", "identity")), solver=choice(("lbfgs", "sgd", "adam")),
    dtype=Dtype())


@st.composite
def _sklearn(draw):
    """scikit-learn's own conventions hold: check_array converts arrays of numbers
    held as str, bytes or objects (so those may succeed, with finite results)."""
    case = draw(_sklearn_case())
    if case.mutation.split(" <- ")[-1] in ("str", "bytes", "object", "datetime"):
        case.must_fail, case.reference, case.finite_result = False, None, True
    return case


@st.composite
def _sklearn_case(draw):
    from dnn.sklearn import DNNClassifier, DNNRegressor
    classifier = draw(st.booleans())
    estimator_class = DNNClassifier if classifier else DNNRegressor
    n_x, m = draw(st.integers(1, 4)), draw(st.integers(4, 8))
    X = _matrix(draw, (m, n_x), np.float64)
    seed = draw(st.integers(0, 9))
    y = (np.random.default_rng(seed).integers(0, 3, m) if classifier
         else _matrix(draw, (m,), np.float64))
    method = draw(st.sampled_from(["fit", "fit", "predict", "score", "parameter"]))
    settings = dict(hidden_layer_sizes=(3,), max_iter=3, random_state=0)
    name = f"sklearn.{estimator_class.__name__}"

    if method == "parameter":
        key = draw(st.sampled_from(sorted(SKLEARN_PARAMETERS)))
        args = {key: getattr(estimator_class(**settings), key)}
        kinds = {key: SKLEARN_PARAMETERS[key]}

        def call(a):
            estimator = estimator_class(**dict(settings, **a)).fit(X, y)
            return estimator.predict(X)
        case = _mutated(draw, f"{name}({key}=)", call, args, kinds)
        case.reference = None  # another valid setting: only finite and no crash
        case.finite_result = True
        return case
    if method == "fit":
        args = dict(X=X, y=y, sample_weight=np.ones(m))
        kinds = dict(X=ARRAY, y=_AnyLabels() if classifier else LABELS_TARGETS,
                     sample_weight=ARRAY)
        call = lambda a: estimator_class(**settings).fit(**a).predict(X)  # noqa: E731
        case = _mutated(draw, f"{name}.fit", call, args, kinds,
                        {"X": ("y", "sample_weight"), "y": ("X",), "sample_weight": ("X",)},
                        ("X", "y"), converts=True)
        return case
    fitted = estimator_class(**settings).fit(X, y)
    if method == "predict":
        which = draw(st.sampled_from(["predict", "predict_proba"] if classifier
                                     else ["predict"]))
        return _mutated(draw, f"{name}.{which}", lambda a: getattr(fitted, which)(**a),
                        dict(X=X), dict(X=ARRAY), {}, ("X",), converts=True)
    return _mutated(draw, f"{name}.score", lambda a: fitted.score(**a), dict(X=X, y=y),
                    dict(X=ARRAY, y=_AnyLabels() if classifier else LABELS_TARGETS),
                    {"X": ("y",), "y": ("X",)}, ("X", "y"), converts=True)


@st.composite
def _segfault(draw):
    """Not a target: a case that crashes the process, to show the harness notices."""
    import ctypes
    n = draw(st.integers(0, 3))
    return Case("selftest", "pointer", f"NULL + {n}", lambda: ctypes.string_at(n), ("",), True)


TARGETS["sklearn"] = _sklearn()
EXAMPLES_SKLEARN = 300

#: run by test_hostile_input's self-test only (in no group)
SELFTEST = {"selftest.segfault": _segfault()}
TARGETS.update(SELFTEST)

#: examples per target in the "default" profile (the cheap targets get more)
EXAMPLES = {name: 300 for name in TARGETS}
EXAMPLES.update({"selftest.segfault": 5, "gradient_check": 150, "course.models": 150, "Network.fit": 400,
                 "Network.wide_batch": 8, "Network.save_load": 100, "Network": 200})

EXAMPLES["sklearn"] = EXAMPLES_SKLEARN

#: one child process per group
GROUPS = {
    "sklearn": ["sklearn"],
    "functional": ["initialize_parameters", "linear_forward", "linear_activation_forward",
                   "forward", "compute_cost", "linear_backward", "linear_activation_backward",
                   "backward", "update_parameters", "predict", "gradient_check"],
    "course": ["course.initialize", "course.forward", "course.cost_and_backward",
               "course.update_and_predict", "course.models"],
    "network": ["Network", "Network.fit", "Network.wide_batch", "Network.inference",
                "Network.parameters", "Network.save_load"],
}
