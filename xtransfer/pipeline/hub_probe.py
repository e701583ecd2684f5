"""Is a pinned Hub dataset or model in the local Hugging Face cache, or else reachable?

The grid check asks before any cell trains. It imports nothing heavy (no `datasets`, no torch), so
a grid that cannot run offline is refused in about two seconds rather than after hub retries.
"""
from __future__ import annotations

import os
from pathlib import Path

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
WAYS_FORWARD = ("Ways forward: to try xtransfer without the Hub, add offline=demo to this command (synthetic data in "
                "the real file layouts, a tiny model; or start from `python -m xtransfer.run -m "
                "intermediate=none,mnli,qqp target=xnli,pawsx experiment=demo`); to run on real copies without "
                "the Hub, point model.name_or_path=<local model dir> and data=local data.root=<folder>.")


def _set(variable: str) -> bool:
    return os.environ.get(variable, "").upper() in ("1", "ON", "YES", "TRUE")


class HubProbe:
    """One answer per (kind, path, revision); after one failed connection, the Hub counts as
    unreachable for the rest of the grid (no retry storm)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, str | None], str | None] = {}
        self.unreachable: str | None = None

    def offline(self, kind: str) -> list[str]:
        variables = OFFLINE_VARIABLES if kind == "datasets" else OFFLINE_VARIABLES[:1]
        return [v for v in variables if _set(v)]

    def __call__(self, path: str, revision: str | None, kind: str = "datasets") -> str | None:
        if (kind, path, revision) not in self.answers:
            self.answers[(kind, path, revision)] = self._probe(kind, path, revision)
        return self.answers[(kind, path, revision)]

    def _probe(self, kind: str, path: str, revision: str | None) -> str | None:
        if in_local_cache(path, revision, kind):
            return None
        if offline := self.offline(kind):
            return f"not in the local Hugging Face cache, and {' and '.join(offline)} is set (offline)"
        if self.unreachable:
            return f"not in the local cache, and the Hub is not reachable ({self.unreachable})"
        from huggingface_hub import HfApi
        api = HfApi()
        try:
            (api.dataset_info if kind == "datasets" else api.model_info)(path, revision=revision, timeout=10)
            return None
        except Exception as e:   # no network, a missing repo or revision: named in the message
            if getattr(e, "response", None) is None:   # no answer at all: no network
                self.unreachable = f"{type(e).__name__}: {e}"
            return f"not in the local cache, and the Hub did not serve it ({type(e).__name__}: {e})"


def datasets_cache() -> Path:
    """Where `datasets` keeps prepared datasets (its own rule, without importing it)."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"])
    from huggingface_hub import constants
    return Path(constants.HF_HOME) / "datasets"


def in_local_cache(path: str, revision: str | None, kind: str = "datasets") -> bool:
    """Files of this revision in the Hub cache; for a dataset also one `datasets` prepared from this repo
    (any config or revision: the datasets cache does not name them in its folder names, so a hint)."""
    from huggingface_hub import constants
    snapshots = Path(constants.HF_HUB_CACHE) / f"{kind}--{path.replace('/', '--')}" / "snapshots"
    if (snapshots / revision).is_dir() if revision else snapshots.is_dir():
        return True
    return kind == "datasets" and (datasets_cache() / path.replace("/", "___")).is_dir()


def model_gap(name_or_path: str | None, revision: str | None, probe: HubProbe) -> tuple[str, str] | None:
    """(what, fix) when a hub model is neither cached nor reachable; None for local dirs and tiny models."""
    if name_or_path is None or Path(name_or_path).is_dir():
        return None
    why = probe(name_or_path, revision, kind="models")
    if why is None:
        return None
    return (f"hub model {name_or_path} @ {revision}: {why}",
            f"fetch it where the Hub is reachable (huggingface-cli download {name_or_path}"
            + (f" --revision {revision}" if revision else "") + "), or model.name_or_path=<local model dir>")
