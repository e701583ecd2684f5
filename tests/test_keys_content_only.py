"""Stage and feature keys hash content, never location or incidental state (the end-to-end move of
a whole outputs folder is in test_bad_inputs_e2e.py, slow)."""
import shutil
from pathlib import Path

from xtransfer.cache.hashing import tokenizer_fingerprint
from xtransfer.cache.stages import StageStore
from xtransfer.config.schema import ModelSpec, TinySpec
from xtransfer.pipeline.chain import pretrained_start


def tiny(corpus: Path) -> ModelSpec:
    return ModelSpec(name="tiny", family="tiny-xlmr", kind="encoder", pooling="first", attn_implementation=None,
                     peft=None, lora=None, tiny=TinySpec(tokenizer_files=str(corpus / "*.txt"), vocab_size=60, hidden_size=8,
                                                num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                                                max_position_embeddings=64, init_seed=0, architecture="xlmr"))


def write_corpus(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "en.txt").write_text(text * 30)
    (folder / "de.txt").write_text("ein mann isst .\n" * 30)
    return folder


def test_the_tiny_model_key_hashes_its_corpus_not_where_it_is(tmp_path):
    store = StageStore(tmp_path / "stages")
    here = write_corpus(tmp_path / "a" / "corpus", "a man eats .\n")
    start, stage = pretrained_start(tiny(here), store)
    moved = tmp_path / "elsewhere" / "corpus"
    shutil.copytree(here, moved)
    again, reused = pretrained_start(tiny(moved), StageStore(tmp_path / "stages"))
    assert reused.reused and again.key == start.key          # on main: the glob's path was in the key
    other = write_corpus(tmp_path / "b" / "corpus", "a dog runs .\n")
    assert pretrained_start(tiny(other), store)[0].key != start.key  # other text, another tokenizer


def test_the_tokenizer_fingerprint_ignores_truncation_and_padding_state(tmp_path):
    from transformers import AutoTokenizer

    store = StageStore(tmp_path / "stages")
    start, _ = pretrained_start(tiny(write_corpus(tmp_path / "corpus", "a man eats .\n")), store)
    fresh = AutoTokenizer.from_pretrained(start.source)
    before = tokenizer_fingerprint(fresh)
    used = AutoTokenizer.from_pretrained(start.source)
    used(["a man eats ."], truncation=True, max_length=4, padding="max_length")  # sets the backend's state
    assert tokenizer_fingerprint(used) == before
    used.save_pretrained(tmp_path / "saved")  # a stage checkpoint saves that state with the tokenizer
    assert tokenizer_fingerprint(AutoTokenizer.from_pretrained(tmp_path / "saved")) == before
