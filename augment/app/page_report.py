"""Report: label fidelity, Fréchet distance, CAS, the augmentation gain table, confusion and samples."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from augment.app.locate import RunLayout, read_report
from augment.core import storage
from augment.core.errors import AugmentError
from augment.stages.classifier.plan import GAIN_VARIANTS as VARIANTS
from augment.stages.report.markdown import distance_note

VARIANT_ORDER = {variant: i for i, variant in enumerate(VARIANTS)}
PLOTS = {
    "confusion.png": "Judge confusion on synthetic digits (row = conditioning label)",
    "samples.png": "Synthetic samples per class with the judge's confidence",
    "gain.png": "Augmentation gain",
    "curve.png": "Real + synthetic accuracy against synthetic rows available, at an equal budget",
}


def field(report: dict, *keys: str):
    value = report
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise AugmentError(f"report.json has no {'.'.join(keys)}: written by another augment version?")
        value = value[key]
    return value


def per_class(mapping: dict) -> list[float]:
    """JSON turns the int class keys into strings; accept both."""
    return [mapping.get(str(c), mapping.get(c, float("nan"))) for c in range(10)]


def render(layout: RunLayout) -> None:
    st.header("Report")
    if layout.report is None:
        return st.info("No report yet: `augment evaluate --checkpoint RUN --out REPORT` or `augment run` writes one.")
    report = read_report(layout.report)
    _headline(report)
    _per_class(report)
    _gain(report)
    _curve(report)
    targets = report.get("targets", {})
    if targets:
        st.subheader("Targets")
        st.markdown("\n".join(f"- {'met' if ok else '**missed**'}: {name}" for name, ok in targets.items()))
    for name, caption in PLOTS.items():
        plot = storage.read_optional(storage.join(layout.report, name))
        if plot is not None:
            st.image(plot, caption=caption)


def _headline(report: dict) -> None:
    fid = field(report, "frechet_distance")
    cas = field(report, "cas")
    fidelity, confidence, distance, cas_column = st.columns(4)
    raw = report.get("generator_fidelity")
    independent = report.get("independent_fidelity") or {}
    agreed = field(report, "label_fidelity", "overall")
    judged = f"The judge that filtered the rows agrees with {agreed:.2%} of them" + (
        "."
        if raw is None
        else f" (it kept them at confidence >= {report['filtered_at']:g}) and with {raw['overall']:.2%} of the "
        "generator's unfiltered draws."
    )
    # Led by classifiers that never saw the filter: the judge's agreement with rows it kept is by construction.
    fidelity.metric(
        "Label fidelity",
        f"{independent['overall']:.2%}" if "overall" in independent else "not measured",
        help=("By classifiers trained on real digits only. " if "overall" in independent else "")
        + (independent.get("skipped", "") + ". " if "skipped" in independent else "")
        + judged,
    )
    confidence.metric("Mean judge confidence", f"{field(report, 'mean_confidence'):.3f}")
    distance.metric(
        "Fréchet distance (judge features)",
        f"{fid['synthetic_vs_real_test']:.2f}",
        help=f"Floor, real train vs real test: {fid['real_train_vs_real_test']:.2f}",
    )
    cas_column.metric(
        "CAS (train synthetic, test real)",
        f"{cas['accuracy']:.2%}" if "accuracy" in cas else "not measured",
        help=cas.get("skipped") or f"literature anchor for a labeled DCGAN: {cas.get('anchor', 0.971):.1%}",
    )
    st.caption(
        f"{report['samples']['rows']:,} synthetic digits from {report['samples']['from']}; label fidelity by "
        f"classifiers trained on real digits only, which never saw the filter. {judged} "
        f"Fréchet floor (real train vs real test) {fid['real_train_vs_real_test']:.2f}. {distance_note(report)}"
    )


def _per_class(report: dict) -> None:
    st.subheader("Per class")
    table = pd.DataFrame(
        {
            "label fidelity": per_class(field(report, "label_fidelity", "per_class")),
            "Fréchet distance": per_class(field(report, "frechet_distance")["per_class"]),
        },
        index=pd.Index(range(10), name="class"),
    )
    st.dataframe(table.style.format({"label fidelity": "{:.1%}", "Fréchet distance": "{:.1f}"}))


def _gain(report: dict) -> None:
    st.subheader("Augmentation gain (real test accuracy)")
    gain = field(report, "gain")
    if not gain:
        st.info("Not measured: the report was made without a merged dataset.")
        return
    rows = [
        {
            "regime": regime,
            "variant": variant,
            "mean": row["mean"],
            "std": row["std"] if len(row["runs"]) > 1 else None,  # one run: the spread is unknown, not 0
            "seeds": len(row["runs"]),
            "epochs": row["epochs"],
        }
        for regime, variants in gain.items()
        for variant, row in sorted(variants.items(), key=lambda item: VARIANT_ORDER.get(item[0], len(VARIANT_ORDER)))
    ]
    table = pd.DataFrame(rows).set_index(["regime", "variant"])
    st.dataframe(table.style.format({"mean": "{:.2%}", "std": "{:.4f}"}, na_rep="unknown (1 run)"))


def _curve(report: dict) -> None:
    curve = report.get("curve") or {}
    if not curve:
        return
    st.subheader("How many synthetic rows (real + synthetic, equal budget)")
    rows = [
        {
            "regime": regime,
            "rows available": p["rows_available"],
            "rows read": p["rows_read"],
            "mean": p["mean"],
            "seeds": len(p["runs"]),
        }
        for regime, points in curve.items()
        for p in points
    ]
    st.dataframe(
        pd.DataFrame(rows).set_index(["regime", "rows available"]).style.format({"mean": "{:.2%}", "rows read": "{:,}"})
    )
