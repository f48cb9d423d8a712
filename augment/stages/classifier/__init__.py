"""classifier/: digit classifiers trained on Ray Train, their rows streamed through Ray Data.

config.py           ClassifierConfig
train.py            run(cfg); run_many(cfgs): several runs in one worker group; unless_current(cfg)
rows.py             the rows a run trains on: selection counted on the driver, the Ray Data read (no torch)
plan.py             the classifiers the report needs (CAS, gain-table variants)
classic_augment.py  affine + elastic distortions for whole batches, each row keyed: the classic baseline
"""
