"""What every stage shares: storage and paths, the Parquet schema and manifests, errors, the Ray
session, the console and progress, MNIST's raw files and the Ray Train glue."""
