"""Released checkpoints of other frameworks, converted to ferzoo models (``lstpnet``)."""
