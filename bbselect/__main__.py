"""``python -m bbselect`` = the ``bbselect`` command."""

from bbselect.cli import main

main(prog_name="bbselect")
