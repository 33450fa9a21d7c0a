"""The sampling lab as an ipywidgets explorer.

Its controls are wired to :func:`rnnviz.sampling.generate`.

The output is :func:`rnnviz.viz.views.sampling_html` in an ``ipywidgets.HTML``
(plain HTML and CSS, no script), so it works, and can be tested, without a
running kernel: set a control's value and the HTML changes. The library never
calls ``display``. The static book uses :func:`rnnviz.viz.views.sampling_lab_view`.
"""

from __future__ import annotations

import html

import ipywidgets as W

from rnnviz.data import Vocab
from rnnviz.protocols import CharModel
from rnnviz.sampling import STRATEGIES, generate
from rnnviz.viz.palette import VERMILLION
from rnnviz.viz.views import sampling_html


class SamplingLab(W.VBox):
    """Prompt, strategy, temperature, k, p, length and seed; the text with its
    probabilities below. ``model`` is any character model that
    :func:`rnnviz.sampling.generate` decodes.

    ``lab.temperature.value = 0.5`` regenerates. A bad prompt (an unknown
    character) shows the error instead of the text.
    """

    def __init__(
        self,
        model: CharModel,
        vocab: Vocab,
        prompt: str = "Brutus:\n",
        length: int = 200,
        strategy: str = "temperature",
        seed: int = 0,
    ) -> None:
        self.model, self.vocab = model, vocab
        style = {"description_width": "6em"}
        self.prompt = W.Textarea(
            value=prompt,
            description="prompt",
            rows=2,
            continuous_update=False,
            style=style,
        )
        self.strategy = W.Dropdown(
            options=list(STRATEGIES),
            value=strategy,
            description="strategy",
            style=style,
        )
        self.temperature = W.FloatSlider(
            value=1.0,
            min=0.1,
            max=2.0,
            step=0.05,
            description="temperature T",
            continuous_update=False,
            style=style,
        )
        self.top_k = W.IntSlider(
            value=10,
            min=1,
            max=len(vocab),
            description="top-k: k",
            continuous_update=False,
            style=style,
        )
        self.top_p = W.FloatSlider(
            value=0.9,
            min=0.05,
            max=1.0,
            step=0.05,
            description="top-p: p",
            continuous_update=False,
            style=style,
        )
        self.length = W.IntSlider(
            value=length,
            min=10,
            max=500,
            step=10,
            description="length",
            continuous_update=False,
            style=style,
        )
        self.seed = W.IntText(value=seed, description="seed", style=style)
        self.output = W.HTML()
        controls = [
            self.strategy,
            self.temperature,
            self.top_k,
            self.top_p,
            self.length,
            self.seed,
        ]
        super().__init__(
            [self.prompt, W.HBox(controls[:3]), W.HBox(controls[3:]), self.output]
        )
        for c in [self.prompt, *controls]:
            c.observe(self._redraw, names="value")
        self._redraw()

    def settings(self) -> dict:
        """Keyword arguments of :func:`rnnviz.sampling.generate` the controls set."""
        s = self.strategy.value
        kw = dict(
            strategy=s,
            seed=int(self.seed.value),
            temperature=float(self.temperature.value),
        )
        if s == "top-k":
            kw["top_k"] = int(self.top_k.value)
        if s == "top-p":
            kw["top_p"] = float(self.top_p.value)
        return kw

    def _redraw(self, _change=None) -> None:
        s = self.strategy.value
        self.temperature.disabled = s == "greedy"
        self.top_k.disabled, self.top_p.disabled = s != "top-k", s != "top-p"
        try:
            gen = generate(
                self.model,
                self.vocab,
                self.prompt.value,
                int(self.length.value),
                **self.settings(),
            )
        except ValueError as e:  # a prompt with unknown characters, an empty prompt
            msg = html.escape(str(e))
            self.output.value = f'<p style="color: {VERMILLION};">{msg}</p>'
            return
        self.output.value = sampling_html(gen)


def sampling_lab(
    model: CharModel, vocab: Vocab, prompt: str = "Brutus:\n", length: int = 200
) -> SamplingLab:
    """A sampling lab for ``model``: see :class:`SamplingLab`."""
    return SamplingLab(model, vocab, prompt=prompt, length=length)
