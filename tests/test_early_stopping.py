"""dnn._early_stopping: the one counter behind Network.fit's early stopping (Keras's
rules) and dnn.sklearn's (scikit-learn's), against each library's rule written out."""
import numpy as np
import pytest

from dnn._early_stopping import EarlyStopping


def keras_rule(values, patience, min_delta):
    """Network.fit's rule: (epoch of the best kept, epoch it stops after or None)."""
    best, waited, kept = np.inf, 0, None
    for epoch, value in enumerate(values):
        if value < best - min_delta:
            best, waited, kept = value, 0, epoch
        else:
            waited += 1
            if waited >= patience:
                return kept, epoch
    return kept, None


def sklearn_rule(values, n_iter_no_change, tol, score):
    """MLP's _update_no_improvement on validation scores (score) or training losses."""
    best, count, kept, bests = (-np.inf if score else np.inf), 0, None, []
    for epoch, value in enumerate(values):
        if score:
            count = count + 1 if value < best + tol else 0
            if value > best:
                best, kept = value, epoch
        else:
            count = count + 1 if value > best - tol else 0
            best = min(best, value)
        bests.append(best)
        if count > n_iter_no_change:
            return kept, epoch, bests
    return kept, None, bests


def walks(seed, n=60):
    rng = np.random.default_rng(seed)
    steps = rng.choice([-0.1, -0.01, 0.0, 0.01, 0.1], size=n)
    return np.round(np.cumsum(steps), 2)  # ties and exact tol-sized gains occur


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("patience, min_delta", [(1, 0.0), (3, 0.0), (3, 0.01), (5, 0.1)])
def test_network_rule(seed, patience, min_delta):
    values = walks(seed)
    stopping = EarlyStopping(patience, min_delta)
    kept, stop = None, None
    for epoch, value in enumerate(values):
        if stopping.update(value):
            kept = epoch
        elif stopping.stalled:
            stop = epoch
            break
    assert (kept, stop) == keras_rule(values, patience, min_delta)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("score", [True, False])
@pytest.mark.parametrize("n_iter_no_change, tol", [(1, 0.0), (2, 0.01), (4, 0.1)])
def test_sklearn_rule(seed, score, n_iter_no_change, tol):
    values = walks(seed)
    stopping = EarlyStopping(n_iter_no_change + 1, tol, "max" if score else "min",
                             delta_inclusive=True, best_moves="any")
    kept, stop, bests = None, None, []
    for epoch, value in enumerate(values):
        if stopping.update(value):
            kept = epoch
        bests.append(stopping.best)
        if stopping.stalled:
            stop = epoch
            break
    expected_kept, expected_stop, expected_bests = sklearn_rule(values, n_iter_no_change,
                                                                tol, score)
    assert stop == expected_stop and bests == expected_bests
    if score:
        assert kept == expected_kept


def test_restart_count_and_bad_modes():
    stopping = EarlyStopping(2)
    stopping.update(1.0)
    stopping.update(2.0)
    stopping.update(2.0)
    assert stopping.stalled
    stopping.restart_count()
    assert not stopping.stalled and stopping.best == 1.0
    with pytest.raises(ValueError):
        EarlyStopping(2, mode="up")
