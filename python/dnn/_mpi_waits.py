"""The waits of a distributed fit, each with a stall warning and a timeout,
so that no rank is left blocked for ever by another that does not come.

At the start (:func:`wait_for_ranks`) every rank waits for every other one
through a non-blocking barrier: a rank that never calls ``fit(..., comm=)``
(it raised before, is stuck loading its data, or took another code path).
Once training runs (:class:`StallWatch`), a watchdog thread watches the
collectives of the loop (each step's Allreduce, validation, the epoch's
agreement, the checkpoint's): a rank that stopped (SIGSTOP, a debugger), hangs
in a callback or in a file system, or lost its core for good.

In the manner of Horovod's stall check (``HOROVOD_STALL_CHECK_TIME_SECONDS``
warns naming the missing ranks, ``HOROVOD_STALL_SHUTDOWN_TIME_SECONDS`` shuts
the job down), environment variables set the limits, in seconds:

- ``DNN_MPI_STALL_WARNING_SECONDS`` (default 60): after waiting that long, at
  the start or in a collective, the waiting rank prints one warning to
  stderr; at the start rank 0 names the ranks it has not heard from.
- ``DNN_MPI_START_TIMEOUT_SECONDS`` (default 1800, half an hour): after that
  long at the start, the waiting rank prints why and aborts the MPI job
  (``comm.Abort(1)``).
- ``DNN_MPI_STALL_TIMEOUT_SECONDS`` (default 1800): the same, for a wait in
  one of the training loop's collectives.

``0`` or ``none`` (any case) means never; an empty value the default.

How, at the start: every rank but 0 posts a small non-blocking send ("arrived",
tag :data:`ARRIVAL_TAG`) to rank 0, which posts the matching receives; then every
rank enters ``comm.Ibarrier()`` and polls it with ``Test()``, for at most
:data:`POLL_SECONDS` in a row at first (ranks that arrive together pass at
once), then sleeping between polls for a tenth of the time waited so far
(:data:`DELAY_FRACTION`; at least :data:`FIRST_DELAY`, at most
:data:`MAX_DELAY` seconds): no CPU is burnt while waiting, and a rank that
arrives late adds at most about a tenth to the wait. A communicator
without ``Ibarrier`` (a test double) is returned as it is: the fit's first
blocking collective then waits as before. In the loop the collectives stay
blocking (mpi4py releases the GIL in them); the loop marks when it enters and
leaves each one, and a thread that wakes every :data:`WATCH_PERIOD` seconds at
most (a tenth of the shortest limit) compares.
"""
import math
import os
import sys
import threading
import time

import numpy as np

__all__ = ["ARRIVAL_TAG", "Arrived", "START_TIMEOUT_VARIABLE", "STALL_TIMEOUT_VARIABLE",
           "STALL_WARNING_VARIABLE", "StallWatch", "stall_limits", "start_limits",
           "wait_for_ranks"]

STALL_WARNING_VARIABLE = "DNN_MPI_STALL_WARNING_SECONDS"
START_TIMEOUT_VARIABLE = "DNN_MPI_START_TIMEOUT_SECONDS"
STALL_TIMEOUT_VARIABLE = "DNN_MPI_STALL_TIMEOUT_SECONDS"
DEFAULTS = {STALL_WARNING_VARIABLE: 60.0, START_TIMEOUT_VARIABLE: 1800.0,
            STALL_TIMEOUT_VARIABLE: 1800.0}

#: the tag of the "arrived" messages to rank 0 (within MPI's guaranteed 32767)
ARRIVAL_TAG = 32191
#: polling without a pause for at most this long, then sleeping
POLL_SECONDS = 1e-4
#: the sleep between two polls: this fraction of the time waited so far, within
#: the shortest and the longest sleep
DELAY_FRACTION, FIRST_DELAY, MAX_DELAY = 0.1, 1e-4, 0.05
#: the loop's watchdog wakes at least this often (seconds), and ten times in the
#: shortest limit
WATCH_PERIOD = 1.0


