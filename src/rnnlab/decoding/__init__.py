"""Inference without parameters: turning a model's scores into outputs.

    sampling.py  temperature / top-k sampling of the next token, and the autoregressive loop that feeds
                 each sampled token back into a recurrent model with its carried state
    search.py    greedy and batched beam search over a step(y_prev, state, memory) function
    seq2seq.py   the generation glue of any encoder-decoder: length limits, greedy / beam dispatch, </s>
                 stripped, the output's fields, the teacher-forced alternatives (no text: callbacks do that)
    ctc.py       CTC: greedy, prefix beam search (lexicon, word LM by shallow fusion), forced alignment, and the
                 decoder's settings (decoder_options, decode, transcript)
    ngram.py     interpolated Kneser-Ney word n-gram, the beam search's language model
"""
