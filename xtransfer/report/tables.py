"""The report's numbers: task scores, deltas over `none`, best intermediates, per-language scores, scaling fits.

Long tables (one row per model x row label x target) with `mean`, `std` (sample std over seeds, NaN
for one seed) and `n` (seeds); rendering lives in report.py.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

from xtransfer.report.collect import BASELINE, CellResult

KEYS = ["model", "label", "target"]
STATS = {"mean": "mean", "std": "std", "n": "count"}


def cells_frame(results: list[CellResult]) -> pd.DataFrame:
    """One row per cell: model, label, intermediate, setting, target, seed, score, num_parameters."""
    return pd.DataFrame([{"model": r.cell.model, "label": r.label, "intermediate": r.cell.intermediate,
                          "setting": r.setting, "target": r.target_label, "seed": r.cell.seed,
                          "score": float(r.results["score"]), "num_parameters": r.num_parameters,
                          "model_family": r.results.get("model_family") or ""}   # "": results from before families
                         for r in results])


def tidy_frame(results: list[CellResult]) -> pd.DataFrame:
    """results.csv: one row per cell x split x language x metric."""
    rows = [{"model": r.cell.model, "intermediate": r.cell.intermediate, "setting": r.setting,
             "target": r.cell.target, "seed": r.cell.seed, "split": split, "language": lang,
             "metric": metric, "value": value}
            for r in results
            for split, by_lang in r.results["metrics"].items()
            for lang, by_metric in by_lang.items()
            for metric, value in by_metric.items()]
    return pd.DataFrame(rows, columns=["model", "intermediate", "setting", "target", "seed",
                                       "split", "language", "metric", "value"])


def language_frame(results: list[CellResult]) -> pd.DataFrame:
    """Each cell's main metric per language on its score split (the numbers its task score averages)."""
    rows = [{"model": r.cell.model, "label": r.label, "target": r.target_label, "seed": r.cell.seed,
             "split": r.results["score_split"], "metric": r.results["main_metric"], "language": lang,
             "value": by_metric[r.results["main_metric"]]}
            for r in results
            for lang, by_metric in r.results["metrics"].get(r.results["score_split"], {}).items()
            if r.results["main_metric"] in by_metric]
    return pd.DataFrame(rows, columns=["model", "label", "target", "seed", "split", "metric", "language", "value"])


def score_stats(cells: pd.DataFrame) -> pd.DataFrame:
    """mean/std/n of task scores per model x row x target (intermediate and setting carried along)."""
    return cells.groupby(KEYS + ["intermediate", "setting"], sort=False)["score"].agg(**STATS).reset_index()


def delta_stats(cells: pd.DataFrame) -> pd.DataFrame:
    """Score minus the zero-shot `none` row of the same model and target, paired seed by seed."""
    base = cells[cells.label == BASELINE][["model", "target", "seed", "score"]].rename(columns={"score": "base"})
    paired = cells[cells.label != BASELINE].merge(base, on=["model", "target", "seed"])
    paired["delta"] = paired.score - paired.base
    return paired.groupby(KEYS, sort=False)["delta"].agg(**STATS).reset_index()


def row_order(labels: Iterable[str]) -> list[str]:
    """`none` first, then zero-shot rows, then other settings, each alphabetically."""
    return sorted(set(labels), key=lambda label: (label != BASELINE, "[" in label, label))


def wide(stats: pd.DataFrame, model: str, rows: list[str], targets: list[str]) -> pd.DataFrame:
    """rows x targets of `mean`, `std`, `n` (a column MultiIndex) for one model, plus an `avg` of the means."""
    part = stats[stats.model == model].pivot(index="label", columns="target", values=["mean", "std", "n"])
    part = part.reindex(index=rows, columns=pd.MultiIndex.from_product([["mean", "std", "n"], targets]))
    # the average is only comparable across rows when a row has every target
    part[("mean", "avg")] = part["mean"].mean(axis=1, skipna=False)
    return part


def best_per_target(scores: pd.DataFrame, deltas: pd.DataFrame, model: str, setting: str) -> pd.DataFrame:
    """Per target: the intermediate (not `none`) with the highest mean score, its score and delta over none."""
    candidates = scores[(scores.model == model) & (scores.intermediate != BASELINE) & (scores.setting == setting)]
    if candidates.empty:
        return pd.DataFrame(columns=["target", "label", "mean", "std", "n", "delta", "delta_std", "delta_n"])
    best = candidates.loc[candidates.groupby("target", sort=False)["mean"].idxmax()]
    best = best.merge(deltas[deltas.model == model].rename(
        columns={"mean": "delta", "std": "delta_std", "n": "delta_n"}), on=KEYS, how="left")
    return (best.drop(columns=["model", "intermediate", "setting"]).sort_values("target").reset_index(drop=True))


def headline(best: pd.DataFrame) -> dict[str, float]:
    """The best-per-task average and its delta over none (over the targets that have a delta)."""
    with_delta = best.dropna(subset=["delta"])
    return {"best_per_task_avg": float(best["mean"].mean()) if len(best) else math.nan,
            "best_per_task_delta": float(with_delta["delta"].mean()) if len(with_delta) else math.nan,
            "targets": len(best), "targets_with_delta": len(with_delta)}


def language_stats(languages: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "target", "label", "language"]
    return languages.groupby(keys, sort=False)["value"].agg(**STATS).reset_index()


def parameters_per_model(cells: pd.DataFrame) -> dict[str, float]:
    known = cells.dropna(subset=["num_parameters"])
    return {model: float(group.num_parameters.iloc[0]) for model, group in known.groupby("model")}


def spans_model_sizes(cells: pd.DataFrame) -> bool:
    return len(set(parameters_per_model(cells).values())) > 1


def families_per_model(cells: pd.DataFrame) -> dict[str, str]:
    return {model: str(group.model_family.iloc[0]) for model, group in cells.groupby("model")}


def scaling_fits(deltas: pd.DataFrame, params: dict[str, float], families: dict[str, str] | None = None) -> pd.DataFrame:
    """Least squares of gain over none on log10(parameters), per (model family, row, target) seen at >= 2
    model sizes. `slope` is points of gain per 10x parameters."""
    families = families or {}
    points = deltas[deltas.model.isin(params)].assign(log10_params=lambda d: np.log10(d.model.map(params)),
                                                      family=lambda d: d.model.map(lambda m: families.get(m, "")))
    fits = []
    for (family, label, target), group in points.groupby(["family", "label", "target"]):
        if group.log10_params.nunique() >= 2:
            slope, intercept = np.polyfit(group.log10_params, group["mean"], 1)
            fits.append({"family": family, "label": label, "target": target, "slope": float(slope),
                         "intercept": float(intercept), "sizes": int(group.log10_params.nunique())})
    return pd.DataFrame(fits, columns=["family", "label", "target", "slope", "intercept", "sizes"])



