"""rnnviz: reference cells, probes, training and visualisation for the RNN book.

The core lives at the top of the package (cells, probe, data, models, train,
sampling, gradients, ...); drawing in :mod:`rnnviz.viz`; each chapter's own
experiments in :mod:`rnnviz.labs`. See the API reference in the book.
"""

from rnnviz.cells import GATES, gru_cell, lstm_cell, rnn_cell
from rnnviz.models import CharLM
from rnnviz.probe import LayerTrace, Trace, probe

__all__ = [
    "GATES",
    "CharLM",
    "LayerTrace",
    "Trace",
    "gru_cell",
    "lstm_cell",
    "probe",
    "rnn_cell",
]
__version__ = "0.1.0"
