"""The subcommands: each reads its parsed arguments, calls the library, and prints what the user reads
(the library only logs). A UserError raised anywhere below is the one line main() prints, exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from qlongbench.errors import UserError
from qlongbench.spec.policy import Policy


def cmd_run(args: argparse.Namespace) -> int:
    from qlongbench.cli import spec_from_args
    from qlongbench.cli.feedback import Feedback
    from qlongbench.render.write import write
    from qlongbench.run.runner import Runner

    spec = spec_from_args(args)
    policy = _policy_from_args(args, args.check) if args.check else None  # a bad policy fails before the run
    if not args.check and (args.junit or args.markdown or args.strict):
        raise UserError("--junit, --markdown and --strict go with --check POLICY")
    with Feedback(sys.stderr.isatty(), args.quiet) as feedback:
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


def _policy_from_args(args: argparse.Namespace, path: str | None) -> Policy:
    """The policy file with the gate's flags on top (`run --check` has only some of `check`'s flags)."""
    from qlongbench.spec.policy import alpha_to_confidence, load_policy, split_list

    given = vars(args)
    alpha = given.get("alpha")
    return load_policy(path, {
        "reference": given.get("reference"), "candidates": split_list(given.get("candidate")),
        "max_drop": given.get("max_drop"), "max_relative_drop": given.get("max_relative_drop"),
        "min_samples": given.get("min_samples"), "lengths": split_list(given.get("at_length")),
        "confidence": alpha_to_confidence(alpha) if alpha is not None else None,
        "strict": True if args.strict else None,
        "allow_no_pass": True if given.get("allow_no_pass") else None,
        "min_reference_accuracy": given.get("min_reference"),
    })


def _gate(run_dir: str | Path, policy: Policy, args: argparse.Namespace) -> int:
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


def _in_progress(run_dir: str) -> Callable[[str], None] | None:
    """What to say after reading a run directory that a run is writing (its lock is held): None
    when no run is, else a function printing the one note line."""
    from qlongbench.run.store import run_in_progress

    holder = run_in_progress(run_dir)
    if not holder:
        return None
    return lambda what: print(f"qlongbench: note: a run is still writing {run_dir} ({holder}); this {what} read "
                              "the whole records written so far", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    note = _in_progress(args.run_dir)
    code = _gate(args.run_dir, _policy_from_args(args, args.policy), args)
    if note:
        note("check")
    return code


def cmd_quantize(args: argparse.Namespace) -> int:
    from qlongbench.cli import spec_from_args
    from qlongbench.run.quantize import format_results, quantize

    if not args.precisions and not args.config:
        raise UserError("qlongbench quantize needs --precisions, e.g. --precisions gptq-int4,gguf-q4_k_m")
    for line in format_results(quantize(spec_from_args(args))):
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
    from qlongbench.cli.listing import task_listing

    print("\n".join(task_listing()))
    return 0


def cmd_precisions(args: argparse.Namespace) -> int:
    from qlongbench.cli.listing import precision_listing

    print("\n".join(precision_listing()))
    return 0
