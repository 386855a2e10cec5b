# A small, fast, seedable generator for the engine's shuffles and dropout
# masks, usable without the GIL: xoshiro256** seeded through splitmix64
# (Blackman and Vigna, https://prng.di.unimi.it/).
from libc.stdint cimport uint64_t


cdef struct Random:
    uint64_t s0, s1, s2, s3


cdef inline uint64_t _rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t _splitmix64(uint64_t *state) noexcept nogil:
    state[0] += 0x9E3779B97F4A7C15ULL
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline void random_seed(Random *r, uint64_t seed) noexcept nogil:
    """Fill the state from one 64-bit seed."""
    r.s0 = _splitmix64(&seed)
    r.s1 = _splitmix64(&seed)
    r.s2 = _splitmix64(&seed)
    r.s3 = _splitmix64(&seed)


cdef inline uint64_t random_next(Random *r) noexcept nogil:
    """Next 64 random bits (xoshiro256**)."""
    cdef uint64_t result = _rotl(r.s1 * 5, 7) * 9
    cdef uint64_t t = r.s1 << 17
    r.s2 ^= r.s0
    r.s3 ^= r.s1
    r.s1 ^= r.s2
    r.s0 ^= r.s3
    r.s2 ^= t
    r.s3 = _rotl(r.s3, 45)
    return result


cdef inline double random_uniform(Random *r) noexcept nogil:
    """A double uniform on [0, 1), 53 random bits."""
    return (random_next(r) >> 11) * (1.0 / 9007199254740992.0)


cdef inline uint64_t random_below(Random *r, uint64_t n) noexcept nogil:
    """An integer uniform on [0, n), n >= 1, without modulo bias."""
    cdef uint64_t threshold = (0 - n) % n
    cdef uint64_t x = random_next(r)
    while x < threshold:
        x = random_next(r)
    return x % n


cdef inline void random_shuffle(Random *r, Py_ssize_t n, Py_ssize_t *a) noexcept nogil:
    """rng.shuffle(a[:n]) in place (Fisher-Yates)."""
    cdef Py_ssize_t i, j, tmp
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t> random_below(r, i + 1)
        tmp = a[i]
        a[i] = a[j]
        a[j] = tmp


cdef inline void random_permutation(Random *r, Py_ssize_t n, Py_ssize_t *perm) noexcept nogil:
    """perm = rng.permutation(n) (Fisher-Yates)."""
    cdef Py_ssize_t i
    for i in range(n):
        perm[i] = i
    random_shuffle(r, n, perm)


cdef inline void block_permutation(Random *r, Py_ssize_t n, Py_ssize_t block,
                                   Py_ssize_t window, Py_ssize_t *perm,
                                   Py_ssize_t *order) noexcept nogil:
    """perm = a permutation of range(n) that visits the rows by blocks.

    The rows are cut into blocks of ``block`` consecutive rows (the last one
    shorter); the order of the blocks is shuffled, and the rows of each run of
    ``window`` consecutive blocks of that order are shuffled among themselves.
    So a row's neighbours in perm come from ``window`` random blocks, and a
    reader touches one window of blocks at a time. block, window >= 1;
    order: scratch of ceil(n / block) entries.
    """
    cdef Py_ssize_t n_blocks = (n + block - 1) // block
    cdef Py_ssize_t w, b, i, low, high, first, k = 0
    # order = rng.permutation(n_blocks)
    random_permutation(r, n_blocks, order)
    w = 0
    while w < n_blocks:
        first = k
        for b in range(w, min(w + window, n_blocks)):
            # perm[k:k + len] = range(order[b] * block, ...)
            low = order[b] * block
            high = min(low + block, n)
            for i in range(low, high):
                perm[k] = i
                k += 1
        # rng.shuffle(perm[first:k])
        random_shuffle(r, k - first, perm + first)
        w += window


# Dropout masks as a function of (key, layer, example, unit): counter-based, so
# that any row shard of a batch draws its own rows' masks and the masks of a
# batch do not depend on how it is cut. A training step draws one key from the
# engine's generator (random_next); then unit i of example j (the j-th row of
# the batch) in layer l keeps iff
#     u = (splitmix64_mix(K_l + (j * n_l + i + 1) * GOLDEN) >> 11) * 2**-53 < keep
# with K_l = splitmix64_mix(key + l * GOLDEN): the (j * n_l + i + 1)-th output
# of a splitmix64 generator started at K_l (example-major, a jump ahead per row).

cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    """splitmix64's output function (a bijection of 64-bit words)."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t layer_mask_key(uint64_t key, int layer) noexcept nogil:
    """K_l = mix64(key + l * GOLDEN): the start of layer l's mask stream."""
    return mix64(key + (<uint64_t> layer) * 0x9E3779B97F4A7C15ULL)


cdef inline double mask_uniform(uint64_t layer_key, uint64_t counter) noexcept nogil:
    """The uniform on [0, 1) (53 bits) of counter j * n_l + i + 1 of a layer's stream."""
    return (mix64(layer_key + counter * 0x9E3779B97F4A7C15ULL) >> 11) * (
        1.0 / 9007199254740992.0)


cdef struct MaskDraw:
    # what a forward pass draws its dropout masks from
    uint64_t key                   # the step's key (one random_next per step)
    Py_ssize_t first_row           # the batch row of the pass's first row (a shard's lo)
