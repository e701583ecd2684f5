"""`python -m xtransfer.export DIR [DIR ...] --out PRED_DIR [--labels LABEL_DIR]`

Writes the test predictions of the cells found under DIR (sweep or job dirs: every
results.json below them) as an XTREME submission: `<task>/test-<lang>.<ext>`, task names and
language codes as XTREME's evaluator spells them (bucc -> bucc2018, tatoeba deu -> de).
One cell per XTREME task: narrow a grid with --model/--intermediate/--seed.

Files are copied as the cells wrote them (the families write XTREME's formats), except
Tatoeba: XTREME's test data lists the English side sorted alphabetically, so a predicted
English line number becomes that line's position in the sorted list (the English side is read
from the cell's own data). XTREME scores no LAReQA language; lareqa cells are skipped.
`--benchmark xtreme-r` exports XTREME-R's tasks only (no PAWS-X, BUCC; XCOPA and Mewsli-X included).
`--labels` also writes the gold labels of the same test data in XTREME's label layout, so
`python -m xtransfer.score` can score the export (tests, local checks).
`--benchmark xglue` writes XGLUE's layout instead (xtransfer/xglue/export.py).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from omegaconf import OmegaConf

import xtransfer.config  # noqa: F401  (registers the resolvers the saved configs use)
from xtransfer.errors import DataError, XTransferError
from xtransfer.config.build import build_task
from xtransfer.config.schema import TaskSpec
from xtransfer.xtreme.benchmark import LANGUAGES, TARGET_TASKS, suffix, xtreme_language


@dataclass(frozen=True)
class Cell:
    job_dir: Path
    results: dict[str, Any]

    @property
    def task(self) -> str | None:
        return TARGET_TASKS.get(self.results["target"])

    def describe(self) -> str:
        r = self.results
        return (f"model={r['model']} intermediate={r['intermediate']} setting={r.get('setting', 'zero-shot')} "
                f"seed={r['seed']} ({self.job_dir})")

    def eval_task(self) -> TaskSpec:
        """The evaluation task as the cell ran it, from the config Hydra saved in its job dir."""
        path = self.job_dir / ".hydra" / "config.yaml"
        if not path.is_file():
            raise DataError(f"{path} is missing: exporting '{self.results['target']}' needs the cell's "
                            f"config to read its test data")
        return build_task(OmegaConf.load(path).target.eval_task, "target.eval_task")


def find_cells(dirs: list[Path]) -> list[Cell]:
    cells = []
    for folder in dirs:
        if not folder.is_dir():
            raise DataError(f"{folder} is not a directory (give sweep or job dirs)")
        for path in sorted(folder.rglob("results.json")):
            try:
                cells.append(Cell(path.parent, json.loads(path.read_text(encoding="utf-8"))))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
    if not cells:
        raise DataError(f"no results.json under {', '.join(map(str, dirs))}")
    return cells


def select(cells: list[Cell], model: str | None, intermediate: str | None, seed: int | None,
           setting: str | None = None, task_of: Callable[[Cell], str | None] = lambda c: c.task,
           benchmark: str = "XTREME") -> dict[str, Cell]:
    """Benchmark task -> the one cell that fills it (`task_of` names a cell's task, None: not scored by
    the benchmark); an error listing the candidates when several do."""
    wanted = [c for c in cells
              if (model is None or c.results["model"] == model)
              and (intermediate is None or c.results["intermediate"] == intermediate)
              and (seed is None or c.results["seed"] == seed)
              and (setting is None or c.results.get("setting", "zero-shot") == setting)]
    by_task: dict[str, list[Cell]] = {}
    for cell in wanted:
        task = task_of(cell)
        if task is None:
            print(f"skipped {cell.results['target']}: not an {benchmark} task ({cell.job_dir})",
                  file=sys.stderr)
        else:
            by_task.setdefault(task, []).append(cell)
    if not by_task:
        raise DataError(f"no cell with an {benchmark} task matches the filters among {len(cells)} cells")
    for task, candidates in by_task.items():
        if len(candidates) > 1:
            listing = "; ".join(c.describe() for c in candidates)
            raise DataError(f"{len(candidates)} cells fill {benchmark} task '{task}': {listing}. "
                            f"A submission takes one: choose with --model, --intermediate, --setting and --seed")
    return {task: candidates[0] for task, candidates in by_task.items()}


def benchmark_task(target: str, benchmark: str) -> str | None:
    """Our target -> the benchmark's task name, None where that benchmark does not score it. XTREME keeps
    its historical set plus XTREME-R's tasks (the scorer picks); xtreme-r drops PAWS-X and BUCC."""
    task = TARGET_TASKS.get(target)
    if benchmark == "xtreme-r" and task not in LANGUAGES["xtreme-r"]:
        return None
    return task


