"""Reward fine-tuning after SFT: GRPO on TRL's GRPOTrainer, a sample's reward its task's own per-sample score.

    start.py      where it starts: an SFT checkpoint (its family, prompt settings, adapter) or a base model
    rows.py       the prompts TRL samples from: each record prompted exactly as SFT prompts it
    processor.py  how TRL turns those rows into model inputs: the rows' own ids and pixels, as a processor
    rewards.py    reward terms from the task entries, checked against the data before any model loads
    trainer.py    TRL's GRPOTrainer with GeoLLaVA's checkpoints, projector learning rate and skipped records
    train.py      `geollava grpo CONFIG` (what scripts/finetune_grpo.sh runs in every process)
"""
