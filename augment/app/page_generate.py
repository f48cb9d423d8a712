"""Generate: digits of the chosen classes with the judge's confidence under each; PNG/Parquet downloads."""

from __future__ import annotations

import numpy as np
import streamlit as st

from augment.app.digits import MAX_DIGITS, DigitRequest, Digits, digits_parquet, digits_png, enlarged, make_digits
from augment.app.locate import RunLayout
from augment.models.classifier_file import NAME as CLASSIFIER
from augment.models.generator_file import NAME as GENERATOR
from augment.models.weights_file import sha256_of
from augment.stages.synthetic.synthesis import DigitScorer

RESULT_KEY = "generated_digits"


@st.cache_resource(max_entries=2, show_spinner="Loading the generator and the judge…")
def load_scorer(gan: str, judge: str | None, gan_digest: str, judge_digest: str | None) -> DigitScorer:
    return DigitScorer(gan, judge)


def _scorer(layout: RunLayout) -> DigitScorer:
    judge_digest = sha256_of(layout.judge, CLASSIFIER) if layout.judge else None
    gan_digest = sha256_of(layout.gan, GENERATOR)
    # The digests are part of the cache key, so a retrained model in the same folder reloads.
    return load_scorer(layout.gan, layout.judge, gan_digest, judge_digest)


def render(layout: RunLayout) -> None:
    st.header("Generate digits")
    if layout.gan is None:
        st.info(
            "No generator here yet. Train one with `augment train --out RUN` (or `augment run`) and start "
            "`augment app --run RUN`, or type the folder in the sidebar."
        )
        return
    scorer = _scorer(layout)
    if layout.judge is None:
        st.warning(
            "No judge classifier next to this generator (RUN/judge): digits are shown without confidence. "
            "`augment judge` or `augment generate` trains one."
        )
    with st.form("generate"):
        left, middle, right = st.columns(3)
        classes = left.multiselect("Classes", list(range(scorer.num_classes)), default=list(range(scorer.num_classes)))
        count = left.number_input("How many", min_value=1, max_value=MAX_DIGITS, value=100, step=10)
        seed = middle.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0)
        temperature = middle.slider(
            "Temperature",
            0.1,
            2.0,
            1.0,
            0.05,
            help="Scale of the noise: below 1 more typical, above 1 more varied digits.",
        )
        truncation = right.slider(
            "Truncation (0 = off)",
            0.0,
            3.0,
            0.0,
            0.1,
            help="Redraw noise components beyond ±t: fewer odd samples, less variety.",
        )
        submitted = st.form_submit_button("Generate", type="primary")
    if submitted:
        request = DigitRequest(
            tuple(int(c) for c in classes), int(count), int(seed), float(temperature), truncation or None
        )
        with st.spinner("Generating…"):
            st.session_state[RESULT_KEY] = make_digits(scorer, request)
    digits: Digits | None = st.session_state.get(RESULT_KEY)
    if digits is not None and digits.generator_sha256 == scorer.generator_sha256:
        show(digits)


def show(digits: Digits) -> None:
    n = len(digits.labels)
    if digits.confidence is None:
        captions = [str(label) for label in digits.labels]
        st.caption(f"{n} digits, classes {sorted(set(digits.labels.tolist()))}")
    else:
        captions = [f"{label} · {p:.2f}" for label, p in zip(digits.labels, digits.confidence)]
        agree = float((digits.confidence >= 0.5).mean())
        st.caption(
            f"{n} digits · mean judge confidence {float(np.mean(digits.confidence)):.3f} · "
            f"{agree:.0%} with confidence ≥ 0.5 for their label"
        )
    png, parquet = st.columns(2)
    png.download_button("Download PNG", digits_png(digits), file_name="digits.png", mime="image/png")
    parquet.download_button(
        "Download Parquet", digits_parquet(digits), file_name="digits.parquet", mime="application/vnd.apache.parquet"
    )
    for label in np.unique(digits.labels):  # one block per class, like the training grids' rows
        rows = np.flatnonzero(digits.labels == label)
        st.image(
            list(enlarged(digits.images[rows])), caption=[captions[i] for i in rows], width=84, output_format="PNG"
        )
