"""synthetic/: N labeled, judged synthetic digits as Parquet parts, made by Ray Data actors.

config.py       SyntheticConfig
generate.py     run(cfg): plan parts, keep finished ones, run the rest on an actor pool
parts.py        how N rows split into parts (part i: rows [start, stop))
sampling.py     row i's label and latent, from (seed, i) only
synthesis.py    PartMaker: one part, generator + judge, written whole
model_check.py  refuse a generator and judge that disagree before any actor starts
"""
