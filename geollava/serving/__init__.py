"""Serving a trained model on a user's own imagery: `geollava predict` (predict.py) and `geollava demo` (demo.py)."""
