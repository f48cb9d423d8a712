"""Ray Jobs entry point: the same options as `augment generate`, e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/generate.py --checkpoint s3://bucket/runs/gan --n 10000000 --out s3://bucket/synthetic --gpu
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir, when not pip-installed

from augment.cli import main  # noqa: E402

main(["generate", *sys.argv[1:]])
