"""Confidence intervals of every cell and paired tests against `none`, from the predictions on disk.

Per model and target, the rows (intermediates, settings) whose cells all have per-example scores
(examples.py) get: a bootstrap interval of the task score and of each language's score (over the
seeds too, when there are several), and, against the zero-shot `none` row, the gain with its interval,
the paired test's p-value and whether the gain survives Holm's correction over all of the model's
comparisons (family-wise error rate at alpha). Cells whose scores cannot be recomputed are listed
with the reason and left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xtransfer.report.collect import BASELINE, CellResult, Collection
from xtransfer.report.examples import Unsupported, cell_units
from xtransfer.report.stats import RowUnits, TargetBootstrap, gain, holm, interval, paired_test

BOOTSTRAP, PERMUTATIONS, ALPHA, LEVEL = 1000, 10000, 0.05, 0.95


@dataclass
class Uncertainty:
    intervals: pd.DataFrame          # model, label, target, language ("mean": the task score), estimate, lo, hi, seeds
    tests: pd.DataFrame              # model, label, target, gain, lo, hi, p, p_holm, significant, seeds
    notes: list[str] = field(default_factory=list)
    score_replicates: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)   # (model, label, target)
    gain_replicates: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    alpha: float = ALPHA
    bootstrap: int = BOOTSTRAP
    permutations: int = PERMUTATIONS

    def significant(self, model: str) -> pd.DataFrame:
        """label x target booleans for the heatmap."""
        part = self.tests[self.tests.model == model]
        return part.pivot(index="label", columns="target", values="significant") if len(part) else pd.DataFrame()


def skipped() -> Uncertainty:
    """No intervals: a refresh of the report while the sweep still runs."""
    return Uncertainty(pd.DataFrame(columns=["model", "label", "target", "language", "estimate", "lo", "hi", "seeds",
                                             "units"]),
                       pd.DataFrame(columns=["model", "label", "target", "gain", "lo", "hi", "p", "seeds", "p_holm",
                                             "significant"]),
                       ["intervals, paired tests and claims: computed when the sweep's last job ends "
                        "(or run `python -m xtransfer.report SWEEP_DIR`)"])


def row_units(results: list[CellResult], notes: list[str]) -> RowUnits | None:
    """One row's seeds stacked, or None (with a note) when a cell's per-example scores are not readable."""
    per_seed = {}
    for result in sorted(results, key=lambda r: r.cell.seed):
        try:
            per_seed[result.cell.seed] = cell_units(result)
        except Unsupported as e:
            notes.append(f"{result.cell} [{result.setting}]: no interval ({e})")
            return None
    languages = list(next(iter(per_seed.values())))
    shapes = {lang: {len(units[lang].a) for units in per_seed.values()} for lang in languages}
    if any(set(u) != set(languages) for u in per_seed.values()) or any(len(s) > 1 for s in shapes.values()):
        notes.append(f"{results[0].cell.model} / {results[0].label} / {results[0].cell.target}: its seeds scored "
                     f"different examples; no interval")
        return None
    return RowUnits(tuple(per_seed), {lang: np.stack([u[lang].a for u in per_seed.values()]) for lang in languages},
                    {lang: np.stack([u[lang].b for u in per_seed.values()]) for lang in languages})


def analyse(collection: Collection, bootstrap: int = BOOTSTRAP, permutations: int = PERMUTATIONS,
            alpha: float = ALPHA) -> Uncertainty:
    out = Uncertainty(pd.DataFrame(), pd.DataFrame(), alpha=alpha, bootstrap=bootstrap, permutations=permutations)
    groups: dict[tuple[str, str], dict[str, list[CellResult]]] = {}
    for result in collection.results:
        groups.setdefault((result.cell.model, result.cell.target), {}).setdefault(result.label, []).append(result)
    intervals, tests = [], []
    for (model, target), by_label in sorted(groups.items()):
        rows = {label: units for label, results in sorted(by_label.items())
                if (units := row_units(results, out.notes)) is not None}
        rows = _comparable(rows, model, target, out.notes)
        if not rows:
            continue
        boot = TargetBootstrap(rows, bootstrap, seed=0)
        for label, row in rows.items():
            out.score_replicates[(model, label, target)] = boot.score(label)
            per_seed = row.per_seed()
            for lang in [*row.a, "mean"]:
                reps = boot.score(label) if lang == "mean" else boot.language(label, lang)
                estimate = row.score() if lang == "mean" else float(per_seed[lang].mean())
                intervals.append({"model": model, "label": label, "target": target, "language": lang,
                                  "estimate": estimate, **dict(zip(("lo", "hi"), interval(reps, LEVEL))),
                                  "seeds": len(row.seeds), "units": None if lang == "mean" else row.a[lang].shape[1]})
            if label != BASELINE and BASELINE in rows and set(row.seeds) & set(rows[BASELINE].seeds):
                reps = boot.gain(label, BASELINE)
                out.gain_replicates[(model, label, target)] = reps
                tests.append({"model": model, "label": label, "target": target,
                              "gain": gain(row, rows[BASELINE]), **dict(zip(("lo", "hi"), interval(reps, LEVEL))),
                              "p": paired_test(row, rows[BASELINE], permutations, seed=0),
                              "seeds": len(set(row.seeds) & set(rows[BASELINE].seeds))})
    out.intervals = pd.DataFrame(intervals, columns=["model", "label", "target", "language", "estimate", "lo", "hi",
                                                     "seeds", "units"])
    out.tests = _corrected(pd.DataFrame(tests, columns=["model", "label", "target", "gain", "lo", "hi", "p", "seeds"]),
                           alpha)
    return out


def _comparable(rows: dict[str, RowUnits], model: str, target: str, notes: list[str]) -> dict[str, RowUnits]:
    """The rows that scored the same units as the first (none when present): they share the resampling."""
    if not rows:
        return rows
    reference = rows.get(BASELINE) or next(iter(rows.values()))
    shape = {lang: units.shape[1] for lang, units in reference.a.items()}
    kept = {}
    for label, row in rows.items():
        if {lang: units.shape[1] for lang, units in row.a.items()} == shape:
            kept[label] = row
        else:
            notes.append(f"{model} / {label} / {target}: scored other languages or examples than the other rows; "
                         f"no interval")
    return kept


def _corrected(tests: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Holm's correction over each model's comparisons."""
    tests = tests.assign(p_holm=np.nan, significant=False)
    for model, part in tests.groupby("model"):
        adjusted = holm(part.p.tolist())
        tests.loc[part.index, "p_holm"] = adjusted
        tests.loc[part.index, "significant"] = [a <= alpha for a in adjusted]
    return tests