class Arrived:
    """A communicator whose ranks have all arrived at the distributed fit
    under way (what :func:`wait_for_ranks` returns): every attribute is the
    communicator's, and the fits nested in that one (:mod:`dnn.sklearn`'s
    epochs, each a ``Network.fit(..., comm=)``) do not wait again.

    Parameters
    ----------
    comm : mpi4py intra-communicator
    """

    __slots__ = ("communicator",)

    def __init__(self, comm):
        self.communicator = comm

    def __getattr__(self, name):
        return getattr(self.communicator, name)


def _seconds(environ, name):
    text = environ.get(name)
    if text is None or not text.strip():
        return DEFAULTS[name]
    text = text.strip()
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a number of seconds >= 0 (0 or 'none': never), "
                         f"got {text!r}")
    return None if value == 0 else value


def start_limits(environ=None):
    """The stall warning's delay and the start timeout, from the environment.

    Parameters
    ----------
    environ : mapping or None
        The environment (None: ``os.environ``).

    Returns
    -------
    (float or None, float or None)
        ``DNN_MPI_STALL_WARNING_SECONDS`` (default 60) and
        ``DNN_MPI_START_TIMEOUT_SECONDS`` (default 1800), in seconds; None
        for never (the value ``0`` or ``none``). An unset or empty variable
        takes its default.

    Raises
    ------
    ValueError
        Naming the variable, for a value that is not a finite number >= 0
        nor ``none``.
    """
    environ = os.environ if environ is None else environ
    return _seconds(environ, STALL_WARNING_VARIABLE), _seconds(environ, START_TIMEOUT_VARIABLE)


def stall_limits(environ=None):
    """``DNN_MPI_STALL_WARNING_SECONDS`` (default 60) and
    ``DNN_MPI_STALL_TIMEOUT_SECONDS`` (default 1800), as :func:`start_limits`
    reads them: the limits of a wait in the training loop's collectives."""
    environ = os.environ if environ is None else environ
    return _seconds(environ, STALL_WARNING_VARIABLE), _seconds(environ, STALL_TIMEOUT_VARIABLE)


def _ranks(ranks):
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(str(r) for r in ranks)


def _duration(seconds):
    return f"{seconds:.3g} s" if seconds < 120 else f"{seconds / 60:.3g} min"


class _Arrivals:
    """The "arrived" messages: rank r > 0 sends its rank to rank 0; rank 0
    receives them and knows who is still missing. Absent (``missing`` None)
    without Isend and Irecv."""

    def __init__(self, comm, rank, size):
        self.rank, self.size = rank, size
        self.requests, self.missing = [], None
        if not (hasattr(comm, "Isend") and hasattr(comm, "Irecv")):
            return
        if rank == 0:
            self.buffer = np.full(size, -1, dtype=np.int32)
            self.sources = list(range(1, size))
            self.requests = [comm.Irecv(self.buffer[r:r + 1], source=r, tag=ARRIVAL_TAG)
                             for r in self.sources]
            self.missing = list(self.sources)
        else:
            self.buffer = np.array([rank], dtype=np.int32)
            self.requests = [comm.Isend(self.buffer, dest=0, tag=ARRIVAL_TAG)]

    def test(self):
        """Whether every request has completed (rank 0: ``missing`` updated)."""
        done = [request.Test() for request in self.requests]
        if self.rank == 0 and self.missing is not None:
            self.missing = [r for r, finished in zip(self.sources, done) if not finished]
        return all(done)


def _say(stream, text):
    stream.write(text + "\n")
    stream.flush()


