"""Small, deterministic, synthetic stand-ins for the datasets xtransfer reads.

``generate_demo_data(root)`` writes every demo dataset under ``root`` in the *raw file
layouts of the real releases* (same paths, headers, column order and label strings), so
the real readers parse them and the whole pipeline can run offline on a CPU in minutes.

``lexicon`` (languages, concepts, pseudo-word lexicons) <- ``grammar`` (abstract sentences,
their rendering, random draws, file writing) <- one writer per family (``classification``,
``multiple_choice``, ``span``, ``retrieval``, ``tagging``, ``corpus``) <- ``generate``.
"""

from xtransfer.demo.generate import generate_demo_data
from xtransfer.demo.lexicon import DEMO_LANGUAGES

__all__ = ["DEMO_LANGUAGES", "generate_demo_data"]
