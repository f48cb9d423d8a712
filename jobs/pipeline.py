"""Ray Jobs entry point: the same options as `augment run` (the whole pipeline), e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/pipeline.py --out s3://bucket/augment --n 10000000 --gpu
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir, when not pip-installed

from augment.cli import main  # noqa: E402

main(["run", *sys.argv[1:]])
