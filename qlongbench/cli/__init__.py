"""Command line: `qlongbench run | report | check | quantize | tasks | precisions | harness-path`.

The CLI owns output and progress bars; the library only logs. A user error prints one line and
exits 2 (the traceback only with --debug). This module parses arguments (the flags of `run` and
`quantize` are generated from RunSpec, one per field, its help the field's docstring);
cli/commands.py runs each subcommand."""

from __future__ import annotations

import argparse
import logging
import sys
import types
from collections.abc import Sequence
from typing import Literal, Union, get_args, get_origin

from qlongbench import __version__
from qlongbench.errors import UserError, one_line
from qlongbench.spec.config import RunSpec

log = logging.getLogger("qlongbench")

EXIT_USAGE = 2
SPEC_FIELDS = tuple(RunSpec.model_fields)
"""Every RunSpec field is a flag of `run` (argparse dest = field name): one list, the spec's own."""
SWITCHED_OFF = {"engine_baseline": "--no-engine-baseline"}
"""Switches on by default: their flag turns them off."""
QUANTIZE_FIELDS = ("model", "revision", "precisions", "device", "cache_dir", "trust_remote_code", "allow_pickle")
"""The RunSpec fields `quantize` reads."""


def field_help(name: str) -> str:
    """A RunSpec field's docstring, first sentence, as its flag's help."""
    doc = " ".join((RunSpec.model_fields[name].description or "").split())
    return doc.split(". ")[0].rstrip(".").replace("%", "%%")


def _kind(annotation: object) -> tuple[type, tuple[str, ...] | None]:
    """(argparse type, choices) of a field: numbers and switches as such, Literal as choices, the rest
    as text the spec's own validators read (comma lists, 4k lengths, gpus=...)."""
    args = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    arg = next(a for a in args if a is not type(None))
    if get_origin(arg) is Literal:
        return str, tuple(get_args(arg))
    return (arg if arg in (int, float, bool) else str), None


def add_spec_flags(p: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """One flag per RunSpec field (--lengths for lengths ...); every default is None so that only
    flags the user typed override a --config file."""
    p.add_argument("--config", help="YAML file with any of the options below (flags override it)")
    for name in names:
        kind, choices = _kind(RunSpec.model_fields[name].annotation)
        if kind is bool:
            off = name in SWITCHED_OFF
            p.add_argument(SWITCHED_OFF[name] if off else "--" + name.replace("_", "-"), dest=name,
                           action="store_const", const=not off,
                           help=("do not " + field_help(name)[:1].lower() + field_help(name)[1:]) if off else
                           field_help(name))
        else:
            p.add_argument("--" + name.replace("_", "-"), type=kind, choices=choices, help=field_help(name))
    if "chat_template" in names:
        p.add_argument("--no-chat-template", dest="chat_template", action="store_const", const="off",
                       help="same as --chat-template off")


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """Flags over --config over, when no model is named anywhere, the default suite on the bundled
    model (qlongbench/spec/default_suite.yaml): `qlongbench run` alone is the main job."""
    from qlongbench.spec.config import build_spec, layered, load_yaml

    flags = {name: vars(args)[name] for name in SPEC_FIELDS if vars(args).get(name) is not None}
    values, source, origins = layered(load_yaml(args.config) if args.config else {}, flags, args.config)
    return build_spec(values, source, origins)


def _add_gate_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one test case per cell)")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary for a pull-request comment")
    p.add_argument("--strict", action="store_true", help="inconclusive cells fail the gate")
    p.add_argument("--allow-no-pass", action="store_true",
                   help="exit 0 even when no cell passed (all inconclusive / not measured)")
    p.add_argument("--min-reference", type=float, metavar="PTS",
                   help="a reference below this accuracy (points) cannot show a drop: not measured (default 10)")


