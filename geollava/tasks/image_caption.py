"""image_caption — describe one image in detail (VRSBench's captions, GeoChat_Instruct-style descriptions without
boxes when a set names the task). Scored as published caption tables score: pycocoevalcap BLEU-1..4, METEOR,
ROUGE-L and CIDEr(-D) over the task's samples (VRSBench's protocol, its CLAIR / GPT judge aside)."""
from __future__ import annotations

from .answers import TextTask
from .base import Sample, ScoreOptions

_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


class ImageCaption(TextTask):
    name = "image_caption"
    reference = "pycocoevalcap (lx709/VRSBench's caption table)"
    inherits = ("problems", "metadata_for", "question", "reword", "parse", "reward", "card_boxes", "synthesize")
    summary = "describe one image in detail"
    order = 55
    default_question = "Describe the image in detail"  # VRSBench's caption question, as its files write it
    columns = [(k, k) for k in _KEYS] + [("avg_words", "words")]
    example = {"question": "Describe the image in detail",
               "answer": "A harbour with three ships moored beside a long pier and storage tanks on the shore.",
               "metadata": {}, "wrong": "A dense forest."}

    def claims(self, questions, answers):
        return False  # GeoChat_Instruct's descriptions are conversation records

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        from ..metrics.coco import coco_scores

        ids = [str(k) for k in range(len(samples))]
        corpus, coco = coco_scores({i: s.references for i, s in zip(ids, samples)},
                                   {i: s.prediction for i, s in zip(ids, samples)}, options.meteor, options.tokenizer)
        per_sample = [{**self.score(s), **coco[i]} for i, s in zip(ids, samples)]
        summary = {"samples": len(samples), **{k: corpus[k] for k in _KEYS if k in corpus},
                   "avg_words": sum(len(s.prediction.split()) for s in samples) / max(len(samples), 1),
                   "tokenizer": corpus["tokenizer"]}
        return summary, per_sample


TASK = ImageCaption()
