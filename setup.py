"""Build step: ship the sample images and the example configs inside the package.

``images/`` and ``configs/`` stay at the top of the repository (the project layout names them
there); building a wheel copies them to ``bbselect/_shipped/`` in the build folder, so an installed
bbselect finds them from any directory (``bbselect/config/shipped.py``). An editable install reads
them from the checkout instead. Everything else is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("images", "configs")


class BuildPyWithShipped(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        for name in SHIPPED:
            src, dest = root / name, Path(self.build_lib) / "bbselect" / "_shipped" / name
            if src.is_dir():
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(src, dest)


setup(cmdclass={"build_py": BuildPyWithShipped})
