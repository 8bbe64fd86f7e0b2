"""What every ``ferzoo`` subcommand shares: ``--set KEY=VALUE`` parsing and one error path."""

from __future__ import annotations

import ast
import sys
from typing import Any, Callable


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["width=16", "levels=(4,2,1)", "name=x"]`` -> {"width": 16, "levels": (4, 2, 1), ...}."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip().replace("-", "_")] = value
    return out


def run_command(command: str, func: Callable[[Any], int], args: Any) -> int:
    """Run a subcommand: a ``ValueError`` / ``FileNotFoundError`` becomes ``ferzoo COMMAND:
    error: ...`` and exit status 2 (no traceback), Ctrl-C exit status 130."""
    try:
        return func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"ferzoo {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