def _extension(task: str) -> str:
    return suffix(task, "xtreme" if task in LANGUAGES["xtreme"] else "xtreme-r")


def _languages(cell: Cell, task: str) -> list[tuple[str, str]]:
    """(our code, XTREME's code) of the cell's languages that XTREME has."""
    pairs = [(lang, xtreme_language(task, lang)) for lang in cell.results["languages"]]
    return [(ours, theirs) for ours, theirs in pairs if theirs is not None]


def tatoeba_positions(spec: TaskSpec, lang: str) -> list[int]:
    """English line i -> its position once the English side is sorted as XTREME's
    utils_preprocess.py sorts it (by the stripped text, stable)."""
    from xtransfer.data.sources import load_rows
    from xtransfer.tasks import get_family

    rows = load_rows(spec, "test", lang, get_family("retrieval").normalize)
    english = [text for row in rows for text in row["target"]]
    positions = [0] * len(english)
    for rank, line in enumerate(sorted(range(len(english)), key=lambda i: english[i].strip())):
        positions[line] = rank
    return positions


def _tatoeba_predictions(source: Path, positions: list[int]) -> str:
    lines = source.read_text(encoding="utf-8").splitlines()
    try:
        return "".join(f"{positions[int(line)]}\n" for line in lines)
    except (ValueError, IndexError):
        raise DataError(f"{source}: expected English line numbers 0..{len(positions) - 1}, one per line") from None


