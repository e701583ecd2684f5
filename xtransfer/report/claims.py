"""Claims as checks: expected findings, stated as comparisons over the grid, judged with their intervals.

A claims file (conf/claims/<preset>.yaml) lists claims; each has an `id`, what it `says`, where that
comes from (`cite`), optionally the `paper` figure, and one statistic with a condition:

  gain:       {intermediate: NAME | each | best, target: T | targets: [..] | all}
              the gain over `none` (the mean over the targets); `each`: every zero-shot intermediate
              must pass; `best`: per target the zero-shot intermediate with the highest mean score.
              NAME is a row label: mnli, mnli>squad, multitask[mnli,squad], none [translate-train], ...
  difference: {a: NAME, b: NAME, targets: ...}   mean over targets of gain(a) - gain(b)
  best:       {is: NAME | [NAMES], among: all | [NAMES], targets: ...}   the highest mean gain is one of `is`
              (all: the zero-shot intermediates)
  slope:      {intermediate: NAME | each, targets: ...}   points of gain per 10x parameters, mean over targets
  condition:  at_least: X | at_most: X | significant: true | false

Verdicts, from the statistic's 95% bootstrap interval (report/uncertainty.py):
  supported      the interval lies on the claimed side (at_least: lo >= X; at_most: hi <= X);
                 significant: the paired test's gain survives Holm (true) or does not (false)
  contradicted   the interval lies on the other side (at_least: hi < X; at_most: lo > X);
                 significant: false, but the gain is significant and positive
  inconclusive   the interval straddles the threshold (or the gain is not significant for `true`)
  not testable   the grid lacks the rows, targets or model sizes the claim needs
Without per-example predictions the point estimate decides, and the verdict says so. `best`: the
claimed row ranks first (supported), another row is ahead with an interval of the difference above 0
(contradicted), else inconclusive; the share of bootstrap replicates in which a claimed row is first
is shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from xtransfer.config import CONF_DIR
from xtransfer.errors import ConfigError
from xtransfer.report.collect import BASELINE
from xtransfer.report.stats import interval
from xtransfer.report.uncertainty import Uncertainty

CLAIMS_DIR = CONF_DIR / "claims"
KINDS = ("gain", "difference", "best", "slope")
CONDITIONS = ("at_least", "at_most", "significant")


class NotTestable(Exception):
    pass


@dataclass
class Verdict:
    claim: dict[str, Any]
    model: str
    verdict: str
    estimate: str
    why: str


def load_claims(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the claims file ({e})") from None
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, list) or not claims:
        raise ConfigError(f"{path}: expected a mapping with a non-empty `claims:` list")
    for n, claim in enumerate(claims, start=1):
        name = claim.get("id", "no id") if isinstance(claim, dict) else repr(claim)
        where = f"{path}: claim {n} ({name})"
        kinds = [k for k in KINDS if isinstance(claim, dict) and k in claim]
        conditions = [c for c in CONDITIONS if isinstance(claim, dict) and c in claim]
        if len(kinds) != 1 or not isinstance(claim.get(kinds[0]), dict):
            raise ConfigError(f"{where}: needs exactly one of {list(KINDS)} as a mapping")
        if kinds[0] != "best" and len(conditions) != 1:
            raise ConfigError(f"{where}: needs exactly one of {list(CONDITIONS)}")
        if not claim.get("id") or not claim.get("says"):
            raise ConfigError(f"{where}: needs an `id` and what it `says`")
    return data


def preset_claims(experiments: set[str]) -> list[Path]:
    return [CLAIMS_DIR / f"{name}.yaml" for name in sorted(experiments) if (CLAIMS_DIR / f"{name}.yaml").is_file()]


class Grid:
    """The numbers claims are checked against: point gains, their replicates, scores, model sizes."""

    def __init__(self, scores: pd.DataFrame, deltas: pd.DataFrame, params: dict[str, float], u: Uncertainty):
        self.scores, self.deltas, self.params, self.u = scores, deltas, params, u

    def targets(self, model: str, spec: dict) -> list[str]:
        have = sorted(set(self.scores[self.scores.model == model].target))
        wanted = spec.get("targets", spec.get("target", "all"))
        wanted = have if wanted == "all" else [wanted] if isinstance(wanted, str) else list(wanted)
        missing = [t for t in wanted if t not in have]
        if missing or not wanted:
            raise NotTestable(f"targets {missing or wanted} not in the grid")
        return wanted

    def labels(self, model: str) -> list[str]:
        """The zero-shot intermediates (what `each` and `among: all` mean); other settings are named."""
        return [label for label in self.rows(model) if "[" not in label]

    def rows(self, model: str) -> list[str]:
        return sorted(set(self.scores[self.scores.model == model].label) - {BASELINE})

    def gain(self, model: str, label: str, target: str) -> tuple[float, np.ndarray | None]:
        row = self.deltas[(self.deltas.model == model) & (self.deltas.label == label) & (self.deltas.target == target)]
        if row.empty:
            raise NotTestable(f"no gain of `{label}` over none on {target}")
        return float(row["mean"].iloc[0]), self.u.gain_replicates.get((model, label, target))

    def best_label(self, model: str, target: str) -> str:
        part = self.scores[(self.scores.model == model) & (self.scores.target == target)
                           & (self.scores.label != BASELINE) & ~self.scores.label.str.contains(r"\[", regex=True)]
        if part.empty:
            raise NotTestable(f"no intermediate on {target}")
        return str(part.loc[part["mean"].idxmax(), "label"])

    def mean_gain(self, model: str, label: str, targets: list[str]) -> tuple[float, np.ndarray | None]:
        pairs = [self.gain(model, self.best_label(model, t) if label == "best" else label, t) for t in targets]
        reps = [r for _, r in pairs]
        return float(np.mean([g for g, _ in pairs])), (np.mean(reps, axis=0) if all(r is not None for r in reps)
                                                       else None)


def evaluate(claims: dict[str, Any], grid: Grid, models: list[str]) -> list[Verdict]:
    out = []
    for claim in claims["claims"]:
        kind = next(k for k in KINDS if k in claim)
        for model in ([claim["model"]] if claim.get("model") else models) if kind != "slope" else ["all models"]:
            try:
                out.append(_judge(claim, kind, model, grid, models))
            except NotTestable as e:
                out.append(Verdict(claim, model, "not testable", "—", str(e)))
    return out


def _judge(claim: dict, kind: str, model: str, grid: Grid, models: list[str]) -> Verdict:
    spec = claim[kind]
    if kind == "best":
        return _best(claim, spec, model, grid)
    if kind == "gain" and "significant" in claim:
        return _significance(claim, spec, model, grid)
    if kind == "gain" and spec.get("intermediate") == "each":
        judged = [_threshold(claim, model, *grid.mean_gain(model, label, grid.targets(model, spec)), label)
                  for label in grid.labels(model)]
        return _combine(claim, model, judged)
    if kind == "gain":
        return _threshold(claim, model, *grid.mean_gain(model, spec["intermediate"], grid.targets(model, spec)))
    if kind == "difference":
        targets = grid.targets(model, spec)
        a, ra = grid.mean_gain(model, spec["a"], targets)
        b, rb = grid.mean_gain(model, spec["b"], targets)
        return _threshold(claim, model, a - b, None if ra is None or rb is None else ra - rb)
    labels = grid.labels(models[0]) if spec.get("intermediate") == "each" else [spec["intermediate"]]
    return _combine(claim, model, [_threshold(claim, model, *_slope(grid, label, spec, models), label)
                                   for label in labels])


def _threshold(claim: dict, model: str, value: float, reps: np.ndarray | None, label: str | None = None) -> Verdict:
    lo, hi = interval(reps) if reps is not None else (value, value)
    x = float(claim.get("at_least", claim.get("at_most")))
    at_least = "at_least" in claim
    if at_least:
        verdict = "supported" if lo >= x else "contradicted" if hi < x else "inconclusive"
    else:
        verdict = "supported" if hi <= x else "contradicted" if lo > x else "inconclusive"
    estimate = f"{value:+.2f}" + (f" [{lo:+.2f}, {hi:+.2f}]" if reps is not None else "")
    why = f"{'>=' if at_least else '<='} {x:g}" + ("" if reps is not None else "; point estimate only (no "
                                                  "per-example predictions)")
    return Verdict(claim, model, verdict, (f"{label}: " if label else "") + estimate, why)


def _combine(claim: dict, model: str, judged: list[Verdict]) -> Verdict:
    if not judged:
        raise NotTestable("no intermediate besides none")
    verdicts = {v.verdict for v in judged}
    verdict = "contradicted" if "contradicted" in verdicts else "supported" if verdicts == {"supported"} else \
        "inconclusive"
    return Verdict(claim, model, verdict, "; ".join(v.estimate for v in judged), judged[0].why + " for each")


def _significance(claim: dict, spec: dict, model: str, grid: Grid) -> Verdict:
    labels = grid.labels(model) if spec.get("intermediate") == "each" else [spec["intermediate"]]
    judged = []
    for target in grid.targets(model, spec):
        for label in labels:
            label = grid.best_label(model, target) if label == "best" else label
            grid.gain(model, label, target)    # not testable without the cells
            test = grid.u.tests[(grid.u.tests.model == model) & (grid.u.tests.label == label)
                                & (grid.u.tests.target == target)]
            if test.empty:
                raise NotTestable(f"no paired test of `{label}` on {target} (per-example predictions needed)")
            t = test.iloc[0]
            positive = bool(t.significant) and t.gain > 0
            if claim["significant"]:
                verdict = "supported" if positive else "contradicted" if t.significant else "inconclusive"
            else:
                verdict = "contradicted" if positive else "supported"
            judged.append(Verdict(claim, model, verdict, f"{label} on {target}: {t.gain:+.2f}, p={t.p:.3g} "
                                  f"(Holm {t.p_holm:.3g})", f"Holm at alpha={grid.u.alpha:g}"))
    combined = _combine(claim, model, judged)
    return Verdict(claim, model, combined.verdict, combined.estimate, judged[0].why)


def _best(claim: dict, spec: dict, model: str, grid: Grid) -> Verdict:
    targets = grid.targets(model, spec)
    among = grid.labels(model) if spec.get("among", "all") == "all" else list(spec["among"])
    claimed = [spec["is"]] if isinstance(spec["is"], str) else list(spec["is"])
    absent = [label for label in claimed if label not in grid.rows(model)]
    if absent:
        raise NotTestable(f"no {', '.join(f'`{a}`' for a in absent)} row in the grid")
    if any(label not in among for label in claimed):
        raise NotTestable(f"{claimed} are not all among {among}")
    gains = {}
    for label in among:
        try:
            gains[label] = grid.mean_gain(model, label, targets)
        except NotTestable:
            if label in claimed:
                raise
    if len(gains) < 2:
        raise NotTestable("fewer than two rows to compare")
    ranked = sorted(gains, key=lambda label: -gains[label][0])
    top = max(claimed, key=lambda label: gains[label][0])
    reps = {label: r for label, (_, r) in gains.items()}
    estimate = f"first: {ranked[0]} {gains[ranked[0]][0]:+.2f}; {top} {gains[top][0]:+.2f}"
    if all(r is not None for r in reps.values()):
        stacked = np.stack([reps[label] for label in gains])
        first = np.array(list(gains))[stacked.argmax(axis=0)]
        estimate += f"; P(first is {'/'.join(claimed)}) = {np.isin(first, claimed).mean():.2f}"
    if ranked[0] in claimed:
        verdict = "supported"
    else:
        lead = reps[ranked[0]] - reps[top] if reps[ranked[0]] is not None and reps[top] is not None else None
        ahead = gains[ranked[0]][0] > gains[top][0] if lead is None else interval(lead)[0] > 0
        verdict = "contradicted" if ahead else "inconclusive"
    return Verdict(claim, model, verdict, estimate, f"mean gain over {len(targets)} targets" +
                   ("" if all(r is not None for r in reps.values()) else "; point estimates only"))


def _slope(grid: Grid, label: str, spec: dict, models: list[str]) -> tuple[float, np.ndarray | None]:
    sized = [m for m in models if m in grid.params]
    if len({grid.params[m] for m in sized}) < 2:
        raise NotTestable("needs cells of at least two model sizes (num_parameters)")
    x = np.log10([grid.params[m] for m in sized])
    x = x - x.mean()
    slopes, reps = [], []
    for target in grid.targets(sized[0], spec):
        pairs = [grid.gain(m, label, target) for m in sized]
        slopes.append(float(np.dot(x, [g for g, _ in pairs]) / np.dot(x, x)))
        reps.append(None if any(r is None for _, r in pairs) else np.tensordot(x, np.stack([r for _, r in pairs]), 1)
                    / np.dot(x, x))
    return float(np.mean(slopes)), (np.mean(reps, axis=0) if all(r is not None for r in reps) else None)


def markdown(path: Path, claims: dict[str, Any], verdicts: list[Verdict]) -> str:
    rows = [[f"`{v.claim['id']}`", v.claim["says"].replace("|", "\\|") + (f" (paper: {v.claim['paper']})"
                                                                         if "paper" in v.claim else ""),
             v.model, v.estimate.replace("|", "\\|"), f"**{v.verdict}**", v.why.replace("|", "\\|")] for v in verdicts]
    header = "| claim | says | model | ours [95% interval] | verdict | checked as |\n|---|---|---|---|---|---|\n"
    return "\n".join([f"## Claims: `{path}`", "", str(claims.get("source", "")), "",
                      header + "\n".join("| " + " | ".join(r) + " |" for r in rows)])
