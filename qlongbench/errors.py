"""Errors the CLI turns into one line and exit code 2."""


class UserError(Exception):
    """Bad input from the user: one line saying what is wrong and how to fix it."""


class EngineUnavailable(UserError):
    """An engine's optional dependency is not installed."""


class OverlengthError(Exception):
    """The fixed parts of a prompt alone exceed the target length."""
