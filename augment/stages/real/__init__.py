"""real/: a real dataset's train and test splits (MNIST family) as schema-v2 Parquet.

config.py  RealConfig (what to export)
export.py  run(cfg): torchvision's files -> train/part-00000.parquet, test/part-00000.parquet
"""
