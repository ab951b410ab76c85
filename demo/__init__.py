"""The end-to-end demo behind scripts/demo."""
