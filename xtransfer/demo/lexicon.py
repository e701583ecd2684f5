"""The demo's languages and lexicons: a small concept inventory rendered in every language.

English uses real words; every other language deterministic pseudo-words in its own
script (Cyrillic for bg/ru, Greek for el, Arabic for ar/ur, Devanagari for hi, Thai for
th, CJK for zh/ja, Hangul for ko, Latin with language-specific letters for the rest),
plus the word-order rules ``xtransfer.demo.grammar`` applies (verb-final hi/ja/ko/tr/ur,
noun-adjective ar/es/fr/sw/th/vi, no spaces ja/th/zh). Shared anchors make zero-shot
transfer from English possible but imperfect: names and digits are written the same
everywhere, and Latin-script languages borrow some English words. Every verb and noun
has two surface forms (synonyms) in every language.
"""

from __future__ import annotations

import random

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
DEMO_LANGUAGES = tuple(sorted(set(XNLI_LANGUAGES) | set(PAWSX_LANGUAGES)))

# --------------------------------------------------------------------------------------
# Concept inventory (English surface forms). Verbs are (3rd person singular, base form);
# the second entry of a verb or noun is its synonym, used for paraphrases.
# --------------------------------------------------------------------------------------
NAMES = ("Anna", "Omar", "Li", "Maria", "Ivan", "Sara", "Kenji", "Amir", "Lena", "Raj", "Nora", "Pablo")
NUMBERS = tuple(range(2, 10))

THING_VERBS = {
    "buy": (("buys", "buy"), ("purchases", "purchase")),
    "see": (("sees", "see"), ("notices", "notice")),
    "cook": (("cooks", "cook"), ("prepares", "prepare")),
    "find": (("finds", "find"), ("discovers", "discover")),
    "fix": (("fixes", "fix"), ("repairs", "repair")),
    "wash": (("washes", "wash"), ("cleans", "clean")),
    "get": (("gets", "get"), ("receives", "receive")),
    "want": (("wants", "want"), ("desires", "desire")),
    "lose": (("loses", "lose"), ("misplaces", "misplace")),
    "pick": (("picks", "pick"), ("chooses", "choose")),
}
PERSON_VERBS = {  # PAWS-X: agent VERB patient
    "help": (("helps", "help"), ("assists", "assist")),
    "call": (("calls", "call"), ("phones", "phone")),
    "teach": (("teaches", "teach"), ("instructs", "instruct")),
    "hire": (("hires", "hire"), ("employs", "employ")),
    "pay": (("pays", "pay"), ("compensates", "compensate")),
    "warn": (("warns", "warn"), ("alerts", "alert")),
    "greet": (("greets", "greet"), ("welcomes", "welcome")),
    "visit": (("visits", "visit"), ("sees", "see")),
}
NOUNS = {  # always plural: numbers start at 2
    "car": ("cars", "automobiles"),
    "bike": ("bikes", "bicycles"),
    "cup": ("cups", "mugs"),
    "box": ("boxes", "crates"),
    "phone": ("phones", "telephones"),
    "photo": ("photos", "pictures"),
    "stone": ("stones", "rocks"),
    "bag": ("bags", "sacks"),
    "gift": ("gifts", "presents"),
    "coat": ("coats", "jackets"),
}
ADJECTIVES = {a: (a,) for a in ("red", "blue", "green", "old", "new", "small", "big", "cheap", "heavy")}
PLACES = {p: (p,) for p in ("market", "park", "school", "station", "kitchen", "office", "garden", "harbor", "museum")}
EVENTS = {e: (e,) for e in ("festival", "lunch", "dinner", "storm", "game", "concert", "meeting", "exam")}
QUESTION_WORDS = {w: (w,) for w in ("where", "why", "when", "how")}
# Only the QA demo asks these; last in the lexicon, so adding them left every other word as it was.
SPAN_QUESTION_WORDS = {"who": ("who",), "howmany": ("how many",)}
FUNCTION_WORDS = {"and": ("and",), "not": ("not",), "at": ("at the",), "before": ("before the",), "obj": ("",)}

