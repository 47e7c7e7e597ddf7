"""Checkpoints as plain data (format: the file format, atomic writes, the safe loader) and graph export (export)."""
