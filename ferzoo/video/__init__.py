"""Video in: decoding (``io``), faces found, followed and aligned (``faces``), optical
flow (``flow``). Used by the dataset converters and by prediction."""
