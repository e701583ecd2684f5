import pytest
import torch

from xtransfer.errors import XTransferError
from xtransfer.engine.modeling import build_tiny, load_encoder, load_head, save_checkpoint
from xtransfer.config.build import build_task
from xtransfer.config.schema import TinySpec, spec_from_conf
from xtransfer.tasks import get_family

CORPUS = ["the cat sleeps on the red mat", "a dog runs in the park", "Anna buys 3 apples",
          "der Hund läuft im Park", "кошка спит на коврике", "猫在垫子上睡觉"] * 50


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    (root / "corpus.txt").write_text("\n".join(CORPUS), encoding="utf-8")
    build_tiny(spec_from_conf(TinySpec, "model/tiny.yaml", "tiny", tokenizer_files=str(root / "*.txt"), vocab_size=200), root / "ckpt")
    return root / "ckpt"


def test_tiny_tokenizer_has_xlmr_special_ids_and_pair_template(tiny):
    _, tok = load_encoder(str(tiny / "model"))
    assert [tok.convert_tokens_to_ids(t) for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]] == [0, 1, 2, 3, 4]
    ids = tok("the cat", "a dog")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3  # <s> A </s></s> B </s>


def test_tiny_tokenizer_training_is_deterministic(tiny, tmp_path):
    from xtransfer.cache.hashing import tokenizer_fingerprint
    from xtransfer.engine.modeling import train_tiny_tokenizer

    spec = spec_from_conf(TinySpec, "model/tiny.yaml", "tiny", tokenizer_files=str(tiny.parent / "*.txt"), vocab_size=200)
    first, second = train_tiny_tokenizer(spec), train_tiny_tokenizer(spec)
    assert tokenizer_fingerprint(first) == tokenizer_fingerprint(second)
    assert first.tokenize("der Hund läuft") == second.tokenize("der Hund läuft")


def test_tiny_checkpoint_round_trips_encoder_and_head(tiny, tmp_path):
    encoder, tok = load_encoder(str(tiny / "model"))
    task = build_task({"name": "t", "family": "classification", "languages": ["en"], "max_length": 16,
                       "labels": ["a", "b", "c"], "source": "local",
                       "local": {"format": "tsv", "root": ".", "files": {}, "columns": {}}})
    family = get_family("classification")
    head = family.build_head(encoder.config.hidden_size, task)
    save_checkpoint(tmp_path, encoder, tok, {"t": head})
    encoder2, _ = load_encoder(str(tmp_path / "model"))
    head2 = load_head(tmp_path, "t", family.build_head(encoder.config.hidden_size, task))
    batch = family.collate([{"input_ids": tok("the cat")["input_ids"], "label": 1}], tok.pad_token_id)
    encoder.eval(), head.eval(), encoder2.eval(), head2.eval()
    with torch.no_grad():
        assert torch.allclose(family.forward(encoder, head, batch), family.forward(encoder2, head2, batch))


def test_unloadable_model_dir_says_what_to_do(tmp_path):
    with pytest.raises(XTransferError, match="model.name_or_path"):
        load_encoder(str(tmp_path))
