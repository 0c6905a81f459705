"""Evaluation, in the order a sample travels: generate.py answers the questions, predictions.py writes and reads
the answers, scoring.py scores them with each task's protocol, evaluate.py is `geollava eval` (all of it on a run
or a model); baseline.py scores answers made without a model, learning_check.py compares a run with them."""
