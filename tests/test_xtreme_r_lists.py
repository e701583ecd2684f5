"""XTREME-R's task languages in xtransfer/xtreme/benchmark.py against the official evaluator's
XTREME_R_TASK2LANGS (google-research/xtreme `evaluate.py`), transcribed here as data."""
from xtransfer.xtreme.benchmark import GROUPS, LANGUAGES

OFFICIAL_XTREME_R = {
    "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,"
            "zh,kk,tr,et,fi,hu,qu,pl,uk,az,lt,pa,gu,ro",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,"
             "lt,pl,uk,wo,ro",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,"
               "et,fi,hu,az,lt,pl,uk,ro",
    "xcopa": "et,ht,id,it,qu,sw,ta,th,tr,vi,zh",
    "lareqa": "",
    "mewslix": "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro",
    "mlqa": "en,es,de,ar,hi,vi,zh",
    "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
}


def test_xtreme_r_languages_are_the_official_ones_in_order():
    assert list(LANGUAGES["xtreme-r"]) == list(OFFICIAL_XTREME_R)
    for task, langs in OFFICIAL_XTREME_R.items():
        assert LANGUAGES["xtreme-r"][task] == (langs.split(",") if langs else []), task


def test_xtreme_r_groups_are_the_official_ones():
    assert GROUPS["xtreme-r"] == {"classification": ["xnli", "xcopa"], "tagging": ["udpos", "panx"],
                                  "qa": ["xquad", "mlqa", "tydiqa"], "retrieval": ["tatoeba", "mewslix"],
                                  "multi_choice": ["xcopa"]}


# ---- the run's side: `benchmark=xtreme|xtreme-r` gives each target the official language set ----------
import pytest  # noqa: E402

from tests.conftest import compose_cfg  # noqa: E402
from xtransfer.config.build import build_target  # noqa: E402
from xtransfer.xtreme.benchmark import TATOEBA_CODES  # noqa: E402

OFFICIAL_XTREME = {   # XTREME_TASK2LANGS of the same evaluate.py
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,"
            "zh,kk,tr,et,fi,hu",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,"
               "et,fi,hu",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
}
OFFICIAL = {"xtreme": OFFICIAL_XTREME, "xtreme-r": OFFICIAL_XTREME_R}


@pytest.mark.parametrize("bench", ["xtreme", "xtreme-r"])
@pytest.mark.parametrize("target", ["udpos", "panx", "xquad", "tatoeba"])
def test_benchmark_selection_gives_each_target_the_official_languages(tmp_path, bench, target):
    cfg = compose_cfg([f"target={target}", f"benchmark={bench}", "data=demo", "model=tiny"], tmp_path)
    languages = build_target(cfg.target).languages
    if target == "tatoeba":   # LASER's ISO 639-3 file codes, mapped as XTREME's utils_preprocess.py maps them
        languages = [TATOEBA_CODES[code] for code in languages]
    assert sorted(languages) == sorted(OFFICIAL[bench][target].split(","))
    assert len(languages) == len(set(languages))


def test_xtreme_is_the_default_benchmark(tmp_path):
    assert compose_cfg(["target=udpos"], tmp_path).benchmark.name == "xtreme"


def test_xtreme_r_tatoeba_is_the_fixed_subset_not_tatoeba112(tmp_path):
    cfg = compose_cfg(["target=tatoeba", "benchmark=xtreme-r"], tmp_path)
    languages = build_target(cfg.target).languages
    assert len(languages) == 41 and {"aze", "lit", "pol", "ukr", "ron"} <= set(languages)
    assert len(build_target(compose_cfg(["target=tatoeba112"], tmp_path).target).languages) == 112


def test_benchmark_target_lists_compose(tmp_path):
    """Every target a benchmark names is a target config (the sweep in conf/benchmark/xtreme-r.yaml runs)."""
    for benchmark in ("xtreme", "xtreme-r"):
        for target in compose_cfg([f"benchmark={benchmark}"], tmp_path).benchmark.targets:
            assert compose_cfg([f"target={target}", f"benchmark={benchmark}"], tmp_path).target.name == target
    tasks = {"bucc": "bucc2018"}
    assert [tasks.get(t, t) for t in compose_cfg(["benchmark=xtreme-r"], tmp_path).benchmark.targets] \
        == ["xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa"]
    assert sorted(tasks.get(t, t) for t in compose_cfg(["benchmark=xtreme"], tmp_path).benchmark.targets) \
        == sorted(LANGUAGES["xtreme"])


def test_demo_has_every_xtreme_r_language_read_back_by_the_real_readers(tmp_path):
    from xtransfer.data.sources import load_rows
    from xtransfer.demo.generate import generate_demo_data
    from xtransfer.tasks import get_family

    root = generate_demo_data(tmp_path / "demo", train_size=6, eval_size=4)
    added = {"udpos": ["lt", "pl", "uk", "wo", "ro"], "panx": ["qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"],
             "xquad": ["ro"], "tatoeba": ["aze", "lit", "pol", "ukr", "ron"]}
    for target, languages in added.items():
        cfg = compose_cfg([f"target={target}", "benchmark=xtreme-r", "data=local", f"data.root={root}"], tmp_path)
        task = build_target(cfg.target).eval_task
        for lang in languages:
            assert load_rows(task, "test", lang, get_family(task.family).normalize), (target, lang)
