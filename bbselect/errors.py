"""User-facing errors. Each carries the process exit code the CLI returns for it.

``EXIT_CODES`` is the one table of exit codes: ``--help`` (``EXIT_CODES_HELP``) and the table in
docs/ci.md ("Exit codes", ``exit_codes_markdown``; a test keeps the page equal to it) are made from it.
"""

# code, short meaning (--help), full meaning (docs/ci.md)
EXIT_CODES = (
    (0, "ok", "success"),
    (1, "a quality gate failed", "a quality gate failed (`--fail-under`, `--expect-best`)"),
    (2, "usage or configuration error",
     "usage or configuration error (unknown option value, a value out of its range, a gate naming an unknown "
     "metric or backbone, settings that need more memory than is available, `--resume` with other options)"),
    (3, "input error",
     "input error (missing folder, no readable image, a damaged maps file in a run folder given to `report`)"),
    (4, "weights unavailable", "weights unavailable (offline ImageNet download, missing or bad `--weights` file)"),
    (5, "output not writable", "output folder not writable (also a full disk)"),
    (70, "internal error (a bug; traceback in RUN_DIR/crash.log or a temp file, path printed)",
     "internal error — a bug: the traceback goes to `RUN_DIR/crash.log` (a temp file before a run folder "
     "exists) and its path is printed"),
    (130, "interrupted (continue with --resume)",
     "interrupted (Ctrl-C, `kill`): finished images are kept; continue with `--resume`"),
)


class BBSelectError(Exception):
    """An error the user can fix; shown without a traceback."""

    exit_code = 1


class UsageError(BBSelectError):
    exit_code = 2


class InputError(BBSelectError):
    exit_code = 3


class WeightsUnavailable(BBSelectError):
    exit_code = 4


class OutputError(BBSelectError):
    exit_code = 5


class Interrupted(BBSelectError):
    exit_code = 130


INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h): an unexpected exception, i.e. a bug


def _help_text() -> str:
    import textwrap

    line = "Exit codes: " + " · ".join(f"{code} {short}" for code, short, _ in EXIT_CODES) + "."
    return ("\b\n" + "\n".join(textwrap.wrap(line, 100)) +
            "\nWith --format json every error is also printed as {\"status\": \"error\", \"exit_code\": N, ...}.")


EXIT_CODES_HELP = _help_text()


def exit_codes_markdown() -> str:
    """The exit-code table of docs/ci.md."""
    return "| code | meaning |\n|---|---|\n" + "".join(f"| {code} | {full} |\n" for code, _, full in EXIT_CODES)


def mark_run_dir(err: BaseException, run_dir) -> None:
    """Remember the run folder an unexpected error happened in (the CLI writes crash.log there)."""
    if not isinstance(err, BBSelectError) and getattr(err, "run_dir", None) is None:
        try:
            err.run_dir = run_dir
        except AttributeError:  # an exception type without attributes: the log goes to a temp file
            pass
