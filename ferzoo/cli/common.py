"""What every ``ferzoo`` subcommand shares: typed arguments, ``--set KEY=VALUE`` parsing
and one error path.

The error path (:func:`run_command`): an expected failure (a :class:`ferzoo.errors.
FerzooError`, any ``ValueError``, a missing file, a read-only or full disk, corrupt
TFRecord data) prints ``ferzoo COMMAND: error: MESSAGE`` naming the argument, file or
record, and exits with status 2, without a traceback (``ferzoo --debug`` shows it).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import ast
import errno
import os
import re
import sys
from typing import Any, Callable, Mapping

from ferzoo.errors import FerzooError, UsageError

# errno values that mean "this place cannot take what we write", in the user's words.
WRITE_ERRNOS = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


# ----------------------------------------------------------------- argument types
def _number(kind: Callable[[str], Any], word: str, check: Callable[[Any], bool]):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {word}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {word}")
        return value
    convert.__name__ = word  # argparse names the type in its own messages
    return convert


positive_int = _number(int, "a positive integer", lambda v: v >= 1)
non_negative_int = _number(int, "an integer >= 0", lambda v: v >= 0)
positive_float = _number(float, "a positive number", lambda v: v > 0 and v == v)
non_negative_float = _number(float, "a number >= 0", lambda v: v >= 0)
fraction = _number(float, "a fraction in [0, 1)", lambda v: 0 <= v < 1)


# -------------------------------------------------------------- --set KEY=VALUE
def parse_assignments(items: list[str] | None, argument: str = "--set") -> dict[str, Any]:
    """``["width=16", "levels=(4,2,1)", "name=x"]`` -> {"width": 16, "levels": (4, 2, 1), ...}.

    Values are Python literals where they parse as one, else strings; ``argument`` names
    the option in errors.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"{argument} takes KEY=VALUE pairs, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key.isidentifier():
            raise UsageError(f"{argument} {item}: {key!r} is not a setting name")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _describe(default: Any) -> tuple[str, Callable[[Any], bool]]:
    """What a setting with this default accepts, in words, and a check for it."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    def is_number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if isinstance(default, bool):
        return "True or False", lambda v: isinstance(v, bool)
    if is_int(default):
        if default >= 1:
            return "a positive integer", lambda v: is_int(v) and v >= 1
        if default == 0:
            return "an integer >= 0", lambda v: is_int(v) and v >= 0
        return "an integer", is_int
    if isinstance(default, float):
        if default >= 0:
            return "a number >= 0", lambda v: is_number(v) and v >= 0
        return "a number", is_number
    if isinstance(default, (tuple, list)):
        if default and all(is_int(d) and d >= 1 for d in default):
            return ("a tuple of positive integers, e.g. " + repr(tuple(default)),
                    lambda v: isinstance(v, (tuple, list)) and len(v) > 0
                    and all(is_int(x) and x >= 1 for x in v))
        return f"a tuple like {tuple(default)!r}", lambda v: isinstance(v, (tuple, list))
    if isinstance(default, str):
        return "a word", lambda v: isinstance(v, str)
    return "any value", lambda v: True


def check_settings(settings: Mapping[str, Any], defaults: Mapping[str, Any], *,
                   argument: str, what: str) -> dict[str, Any]:
    """Each ``KEY=VALUE`` of ``argument`` against ``defaults`` (its accepted fields):
    an unknown key lists them; a value of the wrong kind says what the key accepts."""
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise UsageError(
            f"{argument}: {what} has no setting {', '.join(unknown)}; accepted: "
            f"{', '.join(sorted(defaults))}")
    for key, value in settings.items():
        words, check = _describe(defaults[key])
        if not check(value):
            raise UsageError(f"{argument} {key}={value!r}: {key} of {what} takes {words} "
                             f"(default {defaults[key]!r})")
    return dict(settings)


def model_settings(items: list[str] | None, model: str | None,
                   preset: str | None = None) -> dict[str, Any]:
    """``--set`` of a model command, checked against the model's builder arguments."""
    settings = parse_assignments(items)
    if model is None or not settings:
        return settings
    import ferzoo

    entry = ferzoo.get_entry(model)
    return check_settings(settings, entry.defaults, argument="--set", what=f"model {model}")


# ------------------------------------------------------------------ the error path
def _tf_error_types() -> tuple[type, ...]:
    tf = sys.modules.get("tensorflow")
    return (tf.errors.OpError,) if tf is not None and hasattr(tf, "errors") else ()


def describe_os_error(error: BaseException) -> str | None:
    """``cannot write X: read-only file system`` for an ``OSError`` (h5py's included,
    which carry errno and file name only in their message); None if not a write error."""
    if not isinstance(error, OSError):
        return None
    code, name = error.errno, error.filename
    if code is None:  # h5py: "... name = '/x/a.h5', errno = 30, error message = '...'"
        text = str(error)
        found = re.search(r"errno = (\d+)", text)
        code = int(found.group(1)) if found else None
        found = re.search(r"name = '([^']*)'", text)
        name = found.group(1) if found else None
    if code in WRITE_ERRNOS:
        where = f" {name}" if name else ""
        detail = (error.strerror or "").partition(" (")[2].rstrip(")")
        return f"cannot write{where}: {WRITE_ERRNOS[code]}" + (f" ({detail})" if detail else "")
    if isinstance(error, FileNotFoundError):
        return str(error) if error.filename is None else f"no such file: {error.filename}"
    if isinstance(error, (IsADirectoryError, NotADirectoryError)):
        return f"{error.strerror}: {error.filename}"
    return None


def expected_error_message(error: BaseException) -> str | None:
    """The one-paragraph message of an expected failure; None for a bug."""
    if isinstance(error, (FerzooError, ValueError)):
        return str(error)
    message = describe_os_error(error)
    if message is not None:
        return message
    tf_errors = _tf_error_types()
    if tf_errors and isinstance(error, tf_errors):
        text = (error.message or "").strip()
        for code, words in WRITE_ERRNOS.items():
            strerror = os.strerror(code)
            if strerror.lower() in text.lower():
                # TensorFlow says "PATH; No space left on device"
                where = text.split(f"; {strerror}")[0] if f"; {strerror}" in text else ""
                where = f" {where}" if where and "\n" not in where else ""
                return f"cannot write{where}: {words}" + (
                    "" if where else f" ({text.splitlines()[0]})")
        if type(error).__name__ == "DataLossError":
            return f"corrupt data: {text.splitlines()[0] if text else error}"
    return None


def run_command(command: str, func: Callable[[Any], int], args: Any) -> int:
    """Run a subcommand: an expected failure becomes ``ferzoo COMMAND: error: ...`` and
    exit status 2 (no traceback), Ctrl-C exit status 130; a bug keeps its traceback."""
    try:
        return func(args)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:
        message = expected_error_message(error)
        if message is None:
            raise
        print(f"ferzoo {command}: error: {message}", file=sys.stderr)
        return 2
