"""rnnviz: reference cells, probes, training and visualisation for the RNN book.

The notebooks of the book import it; see the API reference in the book.
"""

from rnnviz.cells import GATES, gru_cell, lstm_cell, rnn_cell
from rnnviz.probe import LayerTrace, Trace, probe

__all__ = ["GATES", "LayerTrace", "Trace", "gru_cell", "lstm_cell", "probe", "rnn_cell"]
__version__ = "0.1.0"
