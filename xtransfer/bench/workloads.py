"""What the benchmark trains: XLM-R's and Qwen2.5's shapes, MNLI-/SQuAD-like workloads and their featurized rows."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xtransfer.errors import DataError
from xtransfer.config.schema import TaskSpec

PAD_ID, BOS_ID, EOS_ID = 1, 0, 2  # XLM-R's
NLI_LABELS = ["entailment", "neutral", "contradiction"]

SHAPES = {  # XLM-R's real sizes; tiny is the demo model's
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=4000),
    "xlmr_base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                      vocab_size=250002),
    "xlmr_large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                       vocab_size=250002),
    # decoders (bench/models.py): the tiny one's and Qwen2.5-0.5B's published sizes
    "tiny_decoder": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         intermediate_size=256, vocab_size=4000),
    "qwen_0_5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                      intermediate_size=4864, vocab_size=151936),
}


@dataclass(frozen=True)
class Workload:
    name: str
    family: str
    max_length: int

    def task(self) -> TaskSpec:
        labels = NLI_LABELS if self.family == "classification" else None
        return TaskSpec(name=self.name, family=self.family, languages=["en"], max_length=self.max_length,
                        labels=labels, source="local")


WORKLOADS = {"mnli": Workload("mnli", "classification", 256), "squad": Workload("squad", "span", 384)}
FAMILY_COLUMNS = {"classification": ["input_ids", "length", "label"],
                  "span": ["input_ids", "length", "start_position", "end_position", "offset_start", "offset_end"]}


def sample_lengths(workload: Workload, n: int, rng: np.random.Generator) -> np.ndarray:
    """MNLI-like pairs: log-normal, median 40 tokens, 99th percentile ~115, cut at 256.
    SQuAD-like windows: three in four are full 384-token windows, the rest a short context's 160-384."""
    if workload.name == "mnli":
        return np.clip(np.round(np.exp(rng.normal(math.log(40), 0.45, n))), 8, workload.max_length).astype(int)
    full = rng.random(n) < 0.75
    return np.where(full, workload.max_length, rng.integers(160, workload.max_length, n))


def synthetic_features(workload: Workload, n: int, vocab_size: int, seed: int = 0):
    """Featurized rows in the family's columns, random token ids, from a seeded RNG."""
    import datasets

    rng = np.random.default_rng(seed)
    lengths = sample_lengths(workload, n, rng)
    ids = [[BOS_ID, *rng.integers(5, vocab_size, k - 2).tolist(), EOS_ID] for k in lengths]
    columns: dict[str, list] = {"input_ids": ids, "length": lengths.tolist()}
    if workload.family == "classification":
        columns["label"] = rng.integers(0, len(NLI_LABELS), n).tolist()
    else:
        question = 16  # tokens before the context: <s> question </s></s>
        starts = [int(rng.integers(question, k - 2)) for k in lengths]
        columns["start_position"] = starts
        columns["end_position"] = [min(s + int(rng.integers(0, 5)), k - 2) for s, k in zip(starts, lengths)]
        columns["offset_start"] = [[-1] * question + list(range(0, 5 * (k - question - 1), 5)) + [-1] for k in lengths]
        columns["offset_end"] = [[-1 if s < 0 else s + 4 for s in row] for row in columns["offset_start"]]
    return datasets.Dataset.from_dict(columns)


def local_features(path: str, workload: Workload, n: int, vocab_size: int):
    """A featurized split saved by the feature cache (<cache_dir>/features/<task>/<split>-<lang>-<key>/data)."""
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except (FileNotFoundError, ValueError) as e:
        raise DataError(f"--data {path}: not a dataset saved by datasets.save_to_disk ({e}); point it at "
                        "<cache_dir>/features/<task>/<split>-<lang>-<key>/data") from None
    missing = [c for c in FAMILY_COLUMNS[workload.family] if c not in ds.column_names]
    if missing:
        raise DataError(f"--data {path}: no column(s) {missing} for the {workload.name} workload "
                        f"({workload.family} features); it has {ds.column_names}")
    ds = ds.select(range(min(n, len(ds))))
    top = max(max(row) for row in ds["input_ids"])
    if top >= vocab_size:
        raise DataError(f"--data {path}: token id {top} is outside the model's vocabulary of {vocab_size}; "
                        "use --model xlmr_base or xlmr_large for XLM-R-tokenized features")
    return ds


def lengths_of(features) -> list[int]:
    return features["length"][:]  # one read (a datasets Column indexes row by row)


def encoder_config(model: str, attn: str = "sdpa"):
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(**SHAPES[model], max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                            pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
                            attn_implementation=attn)
