"""Carrying tasks to other harnesses: lmms-eval task folders and VLMEvalKit datasets scored by this suite."""
