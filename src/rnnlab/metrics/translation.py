"""Translation quality over a split: sacreBLEU's corpus BLEU and chrF, with the signatures that make them comparable.

Scores are computed the way sacreBLEU (Post 2018) prescribes: detokenised hypotheses against the raw
references, tokenised by the metric itself, so a figure does not depend on our own tokeniser. Three
numbers come back, with the signature of each (what tokeniser, case, smoothing and version made it):

    bleu            cased BLEU, tokenizer 13a: the figure to report
    bleu_lowercase  the same, lowercased: the figure to set beside published Multi30k anchors, which
                    report lowercased tokenised BLEU (multi-bleu.perl -lc)
    chrf            chrF2 (Popović 2015): character 6-grams, recall weighted twice as much as precision

The BLEU brevity penalty and the length ratio hypothesis / reference come too, to tell short output
from wrong output.
"""
from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, float | str]:
    """Corpus-level scores (0-100) of one hypothesis per reference (a single reference each).

    Returns {bleu, bleu_signature, bleu_lowercase, bleu_lowercase_signature, chrf, chrf_signature,
    brevity_penalty, length_ratio}; the scores as floats, the signatures as strings.
    """
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references; give one hypothesis "
                         "per reference")
    if not hypotheses:
        raise ValueError("no sentences to score")
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"{name}[{bad}] is {type(texts[bad]).__name__}, not a string")
    refs = [references]  # sacrebleu takes reference streams: one list per set of references
    cased = BLEU(tokenize="13a", lowercase=False)
    lowered = BLEU(tokenize="13a", lowercase=True)
    chrf = CHRF()  # chrF2: char_order=6, word_order=0, beta=2
    bleu = cased.corpus_score(hypotheses, refs)
    return {
        "bleu": float(bleu.score),
        "bleu_signature": str(cased.get_signature()),
        "bleu_lowercase": float(lowered.corpus_score(hypotheses, refs).score),
        "bleu_lowercase_signature": str(lowered.get_signature()),
        "chrf": float(chrf.corpus_score(hypotheses, refs).score),
        "chrf_signature": str(chrf.get_signature()),
        "brevity_penalty": float(bleu.bp),
        "length_ratio": float(bleu.ratio),
    }
