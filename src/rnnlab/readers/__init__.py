"""Readers: users' files -> examples, at the boundary. Every problem a user can cause is a
`rnnlab.errors.DataError` naming the file and the 1-based line. Readers know no task and no model.

    paths.py       a config's data path -> a file (`package:NAME`, `~`, `$RNNLAB_DATA`)
    lines.py       what the line-based readers share: lines without terminators, one JSON object per line
    utterances.py  utterances with an intent and optional BIO slot tags (seq.in/seq.out/label, CSV, JSONL)
    intents.py     the same files as (words, intent) examples for a classifier, tokenised as user input is
    text.py        plain text for language models (a character stream, or words with <eos> per line)
    parallel.py    sentence pairs (two line-aligned files, a TSV or a JSONL) for translation
    tokenize.py    subword (sentencepiece) or word tokenizers learned on training text, saved as JSON
    audio.py       recordings (soundfile), resampled (soxr), from a path or an upload's bytes
    speech.py      the speech datasets' formats (manifests, FSDD names, AN4 transcripts) and their splits
    mfc.py         Sphinx MFCC feature files
    sessions.py    log sessions, one per line (`e1 e2 ...` or `id,e1 e2 ...`), from a file or an upload
    calls.py       API-call sequences (lines or JSONL, gzipped or not) and their family labels
    series.py      CSV time series with a time column
    splits.py      the one hold-out helper: a seeded fraction, the last part, stratified folds
"""