# --------------------------------------------------------------------------------------
# Languages: script (syllable pools), word length in syllables, and word-order rules.
# --------------------------------------------------------------------------------------
VERB_FINAL = frozenset({"hi", "ja", "ko", "tr", "ur"})
NOUN_ADJ = frozenset({"ar", "es", "fr", "sw", "th", "vi"})
NO_SPACES = frozenset({"ja", "th", "zh"})
# Latin-script languages borrow some English words verbatim (loanwords): beyond names and
# digits, these shared words are what lets zero-shot transfer work better for them than
# for languages in other scripts, as it does for real cross-lingual models.
LOANWORD_RATE = {"de": 0.3, "es": 0.25, "fr": 0.25, "sw": 0.15, "tr": 0.15, "vi": 0.1}
PUNCT = {  # (statement end, question end); default (".", "?")
    "zh": ("。", "？"), "ja": ("。", "？"), "hi": ("।", "?"), "ur": ("۔", "؟"), "ar": (".", "؟"),
    "el": (".", ";"), "th": ("", ""),
}


def _cross(onsets: str, vowels: str) -> list[str]:
    return [c + v for c in onsets.split() for v in vowels.split()]


def _char_range(first: int, last: int) -> list[str]:
    return [chr(c) for c in range(first, last + 1)]


def _hangul() -> list[str]:
    # Compose a fixed subset of Hangul syllables: 0xAC00 + (initial * 21 + medial) * 28 + final.
    return [chr(0xAC00 + (i * 21 + m) * 28 + f) for i in range(0, 19, 2) for m in range(0, 21, 3) for f in (0, 4, 8)]


