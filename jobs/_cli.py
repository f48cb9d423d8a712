"""What every jobs/*.py runs: the `augment` CLI, imported from the uploaded working directory when
augment is not pip-installed on the cluster."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.cli import main  # noqa: E402


def command(name: str) -> None:
    """`augment NAME` with this job's own options."""
    main([name, *sys.argv[1:]])
