"""report/: what the synthetic digits are worth: fidelity, Frechet distance, CAS, the gain table.

config.py    ReportConfig
evaluate.py  run(cfg): report.json, report.md
quality.py   label fidelity, confusion, feature statistics
plots.py     confusion.png, samples.png, gain.png
"""

from augment.stages.report.config import FOLDER, ReportConfig

STAGE_API = ("run", "ReportResult")
__all__ = ["FOLDER", "ReportConfig", *STAGE_API]


def __getattr__(name: str):
    # run() needs torch and Ray: imported when a stage really runs, not when a CLI reads defaults
    if name in STAGE_API:
        from augment.stages.report import evaluate

        return getattr(evaluate, name)
    raise AttributeError(name)
