"""Readers for raw file formats, one module per format family. Importing this package registers them all."""
from xtransfer.data.formats import mewslix, retrieval, siqa, span, tabular, tagging, text, xglue  # noqa: F401  (each registers its formats)
from xtransfer.data.formats.registry import FORMATS, Reader, Record, reader_for, register_format  # noqa: F401