class _Parser(argparse.ArgumentParser):
    """A bad flag is one line naming it (and how to get help), exit 2 — not the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"qlongbench: error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from qlongbench.cli import commands

    parser = _Parser(prog="qlongbench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"qlongbench {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("-q", "--quiet", action="store_true", help="less output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", parents=[common], help="run precisions x tasks x lengths and write records",
                       description="Run a sweep. Re-running the same command resumes it.")
    add_spec_flags(p, SPEC_FIELDS)
    p.add_argument("--new", action="store_true", help="start the run directory over instead of resuming")
    p.add_argument("--keep-errors", action="store_true",
                   help="keep error records of an earlier invocation instead of running those samples again")
    p.add_argument("--no-report", action="store_true", help="do not write the report afterwards")
    p.add_argument("--report-out", help="report directory (default reports/<run name>)")
    p.add_argument("--project-memory", metavar="CONFIG:LENGTH",
                   help="in the report, project weights + KV memory onto a model's config, e.g. "
                        "meta-llama/Llama-3.1-8B:128k")
    p.add_argument("--check", metavar="POLICY", help="after the run, gate it with this policy YAML (exit code of check)")
    _add_gate_outputs(p)
    p.set_defaults(func=commands.cmd_run)

    p = sub.add_parser("check", parents=[common], help="gate a run: pass/fail per cell versus the reference",
                       description="Exit 0 when every cell passes, 1 when any fails (or is inconclusive with "
                                   "--strict), 2 on bad input. See docs/check.md.")
    p.add_argument("run_dir", help="a run directory made by `qlongbench run`")
    p.add_argument("--policy", help="policy YAML (tolerances per task/length/language, candidates, confidence)")
    p.add_argument("--reference", help="reference precision (default the run's: the first of bf16, fp16, fp32)")
    p.add_argument("--candidate", action="append", help="candidate precision(s), repeat or comma list (default all)")
    p.add_argument("--max-drop", type=float, help="tolerated drop in accuracy points (0-100)")
    p.add_argument("--max-relative-drop", type=float, metavar="PCT", help="tolerated drop in %% of the reference")
    p.add_argument("--at-length", action="append", help="only gate these lengths (repeat or comma list; 32k ok)")
    p.add_argument("--alpha", type=float, help="one-sided error rate of each verdict (default 0.05)")
    p.add_argument("--min-samples", type=int, help="fewer paired samples make a cell insufficient (default 20)")
    _add_gate_outputs(p)
    p.set_defaults(func=commands.cmd_check)

    p = sub.add_parser("quantize", parents=[common], help="build the quantized artifacts of precisions (no tasks run)",
                       description="Convert / quantize the model for each precision into the artifact cache and "
                                   "print the artifacts' paths; a later run reuses them.")
    add_spec_flags(p, QUANTIZE_FIELDS)
    p.set_defaults(func=commands.cmd_quantize)

    p = sub.add_parser("harness-path", parents=[common], help="print the lm-eval --include_path of the qlongbench tasks")
    p.set_defaults(func=commands.cmd_harness_path)

    p = sub.add_parser("report", parents=[common], help="write summary.md and results.json for a run")
    p.add_argument("run_dir", help="a run directory made by `qlongbench run`")
    p.add_argument("--out", help="report directory (default reports/<run name>)")
    p.add_argument("--reference", help="reference precision (default the run's: the first of bf16, fp16, fp32)")
    p.add_argument("--min-reference", type=float, metavar="PTS",
                   help="a reference below this accuracy (points) cannot show a drop: not measured (default 10)")
    p.add_argument("--project-memory", metavar="CONFIG:LENGTH",
                   help="also project weights + KV memory onto a model's config (hub id or dir), e.g. "
                        "meta-llama/Llama-3.1-8B:128k (formula, labelled as such)")
    p.set_defaults(func=commands.cmd_report)

    p = sub.add_parser("tasks", parents=[common], help="list tasks, their options, languages and metric")
    p.set_defaults(func=commands.cmd_tasks)
    p = sub.add_parser("precisions", parents=[common], help="list precision labels, their engines and options")
    p.set_defaults(func=commands.cmd_precisions)
    return parser


def _quiet_libraries(debug: bool) -> None:
    for noisy in ("bitsandbytes", "transformers", "gptqmodel", "httpx", "urllib3", "datasets", "torchao", "torch"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)
    if not debug:  # the CLI draws its own progress bar; the libraries' bars would interleave with it
        import os
        import warnings

        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TORCH_LOGS", "-torch")  # torch's own deprecation lines (e.g. _pytree at import)
        # Third-party deprecation notices (torch's _pytree, transformers' renames) are for their
        # developers, not for the user of a benchmark; --debug shows them.
        for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category)


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGPIPE") and argv is None:  # `qlongbench tasks | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = build_parser()
    for arg in sys.argv[1:] if argv is None else argv:  # an undecodable byte arrives as a lone surrogate
        if not arg.isprintable() and any(0xD800 <= ord(c) <= 0xDFFF for c in arg):
            print(f"qlongbench: error: argument {one_line(arg)!r} is not valid UTF-8 text", file=sys.stderr)
            return EXIT_USAGE
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries(args.debug)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        if args.debug:
            raise
        print(f"qlongbench: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("qlongbench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - an unforeseen failure is one line too; --debug shows it all
        if args.debug:
            raise
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"qlongbench: unexpected {type(err).__name__}: {text} (finished work is kept; rerun with --debug "
              "for the traceback and report it)", file=sys.stderr)
        return 1
