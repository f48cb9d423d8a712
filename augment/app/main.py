"""The Streamlit script behind `augment app` (run as `streamlit run augment/app/main.py`).

The sidebar picks the run folder and the page; every page renders behind one boundary that turns
any failure into a one-line message on the page instead of a traceback.
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from augment.app import page_dataset, page_generate, page_report, page_training
from augment.app.locate import RunLayout, locate
from augment.app.main_path import RUN_ENV
from augment.core.errors import AugmentError

PAGES = {
    "Generate": page_generate.render,
    "Training": page_training.render,
    "Dataset": page_dataset.render,
    "Report": page_report.render,
}
log = logging.getLogger("augment.app")


def guarded(render, *args) -> None:
    try:
        render(*args)
    except AugmentError as exc:
        st.error(str(exc))
    except Exception as exc:  # a page must never show a traceback; the console log keeps it
        log.exception("page failed")
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


def sidebar() -> tuple[str, RunLayout]:
    st.sidebar.title("augment")
    run = st.sidebar.text_input(
        "Run folder",
        value=os.environ.get(RUN_ENV, ""),
        key="run",
        help="An `augment run` folder, a GAN run (`augment train --out`), or one output folder.",
    ).strip()
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    layout = RunLayout()
    try:
        layout = locate(run or None)
    except AugmentError as exc:
        st.sidebar.error(str(exc))
    found = {
        "generator": layout.gan,
        "judge": layout.judge,
        "report": layout.report,
        **{f"{name} dataset": uri for name, uri in layout.datasets.items()},
    }
    if run:
        st.sidebar.caption("\n".join(f"- {what}: `{uri}`" if uri else f"- {what}: none" for what, uri in found.items()))
    else:
        st.sidebar.caption("No run folder given: start with `augment app --run DIR` or type one above.")
    return page, layout


def main() -> None:
    st.set_page_config(page_title="augment", layout="wide")
    page, layout = sidebar()
    guarded(PAGES[page], layout)


main()