def fmt_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def markdown(u: Uncertainty, model: str, rows: list[str], targets: list[str], table) -> list[str]:
    """The model's uncertainty section: score intervals, gains with their tests, per-language intervals."""
    mine = u.intervals[u.intervals.model == model]
    if mine.empty:
        return []
    n_tests = int((u.tests.model == model).sum())
    text = ["### Uncertainty", "",
            f"95% percentile bootstrap intervals: {u.bootstrap} resamples of each language's test examples (and of "
            f"the seeds, for rows with several), the same resamples for every row of a target. Gains are paired "
            f"with `none` on the same examples and seeds; p: two-sided paired approximate-randomization test "
            f"({u.permutations:,} random swaps of the two systems' per-example scores; exact when few examples "
            f"differ); * = significant at alpha = {u.alpha:g} after Holm's correction over the model's {n_tests} "
            f"comparisons (Holm-adjusted p in parentheses).", "", "#### Task scores with 95% intervals", ""]
    scores = mine[mine.language == "mean"].set_index(["label", "target"])
    text += [table(["intermediate", *targets], [
        [row, *(f"{scores.at[(row, t), 'estimate']:.2f} [{scores.at[(row, t), 'lo']:.2f}, {scores.at[(row, t), 'hi']:.2f}]"
                if (row, t) in scores.index else "—" for t in targets)] for row in rows]), ""]
    tests = u.tests[u.tests.model == model].set_index(["label", "target"])
    if len(tests):
        text += ["#### Gain over `none`: 95% interval and paired test", "", table(["intermediate", *targets], [
            [row, *(_gain_cell(tests.loc[(row, t)]) if (row, t) in tests.index else "—" for t in targets)]
            for row in rows if row != BASELINE]), ""]
    for target in targets:
        part = mine[(mine.target == target) & (mine.language != "mean")]
        if part.empty:
            continue
        langs = list(dict.fromkeys(part.language))
        cells = part.set_index(["label", "language"])
        text += [f"#### {target}: per-language 95% intervals", "", table(["intermediate", *langs], [
            [row, *(f"[{cells.at[(row, l), 'lo']:.1f}, {cells.at[(row, l), 'hi']:.1f}]" if (row, l) in cells.index
                    else "—" for l in langs)] for row in rows if row in set(part.label)]), ""]
    return text


def _gain_cell(t) -> str:
    return (f"{t.gain:+.2f} [{t.lo:+.2f}, {t.hi:+.2f}] {fmt_p(t.p)} ({t.p_holm:.3g})"
            + (" *" if t.significant else ""))
