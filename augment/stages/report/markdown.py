"""The report as text: report.md, and the rows it adds to the measured datasets' cards."""

from __future__ import annotations

from augment.core.console import plural


def card_quality(report: dict, where: str) -> list[tuple[str, str]]:
    """The report's headline figures as rows of a dataset card's quality table."""
    fid, independent = report["frechet_distance"], report.get("independent_fidelity") or {}
    rows = [
        *(
            [("label fidelity by real-only classifiers that never saw the filter", f"{independent['overall']:.2%}")]
            if "overall" in independent
            else []
        ),
        (
            "label fidelity (judge agrees with the label)",
            f"{report['label_fidelity']['overall']:.2%} of {report['samples']['rows']:,} rows" + filter_note(report),
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
            f"{cas['accuracy']:.2%} ({cas['rows']:,} rows, {plural(cas['epochs'], 'epoch')})"
            if "accuracy" in cas
            else "not measured",
        )
    )
    for regime, variants in report["gain"].items():
        for variant, row in variants.items():
            rows.append(
                (
                    f"real test accuracy, {regime}: {variant}",
                    f"{row['mean']:.2%} ± {row['std'] * 100:.2f} pt ({len(row['runs'])} runs)"
                    if len(row["runs"]) > 1
                    else f"{row['mean']:.2%} (1 run: spread unknown)",
                )
            )
    rows.append(("report", f"`{where}` (report.md, report.json)"))
    return rows


def filter_note(report: dict) -> str:
    if "generator_fidelity" not in report:
        return ""
    thresholds = report.get("class_thresholds") or []
    lowered = [f"{c} ≥ {t:.3g}" for c, t in enumerate(thresholds) if t < report["filtered_at"]]
    per_class = f" (class {', '.join(lowered)}: their best draws, --keep-share)" if lowered else ""
    return (
        f" (these rows were kept by the same judge at confidence >= {report['filtered_at']:g}{per_class}; the "
        f"generator's unfiltered draws: {report['generator_fidelity']['overall']:.2%})"
    )


def independent_lines(independent: dict | None) -> list[str]:
    """The headline: label fidelity as classifiers that never saw the filter measure it (the judge's
    own agreement with rows it kept is high by construction)."""
    if not independent:  # reports written before it was measured
        return []
    if "skipped" in independent:
        return [f"- Label fidelity by classifiers that never saw the filter: not measured ({independent['skipped']})."]
    seeds = ", ".join(f"seed {seed}: {value:.2%}" for seed, value in independent["per_seed"].items())
    return [
        f"- **Label fidelity {independent['overall']:.2%}**: classifiers trained on real digits only, which never "
        f"saw the filter, agree with that share of the labels ({seeds}; worst class {independent['worst_class']:.2%})."
    ]


def distance_note(report: dict) -> str:
    """What the Fréchet distance means for a user, next to the figure."""
    fid = report["frechet_distance"]
    ratio = fid["synthetic_vs_real_test"] / max(fid["real_train_vs_real_test"], 1e-9)
    temperature = report.get("temperature", 1.0)
    spread = (
        f" At --temperature {temperature:g} the latents are drawn {temperature:g}x wider than the GAN was trained on: "
        "more varied digits, on purpose (a classifier learns more from them), which also moves their features "
        "away from real ones."
        if temperature > 1
        else ""
    )
    return (
        f"The synthetic digits' features lie {ratio:.0f}x as far from real test digits as another sample of real "
        f"digits does: lower is closer to MNIST; it measures resemblance, not whether a label is right.{spread}"
    )


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
        f"Generator `{report['generator']['sha256'][:16]}…` "
        f"({plural(report['generator']['epochs'] or 0, 'epoch')}); judge "
        f"`{report['judge']['sha256'][:16]}…` (real test accuracy {report['judge']['test_accuracy']}).",
        f"{report['samples']['rows']:,} synthetic digits from {report['samples']['from']}.",
        "",
        "## Label fidelity and Fréchet distance",
        "",
        *independent_lines(report.get("independent_fidelity")),
        f"- The judge agrees with the conditioning label of {report['label_fidelity']['overall']:.2%}; "
        f"mean judge confidence {report['mean_confidence']:.3f}" + filter_note(report),
        f"- Fréchet distance in {fid['feature_space']}: synthetic vs real test "
        f"**{fid['synthetic_vs_real_test']:.2f}**; "
        f"floor (real train vs real test) {fid['real_train_vs_real_test']:.2f}. " + distance_note(report),
        "",
        "| class | " + " | ".join(map(str, range(10))) + " |",
        "|---" * 11 + "|",
        f"| fidelity | {fidelity_row} |",
        f"| Fréchet distance | {fid_row} |",
        "",
        "![confusion](confusion.png) ![samples](samples.png)",
        "",
    ]


