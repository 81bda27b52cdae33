"""User-facing errors. Each carries the process exit code the CLI returns for it.

Exit codes (documented in the README):
    0  success
    1  a quality gate failed (reserved for ``--fail-under`` / ``--expect-best``)
    2  usage or configuration error
    3  input error: missing folder, no readable image
    4  weights unavailable (offline ImageNet download, bad weights file)
    5  output folder could not be written
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
