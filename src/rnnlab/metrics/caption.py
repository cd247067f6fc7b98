"""Caption quality over a split, as the captioning papers score it: the COCO caption evaluation code.

    caption_scores(hypotheses, references)  -> {bleu1..bleu4, cider[, meteor]}, corpus-level, 0-1 scale
    caption_words(text)                     the tokenisation every score reads

The scorers are pycocoevalcap's (the MS-COCO caption evaluation, Chen et al. 2015), the code Show, Attend and Tell
era results and the anchors of rnnlab's Flickr8k benchmark were measured with:

    BLEU-n   corpus BLEU (Papineni et al. 2002) over all images, every reference of an image at once, brevity
             penalty on the reference length "closest" to each hypothesis (coco-caption's choice)
    CIDEr    CIDEr-D (Vedantam et al. 2015): tf-idf weighted n-gram (1-4) cosine against the references,
             idf from the references of the split scored, x10, Gaussian length penalty, clipped counts
    METEOR   METEOR 1.5 (Denkowski & Lavie 2014) via its jar; it needs `java`, so it is computed only on request
             (`meteor=True`) and left out, with `meteor_error` saying why, where java cannot run

Tokenisation (`caption_words`) stands in for coco-caption's PTBTokenizer (Stanford CoreNLP, Java): lowercase,
punctuation split off and dropped (PTBTokenizer's list: . , ? ! : ; ' " ` - ( ) [ ] { } ... ), words joined by
one space. Flickr8k's captions are already space-tokenised, so the two agree on them but for rare edge cases
(a hyphenated word stays one word here, as in PTB).
"""
from __future__ import annotations

import re
import shutil

_PUNCT = re.compile(r"[^\w\s'-]")  # every mark but the apostrophe and hyphen, which may sit inside a word


def caption_words(text: str) -> str:
    """'A dog runs , jumps .' -> 'a dog runs jumps': lowercased, punctuation dropped, one space between words;
    apostrophes and hyphens kept inside a word ("dog's", "t-shirt") and dropped at its ends."""
    words = (w.strip("'-") for w in _PUNCT.sub(" ", str(text).lower()).split())
    return " ".join(w for w in words if w)


def caption_scores(hypotheses: list[str], references: list[list[str]], *, meteor: bool = False) -> dict[str, float]:
    """Corpus-level scores of one hypothesis per image against that image's references (any number, at least one
    each): {bleu1, bleu2, bleu3, bleu4, cider} in 0..1 (BLEU) and 0..10 (CIDEr), plus meteor on request.
    An empty hypothesis scores as the empty string does (zero matches)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    hypotheses, references = list(hypotheses), [list(r) for r in references]
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("no captions to score")
    if any(not refs for refs in references):
        raise ValueError("every image needs at least one reference caption")
    res = {i: [caption_words(h)] for i, h in enumerate(hypotheses)}
    gts = {i: [caption_words(r) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    out = {f"bleu{n}": float(b) for n, b in enumerate(bleu, start=1)}
    out["cider"] = float(cider)
    if meteor:
        out.update(meteor_score(gts, res))
    return out


def meteor_score(gts: dict[int, list[str]], res: dict[int, list[str]]) -> dict[str, float | str]:
    """{"meteor": score} from METEOR 1.5's jar, or {"meteor_error": why} where java is missing or the jar fails."""
    if shutil.which("java") is None:
        return {"meteor_error": "java not found: METEOR 1.5 runs as a Java program"}
    try:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        # the jar reads ' ||| '-separated fields: a caption holding '|' would shift them
        score, _ = scorer.compute_score({k: [r.replace("|", " ") for r in v] for k, v in gts.items()},
                                        {k: [h.replace("|", " ") for h in v] for k, v in res.items()})
        return {"meteor": float(score)}
    except Exception as e:  # a JVM that cannot start, out of memory: the other scores stand
        return {"meteor_error": f"METEOR failed: {' '.join(str(e).split())[:200]}"}
