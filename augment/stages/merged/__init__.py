"""merged/: the real train split plus synthetic rows, one Parquet dataset (the test split never enters).

config.py  MergedConfig
merge.py   run(cfg)
"""
