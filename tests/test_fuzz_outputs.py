"""Fuzzing what the report and the gate write (Hypothesis): model outputs, task labels, precision
labels, run names and the model's origin holding HTML, math (`$`), Markdown table syntax (`|`, line breaks,
backticks, links, images, emphasis) and XML-special or XML-illegal characters must come out inert —
shown as exactly that text — in index.html, summary.md, the `--markdown` pull-request summary and
the JUnit XML (which must still parse). Markdown is rendered with markdown-it (CommonMark with GFM
tables and strike-through, and any `$` outside a code span refused, as GitHub would start math there)
and every page parsed back: no element, attribute or link comes from
the data, every table row keeps its columns, and the text reads back as it was written.

Budget: QLONGBENCH_FUZZ_EXAMPLES scales the example counts (percent; 100 = CI), e.g.

    QLONGBENCH_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_outputs.py

Derandomized; no example database is kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz_helpers import fuzz_settings, make_run
from tests.reliability_helpers import cli
from tests.test_fuzz_cli import fresh_dir

NASTY = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
         "![p](http://e.example/p.png)", "a|b||c", "line\nbreak", "cr\rlf\r\n", "`code`", "``", "**bold** _em_",
         "~~gone~~", "]]>", "&amp; &lt;b&gt; &#124;", "\\|", "\\", "<!-- x -->", "\"'", "# head", "> quote",
         "<https://e.example>", "\x1b[31mred", "nul\x00", "\x0b\x0c", "\u2028sep", "é_é q4_k_m __x__", "$x$"]
PAYLOAD = st.one_of(st.sampled_from(NASTY), st.text(alphabet=st.sampled_from(list("<>&\"'|`*_[]()!#\\~\n\r $ab")),
                                                    min_size=1, max_size=14),
                    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8))

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "nav", "main", "section", "footer", "div",
                "span", "h1", "h2", "h3", "h4", "p", "a", "table", "thead", "tbody", "tr", "th", "td", "ul", "ol", "li",
                "strong", "em", "code", "pre", "details", "summary", "figure", "figcaption", "img", "small", "br", "hr",
                "blockquote", "dl", "dt", "dd", "abbr", "sup", "sub", "caption", "colgroup", "col", "b", "i", "mark"}


class Page(HTMLParser):
    """The elements, attributes and text of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def words(text: str) -> str:
    """Text as a reader sees it: NUL shown as U+FFFD, every run of white space one space."""
    return " ".join(text.replace("\x00", "\ufffd").split())


def assert_inert_html(html: str, payloads: list[str], *, markdown: bool = False) -> None:
    page = parse(html)
    for tag, attrs in page.tags:
        assert tag in ALLOWED_TAGS, tag
        assert not any(k.startswith("on") for k in attrs), attrs
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#"), attrs  # only the page's own anchors
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,"), attrs
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed", "form", "input")]
    text = words("".join(page.text))
    for p in payloads:
        if words(p):
            assert words(p) in text, (p, text[:400])


def _dollar(state, silent) -> bool:
    """GitHub reads `$…$` and `$$…$$` as math: an unescaped `$` outside a code span becomes a
    `dollar` token here (stricter than GitHub, which needs a closing one: the report writes no math)."""
    if state.src[state.pos] != "$":
        return False
    if not silent:
        state.push("dollar", "", 0).content = "$"
    state.pos += 1
    return True


def markdown_html(md: str) -> tuple[str, list[list[int]]]:
    """summary.md rendered as GitHub would (tables, strike-through, `$` math), and the cell count of
    every row of every table."""
    from markdown_it import MarkdownIt

    engine = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    engine.inline.ruler.before("backticks", "dollar", _dollar)
    engine.add_render_rule("dollar", lambda *a: "$")
    tokens = engine.parse(md)
    tables, row, cells = [], None, 0
    for t in tokens:
        math = [c for c in t.children or () if c.type == "dollar"]
        assert not math, f"a `$` would start math on GitHub: {t.content[:200]!r}"
        if t.type == "table_open":
            tables.append([])
        elif t.type == "tr_open":
            cells = 0
        elif t.type in ("td_open", "th_open"):
            cells += 1
        elif t.type == "tr_close":
            tables[-1].append(cells)
    return engine.render(md), tables


