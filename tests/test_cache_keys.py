"""Every input of every cache key: the stage keys (pipeline/chain.py payloads), the feature key
(engine/features.py) and the tokenizer fingerprint. For each input, changing it changes the key;
changing something outside it (where files live, how a job runs) does not.

Stage payloads are computed by the real chain functions; the store below only hashes the
payload it is given (stage_key) instead of training, so no model is built."""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import compose_cfg
from xtransfer.cache.hashing import tokenizer_fingerprint
from xtransfer.cache.stages import stage_key
from xtransfer.config.build import build_cell
from xtransfer.config.schema import (EmbeddingSpec, HubSource, LocalSource, OptimSpec, RuntimeSpec, SamplingSpec,
                                     TaskSpec, TinySpec)
from xtransfer.engine import features
from xtransfer.engine.train import Start, resolve_precision
from xtransfer.pipeline import chain
from xtransfer.tasks import get_family

replace = dataclasses.replace
START = Start("FacebookAI/xlm-roberta-base", "rev0", "upstream-key")


def changed(value):
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-x"
    if isinstance(value, list):
        return [*value, "x"]
    if isinstance(value, dict):
        return {**value, "x": "y"}
    assert value is None
    return 7


class PayloadStore:
    """A stage store that builds nothing: run() returns the key of the payload it is given."""

    def run(self, kind, name, payload, build):
        return SimpleNamespace(key=stage_key(kind, payload), path=Path("/nowhere"), payload=payload)


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    """xlmr_base, no intermediate, target xnli (trains on MNLI from the hub): no file is read."""
    return build_cell(compose_cfg(["trainer.precision=32-true"], tmp_path_factory.mktemp("keys")))


def train_key(cell, start=START, parts=None, optim=None, sampling=None) -> str:
    part = cell.target.part
    return stage_key("target", chain.train_payload(cell, start, parts or (part,), optim or cell.target.optim, sampling))


def with_train_task(part, task: TaskSpec):
    """The part with its task replaced wherever it appears (head, train sources)."""
    return replace(part, task=task, sources=tuple((task if t is part.task else t, lang) for t, lang in part.sources))


def local_task(root: Path, name: str = "toy", family: str = "classification", labels=("a", "b")) -> TaskSpec:
    return TaskSpec(name=name, family=family, languages=["en", "de"], max_length=32, source="local",
                    labels=list(labels) if labels else None,
                    local=LocalSource(format="tsv", root=str(root), columns={"text_a": "s", "label": "y"},
                                      files={"train": "{lang}/train.tsv", "validation": "{lang}/dev.tsv"}))


def write_local(root: Path, text: str = "s\ty\nhello\ta\n") -> Path:
    for lang in ("en", "de"):
        (root / lang).mkdir(parents=True, exist_ok=True)
        for split in ("train", "dev"):
            (root / lang / f"{split}.tsv").write_text(text)
    return root


# ---- training stages -------------------------------------------------------------------------
def test_train_key_changes_with_every_optim_field(cell):
    base, optim = train_key(cell), cell.target.optim
    for f in dataclasses.fields(OptimSpec):
        assert train_key(cell, optim=replace(optim, **{f.name: changed(getattr(optim, f.name))})) != base, f.name


def test_train_key_changes_with_seed_precision_and_upstream_only(cell):
    base = train_key(cell)
    assert train_key(replace(cell, seed=cell.seed + 1)) != base
    assert train_key(replace(cell, runtime=replace(cell.runtime, precision="bf16-mixed"))) != base
    assert train_key(cell, start=replace(START, key="other-upstream")) != base
    # the upstream is named by its key, not by where its checkpoint lives
    assert train_key(cell, start=Start("/elsewhere/model", None, START.key)) == base
    # 'auto' is keyed by what it resolves to on this machine
    auto = replace(cell.runtime, precision="auto")
    assert (train_key(replace(cell, runtime=auto)) == base) == (resolve_precision(auto) == "32-true")


def test_train_key_ignores_how_and_where_the_job_runs(cell, tmp_path):
    base = train_key(cell)
    for f in dataclasses.fields(RuntimeSpec):
        if f.name not in ("precision", "devices"):
            runtime = replace(cell.runtime, **{f.name: changed(getattr(cell.runtime, f.name))})
            assert train_key(replace(cell, runtime=runtime)) == base, f.name
    target = replace(cell.target, languages=["en", "de"], eval_splits=["test"])
    for other in (replace(cell, cache_dir=str(tmp_path)), replace(cell, output_dir=str(tmp_path)),
                  replace(cell, tags=["x"]), replace(cell, demo_data_root=str(tmp_path)),
                  replace(cell, logger=replace(cell.logger, kind="csv")), replace(cell, target=target)):
        assert train_key(other) == base


