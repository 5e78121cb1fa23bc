"""Loaded by lm-eval by file path from the task YAMLs beside it (`!function utils.build_dataset`).

The code lives in the package module qlongbench.harness.plugin: a module loaded by path is not a
package module, so it only re-exports.
"""

from qlongbench.harness.plugin import build_dataset, process_results

__all__ = ["build_dataset", "process_results"]