def assert_inert_markdown(md: str, payloads: list[str]) -> None:
    html, tables = markdown_html(md)
    assert_inert_html(html, payloads, markdown=True)
    for rows in tables:
        assert len(set(rows)) == 1, rows  # a `|` from the data never adds a cell


@st.composite
def evil_run(draw):
    return {"output": draw(PAYLOAD), "task_option": draw(PAYLOAD), "name": draw(PAYLOAD), "origin": draw(PAYLOAD),
            "model": draw(PAYLOAD), "precision": draw(st.one_of(st.just("bnb-nf4"), PAYLOAD.map(lambda p: "q" + p)))}


def build_evil(root, evil):
    task = f"niah-single:haystack={evil['task_option']}"
    precisions = ("bf16", evil["precision"].strip() or "bnb-nf4")
    if precisions[1] == "bf16":
        precisions = ("bf16", "bnb-nf4")
    run = make_run(root / "run", name=evil["name"].strip() or "x", task=task, precisions=precisions, n=4,
                   outputs={(precisions[1], 0): evil["output"]}, origin=evil["origin"], model=evil["model"])
    return run, task, precisions


@fuzz_settings(100)
@given(evil=evil_run())
def test_report_pages_show_hostile_text_as_text(tmp_path, evil):
    """summary.md and index.html (charts left out: they are images) of a run whose outputs, labels,
    name and model hold hostile text."""
    from qlongbench.analysis.build import build
    from qlongbench.render import html
    from qlongbench.render.markdown import summary_markdown

    case = fresh_dir(tmp_path)
    run, task, (_, cand) = build_evil(case, evil)
    data = build(run)
    name = evil["name"].strip() or "x"
    assert data.examples and data.examples[0].output == evil["output"]  # the lost answer is shown
    assert_inert_markdown(summary_markdown(data), [task, cand, f"{name}-20260101T000000Z", evil["origin"],
                                                   evil["output"]])
    assert_inert_html(html.render(data, []), [task, cand, name, evil["origin"], evil["model"],
                                             evil["output"][:300]])


@fuzz_settings(60)
@given(evil=evil_run())
def test_gate_outputs_show_hostile_text_as_text(capsys, tmp_path, evil):
    """`check --markdown` (a pull-request comment) and `--junit` (parsed with xml.etree): the
    candidate, the task and the run id come out as text; the XML parses whatever they hold."""
    case = fresh_dir(tmp_path)
    run, task, (_, cand) = build_evil(case, evil)
    md, junit = case / "pr.md", case / "junit.xml"
    rc, _, err = cli(capsys, ["check", run, "-q", "--max-drop", "50", "--min-samples", "1", "--markdown", md,
                              "--junit", junit])
    assert rc in (0, 1), err
    name = evil["name"].strip() or "x"
    pr = md.read_text(encoding="utf-8")
    assert "Answers lost" in pr  # 1 answer lost of 4 never passes a 50-point tolerance: the output is shown
    assert_inert_markdown(pr, [task, cand, f"{name}-20260101T000000Z", evil["output"]])
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert cases and all(c.get("classname", "").startswith("qlongbench.") for c in cases)
    legal = "".join(c if c in "\t\n\r" or (" " <= c and not 0xD800 <= ord(c) <= 0xDFFF and c not in "\ufffe\uffff")
                    else "\ufffd" for c in cand)
    assert any(c.get("classname") == f"qlongbench.{legal}.{_legal(task)}" for c in cases), [c.attrib for c in cases]


def _legal(text: str) -> str:
    return "".join(c if c in "\t\n\r" or (" " <= c and c not in "\ufffe\uffff") else "\ufffd" for c in text)


@fuzz_settings(4)
@given(evil=evil_run())
def test_the_whole_report_command_on_hostile_text(capsys, tmp_path, evil):
    """`qlongbench report` end to end (charts drawn: matplotlib's mathtext stays off, so a `$` in a
    label is a dollar sign, not a crash)."""
    case = fresh_dir(tmp_path)
    run, task, (_, cand) = build_evil(case, evil)
    out = case / "report"
    rc, _, err = cli(capsys, ["report", run, "--out", out, "-q"])
    assert rc == 0, err
    assert_inert_html((out / "index.html").read_text(encoding="utf-8"), [task, cand, evil["output"]])
    assert_inert_markdown((out / "summary.md").read_text(encoding="utf-8"), [task, cand, evil["output"]])
