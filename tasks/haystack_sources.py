"""Where filler sentences come from: the language's own generator (default), a local text file, or a
`datasets` corpus, the last two split into sentences (task option haystack=file:<path> | hf:<dataset>)."""

from __future__ import annotations

import hashlib
import logging
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from qlongbench.errors import UserError
from qlongbench.files import read_utf8
from qlongbench.tasks.base import TaskOptions
from qlongbench.tasks.languages import Language

log = logging.getLogger(__name__)


_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?\u2026\u0964\u0965\u061f\u06d4])[\"'\u201d\u2019\u00bb)\]]*\s+"  # Latin, Devanagari, Arabic + space
    r"|(?<=[\u3002\uff01\uff1f\uff0e])[\u300d\u300f\uff09]*"  # CJK full stops, no space needed
)


def split_sentences(text: str) -> list[str]:
    """Sentences of a running text: lines are paragraphs, sentences end at . ! ? … । ؟ 。！？;
    whitespace inside a sentence is collapsed to single spaces."""
    out: list[str] = []
    for paragraph in text.splitlines():
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        start = 0
        for m in _SENTENCE_BREAK.finditer(paragraph):
            piece = paragraph[start:m.end()].strip()
            if piece:
                out.append(piece)
            start = m.end()
        rest = paragraph[start:].strip()
        if rest:
            out.append(rest)
    return out


class HaystackSource(ABC):
    """An endless, seed-reproducible stream of haystack sentences in one language."""

    spec: str
    """How the user named it (filler, file:..., hf:...)."""

    @abstractmethod
    def stream(self, rng: random.Random) -> Iterator[str]:
        """Sentences in order; the same rng state gives the same stream."""

    def describe(self) -> dict[str, Any]:
        """What to record in each sample's metadata so the haystack can be traced."""
        return {"haystack": self.spec}


@dataclass(frozen=True)
class FillerSource(HaystackSource):
    """The language module's filler generator (varied natural sentences written by the project)."""

    language: Language
    """Language whose filler() is called."""
    spec: str = "filler"

    def stream(self, rng: random.Random) -> Iterator[str]:
        return self.language.filler_sentences(rng)


@dataclass(frozen=True)
class TextSource(HaystackSource):
    """Sentences of a real text, read from a seeded start and wrapping around at the end."""

    spec: str
    """file:<path> or hf:<dataset>[:<config>]."""
    sentences: tuple[str, ...]
    """The text split into sentences, in reading order."""
    sha256: str
    """Hash of the sentences (identifies the exact text used)."""

    def stream(self, rng: random.Random) -> Iterator[str]:
        n = len(self.sentences)
        i = rng.randrange(n)
        while True:
            yield self.sentences[i]
            i = (i + 1) % n

    def describe(self) -> dict[str, Any]:
        return {"haystack": self.spec, "haystack_sha256": self.sha256, "haystack_sentences": len(self.sentences)}


def _text_source(spec: str, texts: Iterable[str]) -> TextSource:
    sentences = tuple(s for t in texts for s in split_sentences(t))
    if not sentences:
        raise UserError(f"haystack {spec} holds no text; give a file or dataset with sentences in it")
    digest = hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()
    return TextSource(spec=spec, sentences=sentences, sha256=digest)


@lru_cache(maxsize=8)
def load_text_file(path: str) -> TextSource:
    """A local UTF-8 text file as a haystack."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"haystack=file:{path}: no such file; give the path of a UTF-8 text file")
    return _text_source(f"file:{path}", [read_utf8(p, f"haystack=file:{path}")])


@dataclass(frozen=True)
class Rows:
    """Rows of a dataset, and where each one came from."""

    items: list[dict[str, Any]]
    """The rows, in order."""
    places: list[str]
    """FILE:LINE of each row of a local JSONL file, `FILE row N` of another local file or directory,
    `row N` of a hub dataset."""
    local: bool
    """Read from a file or directory the user gave (JSONL, JSON, CSV, Parquet ...): a row of the wrong
    shape or without a value the task needs is refused (naming its row), never skipped as a hub
    dataset's odd row is."""

    def __len__(self) -> int:
        return len(self.items)


def read_jsonl_rows(path: Path, limit: int, what: str) -> Rows:
    """The first `limit` rows of a local JSONL file, each one JSON object (one line each)."""
    import json

    text = read_utf8(path, what)
    items, places = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{what}: {path}:{n}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(row, dict):
            raise UserError(f"{what}: {path}:{n}: a row must be a JSON object of column: value, not "
                            f"{type(row).__name__}")
        items.append(row)
        places.append(f"{path}:{n}")
        if len(items) >= limit:
            break
    if not items:
        raise UserError(f"{what}: {path} has no rows")
    return Rows(items, places, local=True)


