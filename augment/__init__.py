"""augment: class-conditional GAN data augmentation on Ray, written to Parquet."""

__version__ = "0.1.0"
