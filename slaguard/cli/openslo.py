"""``slaguard openslo import|export|validate``: SLOs as code, in and out.

- ``import FILE… [-c CONFIG] [-o OUT] [--include]``: maps ``openslo/v1`` documents
  onto the configuration (:mod:`openslo.importer`) and writes the ``slos:`` that are
  new to it into OUT (default ``slos.openslo.yaml`` beside CONFIG), a file the main
  configuration includes (``include: [slos.openslo.yaml]``).  OUT is replaced as a
  whole (what it held before is not counted as already configured), and only once the
  main configuration with OUT loads.  The main file is never edited unless
  ``--include`` asks for the ``include:`` line to be appended (refused when it
  already has an ``include:`` that does not name OUT: edit that by hand).  A
  service's monthly objective, or an SLO of the same name, that differs from the
  configuration is refused; what it already holds as it is is reported unchanged.
- ``export [-c CONFIG] [--format openslo|sloth] [-o FILE]``: every service and
  objective as ``openslo/v1`` (or the Sloth ``prometheus/v1`` spec of those over
  ``probe_success``, naming what is left out on stderr); stdout without ``-o``.
- ``validate FILE…``: the go-sdk's rules only (no configuration needed).

Exit codes as every command: 0 done; 1 a document is refused (each error one line,
``FILE: document N (KIND NAME): path: message``); 2 usage, the configuration, a file
that cannot be read or written.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from slaguard.cli.common import EXIT_FAIL, EXIT_OK, UsageError, load
from slaguard.config import ConfigError, load_config

DEFAULT_OUT = "slos.openslo.yaml"


def add_openslo_parser(sub: Any, config_default: str) -> None:
    """Adds ``slaguard openslo`` and its subcommands to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "openslo", help="OpenSLO in and out: import, export, validate",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    osub = p.add_subparsers(dest="openslo_command", required=True)
    sp = osub.add_parser("import", help="openslo/v1 documents → a file of slos the "
                         "configuration includes")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.add_argument("-c", "--config", default=config_default)
    sp.add_argument("-o", "--output", help=f"the included file to write (default "
                    f"{DEFAULT_OUT} beside the configuration)")
    sp.add_argument("--include", action="store_true",
                    help="append `include: [OUT]` to the configuration when it lacks it")
    sp.set_defaults(fn=cmd_import)
    sp = osub.add_parser("export", help="every service and objective as openslo/v1 (or "
                         "Sloth prometheus/v1)")
    sp.add_argument("-c", "--config", default=config_default)
    sp.add_argument("--format", choices=["openslo", "sloth"], default="openslo")
    sp.add_argument("-o", "--output", help="file to write (default: stdout)")
    sp.set_defaults(fn=cmd_export)
    sp = osub.add_parser("validate", help="check openslo/v1 documents against the spec")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(fn=cmd_validate)


def _refused(errors: list[str]) -> int:
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return EXIT_FAIL


def cmd_validate(args: argparse.Namespace) -> int:
    from openslo.documents import OpenSLOError, read_file
    from openslo.importer import validate_texts

    try:
        texts = [(f, read_file(f)) for f in args.files]
    except OpenSLOError as e:
        raise UsageError(e.errors[0]) from None
    try:
        n = validate_texts(texts)
    except OpenSLOError as e:
        return _refused(e.errors)
    print(f"ok ({n} documents)")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from openslo.exporter import ExportError, export_openslo, export_sloth

    cfg = load(args.config)
    try:
        if args.format == "sloth":
            text, left = export_sloth(cfg)
            for line in left:
                print(f"note: left out of the Sloth spec: {line}", file=sys.stderr)
        else:
            text = export_openslo(cfg)
    except ExportError as e:
        return _refused([str(e)])
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(args.output)
    else:
        sys.stdout.write(text)
    return EXIT_OK


class _Dumper(yaml.SafeDumper):
    """Short lists in flow style; a burn-rate factor as the number it is."""


def _decimal(dumper: yaml.SafeDumper, d: Decimal) -> yaml.Node:
    if d == d.to_integral_value():
        return dumper.represent_scalar("tag:yaml.org,2002:int", str(int(d)))
    return dumper.represent_scalar("tag:yaml.org,2002:float", str(d))


def _list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
    flow = all(isinstance(x, str) for x in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


_Dumper.add_representer(Decimal, _decimal)
_Dumper.add_representer(list, _list)


def render_slos(slos: list[dict[str, Any]], sources: list[str], config: str) -> str:
    """The included file: a header naming where it came from, then ``slos:``."""
    for entry in slos:
        for alert in (entry.get("objective") or {}).get("burn_alerts", []):
            alert["threshold"] = Decimal(alert["threshold"])
    header = (f"# Written by `slaguard openslo import` from {', '.join(sources)}; the\n"
              f"# configuration {config} includes it (include: [...]).  Re-importing replaces "
              "it.\n")
    body = yaml.dump({"slos": slos}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100)
    return header + body


def _include_line(config: Path, out: Path, raw: Any, wanted: bool) -> str:
    """What to do about ``include:`` in the main file: nothing, appended, or a hint."""
    rel = Path(out).resolve()
    listed = raw.get("include") if isinstance(raw, dict) else None
    names = [(config.parent / x).resolve() for x in listed or [] if isinstance(x, str)]
    if rel in names:
        return ""
    try:
        shown = str(rel.relative_to(config.parent.resolve()))
    except ValueError:
        shown = str(rel)
    if not wanted:
        return f"add `include: [{shown}]` to {config} (or re-run with --include)"
    if listed is not None:
        raise UsageError(f"{config} has an include: list without {shown}; add it there by "
                         "hand")
    with config.open("a", encoding="utf-8") as f:
        f.write(f"\ninclude: [{shown}]   # slaguard openslo import\n")
    return f"{config}: appended include: [{shown}]"


def cmd_import(args: argparse.Namespace) -> int:
    from openslo.documents import OpenSLOError
    from openslo.importer import import_files, plan

    config = Path(args.config)
    out = Path(args.output) if args.output else config.parent / DEFAULT_OUT
    # The configuration without the file being replaced: what it already holds.
    cfg, _ = load_config(config, skip=[out])
    try:
        imported = import_files(list(args.files), cfg)
    except OpenSLOError as e:
        if e.errors and ": cannot read" in e.errors[0] and len(e.errors) == 1:
            raise UsageError(e.errors[0]) from None
        return _refused(e.errors)
    p = plan(imported, cfg, str(config))
    if p.errors:
        return _refused(p.errors)
    _write_checked(config, out, render_slos(p.write, list(args.files), str(config)))
    for line in imported.summary:
        print(line)
    print(f"{out}: {len(p.write)} SLO(s) written; {len(p.unchanged)} already in {config} "
          "as they are" + (f" ({', '.join(p.unchanged)})" if p.unchanged else ""))
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    hint = _include_line(config, out, raw, args.include)
    if hint:
        print(hint)
    return EXIT_OK


def _write_checked(config: Path, out: Path, text: str) -> None:
    """Writes ``out``, keeping it only when the configuration with it loads."""
    before = out.read_text(encoding="utf-8") if out.exists() else None
    out.write_text(text, encoding="utf-8")
    try:
        load_config(config, extra=[out])
    except ConfigError:
        if before is None:
            out.unlink()
        else:
            out.write_text(before, encoding="utf-8")
        raise
