"""Synthetic tasks generated locally (no downloads): each yields tokenized ``Example``s per split."""
