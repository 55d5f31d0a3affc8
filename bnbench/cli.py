"""The ``bnbench`` command: models and their structure tables, the claims, and a past run's summary.

    bnbench models [PATTERN]                 registered models with parameter counts (wildcards: 'VGG*')
    bnbench structure MODEL [ARG=VALUE ...]  layer / output shape / parameters table, e.g. MyNet hidden=500
    bnbench claims                           every claim: id, the study's sentence, comparison and margin
    bnbench summary DIR                      the claims table of a finished run (DIR/summary.json)

Errors a user can fix print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import BnbenchError


def _value(text: str):
    """Command-line values are parsed, never evaluated: int, float, true/false, else the string itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _model_args(pairs: list[str]) -> dict:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BnbenchError(f"model argument {pair!r} is not NAME=VALUE (e.g. hidden=500)")
        args[key] = _value(value)
    return args


def cmd_models(ns) -> None:
    from .models import count_parameters, create_model, list_models

    for name in list_models(ns.pattern):
        print(f"{name:18s} {count_parameters(create_model(name)):>12,d} parameters")


def cmd_structure(ns) -> None:
    from .models import create_model, format_structure, structure_table

    model = create_model(ns.model, **_model_args(ns.args))
    print(format_structure(ns.model, structure_table(model)))


def cmd_claims(ns) -> None:
    from .claims import CLAIMS

    for c in CLAIMS.values():
        print(f"{c.id}\n    {c.sentence}\n    {c.metric}: {c.kind}, margin {c.margin:g} ({c.margin_reason})")


def cmd_summary(ns) -> None:
    from rich.console import Console

    from .summary import results_table, speed_table

    claims, speed = [], []
    for d in ns.dirs:
        path = Path(d) / "summary.json" if Path(d).is_dir() else Path(d)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise BnbenchError(f"{path}: no summary.json there; give a --bnbench-out folder of a finished run") from None
        except (OSError, ValueError) as exc:
            raise BnbenchError(f"{path}: not a readable summary ({exc})") from None
        if not isinstance(data, dict) or data.get("schema_version") != 1:
            raise BnbenchError(f"{path}: unknown summary schema version {data.get('schema_version')!r} "
                               "(this bnbench reads version 1); upgrade bnbench")
        claims += data.get("claims", [])
        speed += data.get("speed", [])
        if data.get("partial"):
            print(f"note: {path} is from an interrupted run (partial)")
    console = Console()
    if claims:
        console.print(results_table(claims))
    if speed:
        console.print(speed_table(speed))
    if not claims and not speed:
        print("no claims or speed results in " + ", ".join(ns.dirs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bnbench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("models", help="list models with parameter counts")
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(fn=cmd_models)
    p = sub.add_parser("structure", help="print a model's structure table")
    p.add_argument("model")
    p.add_argument("args", nargs="*", metavar="ARG=VALUE")
    p.set_defaults(fn=cmd_structure)
    p = sub.add_parser("claims", help="list the study's claims")
    p.set_defaults(fn=cmd_claims)
    p = sub.add_parser("summary", help="reprint the claims table of finished runs")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.set_defaults(fn=cmd_summary)
    ns = parser.parse_args(argv)
    try:
        ns.fn(ns)
    except BnbenchError as exc:
        print(f"bnbench: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
