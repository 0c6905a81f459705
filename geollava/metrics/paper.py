"""The GeoLLaVA paper's own metrics, computed its way so that numbers compare with its table:
  rouge1 / rouge2 / rougeL  rouge_score F-measure with stemming, averaged over samples
  bleu2                     NLTK sentence BLEU, weights (0.5, 0.5), smoothing method1, whitespace tokens, averaged
  sbert                     cosine of sentence-transformers embeddings, averaged (GeoLLaVA used
                            bert-base-nli-mean-tokens; say which model scored)
With several references, ROUGE and SBERT take the best-matching reference and BLEU uses all of them (NLTK's
multi-reference BLEU); GeoLLaVA's own files have one reference per sample, where these are the same thing.
"""
from __future__ import annotations

import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_score import rouge_scorer

_ROUGE = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
_SMOOTH = SmoothingFunction().method1


def paper_scores(references: dict[str, list[str]], predictions: dict[str, str],
                 sbert_model: str | None = None) -> tuple[dict, dict[str, dict]]:
    per_sample = {}
    for i, prediction in predictions.items():
        rouge = _ROUGE.score_multi(references[i], prediction)
        per_sample[i] = {
            "rouge1": rouge["rouge1"].fmeasure, "rouge2": rouge["rouge2"].fmeasure,
            "rougeL": rouge["rougeL"].fmeasure,
            # float(): NLTK returns the int 0 when nothing matches, which would print as 0 and drop out of reports
            "bleu2": float(sentence_bleu([r.split() for r in references[i]], prediction.split(), weights=(0.5, 0.5),
                                         smoothing_function=_SMOOTH)),
        }
    if sbert_model:
        for i, value in sbert_cosines(references, predictions, sbert_model).items():
            per_sample[i]["sbert"] = value
    keys = ["rouge1", "rouge2", "rougeL", "bleu2"] + (["sbert"] if sbert_model else [])
    corpus = {k: sum(s[k] for s in per_sample.values()) / max(len(per_sample), 1) for k in keys}
    corpus["sbert_model"] = sbert_model
    return corpus, per_sample


def sbert_cosines(references: dict[str, list[str]], predictions: dict[str, str], model_path: str) -> dict[str, float]:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise RuntimeError("--sbert-model needs the sentence-transformers package (pip install -r requirements.txt)")
    model = SentenceTransformer(model_path, device="cuda" if torch.cuda.is_available() else "cpu")
    ids = list(predictions)
    texts = sorted({predictions[i] for i in ids} | {r for i in ids for r in references[i]})  # each text once
    embeddings = model.encode(texts, batch_size=128, convert_to_tensor=True, normalize_embeddings=True)
    row = {text: k for k, text in enumerate(texts)}
    out = {}
    for i in ids:
        refs = embeddings[[row[r] for r in references[i]]]
        # an empty answer is embedded as "" and scored like any other, as GeoLLaVA's eval_metrics.py scores it
        out[i] = float((refs @ embeddings[row[predictions[i]]]).max())
    return out
