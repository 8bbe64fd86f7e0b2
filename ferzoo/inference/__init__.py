"""Trained models at work: open weights (``loading``), predict expressions in a video
(``predict``), draw what a model attends to (``visualize``) and time it (``benchmark``)."""
