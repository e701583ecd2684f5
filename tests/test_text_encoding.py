"""The catalogue of bad inputs, part 2: encodings. Every reader opens text through one helper
(data/formats/textio.py): a byte that is not UTF-8 is reported at file, line and byte offset with the
iconv command that converts the file; a UTF-8 byte-order mark is accepted."""
import json
from pathlib import Path

import pytest

from tests.conftest import cli, compose_cfg
from xtransfer.cache.manifest import problem
from xtransfer.config.build import build_cell
from xtransfer.data.formats import reader_for
from xtransfer.data.sources import load_rows
from xtransfer.errors import DataError
from xtransfer.tasks import get_family

BOM = b"\xef\xbb\xbf"
XNLI_HEADER = "language\tgold_label\tsentence1\tsentence2\n"

# format, file name, lines (bytes): the one with caf\xe9 (latin1 "café") is the bad line
FILES = {
    "tsv": ("xnli.test.tsv", [XNLI_HEADER.encode(), b"en\tentailment\tA man eats.\tSomeone eats.\n",
                              b"fr\tneutral\tUn caf\xe9.\tUne tasse.\n"]),
    "csv": ("valid.csv", [b"id,context,question,answer0,answer1,answer2,answer3,label\n",
                          b'q1,"Le caf\xe9 ferme.",Why?,a,b,c,d,0\n']),
    "jsonl": ("val.jsonl", [b'{"ind": 1, "ctx": "x"}\n', b'{"ind": 2, "ctx": "caf\xe9"}\n']),
    "conllu": ("de_gsd-ud-test.conllu", [b"# sent_id = 1\n", b"1\tDas\tder\tDET\t_\t_\t2\tdet\t_\t_\n",
                                         b"2\tCaf\xe9\tCafe\tNOUN\t_\t_\t0\troot\t_\t_\n", b"\n"]),
    "panx": ("test", [b"fr:Paris\tB-LOC\n", b"fr:caf\xe9\tO\n", b"\n"]),
    "ccg_auto": ("wsj_0001.auto", [b"ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n",
                                   b"(<L N NN NN caf\xe9 N>)\n"]),
    "squad_json": ("xquad.fr.json", [b'{"data": [{"title": "t", "paragraphs": [\n',
                                     b'  {"context": "Un caf\xe9.", "qas": []}\n', b"]}]}\n"]),
    "text": ("fr.txt", [b"Bonjour.\n", b"Un caf\xe9.\n"]),
    "bucc": ("fr-en.sample.fr", [b"fr-000000001\tBonjour.\n", b"fr-000000002\tUn caf\xe9.\n"]),
    "laser_tatoeba": ("tatoeba.fra-eng.fra", [b"Bonjour.\n", b"Un caf\xe9.\n"]),
    "xquad_r": ("fr.json", [b'{"data": [\n', b'{"paragraphs": [], "title": "caf\xe9"}]}\n']),
}


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_a_byte_that_is_not_utf8_names_file_line_offset_and_the_fix(fmt, tmp_path):
    name, lines = FILES[fmt]
    path = write(tmp_path / name, lines)
    if fmt == "laser_tatoeba":
        write(tmp_path / "tatoeba.fra-eng.eng", [b"Hello.\n", b"A coffee.\n"])
    bad = next(i for i, line in enumerate(lines) if b"\xe9" in line)
    column = lines[bad].index(b"\xe9")
    offset = sum(len(line) for line in lines[:bad]) + column
    with pytest.raises(DataError) as error:
        list(reader_for(fmt)(path))
    assert str(error.value) == (
        f"{path}:{bad + 1}: not UTF-8: byte 0xe9 (invalid continuation byte) at byte {offset} of the file "
        f"(column {column + 1} of the line).\n"
        f"  Convert the file to UTF-8 (here it looks like cp1252; `file -i` guesses too): "
        f"iconv -f cp1252 -t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}")


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "xnli.test.tsv"
    path.write_bytes(b"\xff\xfe" + XNLI_HEADER.encode("utf-16-le"))
    with pytest.raises(DataError) as error:
        list(reader_for("tsv")(path))
    assert str(error.value) == (f"{path}:1: not UTF-8: the file is UTF-16 (it starts with a UTF-16 byte-order "
                                f"mark).\n  Convert it to UTF-8: iconv -f utf-16 -t utf-8 {path} > {path}.utf8 "
                                f"&& mv {path}.utf8 {path}")


def xnli(tmp_path: Path):
    cell = build_cell(compose_cfg(["data=local", f"data.root={tmp_path}", "target=xnli"], tmp_path))
    return cell.target.eval_task


