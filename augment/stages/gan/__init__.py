"""gan/: a class-conditional GAN trained with Ray Train (DDP), its generator exported.

config.py     GanConfig
train.py      run(cfg): the driver side and the per-worker training loop
artifacts.py  samples/, metrics.csv and the progress GIF the run folder holds
"""
