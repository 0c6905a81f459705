"""Supervised fine-tuning: `geollava train` (train.py: the run; trainer.py: the Trainer it runs)."""
