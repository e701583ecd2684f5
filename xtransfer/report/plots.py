"""The report's figures, drawn with matplotlib's Agg canvas (no display, no global backend switch)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def heatmap(deltas: dict[str, pd.DataFrame], path: Path, significant: dict[str, pd.DataFrame] | None = None) -> None:
    """One panel per model: rows intermediates (no `none`), columns targets, colours centred on 0.

    A gain that survives the paired test and Holm's correction (`significant`: label x target booleans)
    is marked with * and a black frame."""
    finite = [abs(v) for d in deltas.values() for v in d.to_numpy().ravel() if not math.isnan(v)]
    limit = max(finite, default=0.0) or 1.0      # symmetric limits keep 0 at the neutral colour
    panels = list(deltas.items()) or [("no model", pd.DataFrame())]
    widths = [max(3.0, 1.1 * d.shape[1] + 2.5) for _, d in panels]
    fig = Figure(figsize=(sum(widths), max(2.5, 0.5 * max(d.shape[0] for _, d in panels) + 1.8)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": widths})[0]
    image = None
    for ax, (model, table) in zip(axes, panels):
        ax.set_title(f"{model}: gain over none (points)")
        if table.empty:
            ax.text(0.5, 0.5, "no deltas: needs intermediate=none\nand another intermediate",
                    ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        values = table.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
        ax.set_yticks(range(table.shape[0]), table.index)
        marks = (significant or {}).get(model, pd.DataFrame()).reindex(index=table.index, columns=table.columns)
        for (i, j), v in np.ndenumerate(values):
            star = bool(marks.iat[i, j]) if pd.notna(marks.iat[i, j]) else False   # NaN: not tested
            ax.text(j, i, "—" if math.isnan(v) else f"{v:+.1f}" + ("*" if star else ""), ha="center", va="center",
                    color="white" if abs(v) > 0.6 * limit else "black")
            if star:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
        if marks.notna().any().any():
            ax.set_xlabel("* significant (paired test, Holm)")
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def scaling(points: pd.DataFrame, fits: pd.DataFrame, path: Path) -> None:
    """Per target: gain over none against parameter count (log x), one series and fitted line per (model
    family, row); each point labelled with its model."""
    targets = sorted(points.target.unique())
    fig = Figure(figsize=(4.5 * len(targets), 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(targets), squeeze=False)[0]
    for ax, target in zip(axes, targets):
        for (family, label), group in points[points.target == target].groupby(["family", "label"]):
            group = group.sort_values("num_parameters")
            dots = ax.plot(group.num_parameters, group["mean"], "o", label=f"{family} {label}".strip())[0]
            for x, y, model in zip(group.num_parameters, group["mean"], group.model):
                ax.annotate(model, (x, y), fontsize="x-small", textcoords="offset points", xytext=(3, 3))
            fit = fits[(fits.family == family) & (fits.label == label) & (fits.target == target)]
            if len(fit):
                xs = np.array([group.num_parameters.min(), group.num_parameters.max()])
                ax.plot(xs, fit.intercept.iloc[0] + fit.slope.iloc[0] * np.log10(xs), "-", color=dots.get_color())
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(target)
        ax.set_xlabel("parameters")
        ax.set_ylabel("gain over none (points)")
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=120, bbox_inches="tight")
