"""``ferzoo models`` and ``ferzoo info``: what the registry holds."""

from __future__ import annotations

import json


def cmd_models(args) -> int:
    import ferzoo

    if args.markdown:
        from ferzoo.catalog import model_table

        print(model_table(ferzoo.list_models(args.pattern)))
        return 0
    for name in ferzoo.list_models(args.pattern):
        entry = ferzoo.get_entry(name)
        print(f"{name:28s} {entry.paper:15s} {entry.description}")
    return 0


def cmd_info(args) -> int:
    import ferzoo

    print(json.dumps(ferzoo.model_info(args.name), indent=1, default=str))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--markdown", action="store_true", help="the README's model table")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("info", help="paper, input spec, defaults, parameters of a model")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)
