"""The animation player draws its buttons as inline SVG: no icon font, no Unicode
symbol that the reader's fonts may lack, a name for screen readers."""

import re

import pytest
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from rnnviz.viz.animate import _ICON_PATHS, to_html

OLD_GLYPHS = "\u2212\u23ee\u25c2\u25c0\u23f8\u25b6\u25b8\u23ed"
BUTTON = re.compile(r"<button(\s[^>]*)?>(.*?)</button>", re.S)


def _anim(frames=3):
    fig = Figure(figsize=(1.5, 1.0), dpi=40)
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 0])

    def frame(k):
        line.set_ydata([0, k])
        return [line]

    return FuncAnimation(fig, frame, frames=frames, interval=100, blit=False)


@pytest.fixture(scope="module")
def html():
    return to_html(_anim()).data


@pytest.fixture(scope="module")
def buttons(html):
    found = BUTTON.findall(html)
    assert len(found) == len(_ICON_PATHS)  # one button per icon of the player
    return found


def test_every_button_is_an_inline_svg_icon(html, buttons):
    assert 'class="fa' not in html and "font-awesome" not in html
    for attrs, inner in buttons:
        svg = re.search(r"<svg\s[^>]*>", inner)
        assert svg, f"button without an icon: {attrs}"
        for attr in (
            'viewBox="0 0 16 16"',
            'fill="currentColor"',
            'aria-hidden="true"',
            'focusable="false"',
            'width="1em"',
            'height="1em"',
        ):
            assert attr in svg.group(0), (attr, svg.group(0))
        assert re.search(r'<path d="M[^"]+"/>', inner)


def test_the_buttons_draw_different_icons(buttons):
    paths = [re.search(r'<path d="([^"]+)"', inner).group(1) for _, inner in buttons]
    assert len(set(paths)) == len(paths)
    assert set(paths) == set(_ICON_PATHS.values())  # no unknown-icon fallback


def test_button_labels_are_plain_ascii(html, buttons):
    for _, inner in buttons:
        assert inner.isascii() and not set(inner) & set(OLD_GLYPHS), inner
    player = html[html.index('<div class="anim-buttons">') :]
    assert not set(player) & set(OLD_GLYPHS)


def test_every_button_has_a_title_and_the_same_aria_label(buttons):
    titles = []
    for attrs, _ in buttons:
        title = re.search(r'\stitle="([^"]+)"', attrs)
        label = re.search(r'\saria-label="([^"]+)"', attrs)
        assert title and label, attrs
        assert label.group(1) == title.group(1)
        titles.append(title.group(1))
    for needed in ("First frame", "Play", "Pause", "Last frame", "Play backwards"):
        assert needed in titles


def test_a_button_without_aria_label_gets_one_from_its_title():
    from rnnviz.viz.animate import _label_button

    tag = re.compile(r"<button(\s[^>]*)?>")
    fix = lambda s: tag.sub(_label_button, s)  # noqa: E731
    assert fix('<button title="Play" onclick="a.play()">') == (
        '<button title="Play" onclick="a.play()" aria-label="Play">'
    )
    kept = '<button title="Play" aria-label="Start">'
    assert fix(kept) == kept
    assert fix("<button>") == "<button>"


def test_the_loop_mode_radio_buttons_are_untouched(html):
    form = re.search(r'<form[^>]*name="_anim_loop_select\w+".*?</form>', html, re.S)
    assert form, "the loop-mode form is gone"
    radios = re.findall(r'<input type="radio" name="state" value="(\w+)"', form[0])
    assert radios == ["once", "loop", "reflect"]
    assert re.search(r'value="loop"[^>]*checked', form[0])  # default_mode="loop"
    assert "<svg" not in form[0]
    labels = re.findall(r"<label[^>]*>([^<]*)</label>", form[0])
    assert labels == ["Once", "Loop", "Reflect"]


def test_the_player_is_deterministic_and_offline(html):
    assert to_html(_anim()).data == html
    assert not re.search(r"https?://", html)
    assert to_html(_anim(frames=2)).data != html


CONTROL = re.compile(r"<(?:button|input|select|textarea)\b[^>]*>")


def _controls_outside_scripts(html):
    return CONTROL.findall(re.sub(r"<script\b.*?</script>", "", html, flags=re.S))


def test_every_control_keeps_its_keys_in_jupyterlab(html):
    """Each button, slider and radio carries ``data-lm-suppress-shortcuts`` itself,
    so that JupyterLab's command mode does not take its arrow keys, Enter or Space
    (tests/browser/test_jupyterlab.py checks this in a real JupyterLab)."""
    controls = _controls_outside_scripts(html)
    assert len(controls) > len(_ICON_PATHS)  # the buttons, the slider, the radios
    missing = [c for c in controls if "data-lm-suppress-shortcuts" not in c]
    assert not missing, missing


def test_keep_keys_marks_controls_once_and_leaves_scripts_alone():
    from rnnviz.viz.animate import keep_keys

    src = (
        '<div><input type="range"><button data-lm-suppress-shortcuts="true">b'
        '</button><select class="s"></select></div>'
        '<script>var s = "<button>"; el.innerHTML = "<input>";</script>'
    )
    out = keep_keys(src)
    assert out.count("data-lm-suppress-shortcuts") == 3
    assert out.endswith(
        '<script>var s = "<button>"; el.innerHTML = "<input>";</script>'
    )
    assert keep_keys(out) == out
