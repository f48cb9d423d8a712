"""report/: what the synthetic digits are worth: fidelity, Frechet distance, CAS, the gain table.

config.py    ReportConfig
evaluate.py  run(cfg): report.json, report.md
quality.py   label fidelity, confusion, feature statistics
plots.py     confusion.png, samples.png, gain.png
"""
