"""``python -m bbselect`` = the ``bbselect`` command."""

from .cli import main

main(prog_name="bbselect")
