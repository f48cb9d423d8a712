"""The report as text: report.md, and the rows it adds to the measured datasets' cards."""

from __future__ import annotations


def card_quality(report: dict, where: str) -> list[tuple[str, str]]:
    """The report's headline figures as rows of a dataset card's quality table."""
    fid, independent = report["frechet_distance"], report.get("independent_fidelity") or {}
    rows = [
        (
            "label fidelity (judge agrees with the label)",
            f"{report['label_fidelity']['overall']:.2%} of {report['samples']['rows']:,} rows" + filter_note(report),
        ),
        *(
            [("label fidelity by real-only classifiers that never saw the filter", f"{independent['overall']:.2%}")]
            if "overall" in independent
            else []
        ),
        ("mean judge confidence", f"{report['mean_confidence']:.3f}"),
        (
            "Fréchet distance to real test (judge features)",
            f"{fid['synthetic_vs_real_test']:.2f} (real train vs real test: {fid['real_train_vs_real_test']:.2f})",
        ),
    ]
    cas = report["cas"]
    rows.append(
        (
            "CAS (train on synthetic, test on real)",
            f"{cas['accuracy']:.2%} ({cas['rows']:,} rows, {cas['epochs']} epochs)"
            if "accuracy" in cas
            else "not measured",
        )
    )
    for regime, variants in report["gain"].items():
        for variant, row in variants.items():
            rows.append(
                (
                    f"real test accuracy, {regime}: {variant}",
                    f"{row['mean']:.2%} ± {row['std'] * 100:.2f} pt ({len(row['runs'])} runs)",
                )
            )
    rows.append(("report", f"`{where}` (report.md, report.json)"))
    return rows


def filter_note(report: dict) -> str:
    if "generator_fidelity" not in report:
        return ""
    return (
        f" (these rows were kept by the same judge at confidence >= {report['filtered_at']:g}; the generator's "
        f"unfiltered draws: {report['generator_fidelity']['overall']:.2%})"
    )


def independent_lines(independent: dict | None) -> list[str]:
    if not independent:  # reports written before it was measured
        return []
    if "skipped" in independent:
        return [
            f"Label fidelity by classifiers that never saw the filter: not measured ({independent['skipped']}).",
            "",
        ]
    seeds = ", ".join(f"seed {seed}: {value:.2%}" for seed, value in independent["per_seed"].items())
    return [
        "Classifiers trained on real digits only, which never saw the filter, agree with "
        f"**{independent['overall']:.2%}** "
        f"of these labels ({seeds}; worst class {independent['worst_class']:.2%}).",
        "",
    ]


def report_markdown(report: dict) -> str:
    lines = [
        *_fidelity_section(report),
        *_cas_section(report["cas"]),
        *_gain_section(report),
        *_curve_section(report),
        *["", "## Targets", ""],
        *[f"- {'met' if ok else '**missed**'}: {name}" for name, ok in report["targets"].items()],
    ]
    return "\n".join(lines) + "\n"


def _fidelity_section(report: dict) -> list[str]:
    fid = report["frechet_distance"]
    per_class = report["label_fidelity"]["per_class"]
    fidelity_row = " | ".join(f"{per_class.get(str(c), per_class.get(c, float('nan'))):.3f}" for c in range(10))
    fid_row = " | ".join(
        f"{fid['per_class'].get(str(c), fid['per_class'].get(c, float('nan'))):.2f}" for c in range(10)
    )
    return [
        "# augment report",
        "",
        f"Generator `{report['generator']['sha256'][:16]}…` ({report['generator']['epochs']} epochs); judge "
        f"`{report['judge']['sha256'][:16]}…` (real test accuracy {report['judge']['test_accuracy']}).",
        f"{report['samples']['rows']:,} synthetic digits from {report['samples']['from']}.",
        "",
        "## Label fidelity and Fréchet distance",
        "",
        f"- Label fidelity (judge agrees with the conditioning label): **{report['label_fidelity']['overall']:.2%}**; "
        f"mean judge confidence {report['mean_confidence']:.3f}" + filter_note(report),
        f"- Fréchet distance in {fid['feature_space']}: synthetic vs real test "
        f"**{fid['synthetic_vs_real_test']:.2f}**; "
        f"floor (real train vs real test) {fid['real_train_vs_real_test']:.2f}",
        "",
        "| class | " + " | ".join(map(str, range(10))) + " |",
        "|---" * 11 + "|",
        f"| fidelity | {fidelity_row} |",
        f"| Fréchet distance | {fid_row} |",
        "",
        *independent_lines(report.get("independent_fidelity")),
        "![confusion](confusion.png) ![samples](samples.png)",
        "",
    ]


def _cas_section(cas: dict) -> list[str]:
    lines = ["## Classification accuracy score (train on synthetic, test on real)", ""]
    if "accuracy" in cas:
        return lines + [
            f"**{cas['accuracy']:.2%}** on the real test split after {cas['epochs']} epochs over {cas['rows']:,} "
            f"synthetic digits (literature anchor for a labeled DCGAN: {cas['anchor']:.1%})."
        ]
    return lines + [f"Not measured: {cas['skipped']}."]


def _gain_section(report: dict) -> list[str]:
    lines = ["", "## Augmentation gain (real test accuracy)", ""]
    if not report["gain"]:
        lines.append("Not measured: no merged dataset given.")
    for regime, variants in report["gain"].items():
        budget = report.get("gain_budget", {}).get(regime)
        lines += [f"### {regime}", ""]
        if budget:
            lines += [
                f"Every variant trains on {budget:,} samples (optimizer steps x batch): what real only sees in its "
                "epochs; a variant with more rows makes fewer passes over them.",
                "",
            ]
        lines += [
            "| variant | mean | std | runs | balanced accuracy | worst-class recall | rows | samples seen | epochs |",
            "|---|---|---|---|---|---|---|---|---|",
            *(_gain_row(variant, row) for variant, row in variants.items()),
            "",
        ]
    if report["gain"]:
        lines.append("![gain](gain.png)")
    return lines


def _gain_row(variant: str, row: dict) -> str:
    runs = ", ".join(f"{r:.4f}" for r in row["runs"])
    seen = f"{row['samples_seen']:,}" if row.get("samples_seen") else "—"
    rows = f"{row['rows']:,}" if row.get("rows") else "—"
    balanced, worst = (
        f"{row[key]:.2%}" if row.get(key) is not None else "—" for key in ("balanced_accuracy", "worst_class_recall")
    )
    return (
        f"| {variant} | {row['mean']:.2%} | {row['std'] * 100:.2f} pt | {runs} | {balanced} | {worst} | "
        f"{rows} | {seen} | {row['epochs']} |"
    )


def _curve_section(report: dict) -> list[str]:
    lines = []
    for regime, points in report.get("curve", {}).items():
        budget = report.get("gain_budget", {}).get(regime)
        lines += [
            "",
            f"### How many synthetic rows: {regime}",
            "",
            f"Real + synthetic at the same budget ({budget:,} samples), the synthetic pool cut to the first K rows; "
            "every epoch takes one real rows' worth of the pool's next rows. Rows read: what the budget can draw.",
            "",
            "| synthetic rows available | rows read | mean | std | runs |",
            "|---|---|---|---|---|",
        ]
        for point in points:
            runs = ", ".join(f"{r:.4f}" for r in point["runs"])
            lines.append(
                f"| {point['rows_available']:,} | {point['rows_read']:,} | {point['mean']:.2%} | "
                f"{point['std'] * 100:.2f} pt | {runs} |"
            )
    if report.get("curve"):
        lines += ["", "![curve](curve.png)"]
    return lines
