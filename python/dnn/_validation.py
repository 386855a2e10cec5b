"""Checks run once at each public entry point, before anything reaches a kernel.

Every failure raises ``TypeError`` (wrong kind of thing) or ``ValueError``
(right kind, wrong value) with a message naming the argument, what was
expected and what came.
"""
import math
import numbers
import os

import numpy as np

import dnn_core
from dnn_core import registry

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_array(value, name):
    """``value`` as an ndarray (no copy of an ndarray); ragged nesting refused."""
    if type(value) is np.ndarray:
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name}: expected an array, got a {type(value).__name__} that "
                         f"does not convert to one ({error})") from None


def float_array(value, name, ndim=None, dtype=None):
    """``value`` as a float32/float64 ndarray of ``ndim`` dims, non-empty.

    With ``dtype`` given, the array must already have it (mixing float32 and
    float64 is refused rather than silently converted).
    """
    array = as_array(value, name)
    kind = array.dtype
    if kind.char not in "fd":
        hint = (f"; convert it first, e.g. {name}.astype(np.float64)"
                if kind.kind in "biuf" else "")
        raise TypeError(f"{name}: expected an array of float32 or float64, "
                        f"got dtype {kind}{hint}")
    if not kind.isnative:
        array = array.astype(kind.newbyteorder("="))
    if dtype is not None and array.dtype is not dtype and array.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)} like the other arrays, "
                        f"got {array.dtype}; convert one of them with .astype()")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape}")
    return array


#: bytes of rows checked per call when an array is checked in chunks
CHECK_CHUNK_BYTES = 1 << 24


