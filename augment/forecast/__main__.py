"""`python -m augment.forecast [gpu]`: this machine's speed as JSON (how measure_apart's child reports)."""

import json
import sys
from dataclasses import asdict

from augment.forecast.machine_speed import measure

print(json.dumps(asdict(measure(len(sys.argv) > 1 and sys.argv[1] == "True"))))
