"""Data bigger than memory: which arrays the engine reads as they are, and
fit's shuffles (exact rows, or blocks of rows for a file on disk)."""
import mmap

import numpy as np

__all__ = ["SHUFFLE_BLOCK_BYTES", "SHUFFLE_WINDOW", "SHUFFLES", "memory_mapped",
           "shuffle_code", "shuffle_settings", "streamable"]

#: bytes of X per block of consecutive rows in the block shuffle (fit's shuffle)
SHUFFLE_BLOCK_BYTES = 1 << 20
#: blocks per window whose rows the block shuffle mixes
SHUFFLE_WINDOW = 64
#: fit's shuffle -> the engine's code (0: none)
SHUFFLES = {"rows": 1, "blocks": 2}


def memory_mapped(array):
    """Whether array is an np.memmap or a view of one (or of an mmap)."""
    for _ in range(64):
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        if isinstance(array, memoryview):
            array = array.obj
        else:
            array = getattr(array, "base", None)
        if array is None:
            return False
    return False


def shuffle_code(shuffle, X):
    """fit's shuffle (True, False, "rows", "blocks") as the engine's code;
    True is "blocks" for a memory-mapped X, else "rows"."""
    if isinstance(shuffle, str):
        if shuffle not in SHUFFLES:
            raise ValueError(f"shuffle: expected True, False, \"rows\" or \"blocks\", "
                             f"got {shuffle!r}")
        return SHUFFLES[shuffle]
    if not shuffle:
        return 0
    return SHUFFLES["blocks" if memory_mapped(X) else "rows"]


def shuffle_settings(X):
    """The engine's block-shuffle arguments for X (n_samples, n_features):
    rows per block and blocks per window."""
    return dict(shuffle_block=max(1, SHUFFLE_BLOCK_BYTES // (X.shape[1] * X.dtype.itemsize)),
                shuffle_window=SHUFFLE_WINDOW)


def streamable(array):
    """Whether the engine reads array (2-D) as it is: float32, float64 or uint8
    in the native byte order, aligned, each row's values contiguous, rows in
    order at least a row apart (any row stride)."""
    if array.dtype not in (np.float32, np.float64, np.uint8) or not array.dtype.isnative:
        return False
    item = array.itemsize
    m, n = array.shape
    if not array.flags.aligned or (n > 1 and array.strides[1] != item):
        return False
    return m == 1 or (array.strides[0] % item == 0 and array.strides[0] >= n * item)
