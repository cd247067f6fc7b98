"""Metrics over a split, task-free: each takes labels or counts and returns plain numbers.

    classification.py  confusion matrix, accuracy, per-class and macro F1
    tagging.py         BIO tags -> chunks, chunk F1 (seqeval: conlleval-compatible and strict IOB2)
    language.py        perplexity and bits from a mean loss in nats
    translation.py     sacreBLEU corpus BLEU (cased and lowercased) and chrF, with their signatures
    speech.py          WER and CER (jiwer), error counts
"""