def check_finite(array, name, into=None):
    """Refuse NaN and inf in a float32/float64 array; with ``into`` float32 and a
    float64 array, also values beyond float32's range (they would become inf).

    A 1-D or 2-D array (a memmap, a slice of one, any strides) is read in
    place, in chunks of rows, in its own dtype: nothing is copied. Arrays of
    more dimensions or a swapped byte order are flattened into a copy.
    """
    narrowing = (into is not None and np.dtype(into) == np.float32
                 and array.dtype == np.float64)
    if not narrowing and array.flags.c_contiguous:
        if dnn_core.has_nonfinite(array.ravel(order="K")):
            raise ValueError(f"{name}: expected finite values, found NaN or inf")
        return
    bound = float(np.finfo(np.float32).max) if narrowing else float(np.finfo(np.float64).max)
    if array.ndim == 1 and array.dtype.isnative and array.flags.aligned:
        array = array[None, :]
    if (array.ndim == 2 and array.dtype.isnative and array.flags.aligned
            and array.shape[1] > 0):
        step = max(1, CHECK_CHUNK_BYTES // (array.shape[1] * array.itemsize))
        chunks = (array[start:start + step] for start in range(0, array.shape[0], step))
    else:
        chunks = [np.ascontiguousarray(array).reshape(1, -1)]
    for chunk in chunks:
        if dnn_core.rows_beyond(chunk, bound):
            if narrowing and not dnn_core.rows_beyond(chunk):
                raise ValueError(f"{name}: values beyond float32's range (|x| > 3.4e38) "
                                 f"would become inf in a float32 network; scale them down")
            raise ValueError(f"{name}: expected finite values, found NaN or inf")


def finite_values(array, name, unit_interval_for=None, bounds=(0.0, 1.0)):
    """Refuse NaN and inf, and, when ``unit_interval_for`` names why, values
    outside ``bounds`` (low, high; high may be inf); one pass over a
    float32/float64 array."""
    nonfinite, low, high = dnn_core.value_summary(array.ravel(order="K"))
    if nonfinite:
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    if unit_interval_for is not None and (low < bounds[0] or high > bounds[1]):
        wanted = (f"values >= {bounds[0]:g}" if bounds[1] == np.inf
                  else f"values in [{bounds[0]:g}, {bounds[1]:g}]")
        raise ValueError(f"{name}: expected {wanted} for {unit_interval_for}, "
                         f"got values in [{low:g}, {high:g}]")


def target_bounds(kind, output_name):
    """(why, bounds) for :func:`finite_values` of a registry target kind: why
    is None when any finite value goes."""
    row = registry.TARGETS[kind]
    if row is None:
        return None, (0.0, 1.0)
    what, low, high = row
    return f"{what} of a {output_name} output", (low, high)


def labels(value, name, dtype, shape, unit_interval_for=None, bounds=(0.0, 1.0)):
    """``value`` (bool, integer or float labels) as a C-ordered array of ``dtype``,
    finite, and within [0, 1] when ``unit_interval_for`` says why.

    A 1-D array of m labels is accepted where ``shape`` is (1, m).
    """
    array = as_array(value, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric labels, got dtype {array.dtype}")
    if array.shape != shape:
        if array.ndim == 1 and shape[0] == 1 and array.shape[0] == shape[1]:
            array = array.reshape(shape)
        else:
            raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    array = np.ascontiguousarray(array, dtype=dtype)
    finite_values(array, name, unit_interval_for, bounds)
    return array


def integer(value, name, low=0):
    """``value`` as a Python int >= ``low`` (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value}")
    return int(value)


def positive_int(value, name):
    return integer(value, name, low=1)


def float_dtype(value, name="dtype"):
    """``value`` as numpy's float32 or float64 dtype."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name}: expected float32 or float64, got {value!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype}")
    return dtype


def real(value, name, low=None, low_inclusive=True, high=None):
    """``value`` as a finite Python float within the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name}: expected a finite number, got an integer of "
                         f"{len(str(abs(value)))} digits") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"{name}: expected a number {bound} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name}: expected a number <= {high}, got {value}")
    return value


def seed(value, name="seed", generator=False):
    """``value`` as a seed of numpy.random.default_rng: None or an integer >= 0
    (or, with ``generator``, a numpy.random.Generator)."""
    if value is None or (generator and isinstance(value, np.random.Generator)):
        return value
    return integer(value, name)


def memory_limit():
    """Bytes this process may allocate at most: the physical memory, or less
    if the address space is capped (RLIMIT_AS)."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        import resource
        cap = resource.getrlimit(resource.RLIMIT_AS)[0]
        if cap != resource.RLIM_INFINITY:
            limit = min(limit, cap)
    except (ImportError, OSError, ValueError):
        pass
    return limit


def allocation(n_bytes, name, what):
    """Refuse with MemoryError, before trying, an allocation that cannot fit
    (tried, it would fail or get the process killed by the OOM killer)."""
    limit = memory_limit()
    if n_bytes > limit:
        raise MemoryError(f"{name}: {what} would need {n_bytes / 2 ** 30:.3g} GiB, more than "
                          f"the {limit / 2 ** 30:.3g} GiB of memory this process may use")


def per_hidden_layer(value, name, n_hidden, single, noun):
    """``value`` for every hidden layer (``single``: one value for all), as a list
    of ``n_hidden``."""
    if single:
        return [value] * n_hidden
    try:
        values = list(value)
    except TypeError:
        raise TypeError(f"{name}: expected a {noun} or a sequence of them, "
                        f"got {type(value).__name__}") from None
    if len(values) != n_hidden:
        raise ValueError(f"{name}: expected one {noun} or {n_hidden} (one per hidden "
                         f"layer), got {len(values)}")
    return values


def choice(value, name, options):
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a string, one of {sorted(options)}, "
                        f"got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"{name}: expected one of {sorted(options)}, got {value!r}")
    return value


def activation_code(value, name="activation"):
    """The kernels' code of the activation named ``value`` (any registry row)."""
    return registry.ACTIVATIONS[choice(value, name, registry.ACTIVATIONS)].code


def layer_dims(value, name="layer_dims"):
    try:
        dims = list(value)
    except TypeError:
        raise TypeError(f"{name}: expected a sequence of layer sizes, "
                        f"got {type(value).__name__}") from None
    if len(dims) < 2:
        raise ValueError(f"{name}: expected at least 2 sizes (input and output), got {dims}")
    for index, size in enumerate(dims):
        positive_int(size, f"{name}[{index}]")
    return [int(size) for size in dims]


def parameters(params, name="parameters"):
    """Check a course-style dict {"W1", "b1", ...}; return ([W...], [b...], dtype).

    b[l] may be (n[l], 1) or (n[l],); the returned b's are 1-D views.
    """
    if not isinstance(params, dict):
        raise TypeError(f"{name}: expected a dict like {{'W1': ..., 'b1': ...}}, "
                        f"got {type(params).__name__}")
    n_layers = sum(1 for key in params if isinstance(key, str) and key.startswith("W"))
    if n_layers == 0:
        raise ValueError(f"{name}: expected keys 'W1', 'b1', ..., got {sorted(map(str, params))}")
    orphans = sorted(key for key in params if isinstance(key, str) and key[:1] == "b"
                     and key[1:].isdigit() and not 1 <= int(key[1:]) <= n_layers)
    if orphans:
        raise ValueError(f"{name}: {orphans} without their weight matrices (found "
                         f"{n_layers} of them)")
    weights, biases, dtype = [], [], None
    for layer in range(1, n_layers + 1):
        for key in (f"W{layer}", f"b{layer}"):
            if key not in params:
                raise ValueError(f"{name}: missing {key!r} (found {n_layers} weight matrices)")
        W = float_array(params[f"W{layer}"], f"{name}['W{layer}']", ndim=2, dtype=dtype)
        dtype = W.dtype
        b = float_array(params[f"b{layer}"], f"{name}['b{layer}']", dtype=dtype)
        if b.shape not in ((W.shape[0], 1), (W.shape[0],)):
            raise ValueError(f"{name}['b{layer}']: expected shape ({W.shape[0]}, 1) to match "
                             f"W{layer} of shape {W.shape}, got {b.shape}")
        if weights and W.shape[1] != weights[-1].shape[0]:
            raise ValueError(f"{name}['W{layer}']: expected {weights[-1].shape[0]} columns "
                             f"(the rows of W{layer - 1}), got shape {W.shape}")
        weights.append(W)
        biases.append(np.ascontiguousarray(b.reshape(-1)))
    return weights, biases, dtype


def nonfinite_culprit(named_arrays, layer_name, data_name="X", hidden=None):
    """Raise the error for non-finite values found in a layer's output Z.

    named_arrays: the layer's (name, array) inputs; ``hidden`` names the one
    that is an earlier layer's output, not an argument (its overflow is blamed
    on ``data_name`` and the parameters).
    """
    for name, array in named_arrays:
        if not np.isfinite(array).all():
            if name == hidden:
                raise ValueError(f"{data_name}: the activations {name} overflowed to inf "
                                 f"although {data_name} and the parameters are finite; scale "
                                 f"{data_name} down, or use smaller weights or slope")
            raise ValueError(f"{name}: expected finite values, found NaN or inf")
    names = ", ".join(name for name, _ in named_arrays)
    raise ValueError(f"{layer_name}: the linear step overflowed to inf although {names} are "
                     f"finite; scale {data_name} down or use smaller weights")


# ---------------------------------------------------------------------------
# dnn.Network's data: sample-major, (n_samples, n_features)

def features(X, n_features, dtype, name="X"):
    """X, shape (n_samples, n_features), as the engine takes it, never copied
    when the engine can stream it: float32, float64 or uint8 (native byte
    order) whose rows hold contiguous values, with any row stride (a memmap,
    a slice of rows or columns of one) is passed as it is, and the engine
    converts each batch while it gathers it. Anything else (other integer
    or bool types, float16, Fortran order, reversed rows, a swapped byte
    order) is converted whole to a C-ordered array of ``dtype``."""
    from dnn._streaming import streamable
    from dnn._sparse_input import is_sparse, sparse_features

    if is_sparse(X):
        # (read in place by the engine's first layer, never densified)
        return sparse_features(X, n_features, dtype, name)
    array = as_array(X, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric values, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != n_features or array.shape[0] < 1:
        raise ValueError(f"{name}: expected shape (n_samples >= 1, {n_features}), "
                         f"got {array.shape}")
    if not streamable(array):
        array = np.ascontiguousarray(array, dtype=dtype)
    if array.dtype.kind == "f":
        # (in chunks of rows, in place; float64 into a float32 network must
        # also fit float32's range)
        check_finite(array, name, into=dtype)
    return array


def targets(y, m, output, n_out, dtype, name="y"):
    """(T, labels) as the engine takes them for the output ``output`` (a
    registry OutputRow): a float matrix (m, n_out) of ``dtype``, or int64 class
    labels (m,) for a categorical target."""
    array = as_array(y, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric labels, got dtype {array.dtype}")
    if output.target == "categorical":
        if array.shape != (m,):
            raise ValueError(f"{name}: expected {m} integer class labels, shape ({m},), "
                             f"got shape {array.shape}")
        labels = np.ascontiguousarray(array, dtype=np.int64)
        if array.dtype.kind == "f" and not np.array_equal(labels, array):
            raise ValueError(f"{name}: expected integer class labels, got fractions")
        low, high = (labels.min(), labels.max())
        if low < 0 or high >= n_out:
            raise ValueError(f"{name}: expected classes in 0..{n_out - 1} (one per output "
                             f"unit), got values in {low}..{high}")
        return None, labels
    if array.shape == (m,) and n_out == 1:
        array = array.reshape(m, 1)
    if array.shape != (m, n_out):
        raise ValueError(f"{name}: expected shape ({m}, {n_out})"
                         + (f" or ({m},)" if n_out == 1 else "") + f", got {array.shape}")
    target = np.ascontiguousarray(array, dtype=dtype)
    finite_values(target, name, *target_bounds(output.target, output.name))
    return target, None


def sample_weight(value, m, dtype):
    """None, or finite weights >= 0 of shape (m,) in ``dtype``."""
    if value is None:
        return None
    array = as_array(value, "sample_weight")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight: expected numeric weights, got dtype {array.dtype}")
    if array.shape != (m,):
        raise ValueError(f"sample_weight: expected shape ({m},), got {array.shape}")
    weights = np.ascontiguousarray(array, dtype=dtype)
    nonfinite, low, _ = dnn_core.value_summary(weights)
    if nonfinite or low < 0:
        raise ValueError("sample_weight: expected finite weights >= 0, got "
                         + ("NaN or inf" if nonfinite else f"a minimum of {low:g}"))
    return weights


def keep_prob(value, n_hidden):
    """fit's keep_prob: None, or one probability in (0, 1] per hidden layer."""
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        value = real(value, "keep_prob", low=0.0, low_inclusive=False, high=1.0)
    values = per_hidden_layer(value, "keep_prob", n_hidden, isinstance(value, float),
                              "probability")
    return [real(v, "keep_prob", low=0.0, low_inclusive=False, high=1.0) for v in values]


def callbacks(value):
    """fit's callbacks as a list of callables."""
    try:
        value = list(value) if value else []
    except TypeError:
        raise TypeError(f"callbacks: expected a sequence of callables, "
                        f"got {type(value).__name__}") from None
    for index, callback in enumerate(value):
        if not callable(callback):
            raise TypeError(f"callbacks[{index}]: expected a callable, "
                            f"got {type(callback).__name__}")
    return value


def workspace(dims, batch, dtype, name):
    """Refuse a batch whose activations and gradients cannot fit in memory."""
    units = 4 * sum(dims[1:]) + 2 * max(dims[1:]) + dims[0] + dims[-1]
    allocation(units * batch * np.dtype(dtype).itemsize, name,
               f"a batch of {batch} examples through layers of up to "
               f"{max(dims[1:])} units")


def parameters_of(params, dims, name="parameters"):
    """A course-style dict for a network of layer sizes ``dims``: checked as
    :func:`parameters` does, of those shapes, finite; returns ([W], [b 1-D])."""
    weights, biases, _ = parameters(params, name)
    if len(weights) != len(dims) - 1:
        raise ValueError(f"{name}: expected {len(dims) - 1} layers, got {len(weights)}")
    for layer, (W, b) in enumerate(zip(weights, biases), start=1):
        shape = (dims[layer], dims[layer - 1])
        if W.shape != shape:
            raise ValueError(f"{name}['W{layer}']: expected shape {shape}, got {W.shape}")
        check_finite(W, f"{name}['W{layer}']")
        check_finite(b, f"{name}['b{layer}']")
    return weights, biases


def network_memory(dims, dtype, draw_bytes):
    """Refuse a network whose parameters, gradients, two moments and initial
    draw (``draw_bytes``) cannot fit in memory (sizes beyond BLAS's 32-bit ints
    are left to the engine's ValueError)."""
    if max(a * b for a, b in zip(dims, dims[1:])) <= 2 ** 31 - 1:
        size = sum(dims[l] * dims[l - 1] + dims[l] for l in range(1, len(dims)))
        allocation(4 * size * np.dtype(dtype).itemsize + draw_bytes, "layer_dims",
                   f"a network of layer sizes {dims}")