_CJK = _char_range(0x4E00, 0x4FFF)
_KANA = _char_range(0x3042, 0x3093)  # hiragana
# lang -> (syllable pool, (min, max) syllables per word, separator between syllables)
_SCRIPTS: dict[str, tuple[list[str], tuple[int, int], str]] = {
    "de": (_cross("b d f g k l m n r s t w sch pf z", "a e i o u ä ö ü ei au"), (2, 3), ""),
    "es": (_cross("b c d g l m n ñ p r s t ll ch", "a e i o u á é ó"), (2, 3), ""),
    "fr": (_cross("b d f g l m n p r s t v ch j", "a e i o ou é è eau ai"), (2, 3), ""),
    "sw": (_cross("b d g k l m mb nd ng p s t w ch ny", "a e i o u"), (2, 4), ""),
    "tr": (_cross("b c ç d g ğ k l m n s ş t y", "a e ı i o ö u ü"), (2, 3), ""),
    "vi": (_cross("b ch đ g h kh l m n ng nh ph t th tr v x", "a ă â e ê o ô ơ u ư à ạ ế ờ ữ"), (1, 2), " "),
    "ru": (_cross("б в г д ж з к л м н п р с т х ч ш", "а е и о у ы я ю"), (2, 3), ""),
    "bg": (_cross("б в г д ж з к л м н п р с т ц ч щ", "а е и о у ъ я ю"), (2, 3), ""),
    "el": (_cross("β γ δ ζ θ κ λ μ ν ξ π ρ σ τ φ χ", "α ε η ι ο υ ω ά έ ί ό"), (2, 3), ""),
    "ar": (_cross("ب ت ث ج ح خ د ذ ر ز س ش ص ط ع غ ف ق ك ل م ن ه", "ا و ي"), (2, 3), ""),
    "ur": (_cross("ب پ ت ٹ ج چ د ڈ ر ڑ ز س ش ک گ ل م ن ہ", "ا و ی ے"), (2, 3), ""),
    "hi": (_cross("क ख ग च ज ट ड त द न प ब म य र ल व स ह", "ा ि ी ु ू े ो"), (2, 3), ""),
    "th": (_cross("ก ข ค ง จ ช ด ต ท น บ ป พ ม ย ร ล ว ส ห", "า ิ ี ุ ู ะ ั"), (2, 3), ""),
    "zh": (_CJK, (1, 2), ""),
    "ja": (_KANA + _CJK[:64], (2, 3), ""),  # shares some characters with zh, as real Japanese does
    "ko": (_hangul(), (2, 3), ""),
    # Languages only some demos render (XCOPA, TyDiQA, UD/PAN-X, Tatoeba). Latin-script ones share the
    # tiny tokenizer's alphabet; the others are unseen scripts, where only names and digits carry over.
    "et": (_cross("k l m n p r s t v h j", "a e i o u õ ä ü"), (2, 3), ""),
    "ht": (_cross("b d f k l m n p r s t v w y ch", "a e i o ou è an on"), (1, 2), ""),
    "id": (_cross("b c d g k l m n p r s t j ng", "a e i o u"), (2, 3), ""),
    "it": (_cross("b c d f g l m n p r s t v z gl", "a e i o u à è ò"), (2, 3), ""),
    "qu": (_cross("ch k ll m n p q r s t w y", "a i u"), (2, 4), ""),
    "ta": (_cross("க ங ச ஞ ட ண த ந ப ம ய ர ல வ", "ா ி ீ ு ூ ெ ே ை ொ"), (2, 3), ""),
    "bn": (_cross("ক খ গ চ জ ট ড ত দ ন প ব ম র ল স হ", "া ি ী ু ে ো"), (2, 3), ""),
    "te": (_cross("క గ చ జ ట డ త ద న ప బ మ ర ల వ స", "ా ి ీ ు ె ో"), (2, 3), ""),
    "fi": (_cross("h j k l m n p r s t v", "a e i o u y ä ö"), (2, 4), ""),
    "af": (_cross("b d f g k l m n p r s t v w", "a e i o u aa ee oe ie"), (2, 3), ""),
    "eu": (_cross("b d g k l m n p r s t x z tx tz", "a e i o u"), (2, 3), ""),
    "hu": (_cross("b d f g h k l m n p r s t v z sz gy", "a e i o u á é ö ü"), (2, 3), ""),
    "nl": (_cross("b d f g h k l m n p r s t v w z", "a e i o u aa oo ij ui"), (2, 3), ""),
    "pt": (_cross("b c d f g l m n p r s t v ch lh nh", "a e i o u ã é ô"), (2, 3), ""),
    "tl": (_cross("b d g h k l m n p s t w y ng", "a e i o u"), (2, 3), ""),
    "yo": (_cross("b d f g gb j k l m n r s ṣ t w y", "a e ẹ i o ọ u"), (2, 3), ""),
    "jv": (_cross("b c d g j k l m n p r s t w ng ny", "a e é i o u"), (2, 3), ""),
    "ms": (_cross("b c d g h j k l m n p r s t ng", "a e i o u"), (2, 3), ""),
    "kk": (_cross("б ғ д ж з к қ л м н п р с т ш", "а ә е ы і о ө ұ ү"), (2, 3), ""),
    "fa": (_cross("ب پ ت ج چ د ر ز ژ س ش ف ک گ ل م ن", "ا و ی"), (2, 3), ""),
    "he": (_cross("ב ג ד ז ח ט כ ל מ נ ס פ צ ק ר ש ת", "ו י"), (2, 3), ""),
    "mr": (_cross("क ख ग च ज ट ड ण त द न प ब म ळ र ल व स", "ा ि ी ु ू े ो"), (2, 3), ""),
    "ml": (_cross("ക ഗ ച ജ ട ഡ ത ദ ന പ ബ മ യ ര ല വ സ", "ാ ി ീ ു ൂ െ ോ"), (2, 3), ""),
    "ka": (_cross("ბ გ დ ვ ზ თ კ ლ მ ნ პ რ ს ტ ქ შ ც", "ა ე ი ო უ"), (2, 3), ""),
    "my": (_cross("က ခ ဂ င စ ဆ ည တ ထ ဒ န ပ ဖ ဗ မ ယ ရ လ သ", "ာ ိ ီ ု ူ ေ"), (1, 2), ""),
    "pl": (_cross("b c d g k l m n p r s t w z cz sz rz", "a e i o u y ą ę ó"), (2, 3), ""),   # XGLUE POS
    # XTREME-R's UD-POS, PAN-X and XQuAD additions
    "lt": (_cross("b d g k l m n p r s t v ž š č", "a e i o u ė ū y ą"), (2, 3), ""),
    "uk": (_cross("б в г д ж з к л м н п р с т х ч ш", "а е и і о у я ю є ї"), (2, 3), ""),
    "wo": (_cross("b d f g j k l m n p r s t w y ñ mb nd", "a e i o u ë à é"), (1, 3), ""),
    "ro": (_cross("b c d f g l m n p r s t v z ș ț", "a e i o u ă â î"), (2, 3), ""),
    "az": (_cross("b c ç d g ğ k l m n q s ş t x y", "a e ə ı i o ö u ü"), (2, 3), ""),
    "pa": (_cross("ਕ ਖ ਗ ਚ ਜ ਟ ਡ ਤ ਦ ਨ ਪ ਬ ਮ ਰ ਲ ਵ ਸ", "ਾ ਿ ੀ ੁ ੂ ੇ ੋ"), (2, 3), ""),
    "gu": (_cross("ક ખ ગ ચ જ ટ ડ ત દ ન પ બ મ ર લ વ સ", "ા િ ી ુ ૂ ે ો"), (2, 3), ""),
}


