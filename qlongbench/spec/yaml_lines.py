"""YAML files (run configs, the default suite, check policies) read with the line of every key, so
a bad value is named as `FILE:LINE: FIELD: what is allowed`.

The file is parsed twice from the same text: `yaml.safe_load` builds the values, `yaml.compose`
the node tree whose marks give each key's line (a list item's line for an index). A pydantic error's
location (`rules.0.max_drop`) is looked up from its longest prefix that the file holds, so an error
a validator raises inside a value still names the line of the value's key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlongbench.errors import UserError, validation_problem
from qlongbench.files import utf8_error_line

MAX_NODES = 100_000
"""Keys and items looked at per file: aliases may nest (a billion laughs); past this, lines are
looked up only for what was seen."""


@dataclass(frozen=True)
class Origin:
    """A YAML file and the line of each of its keys (key paths as strings: `("rules", "0", "max_drop")`)."""

    what: str
    """config file, policy file ..."""
    path: str
    """The file as given."""
    lines: Mapping[tuple[str, ...], int] = field(default_factory=dict)
    """1-based line of each key path."""

    def line_of(self, loc: Sequence[Any]) -> int | None:
        """The line of the longest prefix of a pydantic error location that the file holds."""
        parts = tuple(str(p) for p in loc)
        for n in range(len(parts), 0, -1):
            if parts[:n] in self.lines:
                return self.lines[parts[:n]]
        return None


class YamlData(dict):  # type: ignore[type-arg]
    """A YAML file's top-level mapping, knowing where each of its keys is."""

    origin: Origin | None = None


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line of every key (and list item) of a YAML text, by path."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())] if root is not None else []
    while stack and len(out) < MAX_NODES:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            children = [(str(k.value), k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        elif isinstance(node, yaml.SequenceNode):
            children = [(str(i), v, v) for i, v in enumerate(node.value)]
        else:
            continue
        for key, mark_node, value in children:
            sub = (*path, key)
            if sub not in out:
                out[sub] = mark_node.start_mark.line + 1
                stack.append((value, sub))
    return out


def load_yaml(path: str | Path, what: str = "config file") -> YamlData:
    """The mapping a YAML file holds ({} when empty), with its Origin; one UserError line when the
    file is missing, not UTF-8, not YAML or not a mapping."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} {p} is a directory; give the YAML file itself")
    if not p.is_file():
        raise UserError(f"{what} {p} does not exist")
    try:
        raw = p.read_bytes()
        text = raw.decode("utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError as err:
        raise UserError(f"{what} {p}:{utf8_error_line(raw, err)}: not UTF-8 text (byte {err.start}); save it as "
                        "UTF-8") from None
    except OSError as err:
        raise UserError(f"cannot read {what} {p}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{what} {p} is not valid YAML{where}: {problem}") from None
    if data is not None and not isinstance(data, dict):
        raise UserError(f"{what} {p} must hold a mapping of option: value, not {type(data).__name__}")
    out = YamlData(data or {})
    out.origin = Origin(what, str(path), key_lines(text))
    return out


def located_problem(err: Exception, source: str, origins: Mapping[str, Origin | None] | None = None) -> str:
    """'SOURCE: FIELD: MESSAGE' for a pydantic ValidationError, SOURCE made `FILE:LINE` when the
    offending field came from a YAML file that holds it (`origins`: top-level field -> its file)."""
    loc = err.errors()[0]["loc"]  # type: ignore[attr-defined]
    origin = (origins or {}).get(str(loc[0])) if loc else None
    line = origin.line_of(loc) if origin is not None else None
    where = f"{origin.path}:{line}" if origin is not None and line is not None else source
    return f"{where}: {validation_problem(err)}"


def origins_of(data: Mapping[str, Any]) -> dict[str, Origin | None]:
    """Top-level key -> the file it came from (None when data did not come from a file)."""
    origin = data.origin if isinstance(data, YamlData) else None
    return {str(k): origin for k in data}
