"""One package per stage, named after the folder it writes, in pipeline order.

Each holds `config.py` (its `<Stage>Config`: the one declaration of its options) and the module with
`run(cfg)` and its `<Stage>Result` (with `skipped` and a one-line `summary`): real/export.py,
gan/train.py, judge/train.py, synthetic/generate.py, merged/merge.py, classifier/train.py (one run)
and classifier/runs.py (the report's runs), report/evaluate.py. The packages import nothing on
their own, so the CLI reads a config without torch or Ray; callers import `run` from its module.
"""
