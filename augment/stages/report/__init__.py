"""report/: what the synthetic digits are worth: fidelity, Frechet distance, CAS, the gain table.

config.py    ReportConfig
evaluate.py  run(cfg): report.json, report.md
quality.py   label fidelity, confusion, feature statistics
plots.py     confusion.png, samples.png, gain.png
"""

from augment.stages import lazy_api
from augment.stages.report.config import FOLDER, ReportConfig

STAGE_API = ("run", "ReportResult")
__all__ = ["FOLDER", "ReportConfig", *STAGE_API]

__getattr__ = lazy_api(__name__, "evaluate", STAGE_API)
