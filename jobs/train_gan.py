"""Ray Jobs entry point: the same options as `augment train`, e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/train_gan.py --out s3://bucket/runs/gan --epochs 20 --workers 4 --gpu
"""

from _cli import command

command("train")
