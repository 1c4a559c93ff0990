"""Ship the top-level targets/ folder inside the wheel as edgeq/targets (see DESIGN.md §3).

targets/ stays at the repository root so profiles are easy to review; a plain `pip install .` must still find
them, so build_py copies the folder into the package. Editable installs read the top-level folder directly.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTargets(build_py):
    def run(self):
        super().run()
        src = Path(__file__).parent / "targets"
        dst = Path(self.build_lib) / "edgeq" / "targets"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)


setup(cmdclass={"build_py": BuildWithTargets})
