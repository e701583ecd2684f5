"""XTREME's names: benchmarks, task groups, languages and file suffixes as its official
evaluator (google-research/xtreme `evaluate.py`) spells them, and how our targets map onto them.
Shared by `xtransfer.xtreme.export` (writes submission folders) and `xtransfer.xtreme.score` (scores them).
"""
from __future__ import annotations

BENCHMARKS = ("xtreme", "xtreme-r")

_XNLI = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
_PANX = ("ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th "
         "sw yo my zh kk tr et fi hu").split()
_UDPOS = ("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi "
          "yo zh").split()
_TATOEBA = ("ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw "
            "zh kk tr et fi hu").split()
_XQUAD = "en es de el ru tr ar vi th zh hi".split()
_MLQA = "en es de ar hi vi zh".split()
_TYDIQA = "en ar bn fi id ko ru sw te".split()

# task -> languages, in the evaluator's order (its averages sum in this order).
LANGUAGES: dict[str, dict[str, list[str]]] = {
    "xtreme": {
        "pawsx": "de en es fr ja ko zh".split(),
        "xnli": _XNLI,
        "panx": _PANX,
        "udpos": _UDPOS,
        "bucc2018": "de fr ru zh".split(),
        "tatoeba": _TATOEBA,
        "xquad": _XQUAD,
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
    # XTREME-R drops PAWS-X and BUCC, adds XCOPA, LAReQA and Mewsli-X and more languages.
    "xtreme-r": {
        "xnli": _XNLI,
        "panx": _PANX + "qu pl uk az lt pa gu ro".split(),
        "udpos": _UDPOS + "lt pl uk wo ro".split(),
        "tatoeba": _TATOEBA + "az lt pl uk ro".split(),
        "xcopa": "et ht id it qu sw ta th tr vi zh".split(),
        "lareqa": [],  # the official evaluator lists no language: LAReQA is scored elsewhere
        "mewslix": "ar de en es fa ja pl ro ta tr uk".split(),
        "xquad": _XQUAD + ["ro"],
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
}

GROUPS: dict[str, dict[str, list[str]]] = {
    "xtreme": {
        "classification": ["pawsx", "xnli"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["bucc2018", "tatoeba"],
    },
    "xtreme-r": {
        "classification": ["xnli", "xcopa"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["tatoeba", "mewslix"],
        "multi_choice": ["xcopa"],
    },
}

# our target name -> XTREME's task name
TARGET_TASKS = {"xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos", "panx": "panx", "xquad": "xquad",
                "mlqa": "mlqa", "tydiqa": "tydiqa", "bucc": "bucc2018", "tatoeba": "tatoeba",
                "tatoeba112": "tatoeba", "xcopa": "xcopa", "mewslix": "mewslix"}

# Tatoeba: our ISO 639-3 codes (LASER's file names) -> XTREME's, as its utils_preprocess.py maps them.
TATOEBA_CODES = {
    "afr": "af", "ara": "ar", "bul": "bg", "ben": "bn", "deu": "de", "ell": "el", "spa": "es", "est": "et",
    "eus": "eu", "pes": "fa", "fin": "fi", "fra": "fr", "heb": "he", "hin": "hi", "hun": "hu", "ind": "id",
    "ita": "it", "jpn": "ja", "jav": "jv", "kat": "ka", "kaz": "kk", "kor": "ko", "mal": "ml", "mar": "mr",
    "nld": "nl", "por": "pt", "rus": "ru", "swh": "sw", "tam": "ta", "tel": "te", "tha": "th", "tgl": "tl",
    "tur": "tr", "urd": "ur", "vie": "vi", "cmn": "zh", "aze": "az", "lit": "lt", "pol": "pl", "ukr": "uk",
    "ron": "ro",
}


def suffix(task: str, benchmark: str) -> str:
    """The file extension the evaluator reads for a task (its get_suffix)."""
    groups = GROUPS[benchmark]
    if task in groups["qa"] or task == "mewslix":
        return "json"
    if task in groups.get("multi_choice", []):
        return "jsonl"
    return "tsv"


def xtreme_language(task: str, language: str) -> str | None:
    """Our language code -> XTREME's (None: a Tatoeba language XTREME does not have)."""
    return TATOEBA_CODES.get(language) if task == "tatoeba" else language


def benchmark_languages(task: str) -> list[str]:
    """Every language either benchmark scores for a task, in XTREME's order first."""
    seen: list[str] = []
    for bench in BENCHMARKS:
        seen += [lang for lang in LANGUAGES[bench].get(task, []) if lang not in seen]
    return seen