def test_xnli_file_with_a_byte_order_mark_reads(tmp_path):
    """On main the BOM glued itself to the first column name: no `language` column, so "has no rows"."""
    (tmp_path / "XNLI-1.0").mkdir()
    write(tmp_path / "XNLI-1.0" / "xnli.test.tsv", [BOM, XNLI_HEADER.encode(), "de\tcontradiction\tEin Café.\tKein Tee.\r\n".encode(),
                                                     b"en\tneutral\tA cafe.\tA tea.\r\n"])
    task = xnli(tmp_path)
    rows = load_rows(task, "test", "de", get_family(task.family).normalize)
    assert rows == [{"text_a": "Ein Café.", "text_b": "Kein Tee.", "label": task.labels.index("contradiction")}]


@pytest.mark.parametrize("fmt,lines,first", [
    ("jsonl", [BOM, b'{"ind": 7, "ctx": "x"}\n'], {"ind": 7, "ctx": "x"}),
    ("conllu", [BOM, b"1\tDas\tder\tDET\t_\t_\t0\troot\t_\t_\r\n", b"2\tCaf\xc3\xa9\t_\tNOUN\t_\t_\t1\tnmod\t_\t_\r\n"],
     {"tokens": ["Das", "Café"], "tags": ["DET", "NOUN"]}),
    ("text", [BOM, b"Un caf\xc3\xa9.\n"], {"text": "Un café."}),
    ("squad_json", [BOM, b'{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "1", '
                         b'"question": "q", "answers": [{"text": "c", "answer_start": 0}]}]}]}]}'],
     {"id": "1", "title": "t", "context": "c", "question": "q", "answers": {"text": ["c"], "answer_start": [0]}}),
])
def test_a_byte_order_mark_is_accepted_by_every_reader(fmt, lines, first, tmp_path):
    path = write(tmp_path / "file", lines)
    location, record = next(iter(reader_for(fmt)(path)))
    assert record == first and location.startswith(f"{path}")


@pytest.mark.parametrize("fmt,content,message", [
    ("jsonl", b'{"ind": 1}\n{"ind": "unterminated}\n', ":2: not valid JSON (Invalid control character at: column 23)"),
    ("squad_json", b'{"data": [\n  {"title": "x",}\n]}', ":2: not valid JSON (Expecting property name enclosed in "
                                                          "double quotes: column 17)"),
])
def test_json_errors_read_without_a_doubled_at(fmt, content, message, tmp_path):
    path = write(tmp_path / "file.json", [content])
    with pytest.raises(DataError) as error:
        list(reader_for(fmt)(path))
    assert str(error.value) == f"{path}{message}" and "at at" not in str(error.value)


def test_cli_stops_on_a_bad_byte_with_one_line_and_keeps_the_finished_stage(tmp_path):
    """Through `python -m xtransfer.run` on local files: exit 2, the file:line, no traceback; the tiny
    model's stage built before the failure stays finished, nothing half-built is left."""
    data = tmp_path / "data"
    (data / "glue" / "MNLI").mkdir(parents=True)
    (data / "XNLI-1.0").mkdir()
    (data / "corpus").mkdir()
    write(data / "corpus" / "en.txt", [b"A man eats. Someone eats. A cafe. A tea.\n" * 20])
    write(data / "glue" / "MNLI" / "dev_matched.tsv", [XNLI_HEADER.encode(), b"en\tentailment\tA.\tB.\n"])
    bad = write(data / "glue" / "MNLI" / "train.tsv", [b"gold_label\tsentence1\tsentence2\n",
                                                       b"entailment\tA man eats.\tSomeone eats.\n",
                                                       b"neutral\tUn caf\xe9.\tA tea.\n"])
    write(data / "XNLI-1.0" / "xnli.dev.tsv", [XNLI_HEADER.encode(), b"en\tentailment\tA.\tB.\n"])
    write(data / "XNLI-1.0" / "xnli.test.tsv", [XNLI_HEADER.encode(), b"en\tentailment\tA.\tB.\n"])
    outputs = tmp_path / "outputs"
    proc = cli("xtransfer.run", "data=local", f"data.root={data}", "model=tiny", "model.tiny.vocab_size=60",
               "intermediate=none", "target=xnli", "target.languages=[en]", "logger=none",
               "trainer.enable_progress_bar=false", f"paths.outputs_root={outputs}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert f"{bad}:3: not UTF-8: byte 0xe9" in output and "iconv -f cp1252 -t utf-8" in output
    assert "Traceback" not in output
    assert json.loads(next(outputs.glob("runs/*/*/error.json")).read_text())["error"] == "DataError"
    stages = [p.relative_to(outputs / "cache" / "stages").parts
              for p in (outputs / "cache" / "stages").glob("*/*") if not p.name.endswith(".lock")]
    assert [(kind, name.split("-")[0]) for kind, name in stages] == [("pretrained", "tiny")]  # no half-built target
    assert problem(outputs / "cache" / "stages" / stages[0][0] / stages[0][1], content=True) is None