def wait_for_ranks(comm, what="fit(..., comm=)", environ=None, stream=None,
                   interrupted=None):
    """Wait until every rank of ``comm`` has called the distributed fit; warn
    after ``DNN_MPI_STALL_WARNING_SECONDS``, abort the MPI job after
    ``DNN_MPI_START_TIMEOUT_SECONDS`` (see the module's docstring).

    Parameters
    ----------
    comm : mpi4py intra-communicator, or :class:`Arrived`
    what : str
        What every rank must call, for the messages.
    environ : mapping or None
        Where the limits are read (None: ``os.environ``); read before any
        communication.
    stream : file or None
        Where the warning and the abort's message go (None: ``sys.stderr``).
    interrupted : list of one bool, or None
        The flag a SIGINT sets (:func:`dnn.distributed.sigint_flag`) where
        the caller has one: set while waiting, it counts as a
        KeyboardInterrupt raised there.

    Returns
    -------
    Arrived or communicator
        :class:`Arrived` wrapping ``comm`` once every rank has arrived;
        ``comm`` itself if it is already :class:`Arrived`, has one rank, or
        has no ``Ibarrier`` (a test double: no wait here).

    Raises
    ------
    ValueError
        For an invalid limit (naming the variable), on this rank, before any
        communication.

    Notes
    -----
    On a timeout, or an exception (a KeyboardInterrupt, a SIGINT) while
    waiting, the message goes to ``stream`` and ``comm.Abort(1)`` ends the
    job: an ``Ibarrier`` under way cannot be withdrawn, and the ranks that
    have arrived would wait for this one. Should ``Abort`` return (a test
    double), :class:`dnn.distributed.DistributedError` is raised (or the
    exception raised while waiting).
    """
    if isinstance(comm, Arrived):
        return comm
    warning, timeout = start_limits(environ)
    size = comm.Get_size()
    if size == 1 or not hasattr(comm, "Ibarrier"):
        return comm
    rank = comm.Get_rank()
    stream = sys.stderr if stream is None else stream
    here = f"dnn: rank {rank} of {size}"
    try:
        arrivals = _Arrivals(comm, rank, size)
        late = _wait(comm.Ibarrier(), arrivals, (warning, timeout), what, here, stream,
                     interrupted)
    except BaseException as error:
        _say(stream, f"{here}: aborting the MPI job: {type(error).__name__} while waiting "
             f"for every rank to call {what} (the ranks that have arrived would wait for "
             f"this one)")
        comm.Abort(1)
        raise
    if late is not None:
        message = (f"{here}: aborting the MPI job: waited {_duration(late[0])} for every "
                   f"rank to call {what}; {late[1]} (a rank that raised before it, is "
                   f"still loading its data or took another code path). Set "
                   f"{START_TIMEOUT_VARIABLE} to wait longer (seconds; 0 or 'none': for "
                   f"ever).")
        _say(stream, message)
        comm.Abort(1)
        from dnn.distributed import DistributedError  # (only a test double's Abort returns)
        raise DistributedError(message)
    return Arrived(comm)


def _wait(barrier, arrivals, limits, what, here, stream, interrupted):
    """Poll until the barrier and the arrival messages complete (None), or
    the timeout passes: (seconds waited, who is missing)."""
    warning, timeout = limits
    began = time.monotonic()
    warned = warning is None
    before = interrupted is not None and interrupted[0]
    while True:
        passed = barrier.Test()
        if arrivals.test() and passed:
            return None
        if interrupted is not None and interrupted[0] and not before:
            raise KeyboardInterrupt()
        waited = time.monotonic() - began
        if not warned and waited >= warning:
            warned = True
            _say(stream, f"{here}: waiting {_duration(waited)} so far for every rank to "
                 f"call {what}; {_missing(arrivals)}. Every rank must call it; "
                 + ("this rank waits for ever" if timeout is None else
                    f"this rank aborts the MPI job after {_duration(timeout)}")
                 + f" ({START_TIMEOUT_VARIABLE}; {STALL_WARNING_VARIABLE} sets this "
                 f"warning's delay).")
        if timeout is not None and waited >= timeout:
            return waited, _missing(arrivals)
        if waited < POLL_SECONDS:
            continue
        events = [limit - waited for limit, pending in ((warning, not warned),
                                                         (timeout, timeout is not None))
                  if pending]
        delay = min(MAX_DELAY, max(FIRST_DELAY, DELAY_FRACTION * waited))
        time.sleep(max(0.0, min([delay] + events)))