def test_train_key_names_the_ranks_of_a_multi_rank_stage(cell):
    # N ranks draw disjoint batches: N times the batch, another stage; one rank keeps the old key.
    base = train_key(cell)
    two, four = (train_key(replace(cell, runtime=replace(cell.runtime, devices=n))) for n in (2, 4))
    assert len({base, two, four}) == 3
    assert train_key(replace(cell, runtime=replace(cell.runtime, devices=1))) == base


def test_train_key_changes_with_every_described_field_of_the_task(cell):
    part, base = cell.target.part, train_key(cell)
    task = part.task
    assert task.source == "hub"
    variants = {f.name: replace(task, **{f.name: changed(getattr(task, f.name))})
                for f in dataclasses.fields(TaskSpec) if f.name not in ("source", "hub", "local", "languages", "parts")}
    variants |= {f"hub.{f.name}": replace(task, hub=replace(task.hub, **{f.name: changed(getattr(task.hub, f.name))}))
                 for f in dataclasses.fields(HubSource)}
    variants["parts"] = replace(task, parts={"extra": cell.target.eval_task})
    for name, variant in variants.items():
        assert train_key(cell, parts=(with_train_task(part, variant),)) != base, name
    # outside the description: the language list, and the source that is not in use
    for variant in (replace(task, languages=["en", "de"]), replace(task, local=LocalSource(
            format="tsv", root="/data", files={"train": "x"}, columns={"text_a": "a"}))):
        assert train_key(cell, parts=(with_train_task(part, variant),)) == base


def test_train_key_changes_with_every_field_of_the_part(cell):
    part, base = cell.target.part, train_key(cell)
    other = replace(cell.target.eval_task, max_length=17)
    for variant in (replace(part, max_train_examples=123),
                    replace(part, sources=((part.task, "de"),)),                     # another train language
                    replace(part, sources=(*part.sources, (cell.target.eval_task, "de"))),  # a translated source
                    replace(part, val_task=other),
                    replace(part, val_language="de")):
        assert train_key(cell, parts=(variant,)) != base, variant
    # a source from another task is keyed by that task's spec as well as its name and data
    translated = replace(part, sources=(*part.sources, (cell.target.eval_task, "de")))
    retuned = replace(part, sources=(*part.sources, (replace(cell.target.eval_task, max_length=99), "de")))
    assert train_key(cell, parts=(translated,)) != train_key(cell, parts=(retuned,))


def test_sampling_is_keyed_only_in_a_stage_of_several_parts(cell):
    part = cell.target.part
    second = replace(part, val_language="de")
    sampling = SamplingSpec(kind="temperature", temperature=2.0, max_examples_per_task=None)
    two = train_key(cell, parts=(part, second), sampling=sampling)
    for f in dataclasses.fields(SamplingSpec):
        variant = replace(sampling, **{f.name: changed(getattr(sampling, f.name))})
        assert train_key(cell, parts=(part, second), sampling=variant) != two, f.name
    assert train_key(cell, parts=(part,), sampling=sampling) == train_key(cell, parts=(part,))
    assert two != train_key(cell, parts=(part,), sampling=sampling)


def test_local_data_is_keyed_by_its_bytes_not_its_location(cell, tmp_path):
    a, b = write_local(tmp_path / "a"), write_local(tmp_path / "b")
    task_a, task_b = local_task(a), local_task(b)

    def key(task):
        return train_key(cell, parts=(replace(cell.target.part, task=task, sources=((task, "en"),),
                                              val_task=task, val_language="en"),))

    base = key(task_a)
    assert key(task_b) == base                                  # the same bytes elsewhere
    (b / "en" / "train.tsv").write_text("s\ty\nhello\tb\n")     # one label changed
    assert key(task_b) != base
    (b / "en" / "train.tsv").write_text("s\ty\nhello\ta\n")
    (b / "en" / "dev.tsv").write_text("s\ty\nhello\tb\n")       # the dev split selects the best epoch
    assert key(task_b) != base
    (b / "de" / "dev.tsv").write_text("s\ty\nhello\tb\n")       # a file the stage does not read
    (b / "en" / "dev.tsv").write_text("s\ty\nhello\ta\n")
    assert key(task_b) == base
    for f in ("format", "files", "columns", "language_column", "label_aliases"):
        variant = replace(task_a, local=replace(task_a.local, **{f: changed(getattr(task_a.local, f))}))
        assert key(variant) != base, f


