"""The memory lab: does a plain RNN forget what LSTM and GRU remember? Experiments with numbers.

    tasks.py     adding problem, recall after noise, sequential 8x8 digits
    models.py    Recurrent + linear head, hidden sizes matched to a parameter budget
    gradient.py  ‖∂L/∂x_t‖ against the distance T-1-t
    run.py       the suite (tasks × lengths × cells × seeds) -> memory.json
    report.py    memory.json -> PNG plots and report.md

Run it with `rnnlab memory` (see rnnlab/cli/memory.py).
"""
