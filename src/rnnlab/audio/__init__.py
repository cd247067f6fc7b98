"""Audio building blocks: features (log-mel, MFCC via librosa), their normalisation, SpecAugment, and
connected-digit strings made from isolated recordings. Never imports a task."""