def _english_lexicon() -> dict[str, tuple[str, ...]]:
    """Every lexicon key ('verb:buy', 'noun:car', ...) -> its English forms."""
    table: dict[str, tuple[str, ...]] = {}
    for verbs in (THING_VERBS, PERSON_VERBS):
        for key, forms in verbs.items():
            table[f"verb:{key}"] = tuple(f[0] for f in forms)
    for prefix, group in (("noun", NOUNS), ("adj", ADJECTIVES), ("place", PLACES), ("event", EVENTS),
                          ("wh", QUESTION_WORDS), ("fn", FUNCTION_WORDS), ("wh", SPAN_QUESTION_WORDS)):
        for key, forms in group.items():
            table[f"{prefix}:{key}"] = forms
    return table


def _pseudo_lexicon(lang: str) -> dict[str, tuple[str, ...]]:
    """Deterministic pseudo-words in ``lang``'s script, one per English form, all distinct.

    Seeded by the language only, so a language's lexicon is the same for every seed."""
    pool, (lo, hi), sep = _SCRIPTS[lang]
    rng = random.Random(f"xtransfer-demo-lexicon:{lang}")
    used: set[str] = set(NAMES)
    lexicon = {}
    for key, forms in _EN_LEXICON.items():
        words = []
        for english in forms:
            loan = rng.random() < LOANWORD_RATE.get(lang, 0.0)
            word = english if loan and english and english not in used else ""
            while not word or word in used:
                word = sep.join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))
            used.add(word)
            words.append(word)
        lexicon[key] = tuple(words)
    lexicon["fn:obj"] = lexicon["fn:obj"] if lang in VERB_FINAL else ("",)  # object marker only if verb-final
    return lexicon


_EN_LEXICON = _english_lexicon()
LEXICONS = {"en": _EN_LEXICON} | {lang: _pseudo_lexicon(lang) for lang in _SCRIPTS}

# Penn Treebank tags of the English words: MNLI/SNLI's parse columns and the CCG demo's leaves.
EN_TAGS = {"does": "VBZ", "not": "RB", "at": "IN", "before": "IN", "the": "DT", "and": "CC", ",": ",", ".": "."}
EN_TAGS.update({n: "NNP" for n in NAMES})
EN_TAGS.update({a: "JJ" for a in ADJECTIVES})
EN_TAGS.update({w: "NN" for group in (PLACES, EVENTS) for w in group})
EN_TAGS.update({w: "NNS" for forms in NOUNS.values() for w in forms})
EN_TAGS.update({f[0]: "VBZ" for v in THING_VERBS.values() for f in v})
EN_TAGS.update({f[1]: "VB" for v in THING_VERBS.values() for f in v})
