"""Dataset: rows per class and source, confidence histogram, mean image, random samples per class, and
the folder's dataset card."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from augment.app import dataset_stats
from augment.app.digits import enlarged
from augment.app.locate import RunLayout

OTHER = "another folder…"


def files_signature(uri: str) -> tuple:
    """Paths, sizes and modification times: a rewritten dataset gets fresh figures."""
    fs, paths = dataset_stats.parquet_files(uri)
    return tuple((i.path, i.size, i.mtime_ns) for i in fs.get_file_info(paths))


@st.cache_data(max_entries=8, show_spinner="Scanning the Parquet files…")
def summary(uri: str, signature: tuple) -> dataset_stats.DatasetSummary:
    return dataset_stats.summarize(uri)


@st.cache_data(max_entries=8, show_spinner="Reading random rows…")
def samples(uri: str, signature: tuple, per_class: int, seed: int) -> dict:
    return dataset_stats.random_samples(uri, per_class, seed)


def choose_dataset(layout: RunLayout) -> str | None:
    options = [*layout.datasets, OTHER]
    choice = st.selectbox(
        "Dataset", options, format_func=lambda name: name if name == OTHER else f"{name}: {layout.datasets[name]}"
    )
    if choice != OTHER:
        return layout.datasets[choice]
    typed = st.text_input("Parquet folder or URI", placeholder="OUT of augment generate / merge / data export").strip()
    return typed or None


def render(layout: RunLayout) -> None:
    st.header("Dataset")
    uri = choose_dataset(layout)
    if uri is None:
        st.info(
            "No dataset here yet: `augment generate`, `augment merge` or `augment data export` write one; "
            "choose it above or start `augment app --run` on an `augment run` folder."
        )
        return
    signature = files_signature(uri)
    found = summary(uri, signature)
    rows, files, synthetic = st.columns(3)
    rows.metric("Rows", f"{found.rows:,}")
    files.metric("Files", found.files)
    synthetic.metric("Synthetic share", f"{sum(found.rows_by_source.get('synthetic', [])) / max(found.rows, 1):.1%}")

    counts, confidence = st.columns(2)
    with counts:
        st.subheader("Rows per class and source")
        table = pd.DataFrame(found.rows_by_source, index=pd.Index(range(10), name="label"))
        st.bar_chart(table)
        st.dataframe(table.T)
    with confidence:
        st.subheader("Judge confidence (synthetic rows)")
        if found.confidence_counts.sum() == 0:
            st.info("No confidence values: real rows carry none.")
        else:
            edges = found.confidence_edges
            bins = pd.Index([f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:])], name="confidence")
            st.bar_chart(pd.DataFrame({"rows": found.confidence_counts}, index=bins))

    st.subheader("Mean image per class")
    present = [c for c in range(10) if not np.isnan(found.mean_images[c]).any()]
    means = [enlarged(np.round(found.mean_images[c]).astype(np.uint8)) for c in present]
    st.image(means, caption=[str(c) for c in present], width=84, output_format="PNG")

    st.subheader("Random samples per class")
    per_class_column, seed_column = st.columns(2)
    per_class = int(per_class_column.number_input("Per class", min_value=1, max_value=50, value=8))
    seed = int(seed_column.number_input("Sample seed", min_value=0, max_value=2**31 - 1, value=0))
    for label, (images, scores) in samples(uri, signature, per_class, seed).items():
        captions = [f"{label}" if np.isnan(p) else f"{label} · {p:.2f}" for p in scores]
        st.image(list(enlarged(images)), caption=captions, width=84, output_format="PNG")

    body = dataset_stats.card_body(uri)
    st.subheader("Dataset card")
    if body is None:
        st.info("This folder has no README.md dataset card (written by augment since schema version 2).")
    else:
        with st.expander("README.md: what the rows are, how they were made, how to load them", expanded=False):
            st.markdown(body)