def _missing(arrivals):
    """Who is missing, as far as this rank knows."""
    if arrivals.missing:
        return f"not yet heard from {_ranks(arrivals.missing)}"
    if arrivals.missing is not None:
        return "every rank has sent its arrival, the barrier is still completing"
    if arrivals.rank == 0:
        return "not every rank has called it yet"
    return ("not every rank has called it yet (rank 0, if it waits too, names the missing "
            "ones)")


class StallWatch:
    """A watchdog over the collectives of a distributed fit's training loop.

    The loop calls :meth:`enter` before each collective and :meth:`leave`
    after it (a tuple stored, a clock read: ~0.15 us); a thread, started by
    ``with``, wakes every ``period`` seconds and looks at the wait under way.
    After ``warning`` seconds in one collective it prints one warning; after
    ``timeout`` seconds it prints why and aborts the MPI job. (A SIGINT's
    Python handler runs only when the collective returns: a Ctrl-C cannot
    end such a wait from here; ``mpirun`` ends the job on its own SIGINT.)

    Parameters
    ----------
    comm : mpi4py intra-communicator
    limits : (float or None, float or None)
        The warning's delay and the timeout, in seconds (None: never), as
        :func:`stall_limits` gives them.
    stream : file or None
        Where the messages go (None: ``sys.stderr``).
    abort : callable or None
        Ends the job (None: ``comm.Abort(1)`` where MPI allows calls from
        several threads, else ``os._exit(1)``, which ``mpirun`` answers by
        ending the job).
    """

    def __init__(self, comm, limits, stream=None, abort=None):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.warning, self.timeout = limits
        self.stream = sys.stderr if stream is None else stream
        self.abort = self._abort if abort is None else abort
        limits = [limit for limit in (self.warning, self.timeout) if limit is not None]
        self.period = min([WATCH_PERIOD] + [limit / 10 for limit in limits])
        # (began, what, epoch, step) or None
        self.waiting = None
        self._stop = threading.Event()
        self._thread = None

    def enter(self, what, epoch, step=None):
        """This rank enters a collective: ``what`` (e.g. "the step's
        Allreduce") in ``epoch`` (and ``step``)."""
        self.waiting = (time.monotonic(), what, epoch, step)

    def leave(self):
        """This rank left the collective it entered."""
        self.waiting = None

    def __enter__(self):
        if self.size > 1 and (self.warning is not None or self.timeout is not None):
            self._thread = threading.Thread(target=self._watch, name="dnn-mpi-stall-watch",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.waiting = None

    def _where(self, waiting):
        began, what, epoch, step = waiting
        where = f"epoch {epoch}" + ("" if step is None else f", step {step}")
        return f"in {what} ({where})"

    def _watch(self):
        warned = None
        while not self._stop.wait(self.period):
            waiting = self.waiting
            if waiting is None:
                continue
            waited = time.monotonic() - waiting[0]
            here = f"dnn: rank {self.rank} of {self.size}"
            if self.warning is not None and waited >= self.warning and warned is not waiting:
                warned = waiting
                _say(self.stream, f"{here}: waiting {_duration(waited)} so far "
                     f"{self._where(waiting)} for the other ranks: one of them is stopped, "
                     f"stuck (in a callback, a file system) or much slower; "
                     + ("this rank waits for ever" if self.timeout is None else
                        f"this rank aborts the MPI job after {_duration(self.timeout)}")
                     + f" ({STALL_TIMEOUT_VARIABLE}; {STALL_WARNING_VARIABLE} sets this "
                     f"warning's delay).")
            if self.timeout is not None and waited >= self.timeout:
                _say(self.stream, f"{here}: aborting the MPI job: waited {_duration(waited)} "
                     f"{self._where(waiting)} for the other ranks. Set "
                     f"{STALL_TIMEOUT_VARIABLE} to wait longer (seconds; 0 or 'none': for "
                     f"ever).")
                return self.abort()

    def _abort(self):
        try:
            from mpi4py import MPI
            several_threads = MPI.Query_thread() == MPI.THREAD_MULTIPLE
        except ImportError:
            several_threads = True          # (a test double)
        if several_threads:
            self.comm.Abort(1)
        else:
            os._exit(1)
