"""Audio building blocks. Never imports a task.

    features.py   frames from samples (log-mel, MFCC, a Sphinx-like MFCC via librosa), deltas, the per-feature
                  statistics fitted on train, a spectrogram to draw
    frontend.py   the front end in one place: an example's raw frames, then (inside the model, FrontEnd) the
                  utterance mean, the training normaliser as buffers, SpecAugment while training, frame stacking
    augment.py    SpecAugment's frequency and time masks
    strings.py    connected digits joined from isolated recordings
    models.py     AudioEncoder (front end + Recurrent), WordClassifier, CTCModel
"""
