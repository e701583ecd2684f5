"""XTREME's UD-POS from CoNLL-U (data/formats/ud.py), through local files and through the hub.

Fixtures are treebank files written here: a multiword token, an empty node, enhanced heads, a
wordless treebank. Expected rows are worked out by hand from XTREME's conversion
(conllu_to_conll.py --replace_subtokens_with_fused_forms, then utils_preprocess.py udpos).
"""
import logging
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, compose_cfg
from xtransfer.config.build import build_task
from xtransfer.data.formats import reader_for
from xtransfer.data.sources import load_rows
from xtransfer.errors import DataError
from xtransfer.tasks import get_family

TAGGING = get_family("tagging")


def conllu(*sentences: list[str]) -> str:
    """Sentences of `ID FORM UPOS HEAD DEPS` lines -> CoNLL-U text (10 columns)."""
    out = []
    for i, lines in enumerate(sentences, start=1):
        out.append(f"# sent_id = s{i}")
        for line in lines:
            ident, form, upos, head, deps = line.split("|", 4) if line.count("|") >= 4 else (*line.split("|"), "_")
            out.append("\t".join([ident, form, "_", upos, "_", "_", head, "_", deps, "_"]))
        out.append("")
    return "\n".join(out) + "\n"


FRENCH = conllu(
    # du = de + le: both hang from livre (a tie); French ranks ADP before DET. 2.1 is an empty node.
    ["1|Il|PRON|2", "2|parle|VERB|0", "2.1|parle|VERB|_|2:conj", "3-4|du|_|_", "3|de|ADP|5", "4|le|DET|5",
     "5|livre|NOUN|2", "6|.|PUNCT|2"],
    # au = à + le: à has an enhanced head (5) besides its basic one, so le has fewer ancestors and heads the span
    ["1|Va|VERB|0", "2-3|au|_|_", "2|à|ADP|4|4:case|5:dep", "3|le|DET|4|4:det", "4|marché|NOUN|1", "5|.|PUNCT|1"],
    ["1|_|X|0", "2|_|X|1", "3|Oui|INTJ|1"],          # all forms but one are `_`: dropped
    ["1|_|X|0", "2|Non|INTJ|1", "3|.|PUNCT|1"],      # one `_` of three: kept
    ["1|New York|PROPN|0", "2|mi\u200cnu|NOUN|1"],   # spaces and zero-width non-joiners leave the forms
)
FRENCH_ROWS = [
    {"tokens": ["Il", "parle", "du", "livre", "."], "tags": ["PRON", "VERB", "ADP", "NOUN", "PUNCT"]},
    {"tokens": ["Va", "au", "marché", "."], "tags": ["VERB", "DET", "NOUN", "PUNCT"]},
    {"tokens": ["_", "Non", "."], "tags": ["X", "INTJ", "PUNCT"]},
    {"tokens": ["NewYork", "minu"], "tags": ["PROPN", "NOUN"]},
]
WORDLESS = conllu(["1|_|NOUN|0", "2|_|PUNCT|1"], ["1|_|VERB|0"])


def write_release(root: Path) -> Path:
    """ud-treebanks-v2.5 with two French treebanks, one of them released without its words."""
    release = root / "ud-treebanks-v2.5"
    for folder, name, text in [("UD_French-Demo", "fr_demo", FRENCH), ("UD_French-Wordless", "fr_wordless", WORDLESS)]:
        (release / folder).mkdir(parents=True)
        (release / folder / f"{name}-ud-test.conllu").write_text(text, encoding="utf-8")
    return release


def rows(path: Path) -> list[dict]:
    return [record for _, record in reader_for("conllu")(path)]


def test_fused_forms_empty_nodes_placeholders_and_spaces_as_xtreme(tmp_path):
    path = write_release(tmp_path) / "UD_French-Demo" / "fr_demo-ud-test.conllu"
    assert rows(path) == FRENCH_ROWS


def test_wordless_treebank_is_dropped_with_one_line_naming_it(tmp_path, caplog):
    path = write_release(tmp_path) / "UD_French-Wordless" / "fr_wordless-ud-test.conllu"
    with caplog.at_level(logging.INFO, logger="xtransfer.data.formats.ud"):
        assert rows(path) == []
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"dropped treebank {path}: it is released without its words (every FORM is `_`), "
                        f"as XTREME drops it"]


@pytest.mark.parametrize("language,tag", [("es", "AUX"), ("de", "PRON"), ("it", "AUX")])
def test_a_tie_is_broken_by_the_languages_precedence_list(tmp_path, language, tag):
    # Spanish and Italian rank AUX before PRON; the default list (German's) ranks PRON first
    path = tmp_path / f"{language}_demo-ud-test.conllu"
    path.write_text(conllu(["1|x|VERB|0", "2-3|yz|_|_", "2|y|AUX|1", "3|z|PRON|1"]), encoding="utf-8")
    assert rows(path) == [{"tokens": ["x", "yz"], "tags": ["VERB", tag]}]