def export_predictions(cell: Cell, task: str, out: Path) -> list[str]:
    """Writes the cell's test predictions under out/<task>/; returns XTREME's codes written."""
    ext = _extension(task)
    (out / task).mkdir(parents=True, exist_ok=True)
    spec = cell.eval_task() if task == "tatoeba" else None
    written = []
    for ours, theirs in _languages(cell, task):
        source = cell.job_dir / cell.results.get("predictions", "predictions") / f"test-{ours}.{ext}"
        if not source.is_file():
            raise DataError(f"{source} is missing: the cell has no test predictions for '{ours}'")
        target = out / task / f"test-{theirs}.{ext}"
        if spec is not None:
            target.write_text(_tatoeba_predictions(source, tatoeba_positions(spec, ours)), encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        written.append(theirs)
    return written


def _label_text(task: str, spec: TaskSpec, lang: str) -> str:
    """The gold labels of the cell's test data in XTREME's label format."""
    from xtransfer.data.sources import load_rows
    from xtransfer.tasks import get_family

    if task == "tatoeba":
        return "".join(f"{p}\n" for p in tatoeba_positions(spec, lang))
    rows = load_rows(spec, "test", lang, get_family(spec.family).normalize)
    if spec.family == "classification":
        return "".join(f"{spec.labels[row['label']]}\n" for row in rows)
    if spec.family == "tagging":
        return "\n\n".join("\n".join(row["tags"]) for row in rows) + "\n"
    if spec.family == "multiple_choice":
        return "".join(json.dumps({"idx": i if row["id"] is None else row["id"], "label": row["label"]}) + "\n"
                       for i, row in enumerate(rows))
    if spec.family == "entity_retrieval":   # Mewsli-X: {example id: [gold entity id]}, the mentions only
        return json.dumps({row["id"]: [row["entity_id"]] for row in rows if row["kind"] != "entity"},
                          ensure_ascii=False) + "\n"
    if spec.family == "span":
        paragraphs = [{"context": row["context"], "qas": [{
            "id": row["id"], "question": row["question"],
            "answers": [{"text": t, "answer_start": s}
                        for t, s in zip(row["answers"]["text"], row["answers"]["answer_start"])]}]}
            for row in rows]
        return json.dumps({"data": [{"paragraphs": paragraphs}]}, ensure_ascii=False) + "\n"
    return "".join(f"{src}\t{trg}\n" for row in rows for src, trg in row["gold"])  # bucc


def export_labels(cell: Cell, task: str, out: Path) -> None:
    spec = cell.eval_task()
    (out / task).mkdir(parents=True, exist_ok=True)
    for ours, theirs in _languages(cell, task):
        (out / task / f"test-{theirs}.{_extension(task)}").write_text(_label_text(task, spec, ours),
                                                                       encoding="utf-8")


def _missing(task: str, written: list[str], benchmarks: tuple[str, ...] = tuple(LANGUAGES)) -> str:
    """What each benchmark's evaluator would miss (it stops at the first missing language)."""
    notes = []
    for bench in benchmarks:
        tasks = LANGUAGES[bench]
        if task in tasks:
            lacking = [lang for lang in tasks[task] if lang not in written]
            if lacking:
                notes.append(f"{bench} also needs {' '.join(lacking)}")
    return f" ({'; '.join(notes)})" if notes else ""


def _oracle(cell: Cell) -> str:
    """BUCC predictions mined at a threshold tuned on the test data itself are labelled as such."""
    if not cell.results.get("oracle_threshold"):
        return ""
    return (" [ORACLE THRESHOLD: tuned on the test data it scores (target.oracle_threshold=true); "
            "not BUCC F1 as XTREME reports it]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m xtransfer.export", description=__doc__.split("\n\n")[1])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or job dirs (results.json found below)")
    parser.add_argument("--out", type=Path, required=True, help="the submission folder to write")
    parser.add_argument("--labels", type=Path, help="also write the test labels in XTREME's layout here")
    parser.add_argument("--model")
    parser.add_argument("--intermediate")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--setting", help="zero-shot, translate-train or in-language (results.json `setting`)")
    parser.add_argument("--benchmark", choices=("xtreme", "xtreme-r", "xglue"), default="xtreme",
                        help="xtreme-r: XTREME-R's tasks only (no pawsx, bucc2018; xcopa, mewslix); "
                             "xglue: XGLUE's <TASK>/<lang>.prediction layout (xtransfer/xglue/export.py)")
    parser.add_argument("--split", choices=("test", "dev"), default="test", help="xglue only: which split to export")
    args = parser.parse_args(argv)
    if args.benchmark == "xglue":
        return _main_xglue(args)
    try:
        chosen = select(find_cells(args.dirs), args.model, args.intermediate, args.seed, args.setting,
                        task_of=lambda c: benchmark_task(c.results["target"], args.benchmark),
                        benchmark=args.benchmark.upper())
        benchmarks = (args.benchmark,) if args.benchmark == "xtreme-r" else tuple(LANGUAGES)
        for task, cell in chosen.items():
            written = export_predictions(cell, task, args.out)
            if args.labels:
                export_labels(cell, task, args.labels)
            print(f"{task}: {len(written)} languages from {cell.describe()}{_missing(task, written, benchmarks)}"
                  f"{_oracle(cell)}")
    except XTransferError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"predictions written to {args.out}" + (f", labels to {args.labels}" if args.labels else ""))


def _main_xglue(args: argparse.Namespace) -> None:
    from xtransfer.xglue import export as xglue
    from xtransfer.xglue.benchmark import TARGET_TASKS as XGLUE_TASKS

    try:
        chosen = select(find_cells(args.dirs), args.model, args.intermediate, args.seed, args.setting,
                        task_of=lambda c: XGLUE_TASKS.get(c.results["target"]), benchmark="XGLUE")
        for task, cell in chosen.items():
            written = xglue.export_predictions(cell, task, args.out, args.split)
            if args.labels:
                xglue.export_labels(cell, task, args.labels, args.split)
            print(f"{task}: {len(written)} languages from {cell.describe()}{xglue.missing_languages(task, written)}")
    except XTransferError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"predictions written to {args.out}" + (f", labels to {args.labels}" if args.labels else ""))
