"""The report's figures, drawn with matplotlib's Agg canvas (no display, no global backend switch)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


# A metric's colours saturate at its largest |gain|, but never below this many points: a metric scored by one
# target alone would otherwise always paint its largest gain, however small, in full colour.
SATURATION_FLOOR = 5.0


def colour_scale(deltas: dict[str, pd.DataFrame], metrics: dict[str, str]) -> dict[str, float]:
    """Per target: the largest |gain| among all targets of its metric, in every model, at least
    SATURATION_FLOOR points."""
    group = {t: metrics.get(t) or t for table in deltas.values() for t in table.columns}   # one scale per metric
    largest: dict[str, float] = {}
    for table in deltas.values():
        for target in table.columns:
            finite = [abs(v) for v in table[target].to_numpy(dtype=float) if not math.isnan(v)]
            largest[group[target]] = max([largest.get(group[target], SATURATION_FLOOR), *finite])
    return {t: largest[g] for t, g in group.items()}


def heatmap(deltas: dict[str, pd.DataFrame], path: Path, significant: dict[str, pd.DataFrame] | None = None,
            metrics: dict[str, str] | None = None) -> None:
    """One panel per model, stacked (each its own rows, so labels never overlap): rows intermediates (no
    `none`), columns targets with their metric, numbers the gain in points.

    Targets score in different metrics (XNLI accuracy, XQuAD F1), so colours have one scale per metric:
    a gain divided by the largest |gain| among the targets of its metric across the models (at least
    SATURATION_FLOOR points), centred on 0. A gain that
    survives the paired test and Holm's correction (`significant`) is marked with * and a black frame."""
    metrics = metrics or {}
    scale = colour_scale(deltas, metrics)
    panels = list(deltas.items()) or [("no model", pd.DataFrame())]
    heights = [max(1.2, 0.45 * table.shape[0] + 0.9) for _, table in panels]
    width = max(4.5, 1.25 * max(table.shape[1] for _, table in panels) + 3.0)
    fig = Figure(figsize=(width, sum(heights) + 1.1 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    image = None
    for ax, (model, table) in zip(axes, panels):
        ax.set_title(f"model {model}: gain over none (points)", loc="left", fontsize="medium")
        if table.empty or table.isna().all().all():
            ax.text(0.5, 0.5, f"{model}: no gains to draw: the grid needs intermediate=none and another "
                    "intermediate for the same target", ha="center", va="center", transform=ax.transAxes, wrap=True)
            ax.set_axis_off()
            continue
        values = table.to_numpy(dtype=float)
        norm = np.array([[v / scale[t] if scale.get(t) else 0.0 for v, t in zip(row, table.columns)] for row in values])
        image = ax.imshow(np.ma.masked_invalid(np.where(np.isnan(values), np.nan, norm)), cmap="RdBu", vmin=-1, vmax=1,
                          aspect="auto")
        ax.set_xticks(range(table.shape[1]), [f"{t}\n({metrics[t]})" if t in metrics else t for t in table.columns])
        ax.set_yticks(range(table.shape[0]), table.index)
        ax.set_xlabel("target (main metric)")
        ax.set_ylabel("intermediate")
        marks = (significant or {}).get(model, pd.DataFrame()).reindex(index=table.index, columns=table.columns)
        for (i, j), v in np.ndenumerate(values):
            star = bool(marks.iat[i, j]) if pd.notna(marks.iat[i, j]) else False   # NaN: not tested
            ax.text(j, i, "—" if math.isnan(v) else f"{v:+.1f}" + ("*" if star else ""), ha="center", va="center",
                    color="white" if not math.isnan(v) and abs(norm[i, j]) > 0.6 else "black")
            if star:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
        if marks.notna().any().any():
            ax.set_xlabel("target (main metric); * significant (paired test, Holm)")
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), shrink=0.8)
        bar.set_label("gain / largest |gain| of its metric\n(one colour scale per metric, at least\n5 points; numbers in points)")
    fig.savefig(path, dpi=120, bbox_inches="tight")


def scaling(points: pd.DataFrame, fits: pd.DataFrame, path: Path, metrics: dict[str, str] | None = None) -> None:
    """Per target: gain over none against parameter count (log x), one series and fitted line per (model
    family, row); each point labelled with its model."""
    targets = sorted(points.target.unique())
    fig = Figure(figsize=(5.0 * len(targets), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(targets), squeeze=False)[0]
    for ax, target in zip(axes, targets):
        for (family, label), group in points[points.target == target].groupby(["family", "label"]):
            group = group.sort_values("num_parameters")
            dots = ax.plot(group.num_parameters, group["mean"], "o", label=f"{family} {label}".strip())[0]
            for x, y, model in zip(group.num_parameters, group["mean"], group.model):   # which model each point is
                ax.annotate(str(model), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small",
                            color=dots.get_color())
            fit = fits[(fits.family == family) & (fits.label == label) & (fits.target == target)]
            if len(fit):
                xs = np.array([group.num_parameters.min(), group.num_parameters.max()])
                ax.plot(xs, fit.intercept.iloc[0] + fit.slope.iloc[0] * np.log10(xs), "-", color=dots.get_color())
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.margins(x=0.3, y=0.15)   # room for the model names beside the points
        ax.set_title(f"{target} ({metrics[target]})" if target in (metrics or {}) else target)
        ax.set_xlabel("model parameters (log scale)")
        ax.set_ylabel("gain over none (points)")
        ax.legend(title="family intermediate", fontsize="small")
    fig.savefig(path, dpi=120, bbox_inches="tight")