# ---- evaluation and retrieval stages ----------------------------------------------------------
def eval_key(cell, trained_key="trained") -> str:
    return chain.evaluation_stage(PayloadStore(), cell, SimpleNamespace(key=trained_key, path=Path("/x"))).key


def test_eval_key_inputs(cell):
    base, target = eval_key(cell), cell.target
    for variant in (replace(target, eval_task=replace(target.eval_task, max_length=7)),
                    replace(target, eval_task=replace(target.eval_task, hub=replace(target.eval_task.hub, revision="r"))),
                    replace(target, languages=target.languages[:2]),
                    replace(target, eval_splits=["test"]),
                    replace(target, train_task=replace(target.train_task, name="other-head"))):
        assert eval_key(replace(cell, target=variant)) != base
    assert eval_key(cell, trained_key="another") != base
    for other in (replace(cell, runtime=replace(cell.runtime, eval_batch_size=3, num_workers=5)),
                  replace(cell, seed=9), replace(cell, cache_dir="/elsewhere"),
                  replace(cell, target=replace(target, optim=replace(target.optim, lr=1.0)))):
        assert eval_key(other) == base  # the seed and the optimizer are in the trained stage's key


@pytest.fixture(scope="module")
def retrieval_cell(tmp_path_factory):
    return build_cell(compose_cfg(["target=tatoeba", "trainer.precision=32-true"], tmp_path_factory.mktemp("ret")))


def retrieval_key(cell, start=START) -> str:
    return chain.retrieval_stage(PayloadStore(), cell, start).key


def test_retrieval_key_inputs(retrieval_cell):
    cell, target = retrieval_cell, retrieval_cell.target
    base = retrieval_key(cell)
    variants = [replace(target, embedding=replace(target.embedding, **{f.name: changed(getattr(target.embedding, f.name))}))
                for f in dataclasses.fields(EmbeddingSpec)]
    variants += [replace(target, eval_task=replace(target.eval_task, max_length=7)),
                 replace(target, languages=target.languages[:2])]
    for variant in variants:
        assert retrieval_key(replace(cell, target=variant)) != base, variant
    assert retrieval_key(cell, start=replace(START, key="other")) != base
    assert retrieval_key(replace(cell, runtime=replace(cell.runtime, precision="bf16-mixed"))) != base
    assert retrieval_key(cell, start=replace(START, source="/elsewhere", revision=None)) == base
    assert retrieval_key(replace(cell, runtime=replace(cell.runtime, eval_batch_size=3), seed=4)) == base


# ---- the pretrained start -------------------------------------------------------------------
def test_hub_model_is_keyed_by_id_and_revision(cell):
    key = lambda model: chain.pretrained_start(model, PayloadStore())[0].key  # noqa: E731
    base = key(cell.model)
    assert key(replace(cell.model, name_or_path="FacebookAI/xlm-roberta-large")) != base
    assert key(replace(cell.model, revision="main")) != base
    assert key(replace(cell.model, name="renamed", num_parameters=1)) == base


def test_local_model_dir_is_keyed_by_its_files_not_its_path(cell, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d / "sub").mkdir(parents=True)
        (tmp_path / d / "config.json").write_text("{}")
        (tmp_path / d / "sub" / "weights.bin").write_bytes(b"w1")
    key = lambda d: chain.pretrained_start(replace(cell.model, name_or_path=str(tmp_path / d)), PayloadStore())[0].key  # noqa: E731
    assert key("a") == key("b")
    (tmp_path / "b" / "sub" / "weights.bin").write_bytes(b"w2")
    assert key("a") != key("b")


def test_tiny_model_is_keyed_by_its_config_and_corpus_bytes_not_their_location(cell, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "en.txt").write_text("the cat\n")
        (tmp_path / d / "de.txt").write_text("die Katze\n")
    tiny = TinySpec(tokenizer_files=str(tmp_path / "a" / "*.txt"), vocab_size=100, hidden_size=8, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=16, max_position_embeddings=64, init_seed=0, architecture="xlmr")
    key = lambda spec: chain.pretrained_start(replace(cell.model, tiny=spec), PayloadStore())[0].key  # noqa: E731
    base = key(tiny)
    for f in dataclasses.fields(TinySpec):
        if f.name != "tokenizer_files":
            assert key(replace(tiny, **{f.name: changed(getattr(tiny, f.name))})) != base, f.name
    assert key(replace(tiny, tokenizer_files=str(tmp_path / "b" / "*.txt"))) == base   # the same corpus elsewhere
    assert key(replace(tiny, tokenizer_files=str(tmp_path / "a" / "en.txt"))) != base   # fewer files
    (tmp_path / "b" / "de.txt").write_text("die Katzen\n")
    assert key(replace(tiny, tokenizer_files=str(tmp_path / "b" / "*.txt"))) != base


