"""Draw the house from the code: docs/architecture.dot (and .svg when Graphviz is here), as the test expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.unit.test_architecture import architecture_dot  # noqa: E402  (the one definition of the picture)


def main() -> None:
    dot = architecture_dot()
    (REPO / "docs" / "architecture.dot").write_text(dot)
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
        (REPO / "docs" / "architecture.svg").write_text(svg)
    print("wrote docs/architecture.dot" + (" and docs/architecture.svg" if shutil.which("dot") else ""))


if __name__ == "__main__":
    main()
