"""The dual form of the first layer for wide inputs (issue 14).

With gradient descent, momentum or Nesterov (with or without l2), every
``dW1 = dZ1 X_B^T / m_B + (l2 / m_B) W1`` is a combination of the examples and
of ``W1`` itself, so ``W1`` stays ``sum_k c_k B_k + M X^T`` (course layout,
``X`` of shape ``(n_x, m)``) with ``M`` of shape ``(n1, m)``, scalars ``c_k`` and
the bases ``B_1 = W1`` at the start of the fit (and ``B_2`` = its velocity, if
the optimizer's state carries one): ``Z1 = sum_k c_k (B_k X) + M G + b1`` with
the Gram matrix ``G = X^T X``. A step then costs ``n1 x m x batch`` instead of
``n1 x n_x x batch`` for the first layer. :class:`DualFirstLayer` trains a
second engine whose input is the dual features ``F = [G | (B_1 X)^T | ...]``
(one row per example) and whose layer 1 is updated in those coordinates
(``dnn_core.DualLayer``), then writes ``W1`` (and its velocity) back,
materialised, into the network's engine: ``parameters``, ``predict``,
``save`` read the primal ``W1``.
"""
import weakref

import numpy as np

from dnn_core import DualLayer, Engine, registry

#: the optimizers whose update is element-wise LINEAR with the same
#: coefficients for every parameter, which keeps W1 in the span above (Adam and
#: RMSProp divide element-wise by a running RMS and leave it)
DUAL_OPTIMIZERS = ("gd", "momentum", "nesterov")
DUAL_CODES = frozenset(registry.OPTIMIZERS[name].code for name in DUAL_OPTIMIZERS)
#: first_layer's choices
FIRST_LAYERS = ("auto", "primal", "dual")
#: the dual features may take at most this many bytes ("auto" only)
MAX_FEATURE_BYTES = 1 << 30
#: features of X converted to float64 at a time while G, B_k X and W1 are formed
CHUNK_BYTES = 32 << 20


