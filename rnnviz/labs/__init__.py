"""Each chapter's models and experiments, built on the core.

A lab imports the core (:mod:`rnnviz.models`, :mod:`rnnviz.train`, ...) and
may draw through :mod:`rnnviz.viz`; no core module imports a lab.
"""
