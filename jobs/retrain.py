"""Ray Jobs entry point: the same options as `augment retrain`, e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/retrain.py --data s3://bucket/merged --out s3://bucket/classifier --workers 4 --gpu
"""

from _cli import command

command("retrain")
