"""Exceptions raised by :mod:`arrowhead`.

Every failure of the underlying C ABI arrives as a subclass of :class:`ArrowheadError`
whose message is the library's own (it names the argument, shape, file or id that was
wrong). Each class also derives from the built-in exception that fits, so code that catches
``ValueError``, ``OSError`` or ``RuntimeError`` keeps working:

==========================  =====================================  ============================
class                       built-in base                          C status
==========================  =====================================  ============================
InvalidArgumentError        ValueError                             AH_ERROR_INVALID_ARGUMENT
DTypeError                  ValueError, TypeError                  (raised in Python)
NonFiniteError              ValueError                             AH_ERROR_NON_FINITE
UnknownIDError              ValueError                             AH_ERROR_NOT_FOUND
InvalidHandleError          RuntimeError                           AH_ERROR_INVALID_HANDLE
ClosedError                 RuntimeError                           (raised in Python)
EmptyIndexError             RuntimeError                           AH_ERROR_EMPTY_INDEX
ArrowheadIOError            OSError                                AH_ERROR_IO
CorruptFileError            OSError                                AH_ERROR_CORRUPT_FILE
UnsupportedError            RuntimeError                           AH_ERROR_UNSUPPORTED
FilterAbortedError          RuntimeError                           AH_ERROR_CALLBACK
InternalError               RuntimeError                           AH_ERROR_INTERNAL
==========================  =====================================  ============================
"""
from __future__ import annotations

__all__ = [
    "ArrowheadError",
    "InvalidArgumentError",
    "DTypeError",
    "NonFiniteError",
    "UnknownIDError",
    "InvalidHandleError",
    "ClosedError",
    "EmptyIndexError",
    "ArrowheadIOError",
    "CorruptFileError",
    "UnsupportedError",
    "FilterAbortedError",
    "InternalError",
]


class ArrowheadError(Exception):
    """Base class of every Arrowhead error.

    Attributes:
        status: the C ABI status code (``0`` for errors raised in Python before any call).
        status_name: its name in ``arrowhead.h`` (e.g. ``"AH_ERROR_NOT_FOUND"``).
    """

    status: int = 0
    status_name: str = "AH_OK"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
            self.status_name = _NAMES.get(status, "AH_UNKNOWN")


class InvalidArgumentError(ArrowheadError, ValueError):
    """A value, shape, dimension, count, id list, option or keyword is invalid."""

    status, status_name = 1, "AH_ERROR_INVALID_ARGUMENT"


class DTypeError(InvalidArgumentError, TypeError):
    """An array has a dtype that cannot be used (complex, object, string, bool as data)."""


class NonFiniteError(InvalidArgumentError):
    """An input that must be finite holds NaN or infinity (the message names row and column)."""

    status, status_name = 3, "AH_ERROR_NON_FINITE"


class UnknownIDError(InvalidArgumentError):
    """No live vector has the given id."""

    status, status_name = 4, "AH_ERROR_NOT_FOUND"


class InvalidHandleError(ArrowheadError, RuntimeError):
    """A native handle is freed, of another kind, or not a handle at all."""

    status, status_name = 2, "AH_ERROR_INVALID_HANDLE"


class ClosedError(InvalidHandleError):
    """The object (an index or a quantized tensor) was closed."""


class EmptyIndexError(ArrowheadError, RuntimeError):
    """The index holds no live vector, so there is nothing to search."""

    status, status_name = 5, "AH_ERROR_EMPTY_INDEX"


class ArrowheadIOError(ArrowheadError, OSError):
    """A file could not be opened, read or written."""

    status, status_name = 6, "AH_ERROR_IO"


class CorruptFileError(ArrowheadIOError):
    """A file is not in the expected format, or its contents are corrupted."""

    status, status_name = 7, "AH_ERROR_CORRUPT_FILE"


class UnsupportedError(ArrowheadError, RuntimeError):
    """The operation is not supported in this build or for these arguments."""

    status, status_name = 8, "AH_ERROR_UNSUPPORTED"


class FilterAbortedError(ArrowheadError, RuntimeError):
    """A search filter aborted the search (a Python filter's own exception is raised instead)."""

    status, status_name = 9, "AH_ERROR_CALLBACK"


class InternalError(ArrowheadError, RuntimeError):
    """A numerical routine failed on validated input (please report it)."""

    status, status_name = 10, "AH_ERROR_INTERNAL"


_CLASSES: dict[int, type[ArrowheadError]] = {
    cls.status: cls
    for cls in (
        InvalidArgumentError,
        InvalidHandleError,
        NonFiniteError,
        UnknownIDError,
        EmptyIndexError,
        ArrowheadIOError,
        CorruptFileError,
        UnsupportedError,
        FilterAbortedError,
        InternalError,
    )
}
_NAMES = {cls.status: cls.status_name for cls in _CLASSES.values()}


def error_for_status(status: int, message: str) -> ArrowheadError:
    """The exception for a C status code and the library's message."""
    cls = _CLASSES.get(status, InternalError)
    return cls(message, status)
