"""Errors users see: each carries its exit code and renders as one line, no traceback."""

from __future__ import annotations

from pathlib import Path


class VoicegwError(Exception):
    exit_code = 1


class NotFoundError(VoicegwError):
    """A project, model or record that does not exist (exit 1)."""

    exit_code = 1


class CheckFailed(VoicegwError):
    """A check the user asked for failed: budget over, reconcile drift (exit 1)."""

    exit_code = 1


class UsageError(VoicegwError):
    """Bad option values or combinations (exit 2)."""

    exit_code = 2


class ConfigError(VoicegwError):
    """voicegw.yaml cannot be used; names the file, the key path and the problem (exit 3)."""

    exit_code = 3

    def __init__(self, file: str | Path | None, key_path: str, problem: str) -> None:
        self.file = str(file) if file is not None else "<config>"
        self.key_path = key_path
        self.problem = problem
        where = f"{self.file}: {key_path}" if key_path else self.file
        super().__init__(f"{where}: {problem}")


class InputError(VoicegwError):
    """An input file cannot be read; names the file and the row or field (exit 3)."""

    exit_code = 3

    def __init__(self, file: str | Path, where: str | int | None, problem: str) -> None:
        self.file = str(file)
        self.where = where
        self.problem = problem
        loc = f"{self.file}:{where}" if where not in (None, "") else self.file
        super().__init__(f"{loc}: {problem}")


class FetchError(VoicegwError):
    """A provider's admin API could not be read: the key was refused, the network failed,
    or the answer was not what the API documents (exit 3, like unreadable input)."""

    exit_code = 3


class StoreBusyError(VoicegwError):
    """Another voicegw process held the store longer than we were willing to wait."""

    exit_code = 4


_ADJECTIVE = {"day": "daily", "month": "monthly"}


class BudgetExceededError(VoicegwError):
    """A project with `budget_action: block` is over budget; new sessions are refused."""

    exit_code = 1

    def __init__(self, project: str, spent: object, budget: object, period: str = "day") -> None:
        self.project = project
        self.spent = spent
        self.budget = budget
        self.period = period
        super().__init__(
            f"project {project!r} is over its {_ADJECTIVE.get(period, period)} budget "
            f"(spent ${spent} of ${budget}); new sessions are blocked until the {period} resets"
        )


def error_code(exc: BaseException) -> str:
    """The error code of a library failure, the same in MCP tool results and the HTTP
    API's `{"error": {"code", ...}}` (the project and gateway errors carry their own)."""
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    if isinstance(exc, NotFoundError):
        return "NOT_FOUND"
    if isinstance(exc, UsageError):
        return "VALIDATION_ERROR"
    if isinstance(exc, StoreBusyError):
        return "STORE_BUSY"
    if isinstance(exc, InputError):
        return "INPUT_ERROR"
    if isinstance(exc, ConfigError):
        return "CONFIG_ERROR"
    return "ERROR"
