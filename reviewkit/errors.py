"""Errors that end a run with a one-line message and exit status 2."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class ReviewkitError(Exception):
    """A user-facing error: the message names the input and fits on one line."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class InputError(ReviewkitError):
    """The input cannot be read or holds no reviewable patch."""
