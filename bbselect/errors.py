"""User-facing errors. Each carries the process exit code the CLI returns for it.

Exit codes (documented in docs/ci.md, "Exit codes"):
    0  success
    1  a quality gate failed (reserved for ``--fail-under`` / ``--expect-best``)
    2  usage or configuration error
    3  input error: missing folder, no readable image
    4  weights unavailable (offline ImageNet download, bad weights file)
    5  output folder could not be written
   70  internal error (a bug): the traceback goes to RUN_DIR/crash.log, or a temp file
  130  interrupted (Ctrl-C or kill); finished images are kept for --resume
"""


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
EXIT_CODES_HELP = (
    "\b\nExit codes: 0 ok · 1 a quality gate failed · 2 usage or configuration error · 3 input error"
    "\n· 4 weights unavailable · 5 output not writable · 70 internal error (a bug; traceback in"
    "\nRUN_DIR/crash.log or a temp file, path printed) · 130 interrupted (continue with --resume)."
    "\nWith --format json every error is also printed as {\"status\": \"error\", \"exit_code\": N, ...}."
)


def mark_run_dir(err: BaseException, run_dir) -> None:
    """Remember the run folder an unexpected error happened in (the CLI writes crash.log there)."""
    if not isinstance(err, BBSelectError) and getattr(err, "run_dir", None) is None:
        try:
            err.run_dir = run_dir
        except AttributeError:  # an exception type without attributes: the log goes to a temp file
            pass