# ---- tokenizer fingerprint ------------------------------------------------------------------
def tokenizer(vocab=("a", "b"), lowercase=False):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(vocab)}}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def test_different_tokenizers_have_different_fingerprints():
    prints = {tokenizer_fingerprint(t) for t in (tokenizer(), tokenizer(("a", "c")), tokenizer(lowercase=True))}
    assert len(prints) == 3 and None not in prints
    assert tokenizer_fingerprint(tokenizer()) == tokenizer_fingerprint(tokenizer())  # content, not identity


def test_fingerprint_is_the_saved_tokenizer_whatever_its_last_call_was(tmp_path):
    from transformers import AutoTokenizer

    tok = tokenizer()
    tok.save_pretrained(tmp_path / "fresh")
    tok(["a b a"], truncation=True, max_length=2, padding="max_length")  # as a featurizer calls it
    tok.save_pretrained(tmp_path / "used")  # as a stage checkpoint saves it after training
    fresh, used = (AutoTokenizer.from_pretrained(tmp_path / d) for d in ("fresh", "used"))
    assert tokenizer_fingerprint(fresh) == tokenizer_fingerprint(used)
    assert fresh(["a b a"])["input_ids"] == used(["a b a"])["input_ids"] == [[2, 3, 2]]


def test_fingerprint_is_computed_once_per_tokenizer_object():
    tok = tokenizer()
    fingerprint = tokenizer_fingerprint(tok)
    assert tok._xtransfer_fingerprint == fingerprint
    tok._xtransfer_fingerprint = "memo"
    assert tokenizer_fingerprint(tok) == "memo"


# ---- feature keys ---------------------------------------------------------------------------
def test_feature_key_inputs(tmp_path, monkeypatch):
    write_local(tmp_path / "a")
    task, tok = local_task(tmp_path / "a"), tokenizer()
    base = features.feature_key(task, "validation", "en", tok)
    assert features.feature_key(task, "train", "en", tok) != base
    assert features.feature_key(task, "validation", "de", tok) != base
    assert features.feature_key(task, "validation", "en", tokenizer(("a", "c"))) != base
    assert features.feature_key(replace(task, max_length=64), "validation", "en", tok) != base
    assert features.feature_key(replace(task, name="toy2"), "validation", "en", tok) != base
    # outside: where the files live, the task's other languages, other splits' bytes (labels are given)
    write_local(tmp_path / "b")
    assert features.feature_key(local_task(tmp_path / "b"), "validation", "en", tok) == base
    assert features.feature_key(replace(task, languages=["en"]), "validation", "en", tok) == base
    (tmp_path / "a" / "en" / "train.tsv").write_text("s\ty\nbye\tb\n")
    assert features.feature_key(task, "validation", "en", tok) == base
    (tmp_path / "a" / "en" / "dev.tsv").write_text("s\ty\nbye\tb\n")
    assert features.feature_key(task, "validation", "en", tok) != base
    current, family = features.feature_key(task, "validation", "en", tok), get_family("classification")
    monkeypatch.setattr(type(family), "version", family.version + 1)  # its featurizer changed
    assert features.feature_key(task, "validation", "en", tok) != current


def test_tags_learnt_from_train_key_every_split_by_the_train_data(tmp_path):
    task = local_task(write_local(tmp_path / "a", "w\tB-PER\n"), family="tagging", labels=None)
    tok = tokenizer()
    base = features.feature_key(task, "validation", "de", tok)
    (tmp_path / "a" / "de" / "train.tsv").write_text("w\tB-LOC\n")  # not the label source: the first language's is
    assert features.feature_key(task, "validation", "de", tok) == base
    (tmp_path / "a" / "en" / "train.tsv").write_text("w\tB-LOC\n")
    assert features.feature_key(task, "validation", "de", tok) != base
    given = replace(task, labels=["O", "B-PER"])  # a given tag set: the train data no longer matters
    before = features.feature_key(given, "validation", "de", tok)
    (tmp_path / "a" / "en" / "train.tsv").write_text("w\tO\n")
    assert features.feature_key(given, "validation", "de", tok) == before
