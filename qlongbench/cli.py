"""Command line: `qlongbench run | report | tasks | precisions`.

The CLI owns output and progress bars; the library only logs. A user error prints one line and
exits 2 (the traceback only with --debug)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from qlongbench import __version__
from qlongbench.errors import UserError

log = logging.getLogger("qlongbench")

EXIT_USAGE = 2


def _add_run_args(p: argparse.ArgumentParser) -> None:
    # Every default is None so that only flags the user typed override a --config file.
    p.add_argument("--config", help="YAML file with any of the options below (flags override it)")
    p.add_argument("--model", help="HF hub id or local directory (default: the bundled demo model)")
    p.add_argument("--revision", help="hub revision of the model")
    p.add_argument("--precisions", help="comma list, options as name:key=value (default bf16)")
    p.add_argument("--tasks", help="comma list of tasks, options as name:key=value (default niah-single)")
    p.add_argument("--lengths", help="comma list of lengths; 4k = 4096 (default 1k,2k,4k)")
    p.add_argument("--languages", help="comma list of haystack languages (default en)")
    p.add_argument("--instruction-language", help="cross-lingual mode: instructions in this language")
    p.add_argument("--samples", type=int, help="samples per task x language x length (default 20)")
    p.add_argument("--seed", type=int, help="seed (default 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for transformers engines")
    p.add_argument("--chat-template", choices=["auto", "on", "off"],
                   help="auto: use the tokenizer's chat template when it has one (default); on: require one; off")
    p.add_argument("--no-chat-template", dest="chat_template", action="store_const", const="off",
                   help="same as --chat-template off")
    p.add_argument("--reuse", choices=["exact", "none"],
                   help="exact: prefill each shared context once (default); none: fresh prompt per question")
    p.add_argument("--max-new-tokens", type=int, help="override every task's answer budget")
    p.add_argument("--trust-remote-code", action="store_const", const=True, help="allow the model's own code")
    p.add_argument("--allow-pickle", action="store_const", const=True, help="allow non-safetensors weights")
    p.add_argument("--allow-extrapolation", action="store_const", const=True,
                   help="allow lengths beyond max_position_embeddings")
    p.add_argument("--no-engine-baseline", dest="engine_baseline", action="store_const", const=False,
                   help="do not add gguf-bf16 beside gguf quants")
    p.add_argument("--cache-dir", help="cache of quantized artifacts (default ~/.cache/qlongbench)")
    p.add_argument("--out", help="run directory (default runs/latest, or runs/demo for the demo model)")
    p.add_argument("--name", help="run name (default: the run directory's name)")


_SPEC_FIELDS = ("model", "revision", "precisions", "tasks", "lengths", "languages", "instruction_language",
                "samples", "seed", "device", "chat_template", "reuse", "max_new_tokens", "trust_remote_code",
                "allow_pickle", "allow_extrapolation", "engine_baseline", "cache_dir", "out", "name")


def spec_from_args(args: argparse.Namespace) -> Any:
    from qlongbench.config import build_spec, load_yaml

    values: dict[str, Any] = load_yaml(args.config) if args.config else {}
    source = f"config {args.config}" if args.config else "options"
    for name in _SPEC_FIELDS:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
            source = "options" if not args.config else f"config {args.config} + options"
    if "out" not in values and values.get("model") is None:
        values["out"] = "runs/demo"
    return build_spec(values, source)


class _Bar:
    """A rich progress bar fed by the runner's progress callback."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), transient=False)
            self._progress.start()
        return self

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        name = "samples" if phase == "samples" else "records"
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task("building samples" if name == "samples" else "running", total=total)
        desc = "building samples" if name == "samples" else f"running {phase}"
        self._progress.update(self._tasks[name], completed=done, total=total, description=desc)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def cmd_run(args: argparse.Namespace) -> int:
    from qlongbench import report
    from qlongbench.runner import Runner

    spec = spec_from_args(args)
    with _Bar(sys.stderr.isatty() and not args.quiet) as bar:
        result = Runner(spec, progress=bar, fresh=args.new).run()
    print(f"run directory: {result.run_dir} ({result.written} records written, {result.skipped} already there)")
    for prec, why in result.failed_precisions.items():
        print(f"precision {prec} did not run: {why}", file=sys.stderr)
    if not args.no_report:
        out = args.report_out or (f"reports/{spec.name}" if spec.name else None)
        if spec.model is None and out is None:
            out = "reports/demo"
        path = report.write(result.run_dir, out)
        print(f"report: {path}/summary.md")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from qlongbench import report

    path = report.write(args.run_dir, args.out, args.reference)
    print(f"report: {path}/summary.md")
    if not args.quiet:
        print((path / "summary.md").read_text(encoding="utf-8"))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from qlongbench import registry

    seen: dict[str, list[str]] = {}
    for name in registry.names(registry.TASKS):
        try:
            cls = registry.task_class(name)
        except ImportError as err:  # a task whose module or dependency is missing is listed, not fatal
            print(f"{name}  (unavailable: {err})")
            continue
        seen.setdefault(cls.name, []).append(name)
    for canonical, names in seen.items():
        cls = registry.task_class(canonical)
        aliases = [n for n in names if n != canonical]
        print(f"{canonical}{'  (alias: ' + ', '.join(aliases) + ')' if aliases else ''}")
        print(f"    {cls.description}")
        print(f"    metric: {cls.metric}; answer budget {cls.default_max_new_tokens} tokens")
        print(f"    languages: {', '.join(cls.languages())}")
        opts = cls.Options.model_fields
        if opts:
            print("    options: " + "; ".join(f"{k}={f.default!r} ({f.description})" if f.description else
                                             f"{k}={f.default!r}" for k, f in opts.items()))
    return 0


def cmd_precisions(args: argparse.Namespace) -> int:
    from qlongbench import registry

    for name in registry.names(registry.BACKENDS):
        try:
            cls = registry.backend_class(name)
        except ImportError as err:
            print(f"{name:14s} (unavailable: {err})")
            continue
        extra = f" [extra: {cls.extra}]" if getattr(cls, "extra", None) else ""
        print(f"{name:14s} {cls.engine:13s} {cls.description}{extra}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qlongbench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"qlongbench {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("-q", "--quiet", action="store_true", help="less output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", parents=[common], help="run precisions x tasks x lengths and write records",
                       description="Run a sweep. Re-running the same command resumes it.")
    _add_run_args(p)
    p.add_argument("--new", action="store_true", help="start the run directory over instead of resuming")
    p.add_argument("--no-report", action="store_true", help="do not write the report afterwards")
    p.add_argument("--report-out", help="report directory (default reports/<run name>)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", parents=[common], help="write summary.md and results.json for a run")
    p.add_argument("run_dir", help="a run directory made by `qlongbench run`")
    p.add_argument("--out", help="report directory (default reports/<run name>)")
    p.add_argument("--reference", help="reference precision (default the first of bf16, fp16, fp32)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("tasks", parents=[common], help="list tasks, their options, languages and metric")
    p.set_defaults(func=cmd_tasks)
    p = sub.add_parser("precisions", parents=[common], help="list precision labels and their engines")
    p.set_defaults(func=cmd_precisions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bitsandbytes", "transformers", "gptqmodel", "httpx", "urllib3", "datasets"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.debug else logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        if args.debug:
            raise
        print(f"qlongbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("qlongbench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
