"""Inference without parameters: turning a model's scores into outputs.

    sampling.py  temperature / top-k sampling of the next token, and the autoregressive loop that feeds
                 each sampled token back into a recurrent model with its carried state
    search.py    greedy and batched beam search over a step(y_prev, state, memory) function
"""
