"""lm-evaluation-harness plugin: qlongbench's tasks as lm-eval tasks (YAML files beside utils.py).

    lm_eval --model hf --model_args pretrained=M --tasks qlongbench_niah \
            --include_path $(qlongbench harness-path) --metadata '{"max_seq_lengths":[4096,8192]}'

Importing this package does not import lm_eval; utils.py does (it is only loaded by lm-eval).
"""

from __future__ import annotations

from pathlib import Path


def include_path() -> Path:
    """The directory to pass to lm-eval's --include_path."""
    return Path(__file__).resolve().parent