def _chunks(X):
    """Slices of X's columns (features) of about CHUNK_BYTES as float64."""
    m, n_x = X.shape
    step = max(1, CHUNK_BYTES // (8 * max(m, 1)))
    for start in range(0, n_x, step):
        yield start, min(n_x, start + step)


def _product_dtype(dtype):
    """The dtype of the chunks' products: float32 for a float32 network (as
    exact as its primal engine's own W1 X, and twice as fast), else float64;
    the chunks' sums are float64 either way."""
    return np.float32 if np.dtype(dtype) == np.float32 else np.float64


def dual_features(X, bases, dtype):
    """The dual features of the rows of X.

    Parameters
    ----------
    X : ndarray, shape (m, n_x)
        Examples as rows (float32, float64 or uint8).
    bases : sequence of ndarray, shape (n1, n_x)
    dtype : numpy dtype
        Of the result (each chunk's product in it when float32, else in
        float64; the chunks summed in float64).

    Returns
    -------
    features : ndarray, shape (m, m + r * n1), C-ordered
        ``[X X^T | X B_1^T | ... | X B_r^T]``.
    basis_gram : ndarray, shape (r, r), float64
        ``<B_k, B_l>``.
    """
    m = X.shape[0]
    n1 = bases[0].shape[0]
    work = _product_dtype(dtype)
    out = np.zeros((m, m + len(bases) * n1))
    for start, stop in _chunks(X):
        part = np.asarray(X[:, start:stop], dtype=work)
        # G += X_c X_c^T
        out[:, :m] += part @ part.T
        for k, B in enumerate(bases):
            # (B_k X)^T += X_c B_k[:, c]^T
            out[:, m + k * n1:m + (k + 1) * n1] += part @ np.asarray(
                B[:, start:stop], dtype=work).T
    flat = np.array([np.asarray(B, dtype=np.float64).ravel() for B in bases])
    return np.ascontiguousarray(out, dtype=dtype), flat @ flat.T


def materialise(X, coordinates, bases, out):
    """out = M X^T + sum_k c_k B_k (course layout) from ``coordinates`` =
    ``[M, c_1 I, ...]`` (n1, m + r n1); X (m, n_x) as rows; out (n1, n_x)."""
    m = X.shape[0]
    n1 = out.shape[0]
    work = _product_dtype(out.dtype)
    M = np.asarray(coordinates[:, :m], dtype=work)
    c = [float(coordinates[0, m + k * n1]) for k in range(len(bases))]
    for start, stop in _chunks(X):
        part = M @ np.asarray(X[:, start:stop], dtype=work)
        for ck, B in zip(c, bases):
            part += ck * np.asarray(B[:, start:stop], dtype=work)
        out[:, start:stop] = part
    return out


def step_work(layer_dims, m, batch, epochs, calls, n_bases, l2, materialised=None):
    """(primal, dual) multiply-adds of the first layer over a fit's ``epochs``
    epochs in ``calls`` engine calls: primal forward + weight gradient, 2 n1 n_x
    a row; dual: G and the bases' products once, the forward over the dual
    features, the l2 term's products (dZ1 G_B a step; M G and V_M G formed
    anew at each call and every 100 steps), W1 (and its velocity:
    ``materialised`` matrices, n_bases if None) formed after each call."""
    n_x, n1 = layer_dims[0], layer_dims[1]
    steps = -(-m // batch)
    primal = epochs * 2.0 * n1 * n_x * m
    dual = (m * m * n_x + n_bases * n1 * m * n_x                       # features
            + epochs * n1 * (m + n_bases * n1) * m                     # forward
            + (epochs * n1 * m * m                                     # l2 term:
               + 2 * n1 * m * m * (calls + epochs * steps // 100)       # dZ1 G_B, and
               if l2 > 0 else 0)                                        # M G, V_M G
            + calls * (n_bases if materialised is None else materialised)
            * n1 * m * n_x)                                            # materialise
    return primal, dual


def why_not(network, X, settings):
    """Why the dual form cannot be exact here (a sentence), or None."""
    names = {row.code: name for name, row in registry.OPTIMIZERS.items()}
    if settings["optimizer"] not in DUAL_CODES:
        return (f"the optimizer is {names[settings['optimizer']]!r}; the dual form is exact "
                f"with {', '.join(DUAL_OPTIMIZERS)} only")
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return f"X is a {type(X).__name__}, not a dense ndarray"
    if any(network.batch_norm):
        return "the network has batch norm"
    return None


def choose(network, X, settings, epochs, calls, features_made=False, repeats=1):
    """Whether a fit trains layer 1 in the dual form, by ``network.first_layer``:
    "primal" never, "dual" always (ValueError where it is not exact), "auto"
    where it is exact, its features fit in MAX_FEATURE_BYTES and step_work
    says it does less work (over ``repeats`` such fits, the features made once,
    or not at all when ``features_made``)."""
    mode = network.first_layer
    if mode == "primal":
        return False
    reason = why_not(network, X, settings)
    if mode == "dual":
        if reason is not None:
            raise ValueError(f"first_layer: 'dual' cannot be used here: {reason}")
        return True
    if reason is not None:
        return False
    m, n1 = X.shape[0], network.layer_dims[1]
    if m * (m + 2 * n1) * network.dtype.itemsize > MAX_FEATURE_BYTES:
        return False
    # (gd has no velocity: W1 alone is materialised after each call)
    gd = settings["optimizer"] == registry.OPTIMIZERS["gd"].code
    primal, dual = step_work(network.layer_dims, m, settings["batch_size"], epochs * repeats,
                             calls * repeats, 2, settings["l2"], 1 if gd else 2)
    if features_made:
        dual -= m * m * network.layer_dims[0] + 2 * n1 * m * network.layer_dims[0]
    return dual < primal


def _release(reference):
    """Drop the features and the dual engine of a DualFirstLayer whose X went."""
    # (never pending here: a pending state holds X)
    kept = reference()
    if kept is not None:
        kept.features = kept.engine = None


class FirstLayerState:
    """What a network keeps between fits about its first layer: the last
    fit's :class:`DualFirstLayer` (``kept``, or None) and how many fits in a
    row were on the same array (the cost model's repeats).

    While ``kept`` is ``pending`` (fits inside
    :meth:`dnn.Network.consecutive_fits`), the network's engine lacks the
    dual engine's state until :meth:`sync` writes it back.
    """

    #: the kept DualFirstLayer that plan() found continuing, for the fit's
    #: first engine() call, which need not check it again (a class default:
    #: states pickled before it existed)
    _checked = None

    def __init__(self):
        self.kept = None
        self._last = (None, 0)

    @property
    def pending(self):
        return self.kept is not None and self.kept.pending

    def sync(self):
        """Write the pending dual state back into the network's engine."""
        if self.pending:
            self.kept.write_back()

    def plan(self, network, X, settings, epochs, calls, deferred=False):
        """"dual" or "primal" for a fit (``kept`` becomes the DualFirstLayer to
        go on with, or None).

        A fit on the same array as the last one, its values unchanged (a
        fingerprint, ``X @ r``; not checked when ``deferred``: inside
        :meth:`dnn.Network.consecutive_fits`, whose caller keeps X as it
        is), and the network's state as that fit left it, goes on with the
        same dual features (scikit-learn's sgd calls fit once an epoch).
        Each consecutive fit on one array counts as one more repeat in the
        cost model, so that such epoch-by-epoch fits turn dual once it
        pays; ``deferred`` fits materialise W1 once at the end of the block
        rather than after each fit."""
        key = (id(X), getattr(X, "shape", None))
        streak = self._last[1] + 1 if self._last[0] == key else 1
        self._last = (key, streak)
        if self.kept is not None and not self.kept.continues(X, check_values=not deferred):
            self.sync()
            self.kept = None
        if choose(network, X, settings, epochs, 0 if deferred else calls,
                  self.kept is not None, streak):
            self._checked = self.kept
            return "dual"
        self.sync()
        self.kept = self._checked = None
        return "primal"

    def engine(self, primal, X, activations, loss, slope, check_values):
        """(the DualFirstLayer for a training call on X, whether it is new):
        the kept one if it continues on X, else one made anew from the
        network's engine ``primal`` (its pending state written back first).
        The fit's first call goes on with what :meth:`plan` checked (as
        strictly as ``check_values`` asks: plan checks values unless
        deferred, when this is asked not to either)."""
        checked, self._checked = self._checked, None
        if self.kept is not None and (checked is self.kept
                                      or self.kept.continues(X, check_values)):
            return self.kept, False
        self.sync()
        self.kept = DualFirstLayer(primal, X, activations, loss, slope)
        return self.kept, True


class DualFirstLayer:
    """One fit's dual engine over one training set X (rows), beside the
    network's ``engine``, whose state it starts from and writes back to.

    Parameters
    ----------
    engine : dnn_core.Engine
        The network's (primal) engine.
    X : ndarray, shape (m, n_x)
    activations : sequence of int
        Hidden activation codes, as the engine was made with.
    loss : int
    slope : float
    """

    def __init__(self, engine, X, activations, loss, slope):
        self.primal = engine
        # X is held only while the state is pending; otherwise weakly, and the
        # features go when X goes (a fit's converted copy of the user's data)
        self._X = weakref.ref(X)
        self._held = None
        self.pending = False
        dims = engine.layer_dims
        n1, n0 = dims[1], dims[0]
        self.m = m = X.shape[0]
        self.w1_size = n1 * n0
        W1 = engine.weight(1).copy()
        V1 = engine.moments[0][:self.w1_size].reshape(n1, n0)
        self.bases = [W1] + ([V1.copy()] if V1.any() else [])
        r = len(self.bases)
        features, gram = dual_features(X, self.bases, engine.dtype)
        self.features = features
        self.engine = Engine((m + r * n1,) + dims[1:], activations, loss, slope,
                             engine.dtype)
        self.engine.enable_dual(DualLayer(features, gram, n1))
        self.dual_size = n1 * (m + r * n1)
        P, moments = self.engine.parameters, self.engine.moments
        P[self.dual_size:] = engine.parameters[self.w1_size:]
        moments[:, self.dual_size:] = engine.moments[:, self.w1_size:]
        coords = P[:self.dual_size].reshape(n1, m + r * n1)
        coords[...] = 0
        # W1 = 1 * B_1 (+ 0 * B_2): c_1 I
        coords[:, m:m + n1] = np.eye(n1, dtype=engine.dtype)
        velocity = moments[0, :self.dual_size].reshape(n1, m + r * n1)
        velocity[...] = 0
        moments[1, :self.dual_size] = 0
        if r == 2:
            # v1 = 1 * B_2: the velocity's c_2 I
            velocity[:, m + n1:] = np.eye(n1, dtype=engine.dtype)
        self._written = None
        self._probe = np.random.default_rng(0).standard_normal(X.shape[1])
        self._fingerprint = self._print(X)
        weakref.finalize(X, _release, weakref.ref(self))

    @property
    def X(self):
        return self._X()

    def _print(self, X):
        return np.asarray(X, dtype=np.float64) @ self._probe if X.dtype != np.float64 \
            else X @ self._probe

    def in_sync(self, X):
        """Whether this dual engine still describes the network's state for
        the same X: its state is pending, or nothing changed the network's
        engine since the last write-back."""
        if self.features is None or X is not self.X:
            return False
        return self.pending or (
            self._written is not None
            and np.array_equal(self._written[0], self.primal.parameters)
            and np.array_equal(self._written[1], self.primal.moments))

    def same_data(self, X):
        """Whether X (the same array) still holds the values the features were
        made from (``X @ r`` for a fixed random r: a change of any value changes
        it but with probability 0)."""
        return X is self.X and np.array_equal(self._print(X), self._fingerprint)

    def continues(self, X, check_values=True):
        """Whether a training call on X can go on with these features."""
        return self.in_sync(X) and (not check_values or self.same_data(X))

    @property
    def epochs_done(self):
        return self.engine.epochs_done

    @property
    def diverged_epoch(self):
        return self.engine.diverged_epoch

    def train(self, X, T, labels, defer=False, **arguments):
        """Engine.train's on the dual features (one thread), then the state
        written back into the network's engine (also after an exception), or
        left ``pending`` when ``defer``."""
        arguments["n_threads"] = 1
        if not self.pending:
            self.engine.step_count = self.primal.step_count
            self.engine.rng_state = self.primal.rng_state
        self._held, self.pending = X, True
        try:
            return self.engine.train(self.features, T, labels, **arguments)
        finally:
            if not defer:
                self.write_back()

    def write_back(self):
        """The network's engine gets the dual engine's state: W1 and its velocity
        materialised, the other layers' parameters and moments, the step count and
        the generator (the dual engine's shuffles and masks are the primal's)."""
        primal, dual = self.primal, self.engine
        n1, n0 = primal.layer_dims[1], primal.layer_dims[0]
        width = self.dual_size // n1
        primal.parameters[self.w1_size:] = dual.parameters[self.dual_size:]
        primal.moments[:, self.w1_size:] = dual.moments[:, self.dual_size:]
        materialise(self.X, dual.parameters[:self.dual_size].reshape(n1, width), self.bases,
                    primal.weight(1))
        velocity = primal.moments[0][:self.w1_size].reshape(n1, n0)
        coordinates = dual.moments[0, :self.dual_size].reshape(n1, width)
        if coordinates.any():
            materialise(self.X, coordinates, self.bases, velocity)
        else:
            velocity[...] = 0
        primal.step_count = dual.step_count
        primal.rng_state = dual.rng_state
        self._written = (primal.parameters.copy(), primal.moments.copy())
        self._held, self.pending = None, False
