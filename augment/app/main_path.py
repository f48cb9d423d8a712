"""Where the Streamlit script is and how it learns the run folder (importable without Streamlit)."""

from pathlib import Path

MAIN_SCRIPT = Path(__file__).with_name("main.py")
RUN_ENV = "AUGMENT_APP_RUN"
