"""Ray Jobs entry point: the same options as `augment train`, e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/train_gan.py --out s3://bucket/runs/gan --epochs 20 --workers 4 --gpu
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir, when not pip-installed

from augment.cli import main  # noqa: E402

main(["train", *sys.argv[1:]])
