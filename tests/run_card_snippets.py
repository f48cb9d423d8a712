"""Run dataset-card snippets exactly as written, each in a fresh namespace, saving what it loaded.

Usage: python run_card_snippets.py JOBS.json   (a list of {"reader", "code", "result"})
Each snippet must leave `images` and `labels`; they are saved to `result` (.npz) for the test.
"""

import json
import sys

import numpy as np

for job in json.load(open(sys.argv[1])):
    namespace = {"__name__": "__snippet__"}
    exec(compile(job["code"], f"<card snippet: {job['reader']}>", "exec"), namespace)
    np.savez(job["result"], images=np.asarray(namespace["images"]), labels=np.asarray(namespace["labels"]))
    print("ran", job["output"], job["reader"], flush=True)
