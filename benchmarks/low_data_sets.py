"""Each low-data synthetic set measured by a full-data judge (the instrument, not part of the
experiment): label fidelity, and how near its digits sit to the 1,000 training images (median and
1st percentile L2 to the nearest one, pixels in [0, 1]) against real test digits.

    python benchmarks/low_data_sets.py WORK JUDGE

WORK: `low_data_variants.py --work` (its syn_* folders); JUDGE: a judge trained on all 60,000
images. MNIST comes from AUGMENT_DATA_ROOT.
"""

import glob
import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch

from augment.core import mnist
from augment.models.classifier_file import load_classifier
from augment.stages.report.quality import fidelity, predictions

WORK, JUDGE = sys.argv[1], sys.argv[2]
judge, _ = load_classifier(JUDGE)
train = mnist.load_split("mnist", "train", None, download=False)
test = mnist.load_split("mnist", "test", None, download=False)
rows = mnist.first_per_class(train.labels, 100)
ref = torch.from_numpy(train.images[rows].reshape(len(rows), -1).astype(np.float32) / 255)


def nearest(images: np.ndarray) -> tuple[float, float]:
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)
    d = torch.cdist(x, ref).min(dim=1).values.numpy()
    return round(float(np.median(d)), 2), round(float(np.percentile(d, 1)), 2)


print(json.dumps({"set": "real test digits", "nearest_median_p1": nearest(test.images[:2000])}))
for folder in sorted(glob.glob(WORK + "/syn_*")):
    table = pq.read_table(glob.glob(folder + "/train/*.parquet"), columns=["image", "label"])
    images = table["image"].combine_chunks().to_numpy_ndarray().reshape(-1, 28, 28).astype(np.uint8)
    labels = table["label"].to_numpy()
    with torch.inference_mode():
        predicted = predictions(judge, images)
    print(
        json.dumps(
            {
                "set": folder.split("/")[-1],
                "fidelity_full_judge": round(fidelity(predicted, labels)["overall"], 4),
                "nearest_median_p1": nearest(images[:2000]),
            }
        ),
        flush=True,
    )
