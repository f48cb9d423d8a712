"""Training: the per-epoch sample grids, the progress GIF and the curves from metrics.csv."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from augment.app.locate import RunLayout
from augment.core import storage
from augment.stages.gan import artifacts

GRID_NAME = re.compile(r"epoch_(\d+)\.png$")


def sample_grids(run: str) -> dict[int, str]:
    """epoch -> name of its grid under RUN, for the grids present in RUN/samples."""
    fs, folder = storage.resolve(storage.join(run, artifacts.SAMPLES_DIR))
    grids = {}
    for info in storage.entries(fs, folder):
        match = GRID_NAME.search(info.path)
        if match and info.type.name == "File":
            grids[int(match.group(1))] = f"{artifacts.SAMPLES_DIR}/{info.base_name}"
    return dict(sorted(grids.items()))


def render(layout: RunLayout) -> None:
    st.header("Training")
    if layout.gan is None:
        st.info("No GAN run here yet: `augment train --out RUN` writes sample grids, metrics.csv and progress.gif.")
        return
    grids = sample_grids(layout.gan)
    grid_column, gif_column = st.columns(2)
    with grid_column:
        st.subheader("Samples per epoch")
        if not grids:
            st.info("No sample grids in RUN/samples yet.")
        else:
            epochs = list(grids)
            epoch = epochs[0] if len(epochs) == 1 else st.select_slider("Epoch", options=epochs, value=epochs[-1])
            st.image(
                storage.read_optional(storage.join(layout.gan, grids[epoch])),
                caption=f"epoch {epoch}: row = class 0-9, same noise in every column and epoch",
                width="stretch",
            )
    with gif_column:
        st.subheader("Progress")
        gif = storage.read_optional(storage.join(layout.gan, artifacts.PROGRESS_GIF))
        if gif is None:
            st.info("No progress.gif yet: it is written when training finishes.")
        else:
            st.image(gif, caption="every epoch's grid", width="stretch")
    st.subheader("Curves")
    if storage.read_optional(storage.join(layout.gan, artifacts.METRICS_FILE)) is None:
        st.info("No metrics.csv yet: it gets a row at the end of every epoch.")
        return
    metrics = pd.DataFrame(artifacts.read_metrics_csv(layout.gan)).set_index("epoch")
    losses, discriminator = st.columns(2)
    losses.caption("Losses")
    losses.line_chart(metrics[["loss_d", "loss_g"]])
    discriminator.caption("Discriminator: D(x), D(G(z)) and accuracy on real / fake")
    discriminator.line_chart(metrics[["d_real", "d_fake", "acc_real", "acc_fake"]])
    st.dataframe(metrics[["seconds", "samples_per_s", "loss_d", "loss_g", "acc_real", "acc_fake"]])