def load_dataset_rows(dataset: str, config: str | None, split: str, limit: int, what: str) -> Rows:
    """The first `limit` rows of a local JSONL file (read here, line by line), or of a `datasets`
    dataset (hub id or local directory/file), streamed so that a huge corpus (Wikipedia) is not
    downloaded whole. One-line UserError when it cannot load."""
    p = Path(dataset).expanduser()
    if p.is_file() and p.suffix == ".jsonl":
        return read_jsonl_rows(p, limit, what)
    try:
        import datasets
    except ImportError:
        raise UserError(f"{what} needs the `datasets` library: pip install 'qlongbench[data]'") from None
    kwargs: dict[str, Any] = {"split": split, "streaming": True}
    try:
        if p.is_file():
            formats = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
            fmt = formats.get(p.suffix)
            if fmt is None:
                raise UserError(f"{what}: cannot tell the format of {dataset}; "
                                "use .jsonl, .json, .csv, .parquet or .txt")
            ds = datasets.load_dataset(fmt, data_files={split: str(p)}, **kwargs)
        else:
            ds = datasets.load_dataset(str(p) if p.is_dir() else dataset, config, **kwargs)
        rows = []
        for row in ds:
            rows.append(dict(row))
            if len(rows) >= limit:
                break
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - datasets raises many types; the user needs one line
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{what}: cannot load dataset {dataset}{':' + config if config else ''} (split {split}): "
                        f"{first}. Without a network, point it at a local file or directory") from None
    if not rows:
        raise UserError(f"{what}: dataset {dataset} split {split} has no rows")
    if p.exists():  # the user's own file or directory, read through datasets
        return Rows(rows, [f"{dataset} row {i + 1}" for i in range(len(rows))], local=True)
    return Rows(rows, [f"row {i}" for i in range(len(rows))], local=False)


@lru_cache(maxsize=8)
def load_hf_text(dataset: str, config: str | None, split: str, field: str, max_docs: int) -> TextSource:
    """The `field` of the first max_docs rows of a dataset as a haystack."""
    spec = f"hf:{dataset}{':' + config if config else ''}"
    rows = load_dataset_rows(dataset, config, split, max_docs, f"haystack={spec}")
    if field not in rows.items[0]:
        raise UserError(f"haystack={spec} has no column {field!r} (columns: {', '.join(rows.items[0])}); "
                        "set haystack_field=<column>")
    for row, place in zip(rows.items, rows.places):
        if rows.local and not isinstance(row.get(field), str):  # the user's rows: none skipped
            value = row.get(field)
            got = "missing" if field not in row else "null" if value is None else f"a {type(value).__name__}"
            raise UserError(f"haystack={spec}: {place}: {field} must be a string of text, not {got}; fix the "
                            "row or remove it")
    return _text_source(spec, [str(r[field]) for r in rows.items if r.get(field)])


def parse_dataset_spec(rest: str) -> tuple[str, str | None]:
    """'wikimedia/wikipedia:20231101.en' -> (dataset, config); a local path keeps its colons out."""
    if Path(rest).expanduser().exists():
        return rest, None
    name, _, config = rest.partition(":")
    return name, (config or None)


def haystack_source(spec: str, language: Language, *, split: str = "train", field: str = "text",
                    max_docs: int = 1000) -> HaystackSource:
    """The source a task option names: filler, file:<path> or hf:<dataset>[:<config>]."""
    if spec in ("", "filler"):
        return FillerSource(language)
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return load_text_file(rest)
    if kind == "hf" and rest:
        dataset, config = parse_dataset_spec(rest)
        return load_hf_text(dataset, config, split, field, max_docs)
    raise UserError(f"bad haystack {spec!r}: use filler, file:<path> or hf:<dataset>[:<config>]")


class HaystackOptions(TaskOptions):
    """Options of every task whose document is a haystack."""

    haystack: str = "filler"
    """filler (the language's generated sentences), file:<path> (a UTF-8 text) or hf:<dataset>[:<config>]."""
    haystack_split: str = "train"
    """Dataset split for haystack=hf:..."""
    haystack_field: str = "text"
    """Text column for haystack=hf:..."""
    haystack_docs: int = Field(default=1000, ge=1)
    """Rows read from the dataset for haystack=hf:... (streamed)."""
    sentences_per_chunk: int = Field(default=256, ge=1)
    """Filler sentences taken at a time while the haystack grows."""

    def source(self, language: Language) -> HaystackSource:
        return haystack_source(self.haystack, language, split=self.haystack_split, field=self.haystack_field,
                               max_docs=self.haystack_docs)
