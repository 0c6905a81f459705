"""The COCO caption metrics, corpus-level, as published tables compute them: pycocoevalcap's BLEU-1..4, METEOR,
ROUGE-L and CIDEr (which is CIDEr-D) over PTB-tokenized text.

CIDEr's IDF weights come from the evaluated references themselves, so a score depends on the whole set: one
caption scored alone gets 0 (every n-gram has document frequency 1 of 1, so log(1/1) = 0 weight), and the same
prediction scores differently inside different sets. Always score the full set in one pass.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

log = logging.getLogger(__name__)

# PTBTokenizer drops these tokens after splitting (pycocoevalcap's PUNCTUATIONS list).
_PTB_PUNCTUATION = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
                    "...", ";"}


def java_available() -> bool:
    return shutil.which("java") is not None


def tokenize(captions: dict[str, list[str]], tokenizer: str) -> dict[str, list[str]]:
    if tokenizer == "ptb":
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    return {k: [simple_tokenize(c) for c in v] for k, v in captions.items()}


def simple_tokenize(text: str) -> str:
    """The pure-Python stand-in for PTB when there is no Java: lower case, punctuation split off and dropped.
    It matches PTB on plain captions; PTB differs on contractions ("don't" -> "do n't") and some hyphenation."""
    tokens = re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[^\sa-z0-9]", text.lower())
    return " ".join(t for t in tokens if t not in _PTB_PUNCTUATION)


def coco_scores(references: dict[str, list[str]], predictions: dict[str, str], meteor: bool = True,
                tokenizer: str = "auto") -> tuple[dict, dict[str, dict]]:
    """(corpus scores, per-sample scores) with the keys Bleu_1..4, METEOR, ROUGE_L, CIDEr."""
    if tokenizer == "auto":
        tokenizer = "ptb" if java_available() else "simple"
        if tokenizer == "simple":
            log.warning("no Java found: using the simple tokenizer instead of PTB, and no METEOR; "
                        "scores may differ slightly from published tables (install a JRE to fix)")
    if tokenizer == "simple" or not java_available():
        meteor = False
    ids = list(predictions)
    refs = tokenize({i: references[i] for i in ids}, tokenizer)
    preds = tokenize({i: [predictions[i]] for i in ids}, tokenizer)
    corpus: dict = {}
    per_sample: dict[str, dict] = {i: {} for i in ids}
    scorers = [(["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"], Bleu(4)), (["ROUGE_L"], Rouge()), (["CIDEr"], Cider())]
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorers.insert(1, (["METEOR"], Meteor()))
    for names, scorer in scorers:
        with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its internals
            score, scores = scorer.compute_score(refs, preds)
        if len(names) == 1:
            score, scores = [score], [scores]
        for name, value, values in zip(names, score, scores):
            corpus[name] = float(value)
            for i, v in zip(ids, values):
                per_sample[i][name] = float(v)
    corpus["tokenizer"] = tokenizer
    return corpus, per_sample


class _Frequencies(dict):
    """Document frequencies that stay the corpus's: an n-gram it lacks reads 0 without being added (the scorer's
    defaultdict would grow with every sampled caption of a long GRPO run)."""

    def __missing__(self, ngram) -> float:
        return 0.0


class CorpusCider:
    """CIDEr-D of single captions with the document frequencies of a fixed reference corpus (the training set's,
    as self-critical captioning rewards use it), computed by pycocoevalcap's own scorer. CIDEr-D's usual IDF
    comes from the scored set itself, which for one prompt's group of sampled captions is a single image's
    references: every n-gram would weigh nothing."""

    def __init__(self, corpus: list[list[str]]):
        from pycocoevalcap.cider.cider_scorer import CiderScorer

        scorer = CiderScorer(n=4, sigma=6.0)
        for refs in corpus:
            scorer.cook_append(None, [simple_tokenize(r) for r in refs])
        scorer.compute_doc_freq()
        self.document_frequency, self.size = _Frequencies(scorer.document_frequency), len(corpus)

    def scores(self, candidates: list[str], references: list[list[str]]) -> list[float]:
        from pycocoevalcap.cider.cider_scorer import CiderScorer

        scorer = CiderScorer(n=4, sigma=6.0)
        for candidate, refs in zip(candidates, references):
            scorer.cook_append(simple_tokenize(candidate), [simple_tokenize(r) for r in refs])
        scorer.document_frequency = self.document_frequency
        # compute_cider takes log(len(crefs)) as the corpus size and scores zip(ctest, crefs): padding crefs with
        # empty entries gives the corpus's size without scoring anything more
        scorer.crefs += [[]] * max(0, self.size - len(candidates))
        return [float(v) for v in scorer.compute_cider()]
