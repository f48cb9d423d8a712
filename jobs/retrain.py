"""Ray Jobs entry point: the same options as `augment retrain`, e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/retrain.py --data s3://bucket/merged --out s3://bucket/classifier --workers 4 --gpu
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir, when not pip-installed

from augment.cli import main  # noqa: E402

main(["retrain", *sys.argv[1:]])
