"""ipywidgets explorers: thin wiring of controls to the pure plot functions.

The library builds and returns widgets; it never calls ``display``. The figure is
rendered to PNG into an ``ipywidgets.Image``, so an explorer works (and can be
tested) without a running kernel: set a control's value and the image changes.
In the static HTML book Python callbacks cannot run, so every explorer has a
static counterpart in the chapter (an animation or an HTML view).
"""

from __future__ import annotations

import io

import ipywidgets as W
from matplotlib.figure import Figure

from rnnviz.probe import Trace
from rnnviz.viz.plots import plot_unit


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class UnitExplorer(W.VBox):
    """Pick a layer and a unit; see every gate and state of that unit over the text.

    Wraps :func:`rnnviz.viz.plots.plot_unit`. ``explorer.unit.value = 5`` redraws.
    """

    def __init__(
        self, trace: Trace, text: str | None = None, batch: int = 0, dpi: int = 80
    ) -> None:
        self.trace, self.text, self.batch, self.dpi = trace, text, batch, dpi
        self.unit = W.IntSlider(
            value=0,
            min=0,
            max=trace.hidden_size - 1,
            description="unit",
            continuous_update=False,
        )
        self.layer = W.Dropdown(
            options=list(range(trace.num_layers)), value=0, description="layer"
        )
        self.image = W.Image(format="png")
        super().__init__([W.HBox([self.layer, self.unit]), self.image])
        self.unit.observe(self._redraw, names="value")
        self.layer.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change=None) -> None:
        fig = plot_unit(
            self.trace,
            self.unit.value,
            layer=self.layer.value,
            batch=self.batch,
            text=self.text,
        )
        self.image.value = figure_png(fig, self.dpi)


def unit_explorer(
    trace: Trace, text: str | None = None, batch: int = 0
) -> UnitExplorer:
    """An explorer of one unit's gates over the text of ``trace``."""
    return UnitExplorer(trace, text=text, batch=batch)
