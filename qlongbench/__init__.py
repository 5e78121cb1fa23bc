"""qlongbench: how much long-context ability does a quantized model lose, at which context
length and in which language, and what memory does it really save?

Importing this package imports no engine (torch, transformers, llama_cpp): they load lazily
inside their backends."""

__version__ = "0.1.0"
