"""`python -m xtransfer.report DIR [DIR ...] [--out OUT_DIR] [--claims FILE] [--wandb]`: the grid report.

Reads every results.json (and error.json) under the given sweep or job dirs and writes report.md,
results.csv, intervals.csv, heatmap.png and, when the cells span model sizes, scaling.png into
OUT_DIR. Claims files (--claims, and the sweep preset's own conf/claims/<preset>.yaml) are checked
against the grid.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from omegaconf import OmegaConf

from xtransfer.report import claims as report_claims, cost, plots as report_plots, tables as rt, uncertainty
from xtransfer.errors import XTransferError
from xtransfer.report.collect import BASELINE, ORACLE, ZERO_SHOT, Collection, collect, row_label, use_split

MISSING = "—"


@dataclass
class Report:
    out_dir: Path
    markdown: str
    score_tables: str                                   # the task-score tables, for the sweep's log
    tables: dict[str, pd.DataFrame]                     # long tables, for W&B
    figures: dict[str, Path]
    headlines: dict[str, dict[str, float]] = field(default_factory=dict)   # per model
    n_cells: int = 0
    n_problems: int = 0
    n_trained: int = 0                                  # stages the cells (and upstream jobs) trained, not reused
    verdicts: list = field(default_factory=list)        # claims.Verdict per claim and model


@dataclass(frozen=True)
class Options:
    """How uncertainty is estimated (the CLI's defaults are these) and which claims files to check."""
    claims: tuple[Path, ...] | None = None              # None: the sweep preset's own claims file, if any
    bootstrap: int = uncertainty.BOOTSTRAP
    permutations: int = uncertainty.PERMUTATIONS
    alpha: float = uncertainty.ALPHA
    uncertainty: bool = True                            # False: no intervals, tests or claims (a quick refresh)
    split: str = "test"                                 # dev | test: the scores the tables use (results.json `scores`)


def write_report(dirs: list[Path], out_dir: Path, options: Options = Options()) -> Report:
    collection = use_split(collect([Path(d) for d in dirs]), options.split)
    if options.claims is None:
        options = replace(options, claims=tuple(report_claims.preset_claims(_presets(dirs))))
    report = build_report(collection, Path(out_dir), options)
    report.out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(report.out_dir / "report.md", report.markdown)
    _write_atomic(report.out_dir / "results.csv", report.tables["results"].to_csv(index=False))
    _write_atomic(report.out_dir / "intervals.csv", report.tables["intervals"].to_csv(index=False))
    return report


def _presets(dirs: list[Path]) -> set[str]:
    """The `experiment` presets the sweeps under dirs ran (multirun.yaml's hydra.runtime.choices)."""
    names = set()
    for d in dirs:
        for path in Path(d).rglob("multirun.yaml"):
            name = OmegaConf.select(OmegaConf.load(path), "hydra.runtime.choices.experiment")
            if name:
                names.add(str(name))
    return names


def build_report(collection: Collection, out_dir: Path, options: Options = Options(claims=())) -> Report:
    """All tables and figures; figures are written into out_dir, text is returned."""
    out_dir.mkdir(parents=True, exist_ok=True)
    claim_files = [(path, report_claims.load_claims(path)) for path in options.claims or ()]
    cells = rt.cells_frame(collection.results)
    if options.uncertainty:
        u = uncertainty.analyse(collection, options.bootstrap, options.permutations, options.alpha)
    else:
        u, claim_files = uncertainty.skipped(), []
    scores, deltas = rt.score_stats(cells), rt.delta_stats(cells)
    languages = rt.language_stats(rt.language_frame(collection.results))
    models = sorted(set(cells.model) | {p.cell.model for p in collection.problems if p.cell})
    grid = {model: _grid(model, cells, collection) for model in models}

    sections, score_tables, headlines, bests, delta_wides = [], [], {}, [], {}
    for model in models:
        rows, targets = grid[model]
        score_wide = rt.wide(scores, model, rows, targets)
        delta_rows = [r for r in rows if r != BASELINE]
        delta_wide = rt.wide(deltas, model, delta_rows, targets)
        delta_wides[model] = delta_wide["mean"][targets]
        score_table = _stat_table(score_wide, rows, targets, signed=False)
        score_tables.append(f"{model}: task scores\n{score_table}")
        text = [f"## Model `{model}`", "", "### Task scores", "", score_table, "",
                "### Gain over `none`", "", _stat_table(delta_wide, delta_rows, targets, signed=True), "",
                *uncertainty.markdown(u, model, rows, targets, md_table)]
        for setting in sorted(set(scores[scores.model == model].setting), key=lambda s: s != ZERO_SHOT):
            best = rt.best_per_target(scores, deltas, model, setting)
            if best.empty:
                continue
            headline = rt.headline(best)
            if setting == ZERO_SHOT:
                headlines[model] = headline
            bests.append(best.assign(model=model, setting=setting))
            text += _best_section(best, headline, scores, model, setting)
        text += _language_sections(languages, scores, collection, model, rows)
        sections.append("\n".join(text))

    figures = {"heatmap": out_dir / "heatmap.png"}
    metrics = {r.target_label: r.results.get("main_metric", "") for r in collection.results}
    report_plots.heatmap(delta_wides, figures["heatmap"], {m: u.significant(m) for m in models}, metrics)
    per_stage, per_cell, _ = cost.cost_tables(collection)
    tables = {"scores": scores, "deltas": deltas, "languages": languages,
              "best_per_target": pd.concat(bests) if bests else pd.DataFrame(),
              "results": rt.tidy_frame(collection.results), "intervals": u.intervals, "tests": u.tests,
              "cost_stages": per_stage, "cost_cells": per_cell}
    if rt.spans_model_sizes(cells):
        figures["scaling"] = out_dir / "scaling.png"
        tables["scaling"] = _scaling(cells, deltas, figures["scaling"], sections, metrics)
    verdicts = []
    for path, claims in claim_files:
        found = report_claims.evaluate(claims, report_claims.Grid(scores, deltas, rt.parameters_per_model(cells), u),
                                       models)
        verdicts += found
        sections.append(report_claims.markdown(path, claims, found))
    sections.append(cost.markdown(collection, md_table))
    sections.append(_problems_section(collection, cells, grid, u.notes))
    shown = "\n\n".join(f"![{name}]({p.name})" for name, p in figures.items())   # relative: report.md renders as a page
    markdown = "\n\n".join([_preamble(collection, cells), f"## Figures\n\n{shown}", *sections]) + "\n"
    records = [s for r in collection.results for s in r.results.get("stages", [])] + collection.upstream_stages
    trained = sum(not s.get("reused", True) for s in records)
    return Report(out_dir, markdown, "\n\n".join(score_tables), tables, figures, headlines,
                  len(collection.results), len(collection.problems), trained, verdicts)


def _grid(model: str, cells: pd.DataFrame, collection: Collection) -> tuple[list[str], list[str]]:
    """Rows and targets of a model's tables: those with results and those of its failed or missing cells."""
    mine = cells[cells.model == model]
    problem_cells = [p.cell for p in collection.problems if p.cell and p.cell.model == model]
    rows = rt.row_order(set(mine.label) | {row_label(c.intermediate, ZERO_SHOT) for c in problem_cells})
    targets = sorted(set(mine.target) | {c.target for c in problem_cells})
    return rows, targets


def fmt_stat(mean: float, std: float, n: float, signed: bool = False) -> str:
    if n != n or not n or mean != mean:   # NaN: no result
        return MISSING
    value = f"{mean:+.2f}" if signed else f"{mean:.2f}"
    return value if n == 1 else f"{value} ± {std:.2f} (n={int(n)})"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _stat_table(wide: pd.DataFrame, rows: list[str], targets: list[str], signed: bool) -> str:
    body = []
    for row in rows:
        cells = [fmt_stat(wide.at[row, ("mean", t)], wide.at[row, ("std", t)], wide.at[row, ("n", t)], signed)
                 for t in targets]
        avg = wide.at[row, ("mean", "avg")]
        body.append([row, *cells, MISSING if math.isnan(avg) else (f"{avg:+.2f}" if signed else f"{avg:.2f}")])
    return md_table(["intermediate", *targets, "avg"], body)


def _best_section(best: pd.DataFrame, headline: dict, scores: pd.DataFrame, model: str, setting: str) -> list[str]:
    base = scores[(scores.model == model) & (scores.label == BASELINE)].set_index("target")
    rows = [[b.target, f"`{b.label}`", fmt_stat(b["mean"], b["std"], b["n"]),
             fmt_stat(*base.loc[b.target, ["mean", "std", "n"]]) if b.target in base.index else MISSING,
             fmt_stat(b.delta, b.delta_std, b.delta_n, signed=True)] for _, b in best.iterrows()]
    delta = headline["best_per_task_delta"]
    return [f"### Best intermediate per target ({setting})", "",
            md_table(["target", "best intermediate", "score", "none", "gain"], rows), "",
            f"**Best-per-task average ({setting}): {headline['best_per_task_avg']:.2f} over "
            f"{headline['targets']} targets; gain over none: "
            + (MISSING if math.isnan(delta) else f"{delta:+.2f}")
            + f" (over the {headline['targets_with_delta']} targets with a `none` result).**", ""]


def _language_sections(languages: pd.DataFrame, scores: pd.DataFrame, collection: Collection,
                       model: str, rows: list[str]) -> list[str]:
    text = ["### Per-language scores", ""]
    for target in sorted(set(languages[languages.model == model].target)):
        part = languages[(languages.model == model) & (languages.target == target)]
        results = [r.results for r in collection.results if r.cell.model == model and r.target_label == target]
        langs = list(dict.fromkeys(part.language))
        split_metric = sorted({f"{r['score_split']}, {r['main_metric']}" for r in results})
        stats = part.set_index(["label", "language"])
        task = scores[(scores.model == model) & (scores.target == target)].set_index("label")
        body = []
        for row in rows:
            cells = [fmt_stat(*stats.loc[(row, lang), ["mean", "std", "n"]]) if (row, lang) in stats.index
                     else MISSING for lang in langs]
            score = fmt_stat(*task.loc[row, ["mean", "std", "n"]]) if row in task.index else MISSING
            body.append([row, *cells, score])
        text += [f"#### {target} ({'; '.join(split_metric)})", "", md_table(["intermediate", *langs, "score"], body), ""]
    return text


def _scaling(cells: pd.DataFrame, deltas: pd.DataFrame, path: Path, sections: list[str],
             metrics: dict[str, str]) -> pd.DataFrame:
    params = rt.parameters_per_model(cells)
    families = rt.families_per_model(cells)
    points = deltas[deltas.model.isin(params)].assign(num_parameters=lambda d: d.model.map(params),
                                                      family=lambda d: d.model.map(families))
    fits = rt.scaling_fits(deltas, params, families)
    report_plots.scaling(points, fits, path, metrics)
    unknown = sorted(set(cells.model) - set(params))
    rows = [(f, label) for f in sorted(set(fits.family)) for label in rt.row_order(fits[fits.family == f].label)]
    targets = sorted(set(fits.target))
    slope = fits.set_index(["family", "label", "target"]).slope
    body = [[f"{f} / {label}" if f else label,
             *(f"{slope[(f, label, t)]:+.2f}" if (f, label, t) in slope.index else MISSING for t in targets)]
            for f, label in rows]
    sections.append("\n".join([
        "## Scaling: gain over none against model size", "",
        "Models: " + ", ".join(f"`{m}` {p:,.0f}" for m, p in sorted(params.items(), key=lambda kv: kv[1]))
        + (f"; without num_parameters (left out): {', '.join(unknown)}" if unknown else ""), "",
        "Slope of the least-squares fit of gain (points) on log10(parameters), per model family: points per "
        "10x parameters (`scaling.png`).", "", md_table(["family / intermediate", *targets], body)]))
    return fits


def _problems_section(collection: Collection, cells: pd.DataFrame, grid: dict, notes: list[str]) -> str:
    have = {r.cell: r.path for r in collection.results}
    rows = []
    for p in collection.problems:
        reason = p.reason + (f" (a result from {have[p.cell]} is used)" if p.cell in have else "")
        rows.append([str(p.cell) if p.cell else MISSING, f"`{p.where}`", reason.replace("|", "\\|").replace("\n", " ")])
    listed = {(p.cell.model, row_label(p.cell.intermediate, ZERO_SHOT), p.cell.target)
              for p in collection.problems if p.cell}
    present = set(zip(cells.model, cells.label, cells.target))
    for model, (labels, targets) in grid.items():
        for label in labels:
            for target in targets:
                if (model, label, target) not in present | listed:
                    rows.append([f"{model} / {label} / {target}", MISSING, "no result in the given dirs"])
    text = ["## Missing and failed cells", ""]
    text.append(md_table(["cell", "where", "reason"], rows) if rows else "None: every cell has a result.")
    if collection.notes or notes:
        text += ["", "## Notes", "", *(f"- {note}" for note in [*collection.notes, *notes])]
    return "\n".join(text)


def _preamble(collection: Collection, cells: pd.DataFrame) -> str:
    sources = ", ".join(f"`{s}`" for s in collection.sources)
    return "\n".join([
        "# Grid report", "",
        f"From {sources}: {len(cells)} cells with results, {len(collection.problems)} failed or missing.", "",
        "Task scores are 0-100 (each cell's mean over languages of its main metric on its score split). "
        "Where a cell has several seeds: mean ± sample std (n = seeds). Gains are paired seed by seed with "
        "`none` (zero-shot) of the same model and target; `avg` is the mean over targets, "
        f"{MISSING} when a row lacks a target. {MISSING}: no result (see *Missing and failed cells*).",
        *([""] + [f"Scores on the **{collection.split}** split (`--split`, `report.split`)."]),
        *(["", f"`bucc {ORACLE}`: the mining threshold was tuned on the test data it scores "
                   f"(target.oracle_threshold=true, no dev set): not BUCC F1 as XTREME reports it."]
          if any(r.results.get("oracle_threshold") for r in collection.results) else [])])


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)   # a reader never sees half a report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xtransfer.report", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep dirs, job dirs, or dirs above them")
    parser.add_argument("--out", type=Path, help="where to write the report (default: the single DIR)")
    parser.add_argument("--wandb", action="store_true", help="also log the report to one W&B summary run")
    parser.add_argument("--split", choices=["dev", "test"], default="test",
                        help="the scores the tables use: dev (the study compares intermediates on dev) or test")
    parser.add_argument("--claims", type=Path, action="append",
                        help="a claims YAML to check (repeatable; default: the sweep preset's conf/claims/<preset>.yaml)")
    parser.add_argument("--bootstrap", type=int, default=uncertainty.BOOTSTRAP, help="bootstrap resamples")
    parser.add_argument("--permutations", type=int, default=uncertainty.PERMUTATIONS,
                        help="random swaps of the paired test")
    parser.add_argument("--alpha", type=float, default=uncertainty.ALPHA, help="family-wise error rate (Holm)")
    args = parser.parse_args(argv)
    if args.out is None and len(args.dirs) > 1:
        parser.error("--out is required with several DIRs")
    out = args.out or args.dirs[0]
    try:
        claims = None if args.claims is None else tuple(args.claims)
        report = write_report(args.dirs, out, Options(claims=claims, bootstrap=args.bootstrap,
                                                      permutations=args.permutations, alpha=args.alpha,
                                                      split=args.split))
        if args.wandb:
            from xtransfer.report import wandb_run as report_wandb
            report_wandb.log_report(report, report_wandb.settings_for_dirs(args.dirs, out))
    except XTransferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for v in report.verdicts:
        print(f"claim {v.claim['id']} ({v.model}): {v.verdict}: {v.estimate} ({v.why})")
    written = ["report.md", "results.csv", "intervals.csv", *(p.name for p in report.figures.values())]
    print(f"{report.n_cells} cells, {report.n_problems} failed or missing: {', '.join(str(out / n) for n in written)}")
    return 0

