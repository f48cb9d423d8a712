"""Ray Jobs entry point: the same options as `augment generate`, e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/generate.py --checkpoint s3://bucket/runs/gan --n 10000000 --out s3://bucket/synthetic --gpu
"""

from _cli import command

command("generate")
