"""Command line: `qlongbench run | report | check | quantize | tasks | precisions | harness-path`.

The CLI owns output and progress bars; the library only logs. A user error prints one line and
exits 2 (the traceback only with --debug)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from qlongbench import __version__
from qlongbench.errors import UserError, one_line
from qlongbench.spec.config import RunSpec

log = logging.getLogger("qlongbench")

EXIT_USAGE = 2


def _add_run_args(p: argparse.ArgumentParser) -> None:
    # Every default is None so that only flags the user typed override a --config file.
    p.add_argument("--config", help="YAML file with any of the options below (flags override it)")
    p.add_argument("--model", help="HF hub id or local directory (default: the bundled SmolLM2-135M-Instruct and "
                   "its default suite)")
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
    p.add_argument("--batch-size", type=int,
                   help="answer prompts that share no context this many at a time (GPU); default 1")
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
    p.add_argument("--out", help="run directory (default runs/latest; runs/default for the default suite)")
    p.add_argument("--name", help="run name, and the report's directory under reports/ (default: the run "
                   "directory's name; on a resumed run it renames the run)")
    for name, kw in (("executor", {"choices": ["local", "ray"]}), ("ray_address", {}), ("replicas", {"type": int}),
                     ("gpus", {}), ("cpus_per_unit", {"type": float}),  # docs/ray.md
                     ("noise_floor", {"action": "store_const", "const": True})):  # help: the field's first sentence
        p.add_argument("--" + name.replace("_", "-"), help=RunSpec.model_fields[name].description.split(". ")[0], **kw)


SPEC_FIELDS = tuple(RunSpec.model_fields)
"""Every RunSpec field is a flag of `run` (argparse dest = field name): one list, the spec's own."""


def spec_from_args(args: argparse.Namespace) -> Any:
    """Flags over --config over, when no model is named anywhere, the default suite on the bundled
    model (qlongbench/spec/default_suite.yaml): `qlongbench run` alone is the main job."""
    from qlongbench.spec.config import build_spec, layered, load_yaml

    flags = {name: getattr(args, name) for name in SPEC_FIELDS if getattr(args, name, None) is not None}
    values, source, origins = layered(load_yaml(args.config) if args.config else {}, flags, args.config)
    return build_spec(values, source, origins)


