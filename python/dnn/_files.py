"""Atomic file writes: a target holds either its complete old content or the
complete new one, whatever happens during the write (an exception, a full disk,
a kill)."""

import contextlib
import errno
import os
import tempfile

__all__ = ["atomic_write", "file_name", "writable_path"]

#: errnos of a folder fsync that the filesystem does not support
_NO_DIR_FSYNC = (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EACCES, errno.EPERM)


def _umask():
    # os.umask can only be read by setting it; set it back at once
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as error:
        if error.errno in _NO_DIR_FSYNC:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)


def _named(error, name):
    """``error`` as an OSError whose message names ``name`` (errno kept)."""
    reason = error.strerror or str(error) or type(error).__name__
    # str() of the result: "[Errno N] cannot write the file (...); ...: 'name'"
    return OSError(error.errno, f"cannot write the file ({reason}); its previous "
                                f"content, if any, is unchanged", name)


@contextlib.contextmanager
def atomic_write(path, mode="wb", **kwargs):
    """Write a file atomically: the caller writes into a temporary file beside
    the target, which replaces the target only once it is complete and on disk.

    The temporary file (``.<name>.<random>.tmp`` in the target's folder) is
    flushed and fsynced, then moved onto the target with :func:`os.replace`,
    then the folder is fsynced (skipped on filesystems that refuse it). The
    target keeps its permission bits (not its owner, if another user's); a new
    file gets the umask's default (``0o666 & ~umask``). A symbolic link is
    followed: the file it points to is replaced, the link stays.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : str
        ``"wb"`` (default) or ``"w"`` (text; ``kwargs`` such as ``encoding``
        and ``newline`` go to :func:`open`).
    **kwargs
        Passed to :func:`open` for the temporary file.

    Yields
    ------
    file object
        The open temporary file. Do not close it (closing is this function's
        job).

    Raises
    ------
    OSError
        On any failure of the write, the fsync or the replace (disk full
        ``ENOSPC``, ``EFBIG``, a missing folder, permissions, ...): the
        message and ``filename`` name the target, ``errno`` is the
        original's, the original is chained. The target is unchanged and the
        temporary file removed. Other exceptions (the caller's own, e.g. a
        ``ValueError``, and ``KeyboardInterrupt``, which stays a
        ``KeyboardInterrupt``) propagate as they are, after the same
        cleanup.

    Notes
    -----
    A SIGKILL or a power loss during the write can leave the temporary file
    behind (never the target half-written); such ``.<name>.*.tmp`` files can
    be deleted.

    Examples
    --------
    >>> with atomic_write("model.npz") as file:  # doctest: +SKIP
    ...     np.savez(file, **fields)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    # through a symbolic link: the file it points to is replaced, the link kept
    real = os.path.realpath(name)
    folder, base = os.path.split(real)
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix="." + base + ".", suffix=".tmp")
    except OSError as error:
        raise _named(error, name) from error
    try:
        try:
            mode_bits = os.stat(name).st_mode & 0o7777
        except FileNotFoundError:
            mode_bits = 0o666 & ~_umask()
        try:
            os.fchmod(fd, mode_bits)
        except OSError as error:
            # a filesystem without permissions (vfat, some mounts) refuses it
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EINVAL):
                raise
        file = os.fdopen(fd, mode, **kwargs)
    except BaseException as error:
        os.close(fd)
        _remove(temporary)
        if isinstance(error, OSError):
            raise _named(error, name) from error
        raise
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, real)
    except BaseException as error:
        _remove(temporary)
        if not isinstance(error, OSError):
            # the caller's own error, or KeyboardInterrupt / SystemExit: as it is
            raise
        raise _named(error, name) from error
    try:
        _fsync_folder(folder)
    except OSError as error:
        # the new content is in place; only its durability is in doubt
        raise _named(error, name) from error


def _remove(temporary):
    with contextlib.suppress(OSError):
        os.unlink(temporary)


def file_name(path, name="path"):
    """``path`` (str, bytes or os.PathLike) as ``os.fspath`` gives it.

    Raises
    ------
    TypeError
        ``path`` is not a file name; the message names the argument ``name``.
    """
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{name}: expected a file name (str, bytes or os.PathLike), "
                        f"got {type(path).__name__}") from None


def writable_path(path, name):
    """``path`` as a file name, refused up front when its folder does not exist
    (before hours of training whose result could not be written).

    Raises
    ------
    TypeError
        ``path`` is not a file name.
    ValueError
        ``"<name>: no such folder: <folder>"``.
    """
    path = file_name(path, name)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name}: no such folder: {os.fsdecode(folder)}")
    return path
