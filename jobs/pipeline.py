"""Ray Jobs entry point: the same options as `augment run` (the whole pipeline), e.g.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/pipeline.py --out s3://bucket/augment --n 10000000 --gpu
"""

from _cli import command

command("run")
