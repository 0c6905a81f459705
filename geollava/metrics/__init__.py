"""Metric implementations the task entries score with: coco.py (pycocoevalcap's BLEU / METEOR / ROUGE-L / CIDEr-D,
as published tables compute them) and paper.py (GeoLLaVA's own ROUGE, BLEU-2 and SBERT cosine). What each task
scores, and how, is in its entry (geollava/tasks/); scoring.py scores a mixed set task by task."""