def _cas_section(cas: dict) -> list[str]:
    lines = ["## Classification accuracy score (train on synthetic, test on real)", ""]
    if "accuracy" in cas:
        return lines + [
            f"**{cas['accuracy']:.2%}** on the real test split after {plural(cas['epochs'], 'epoch')} over "
            f"{cas['rows']:,} "
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
            "| variant | mean | std | runs | balanced accuracy | worst-class recall | rows | samples seen | epochs | "
            "converged (best epochs) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *(_gain_row(variant, row) for variant, row in variants.items()),
            "",
            *_paired_lines(variants),
            verdict(regime, variants),
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
    converged = (
        f"{sum(row['converged'])} of {len(row['converged'])} ({', '.join(map(str, row['best_epochs']))})"
        if row.get("converged")
        else "—"
    )
    return (
        f"| {variant} | {row['mean']:.2%} | {spread(row)} | {runs} | {balanced} | {worst} | "
        f"{rows} | {seen} | {row['epochs']} | {converged} |"
    )


def _paired_lines(variants: dict) -> list[str]:
    """Each variant against real + classic, seed by seed (same seed, same initial weights): the mean
    difference with its standard error, and the test errors as counts."""
    paired = {variant: row["paired_vs_baseline"] for variant, row in variants.items() if "paired_vs_baseline" in row}
    if not paired:  # reports written before it was measured
        return []
    lines = [
        "| against real + classic, seed by seed | difference | standard error | test errors (real + classic's) |",
        "|---|---|---|---|",
    ]
    for variant, pair in paired.items():
        error = "unknown (1 seed)" if pair["standard_error"] is None else f"{pair['standard_error'] * 100:.2f} pt"
        counts = f"{', '.join(map(str, pair['errors']))} ({', '.join(map(str, pair['baseline_errors']))})"
        lines.append(f"| {variant} | {pair['mean_difference'] * 100:+.2f} pt | {error} | {counts} |")
    return [*lines, ""]


def judged(rows: list[dict]) -> bool:
    """A gain or a loss is stated only between runs that all converged (stopped by patience)."""
    return all(row.get("converged") and all(row["converged"]) for row in rows)


def verdict(regime: str, variants: dict) -> str:
    """A gain or a loss only between runs that converged; otherwise why not, and what to change."""
    rows = list(variants.values())
    if not judged(rows):
        if not all(row.get("converged") for row in rows):
            return (
                f"**No verdict ({regime})**: these runs were trained without held-out rows, so nothing says "
                "they converged (their last epoch counts)."
            )
        stopped = sum(len(row["converged"]) - sum(row["converged"]) for row in rows)
        total = sum(len(row["converged"]) for row in rows)
        cap = max(row["epochs"] for row in rows)
        return (
            f"**No verdict ({regime})**: {stopped} of {total} runs were still improving on the held-out rows "
            f"when they reached their cap ({plural(cap, 'epoch')}), so this budget is too small to judge a gain; "
            f"raise --classifier-epochs (at least {2 * cap}) and rerun: runs that converged are kept."
        )
    baseline = variants.get("real + classic") or variants["real only"]
    name, best = max(((n, r) for n, r in variants.items() if "synthetic" in n), key=lambda item: item[1]["mean"])
    difference = (best["mean"] - baseline["mean"]) * 100
    return (
        f"**Verdict ({regime})**, every run converged: {name} {difference:+.2f} pt against "
        f"{'real + classic' if 'real + classic' in variants else 'real only'}."
    )


def spread(row: dict) -> str:
    """The standard deviation over seeds; with one run it is unknown, not zero."""
    return f"{row['std'] * 100:.2f} pt" if len(row["runs"]) > 1 else "unknown (1 run)"


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
                f"{spread(point)} | {runs} |"
            )
    if report.get("curve"):
        lines += ["", "![curve](curve.png)"]
    return lines