class _Feedback:
    """Progress: a rich bar on a terminal; otherwise one plain line per precision and per finished
    cell, with the elapsed time (CI logs and nohup show the run moving)."""

    def __init__(self, tty: bool, quiet: bool):
        import time

        self.tty, self.quiet, self.t0 = tty, quiet, time.monotonic()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Feedback:
        if self.tty and not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), transient=False)
            self._progress.start()
        return self

    def elapsed(self) -> str:
        import time

        s = int(time.monotonic() - self.t0)
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def __call__(self, event: Any) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            name = "samples" if event.kind == "samples" else "records"
            if event.kind not in ("samples", "record"):
                return
            if name not in self._tasks:
                self._tasks[name] = self._progress.add_task("", total=event.total)
            desc = "building samples" if name == "samples" else f"running {event.precision}"
            self._progress.update(self._tasks[name], completed=event.done, total=event.total, description=desc)
            return
        if event.kind == "samples" and event.done == event.total:
            print(f"[{self.elapsed()}] samples frozen: {event.total} cells", flush=True)
        elif event.kind == "precision":
            print(f"[{self.elapsed()}] precision {event.done}/{event.total}: {event.precision} ({event.detail})",
                  flush=True)
        elif event.kind == "cell":
            print(f"[{self.elapsed()}]   {event.precision} {event.cell} done ({event.done}/{event.total} cells; "
                  f"{event.detail})", flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def cmd_run(args: argparse.Namespace) -> int:
    from qlongbench.render.write import write
    from qlongbench.run.runner import Runner

    spec = spec_from_args(args)
    policy = _policy_from_args(args, args.check) if args.check else None  # a bad policy fails before the run
    if not args.check and (args.junit or args.markdown or args.strict):
        raise UserError("--junit, --markdown and --strict go with --check POLICY")
    with _Feedback(sys.stderr.isatty(), args.quiet) as feedback:
        result = Runner(spec, progress=feedback, fresh=args.new, keep_errors=args.keep_errors).run()
    print(f"run directory: {result.run_dir} ({result.written} records written, {result.skipped} already there"
          + (f", {result.retried} error records retried" if result.retried else "") + ")")
    for prec, why in result.failed_precisions.items():
        print(f"qlongbench: precision {prec} did not run: {why}", file=sys.stderr)
    if not args.no_report:
        try:
            path = write(result.run_dir, args.report_out, project=args.project_memory)
            print(f"report: {path / 'index.html'}")
        except UserError as err:  # the records are safe; only the report could not be drawn
            print(f"qlongbench: warning: the run finished but its report was not written: {err}", file=sys.stderr)
    code = _gate(result.run_dir, policy, args) if policy is not None else 0
    if result.failed_precisions:
        print(f"qlongbench: {len(result.failed_precisions)} precision(s) could not run at all; exit 1", file=sys.stderr)
        return max(code, 1)
    return code


def _policy_from_args(args: argparse.Namespace, path: str | None) -> Any:
    from qlongbench.spec.policy import alpha_to_confidence, load_policy, split_list

    lengths = split_list(getattr(args, "at_length", None))
    return load_policy(path, {
        "reference": getattr(args, "reference", None), "candidates": split_list(getattr(args, "candidate", None)),
        "max_drop": getattr(args, "max_drop", None), "max_relative_drop": getattr(args, "max_relative_drop", None),
        "min_samples": getattr(args, "min_samples", None), "lengths": lengths,
        "confidence": alpha_to_confidence(args.alpha) if getattr(args, "alpha", None) is not None else None,
        "strict": True if args.strict else None,
        "allow_no_pass": True if getattr(args, "allow_no_pass", False) else None,
        "min_reference_accuracy": getattr(args, "min_reference", None),
    })


def _gate(run_dir: Any, policy: Any, args: argparse.Namespace) -> int:
    from qlongbench.gate import check, outputs

    result = check.check(run_dir, policy)
    outputs.write_outputs(result, args.junit, args.markdown)
    if args.quiet:
        print(outputs.summary_line(result))
        return result.exit_code
    print(outputs.text_table(result), end="")
    for path, what in ((args.junit, "junit"), (args.markdown, "markdown")):
        if path:
            print(f"{what}: {path}")
    return result.exit_code


def _in_progress(run_dir: str) -> Any:
    """What to say after reading a run directory that a run is writing (its lock is held): None
    when no run is, else a function printing the one note line."""
    from qlongbench.run.store import run_in_progress

    holder = run_in_progress(run_dir)
    return holder and (lambda what: print(f"qlongbench: note: a run is still writing {run_dir} ({holder}); this "
                                          f"{what} read the whole records written so far", file=sys.stderr))


def cmd_check(args: argparse.Namespace) -> int:
    note = _in_progress(args.run_dir)
    code = _gate(args.run_dir, _policy_from_args(args, args.policy), args)
    if note:
        note("check")
    return code


def cmd_quantize(args: argparse.Namespace) -> int:
    from qlongbench.run.quantize import format_results, quantize

    if not args.precisions and not args.config:
        raise UserError("qlongbench quantize needs --precisions, e.g. --precisions gptq-int4,gguf-q4_k_m")
    spec = spec_from_args(args)
    for line in format_results(quantize(spec)):
        print(line)
    return 0


def cmd_harness_path(args: argparse.Namespace) -> int:
    from qlongbench.harness import include_path

    print(include_path())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from qlongbench.render.write import write
    from qlongbench.spec.policy import build_policy

    floor = None if args.min_reference is None else build_policy(  # the gate's own rule for the value
        {"min_reference_accuracy": args.min_reference}, "options").min_reference_accuracy / 100.0
    note = _in_progress(args.run_dir)
    path = write(args.run_dir, args.out, args.reference, floor=floor, project=args.project_memory)
    if not args.quiet:
        print((path / "summary.md").read_text(encoding="utf-8"))
    print(f"report: {path / 'index.html'}")
    if note:
        note("report")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from qlongbench import registry

    print("\n".join(registry.task_listing()))
    return 0


def cmd_precisions(args: argparse.Namespace) -> int:
    from qlongbench import registry

    print("\n".join(registry.precision_listing()))
    return 0


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
    parser = _Parser(prog="qlongbench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"qlongbench {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("-q", "--quiet", action="store_true", help="less output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", parents=[common], help="run precisions x tasks x lengths and write records",
                       description="Run a sweep. Re-running the same command resumes it.")
    _add_run_args(p)
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
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", parents=[common], help="gate a run: pass/fail per cell versus the reference",
                       description="Exit 0 when every cell passes, 1 when any fails (or is inconclusive with "
                                   "--strict), 2 on bad input. See docs/check.md.")
    p.add_argument("run_dir", help="a run directory made by `qlongbench run`")
    p.add_argument("--policy", help="policy YAML (tolerances per task/length/language, candidates, confidence)")
    p.add_argument("--reference", help="reference precision (default the first of bf16, fp16, fp32)")
    p.add_argument("--candidate", action="append", help="candidate precision(s), repeat or comma list (default all)")
    p.add_argument("--max-drop", type=float, help="tolerated drop in accuracy points (0-100)")
    p.add_argument("--max-relative-drop", type=float, metavar="PCT", help="tolerated drop in %% of the reference")
    p.add_argument("--at-length", action="append", help="only gate these lengths (repeat or comma list; 32k ok)")
    p.add_argument("--alpha", type=float, help="one-sided error rate of each verdict (default 0.05)")
    p.add_argument("--min-samples", type=int, help="fewer paired samples make a cell insufficient (default 20)")
    _add_gate_outputs(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("quantize", parents=[common], help="build the quantized artifacts of precisions (no tasks run)",
                       description="Convert / quantize the model for each precision into the artifact cache and "
                                   "print the artifacts' paths; a later run reuses them.")
    for flag, kw in (("--config", {"help": "YAML file with model / precisions / cache_dir (flags override it)"}),
                     ("--model", {"help": "HF hub id or local directory (default: the bundled demo model)"}),
                     ("--revision", {"help": "hub revision of the model"}),
                     ("--precisions", {"help": "comma list, options as name:key=value (e.g. gptq-int4,gguf-q4_k_m)"}),
                     ("--device", {"choices": ["auto", "cpu", "cuda"], "help": "where GPTQ quantizes"}),
                     ("--cache-dir", {"help": "artifact cache (default ~/.cache/qlongbench or $QLONGBENCH_CACHE)"})):
        p.add_argument(flag, **kw)
    p.add_argument("--trust-remote-code", action="store_const", const=True, help="allow the model's own code")
    p.add_argument("--allow-pickle", action="store_const", const=True, help="allow non-safetensors weights")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("harness-path", parents=[common], help="print the lm-eval --include_path of the qlongbench tasks")
    p.set_defaults(func=cmd_harness_path)

    p = sub.add_parser("report", parents=[common], help="write summary.md and results.json for a run")
    p.add_argument("run_dir", help="a run directory made by `qlongbench run`")
    p.add_argument("--out", help="report directory (default reports/<run name>)")
    p.add_argument("--reference", help="reference precision (default the first of bf16, fp16, fp32)")
    p.add_argument("--min-reference", type=float, metavar="PTS",
                   help="a reference below this accuracy (points) cannot show a drop: not measured (default 10)")
    p.add_argument("--project-memory", metavar="CONFIG:LENGTH",
                   help="also project weights + KV memory onto a model's config (hub id or dir), e.g. "
                        "meta-llama/Llama-3.1-8B:128k (formula, labelled as such)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("tasks", parents=[common], help="list tasks, their options, languages and metric")
    p.set_defaults(func=cmd_tasks)
    p = sub.add_parser("precisions", parents=[common], help="list precision labels and their engines")
    p.set_defaults(func=cmd_precisions)
    return parser


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
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bitsandbytes", "transformers", "gptqmodel", "httpx", "urllib3", "datasets", "torchao", "torch"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.debug else logging.ERROR)
    if not args.debug:  # the CLI draws its own progress bar; the libraries' bars would interleave with it
        import os
        import warnings

        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TORCH_LOGS", "-torch")  # torch's own deprecation lines (e.g. _pytree at import)
        # Third-party deprecation notices (torch's _pytree, transformers' renames) are for their
        # developers, not for the user of a benchmark; --debug shows them.
        for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
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


if __name__ == "__main__":
    sys.exit(main())
