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