def test_the_highest_word_heads_the_span_whatever_its_tag(tmp_path):
    # dámelo = da + me + lo: da is the root, me and lo hang from it
    path = tmp_path / "es_demo-ud-test.conllu"
    path.write_text(conllu(["1-3|dámelo|_|_", "1|da|VERB|0", "2|me|PRON|1", "3|lo|PRON|1"]), encoding="utf-8")
    assert rows(path) == [{"tokens": ["dámelo"], "tags": ["VERB"]}]


def test_a_file_xtremes_converter_fails_on_is_dropped_with_a_warning(tmp_path, caplog):
    # a tie between NOUN and DET: NOUN is not in the Spanish list, so conllu_to_conll.py raises on the file
    path = tmp_path / "es_demo-ud-test.conllu"
    path.write_text(conllu(["1|Sí|INTJ|0"], ["1|x|VERB|0", "2-3|yz|_|_", "2|y|NOUN|1", "3|z|DET|1"]),
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert rows(path) == []
    assert "UPOS NOUN is not in the converter's precedence list for 'es'" in caplog.text


def udpos(tmp_path: Path, *overrides: str):
    return build_task(compose_cfg(["target=udpos", *overrides], tmp_path).target.eval_task)


def test_local_task_concatenates_a_languages_treebanks(tmp_path):
    write_release(tmp_path)
    task = udpos(tmp_path, "data=local", f"data.root={tmp_path}")
    assert load_rows(task, "test", "fr", TAGGING.normalize) == FRENCH_ROWS


def test_hub_and_local_rows_are_identical_on_the_same_files(tmp_path, monkeypatch):
    import huggingface_hub
    write_release(tmp_path / "repo")
    calls = []

    def snapshot_download(repo_id, repo_type, revision, allow_patterns):
        calls.append((repo_id, repo_type, revision, allow_patterns))
        return str(tmp_path / "repo")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    hub = udpos(tmp_path, "data=hub", "target.eval_task.hub.path=someone/ud-2.5",
                "target.eval_task.hub.revision=0123abc")
    local = udpos(tmp_path, "data=local", f"data.root={tmp_path / 'repo'}")
    assert load_rows(hub, "test", "fr", TAGGING.normalize) == load_rows(local, "test", "fr", TAGGING.normalize) \
        == FRENCH_ROWS
    assert calls == [("someone/ud-2.5", "dataset", "0123abc", ["ud-treebanks-v2.5/UD_*/fr_*-ud-test.conllu"])]


def test_hub_without_a_pinned_repository_says_how_to_provide_one(tmp_path):
    task = udpos(tmp_path, "data=hub")
    with pytest.raises(DataError, match=r"task 'udpos': no Hub repository is pinned for its data \(hub.path is null"):
        load_rows(task, "test", "fr", TAGGING.normalize)


def test_real_german_gsd_sample_fuses_its_nine_contractions():
    sample = SHARED_DATA / "ud-sample" / "de_gsd-ud-dev.first60.conllu"
    if not sample.is_file():
        pytest.skip("../shared/data/ud-sample is absent")
    sentences = rows(sample)
    # 60 sentences, 784 words, 9 two-word contractions (im x2, Im x2, am x2, zum x3): 775 tokens
    assert len(sentences) == 60 and sum(len(s["tokens"]) for s in sentences) == 775
    fused = [(t, g) for s in sentences for t, g in zip(s["tokens"], s["tags"])
             if t in ("im", "Im", "am", "zum")]
    # in/an/zu (ADP) and dem (DET) both hang from the noun; the default list ranks ADP first
    assert sorted(fused) == sorted([("im", "ADP")] * 2 + [("Im", "ADP")] * 2 + [("am", "ADP")] * 2
                                   + [("zum", "ADP")] * 3)


def test_real_sample_gives_identical_rows_from_the_hub_and_from_local_files(tmp_path, monkeypatch):
    import huggingface_hub
    sample = SHARED_DATA / "ud-sample" / "de_gsd-ud-dev.first60.conllu"
    if not sample.is_file():
        pytest.skip("../shared/data/ud-sample is absent")
    folder = tmp_path / "repo" / "ud-treebanks-v2.5" / "UD_German-GSD"
    folder.mkdir(parents=True)
    (folder / "de_gsd-ud-dev.conllu").write_bytes(sample.read_bytes())   # a temporary copy, outside the repo
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(tmp_path / "repo"))
    hub = udpos(tmp_path, "data=hub", "target.eval_task.hub.path=someone/ud-2.5", "target.eval_task.hub.revision=0123abc")   # a string: Hydra reads a bare 0 as an int
    local = udpos(tmp_path, "data=local", f"data.root={tmp_path / 'repo'}")
    rows_hub = load_rows(hub, "validation", "de", TAGGING.normalize)
    assert rows_hub == load_rows(local, "validation", "de", TAGGING.normalize)
    assert len(rows_hub) == 60 and sum(len(r["tokens"]) for r in rows_hub) == 775
