"""Translation quality over a split: sacreBLEU's corpus BLEU and chrF, with the signatures that make them comparable.

Scores are computed the way sacreBLEU (Post 2018) prescribes: detokenised hypotheses against the raw
references, tokenised by the metric itself, so a figure does not depend on our own tokeniser. These
numbers come back, with the signature of each (what tokeniser, case, smoothing and version made it):

    bleu            cased BLEU, tokenizer 13a: the figure to report
    bleu_lowercase  the same, lowercased: the figure to set beside published Multi30k anchors, which
                    report lowercased tokenised BLEU (multi-bleu.perl -lc)
    bleu_moses_lowercase
                    multi-bleu.perl -lc on Moses-tokenised text: hypotheses and references tokenised by the
                    Moses tokenizer of the target language (sacremoses, no escaping), lowercased, then corpus
                    BLEU over whitespace tokens. The protocol of the Multi30k papers that tokenise with Moses
                    (Lample et al. 2018 among them), so their figures sit beside this one like for like. Only
                    when asked for (`moses_lang`): Moses tokenisation is slow, and the per-epoch validation
                    during training has no use for it
    chrf            chrF2 (Popović 2015): character 6-grams, recall weighted twice as much as precision

The BLEU brevity penalty and the length ratio hypothesis / reference come too, to tell short output
from wrong output.
"""
from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF


def moses_tokenised(texts: list[str], lang: str) -> list[str]:
    """Moses tokenisation (the tokenizer.perl rules of `lang`, HTML escaping off), tokens joined by spaces."""
    from sacremoses import MosesTokenizer

    tok = MosesTokenizer(lang=lang)
    return [tok.tokenize(t, escape=False, return_str=True) for t in texts]


def corpus_scores(hypotheses: list[str], references: list[str],
                  moses_lang: str | None = None) -> dict[str, float | str]:
    """Corpus-level scores (0-100) of one hypothesis per reference (a single reference each).

    Returns {bleu, bleu_signature, bleu_lowercase, bleu_lowercase_signature, chrf, chrf_signature,
    brevity_penalty, length_ratio}, and with `moses_lang` (the target language, whose Moses tokenizer is used)
    also {bleu_moses_lowercase, bleu_moses_lowercase_signature}; the scores as floats, the signatures as strings.
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
    scores: dict[str, float | str] = {
        "bleu": float(bleu.score),
        "bleu_signature": str(cased.get_signature()),
        "bleu_lowercase": float(lowered.corpus_score(hypotheses, refs).score),
        "bleu_lowercase_signature": str(lowered.get_signature()),
        "chrf": float(chrf.corpus_score(hypotheses, refs).score),
        "chrf_signature": str(chrf.get_signature()),
        "brevity_penalty": float(bleu.bp),
        "length_ratio": float(bleu.ratio),
    }
    if moses_lang is not None:
        # multi-bleu.perl: the text arrives tokenised, the metric only splits on spaces (tokenize="none")
        moses = BLEU(tokenize="none", lowercase=True, force=True)
        tokenised = moses_tokenised(hypotheses, moses_lang), [moses_tokenised(references, moses_lang)]
        scores["bleu_moses_lowercase"] = float(moses.corpus_score(*tokenised).score)
        scores["bleu_moses_lowercase_signature"] = f"moses-{moses_lang}|{moses.get_signature()}"
    return scores
