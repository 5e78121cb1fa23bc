"""Errors the CLI turns into one line and exit code 2."""


class UserError(Exception):
    """Bad input from the user: one line saying what is wrong and how to fix it."""


class InvalidValue(UserError, ValueError):
    """A bad value found while a typed model validates it: a ValueError, so pydantic names the field
    it was found in (and outside a model it is the one-line UserError)."""


class EngineUnavailable(UserError):
    """An engine's optional dependency is not installed."""


class OverlengthError(Exception):
    """The fixed parts of a prompt alone exceed the target length."""


def validation_problem(err: Exception) -> str:
    """'FIELD: MESSAGE' for the first problem of a pydantic ValidationError (with how many more), the
    field as a dotted path: the one way every file's and option's bad value is named."""
    problems = err.errors()  # type: ignore[attr-defined]
    first = problems[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {msg}{more}"


_LINE_BREAKS = {c: repr(c)[1:-1] for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """The text on one line: a line break inside it (from a path, a label, a file's value) is
    written as its escape (\\n), so an error is always exactly one line."""
    return "".join(_LINE_BREAKS.get(c, c) for c in text)
