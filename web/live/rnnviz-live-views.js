/* rnnviz live views: the book's interactive blocks around window.rnnvizLive.
 *
 * A view is a <div class="rnnviz-live" data-config="{...}"> written by
 * rnnviz.viz.live. Its config names the view ("gates", "sampling",
 * "gradients"), the models, the starting text and controls, the palette, and a
 * precomputed example (computed in Python from the same exported weights) that
 * is drawn at once, before the weights arrive. Loading never blocks the page;
 * every control is a native, labelled form element.
 */
(function () {
  "use strict";
  if (window.rnnvizLiveViews) {
    window.rnnvizLiveViews.mountAll();
    return;
  }
  var live = window.rnnvizLive;
  var LABELS = {
    i: "input gate i", f: "forget gate f", g: "candidate g", o: "output gate o",
    c: "cell state c", h: "hidden state h", r: "reset gate r", z: "update gate z",
    n: "candidate n",
  };
  var UNIT_RANGE = { i: 1, f: 1, o: 1, r: 1, z: 1 }; // gates in [0, 1]
  var count = 0;

  // ------------------------------------------------------------ small helpers
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function uid(prefix) {
    count += 1;
    return prefix + "-" + count;
  }

  function labelled(text, control) {
    var id = control.id || (control.id = uid("rl-control"));
    return el("span", { class: "rl-field" }, [
      el("label", { for: id, text: text }), control,
    ]);
  }

  function select(options, value) {
    var s = el("select", {});
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function number(min, max, step, value) {
    return el("input", { type: "number", min: min, max: max, step: step, value: value });
  }

  function hexRgb(hex) {
    var h = hex.replace("#", "");
    return [0, 2, 4].map(function (i) { return parseInt(h.substr(i, 2), 16); });
  }

  function mix(a, b, t) { // colour between a and b (hex), t in [0, 1]
    var x = hexRgb(a), y = hexRgb(b);
    return "rgb(" + x.map(function (v, i) {
      return Math.round(v + (y[i] - v) * Math.max(0, Math.min(1, t)));
    }).join(",") + ")";
  }

  function fmt(v, digits) {
    return (v >= 0 ? "\u2007" : "") + v.toFixed(digits === undefined ? 3 : digits);
  }

  function shown(c) { // a character as it is drawn in a box
    return c === "\n" ? "\u21b5" : c === " " ? "\u2423" : c;
  }

  function bump(root) {
    root.setAttribute("data-drawn", String(Number(root.getAttribute("data-drawn") || 0) + 1));
  }

  function urlParams() {
    return new URLSearchParams(window.location.hash.replace(/^#/, ""));
  }

  function saveUrl(cfg, values) {
    if (!cfg.urlState) return;
    var p = urlParams();
    Object.keys(values).forEach(function (k) { p.set(cfg.key + "." + k, values[k]); });
    history.replaceState(null, "", "#" + p.toString());
  }

  function fromUrl(cfg, name, fallback) {
    if (!cfg.urlState) return fallback;
    var v = urlParams().get(cfg.key + "." + name);
    return v === null ? fallback : v;
  }

  function colourScale(cfg, series, value, peak) {
    var col = cfg.colors.series[series] || cfg.colors.accent;
    if (UNIT_RANGE[series]) return mix(cfg.colors.zero, col, value);
    var t = value / (peak || 1);
    return t >= 0 ? mix(cfg.colors.zero, col, t) : mix(cfg.colors.zero, cfg.colors.negative, -t);
  }

  function status(root, text, isError) {
    var s = root.querySelector(".rl-status");
    s.textContent = text;
    s.classList.toggle("rl-error", !!isError);
  }

  function loadAll(names) {
    return Promise.all(names.map(function (n) { return live.load(n); }));
  }

  function modelLabel(cfg, name) {
    for (var i = 0; i < cfg.models.length; i++) {
      if (cfg.models[i][0] === name) return cfg.models[i][1];
    }
    return name;
  }

  function textArea(value, label, rows) {
    return el("textarea", {
      class: "rl-input", rows: rows || 3, spellcheck: "false", maxlength: "2000",
      "aria-label": label,
    }).appendChild(document.createTextNode(value)).parentNode;
  }

  // ------------------------------------------------------------ gates view
  function seriesFor(cell) {
    return (live.gateNames(cell)).concat(cell === "lstm" ? ["c", "h"] : ["h"]);
  }

  function cellOf(cfg, name) {
    for (var i = 0; i < cfg.models.length; i++) {
      if (cfg.models[i][0] === name) return cfg.models[i][2];
    }
    return "lstm";
  }

  function mountGates(root, cfg) {
    var st = {
      model: fromUrl(cfg, "model", cfg.model),
      layer: Number(fromUrl(cfg, "layer", cfg.layer)),
      series: fromUrl(cfg, "series", cfg.series),
      unit: Number(fromUrl(cfg, "unit", cfg.unit)),
      text: fromUrl(cfg, "text", cfg.text),
      cursor: -1,
    };
    var modelSel = select(cfg.models.map(function (m) { return [m[0], m[1]]; }), st.model);
    var layerSel = select([], st.layer);
    var seriesSel = select([], st.series);
    var unitIn = number(0, cfg.hidden - 1, 1, st.unit);
    var input = textArea(st.text, "your text", 3);
    var box = el("div", { class: "rl-text", tabindex: "0", role: "group",
      "aria-label": "the text coloured by the unit; left and right arrows move along it" });
    var readout = el("div", { class: "rl-readout", "aria-live": "polite" });
    var top = el("div", { class: "rl-top" });
    root.appendChild(el("div", { class: "rl-controls" }, [
      labelled("model", modelSel), labelled("layer", layerSel),
      labelled("show", seriesSel), labelled("unit", unitIn),
    ]));
    root.appendChild(input);
    root.appendChild(box);
    root.appendChild(readout);
    root.appendChild(top);
    root.appendChild(el("div", { class: "rl-status", "aria-live": "polite" }));

    function fillMenus(cell, layers) {
      layerSel.innerHTML = "";
      for (var l = 0; l < layers; l++) {
        layerSel.appendChild(el("option", { value: l, text: String(l + 1) +
          (l === 0 ? " (bottom)" : l === layers - 1 ? " (top)" : "") }));
      }
      st.layer = Math.min(st.layer, layers - 1);
      layerSel.value = String(st.layer);
      var names = seriesFor(cell);
      seriesSel.innerHTML = "";
      names.forEach(function (n) { seriesSel.appendChild(el("option", { value: n, text: LABELS[n] })); });
      if (names.indexOf(st.series) < 0) st.series = "h";
      seriesSel.value = st.series;
    }

    function draw(text, values, topUnits) {
      var peak = 0, t;
      for (t = 0; t < values.length; t++) peak = Math.max(peak, Math.abs(values[t]));
      if (UNIT_RANGE[st.series] || st.series !== "c") peak = Math.max(peak, 1);
      var chars = Array.from(text);
      box.innerHTML = "";
      chars.forEach(function (c, k) {
        var s = el("span", { text: c === "\n" ? "\u21b5\n" : c });
        s.style.background = colourScale(cfg, st.series, values[k], peak);
        s.title = JSON.stringify(c) + "  " + st.series + " = " + values[k].toFixed(3);
        s.setAttribute("data-k", k);
        if (k === st.cursor) s.className = "rl-cursor";
        box.appendChild(s);
      });
      box.setAttribute("data-peak", peak.toFixed(4));
      top.innerHTML = "";
      top.appendChild(el("span", { class: "rl-top-label",
        text: "units that change most over this text (" + LABELS[st.series] + "): " }));
      topUnits.forEach(function (u) {
        var b = el("button", { type: "button", class: "rl-chip",
          text: "unit " + u[0] + " (sd " + u[1].toFixed(2) + ")" });
        b.addEventListener("click", function () { unitIn.value = u[0]; update(); });
        top.appendChild(b);
      });
      readout.textContent = modelLabel(cfg, st.model) + ", layer " + (st.layer + 1) +
        ", unit " + st.unit + ": " + LABELS[st.series] +
        (UNIT_RANGE[st.series] ? " (white 0, full colour 1)" :
          " (white 0; the strongest colours \u00b1" + peak.toFixed(2) + ")");
      bump(root);
    }

    function showValue(k) {
      var spans = box.children;
      if (!spans.length) return;
      st.cursor = Math.max(0, Math.min(spans.length - 1, k));
      for (var i = 0; i < spans.length; i++) spans[i].classList.toggle("rl-cursor", i === st.cursor);
      readout.textContent = "character " + st.cursor + " " + spans[st.cursor].title;
    }

    box.addEventListener("mouseover", function (e) {
      var k = e.target.getAttribute && e.target.getAttribute("data-k");
      if (k !== null && k !== undefined) showValue(Number(k));
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        showValue(st.cursor + (e.key === "ArrowRight" ? 1 : -1));
        e.preventDefault();
        e.stopPropagation();
      }
    });

    function update() {
      st.model = modelSel.value;
      st.layer = Number(layerSel.value);
      st.series = seriesSel.value;
      var u = Math.round(Number(unitIn.value));
      st.unit = isFinite(u) ? Math.max(0, Math.min(cfg.hidden - 1, u)) : 0;
      st.text = input.value;
      if (!live.loaded(st.model)) {
        status(root, "loading the " + modelLabel(cfg, st.model) + "\u2026");
        live.load(st.model).then(update, function (e) { status(root, e.message, true); });
        return;
      }
      var bad = live.unknown(st.model, st.text);
      if (bad.length) {
        status(root, "not in the model's alphabet: " + bad.map(function (c) {
          return JSON.stringify(c);
        }).join(" ") + " (the model knows the " + live.vocab(st.model).length +
          " characters of the plays)", true);
        return;
      }
      if (!st.text.length) { status(root, "type some text", true); return; }
      var rows = live.series(st.model, st.text, st.layer, st.series);
      var values = rows.map(function (r) { return r[st.unit]; });
      var H = rows[0].length, sd = [];
      for (var j = 0; j < H; j++) {
        var m = 0, v = 0, t;
        for (t = 0; t < rows.length; t++) m += rows[t][j];
        m /= rows.length;
        for (t = 0; t < rows.length; t++) v += (rows[t][j] - m) * (rows[t][j] - m);
        sd.push([j, Math.sqrt(v / rows.length)]);
      }
      sd.sort(function (a, b) { return b[1] - a[1] || a[0] - b[0]; });
      draw(st.text, values, sd.slice(0, cfg.top));
      root.setAttribute("data-state", "live");
      status(root, "live: computed in your browser from " + Array.from(st.text).length + " characters");
      saveUrl(cfg, { model: st.model, layer: st.layer, series: st.series, unit: st.unit, text: st.text });
    }

    fillMenus(cellOf(cfg, st.model), cfg.layers);
    var pre = cfg.precomputed;
    if (pre && pre.model === st.model && pre.layer === st.layer && pre.series === st.series &&
        pre.unit === st.unit && pre.text === st.text) {
      draw(pre.text, pre.values, pre.top);
      root.setAttribute("data-state", "example");
    }
    status(root, "an example computed in advance; loading the model\u2026");
    modelSel.addEventListener("change", function () {
      fillMenus(cellOf(cfg, modelSel.value), cfg.layers);
      update();
    });
    [layerSel, seriesSel, unitIn].forEach(function (c) {
      c.addEventListener("change", update);
    });
    unitIn.addEventListener("input", update);
    input.addEventListener("input", update);
    live.load(st.model).then(update, function (e) { status(root, e.message, true); });
  }

  // ------------------------------------------------------------ sampling view
  function mountSampling(root, cfg) {
    var st = {
      model: fromUrl(cfg, "model", cfg.model),
      prompt: fromUrl(cfg, "prompt", cfg.prompt),
      temperature: Number(fromUrl(cfg, "temperature", cfg.temperature)),
      topK: Number(fromUrl(cfg, "topK", cfg.topK || 0)),
      topP: Number(fromUrl(cfg, "topP", cfg.topP || 1)),
      seed: Number(fromUrl(cfg, "seed", cfg.seed)),
      length: Number(fromUrl(cfg, "length", cfg.length)),
    };
    var modelSel = select(cfg.models.map(function (m) { return [m[0], m[1]]; }), st.model);
    var input = textArea(st.prompt, "your prompt", 3);
    var temp = el("input", { type: "range", min: 0.1, max: 2, step: 0.05, value: st.temperature });
    var tempOut = el("output", {});
    var topK = number(0, cfg.vocabSize, 1, st.topK);
    var topP = el("input", { type: "range", min: 0.05, max: 1, step: 0.05, value: st.topP });
    var topPOut = el("output", {});
    var seed = number(0, 1000000, 1, st.seed);
    var length = number(1, 2000, 1, st.length);
    var go = el("button", { type: "button", class: "rl-go", text: "Generate" });
    var bars = el("div", { class: "rl-bars", role: "list",
      "aria-label": "the ten most likely next characters" });
    var out = el("pre", { class: "rl-output", "aria-live": "polite" });
    root.appendChild(el("div", { class: "rl-controls" }, [
      labelled("model", modelSel),
      el("span", { class: "rl-field" }, [labelled("temperature", temp), tempOut]),
      labelled("top-k (0 = off)", topK),
      el("span", { class: "rl-field" }, [labelled("top-p", topP), topPOut]),
    ]));
    root.appendChild(input);
    root.appendChild(el("div", { class: "rl-caption",
      text: "the next character after your prompt, as it would be drawn: " +
        "after temperature, top-k and top-p" }));
    root.appendChild(bars);
    root.appendChild(el("div", { class: "rl-controls" }, [
      labelled("seed", seed), labelled("characters", length), go,
    ]));
    root.appendChild(out);
    root.appendChild(el("div", { class: "rl-status", "aria-live": "polite" }));

    function drawBars(pairs) {
      bars.innerHTML = "";
      var col = cfg.colors.model[modelLabel(cfg, st.model)] || cfg.colors.accent;
      pairs.forEach(function (p) {
        var fill = el("span", { class: "rl-bar-fill" });
        fill.style.width = (100 * p[1]).toFixed(1) + "%";
        fill.style.background = col;
        bars.appendChild(el("div", { class: "rl-bar", role: "listitem",
          "aria-label": JSON.stringify(p[0]) + " " + (100 * p[1]).toFixed(1) + " percent" }, [
          el("code", { class: "rl-bar-char", text: shown(p[0]) }),
          el("span", { class: "rl-bar-track" }, [fill]),
          el("span", { class: "rl-bar-value", text: (100 * p[1]).toFixed(1) + "%" }),
        ]));
      });
      bump(root);
    }

    function options() {
      return { temperature: st.temperature, topK: st.topK > 0 ? st.topK : null,
        topP: st.topP < 1 ? st.topP : null, seed: st.seed };
    }

    function read() {
      st.model = modelSel.value;
      st.prompt = input.value;
      st.temperature = Number(temp.value);
      st.topK = Math.max(0, Math.round(Number(topK.value) || 0));
      st.topP = Number(topP.value);
      st.seed = Math.max(0, Math.round(Number(seed.value) || 0));
      st.length = Math.max(1, Math.min(2000, Math.round(Number(length.value) || 1)));
      tempOut.textContent = st.temperature.toFixed(2);
      topPOut.textContent = st.topP >= 1 ? "off" : st.topP.toFixed(2);
    }

    function check() {
      if (!live.loaded(st.model)) {
        status(root, "loading the " + modelLabel(cfg, st.model) + "\u2026");
        live.load(st.model).then(update, function (e) { status(root, e.message, true); });
        return false;
      }
      var bad = live.unknown(st.model, st.prompt);
      if (bad.length) {
        status(root, "not in the model's alphabet: " + bad.map(function (c) {
          return JSON.stringify(c);
        }).join(" "), true);
        return false;
      }
      if (!st.prompt.length) { status(root, "type a prompt", true); return false; }
      return true;
    }

    function update() {
      read();
      if (!check()) return;
      var d = live.distribution(st.model, st.prompt, options());
      var pairs = d.probs.map(function (p, i) { return [d.vocab[i], p]; });
      pairs.sort(function (a, b) { return b[1] - a[1]; });
      drawBars(pairs.slice(0, 10));
      root.setAttribute("data-state", "live");
      status(root, "live: " + modelLabel(cfg, st.model) + " in your browser");
      saveUrl(cfg, { model: st.model, prompt: st.prompt, temperature: st.temperature,
        topK: st.topK, topP: st.topP, seed: st.seed, length: st.length });
    }

    function generate() {
      read();
      if (!check()) return;
      var text = live.sample(st.model, st.prompt, st.length, options());
      out.innerHTML = "";
      out.appendChild(el("span", { class: "rl-prompt", text: st.prompt }));
      out.appendChild(document.createTextNode(text));
      out.setAttribute("data-generated", text);
      bump(root);
      update();
    }

    read();
    if (cfg.precomputed && cfg.precomputed.prompt === st.prompt && cfg.precomputed.model === st.model) {
      drawBars(cfg.precomputed.bars);
      root.setAttribute("data-state", "example");
    }
    status(root, "an example computed in advance; loading the model\u2026");
    [modelSel, topK, seed, length].forEach(function (c) { c.addEventListener("change", update); });
    [temp, topP, input].forEach(function (c) { c.addEventListener("input", update); });
    go.addEventListener("click", generate);
    live.load(st.model).then(update, function (e) { status(root, e.message, true); });
  }

  // ------------------------------------------------------------ gradients view
  function mountGradients(root, cfg) {
    var st = {
      text: fromUrl(cfg, "text", cfg.text),
      t: Number(fromUrl(cfg, "t", cfg.t)),
      layer: Number(fromUrl(cfg, "layer", cfg.layer)),
    };
    var input = textArea(st.text, "your sentence", 2);
    var layerSel = select([], st.layer);
    for (var l = 0; l < cfg.layers; l++) {
      layerSel.appendChild(el("option", { value: l, text: String(l + 1) +
        (l === 0 ? " (bottom)" : l === cfg.layers - 1 ? " (top)" : "") }));
    }
    layerSel.value = String(st.layer);
    st.wrt = fromUrl(cfg, "wrt", "h");
    var wrtSel = select([["h", "hidden state h of the layer"],
      ["input", "input: each character's embedding"]], st.wrt);
    var pos = el("input", { type: "range", min: 1, max: 1, step: 1, value: st.t });
    var posOut = el("output", {});
    var picker = el("div", { class: "rl-picker", role: "group",
      "aria-label": "click a character: the model predicts it, and the gradient of " +
        "that prediction flows back to every earlier step" });
    var chart = el("div", { class: "rl-chart" });
    var rowsBox = el("div", { class: "rl-rows" });
    root.appendChild(input);
    root.appendChild(el("div", { class: "rl-controls" }, [
      el("span", { class: "rl-field" }, [labelled("target character", pos), posOut]),
      labelled("layer", layerSel), labelled("gradient at", wrtSel),
    ]));
    root.appendChild(picker);
    root.appendChild(chart);
    root.appendChild(rowsBox);
    root.appendChild(el("div", { class: "rl-status", "aria-live": "polite" }));

    function drawPicker(text) {
      picker.innerHTML = "";
      Array.from(text).forEach(function (c, k) {
        var b = el("button", { type: "button", class: "rl-char" + (k === st.t ? " rl-target" : ""),
          text: shown(c), "aria-label": "character " + k + " " + JSON.stringify(c) });
        if (k === 0) b.disabled = true; // nothing comes before it
        b.addEventListener("click", function () { pos.value = k; update(); });
        picker.appendChild(b);
      });
    }

    function svg(tag, attrs) {
      var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      return e;
    }

    function draw(text, t, results) {
      // results: [[name, label, norms over steps 0..t-1]]
      var W = 640, H = 230, left = 58, right = 12, topPad = 12, bottom = 40;
      var D = t, lo = Infinity, hi = -Infinity;
      results.forEach(function (r) {
        r[2].forEach(function (v) { if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
      });
      if (!isFinite(lo)) { lo = 1e-8; hi = 1; }
      var e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
      if (e1 === e0) e1 = e0 + 1;
      function x(d) { return left + (D <= 1 ? 0 : (d - 1) / (D - 1)) * (W - left - right); }
      function y(v) {
        var a = (Math.log10(Math.max(v, Math.pow(10, e0))) - e0) / (e1 - e0);
        return topPad + (1 - a) * (H - topPad - bottom);
      }
      var s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img",
        "aria-label": "gradient norm against distance back from the target, log scale" });
      var step = Math.max(1, Math.ceil((e1 - e0) / 6));
      for (var e = e0; e <= e1; e += step) {
        s.appendChild(svg("line", { x1: left, x2: W - right, y1: y(Math.pow(10, e)),
          y2: y(Math.pow(10, e)), stroke: cfg.colors.track }));
        var lab = svg("text", { x: left - 6, y: y(Math.pow(10, e)) + 4, "text-anchor": "end",
          "font-size": 11, fill: cfg.colors.muted });
        lab.textContent = "1e" + e;
        s.appendChild(lab);
      }
      var ticks = D <= 10 ? D : 10;
      for (var k = 0; k <= ticks; k++) {
        var d = Math.max(1, Math.round(1 + (D - 1) * k / Math.max(1, ticks)));
        var tl = svg("text", { x: x(d), y: H - bottom + 16, "text-anchor": "middle",
          "font-size": 11, fill: cfg.colors.muted });
        tl.textContent = String(d);
        s.appendChild(tl);
      }
      var xl = svg("text", { x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle",
        "font-size": 12, fill: cfg.colors.ink });
      xl.textContent = "steps back from the target";
      s.appendChild(xl);
      var yl = svg("text", { x: 12, y: (topPad + H - bottom) / 2, "text-anchor": "middle",
        "font-size": 12, fill: cfg.colors.ink,
        transform: "rotate(-90 12 " + (topPad + H - bottom) / 2 + ")" });
      yl.textContent = st.wrt === "input" ? "\u2016\u2202 log p / \u2202x\u2016" :
        "\u2016\u2202 log p / \u2202h\u2016";
      s.appendChild(yl);
      results.forEach(function (r, i) {
        var pts = [];
        for (var dd = 1; dd <= D; dd++) pts.push(x(dd).toFixed(1) + "," + y(r[2][t - dd]).toFixed(1));
        var col = cfg.colors.model[r[1]] || cfg.colors.accent;
        s.appendChild(svg("polyline", { points: pts.join(" "), fill: "none", stroke: col,
          "stroke-width": 2, "data-model": r[0] }));
        var key = svg("text", { x: W - right - 4, y: topPad + 14 + 15 * i, "text-anchor": "end",
          "font-size": 12, fill: col, "font-weight": "bold" });
        key.textContent = r[1];
        s.appendChild(key);
      });
      chart.innerHTML = "";
      chart.appendChild(s);
      rowsBox.innerHTML = "";
      rowsBox.appendChild(el("div", { class: "rl-caption", text: "each character " +
        "coloured by the same norm, on the chart's scale (white: its bottom)" }));
      var chars = Array.from(text);
      results.forEach(function (r) {
        var row = el("div", { class: "rl-row" }, [el("span", { class: "rl-row-label", text: r[1] })]);
        var col = cfg.colors.model[r[1]] || cfg.colors.accent;
        for (var k2 = 0; k2 <= t; k2++) {
          var c = el("span", { text: chars[k2] === "\n" ? "\u21b5" : chars[k2] });
          if (k2 < t) {
            // the chart's log scale: white at its bottom, full colour at its top
            var rel = r[2][k2] > 0 ? (Math.log10(r[2][k2]) - e0) / (e1 - e0) : 0;
            c.style.background = mix(cfg.colors.zero, col, rel);
            if (rel > 0.6) c.style.color = cfg.colors.zero;
            c.title = "step " + k2 + ": " + r[2][k2].toExponential(2);
          } else {
            c.className = "rl-target";
            c.title = "the target";
          }
          row.appendChild(c);
        }
        rowsBox.appendChild(row);
      });
      bump(root);
    }

    function update() {
      st.text = input.value;
      st.layer = Number(layerSel.value);
      st.wrt = wrtSel.value;
      layerSel.disabled = st.wrt === "input";
      var n = Array.from(st.text).length;
      pos.max = Math.max(1, n - 1);
      st.t = Math.max(1, Math.min(n - 1, Math.round(Number(pos.value))));
      pos.value = st.t;
      posOut.textContent = n > 1 ? JSON.stringify(Array.from(st.text)[st.t]) + " at " + st.t : "";
      var names = cfg.models.map(function (m) { return m[0]; });
      if (!names.every(live.loaded)) return;
      for (var i = 0; i < names.length; i++) {
        var bad = live.unknown(names[i], st.text);
        if (bad.length) {
          status(root, "not in the models' alphabet: " + bad.map(function (c) {
            return JSON.stringify(c);
          }).join(" "), true);
          return;
        }
      }
      if (n < 2) { status(root, "type at least two characters", true); return; }
      drawPicker(st.text);
      var results = cfg.models.map(function (m) {
        var g = live.gradNorms(m[0], st.text, st.t);
        var layer = g.layers[Math.min(st.layer, g.layers.length - 1)];
        return [m[0], m[1], st.wrt === "input" ? g.inputs : layer.h, g.logp];
      });
      draw(st.text, st.t, results);
      root.setAttribute("data-state", "live");
      status(root, "live: the gradient of log p(" + JSON.stringify(Array.from(st.text)[st.t]) +
        ") through every earlier step, computed in your browser (" +
        results.map(function (r) { return r[1] + " p = " + Math.exp(r[3]).toFixed(3); }).join(", ") + ")");
      saveUrl(cfg, { text: st.text, t: st.t, layer: st.layer, wrt: st.wrt });
    }

    var pre = cfg.precomputed;
    if (pre && pre.text === st.text && pre.t === st.t && pre.layer === st.layer &&
        st.wrt === "h") {
      pos.max = Math.max(1, Array.from(st.text).length - 1);
      pos.value = st.t;
      drawPicker(st.text);
      draw(pre.text, pre.t, pre.results);
      root.setAttribute("data-state", "example");
    }
    status(root, "an example computed in advance; loading the models\u2026");
    input.addEventListener("input", update);
    pos.addEventListener("input", update);
    layerSel.addEventListener("change", update);
    wrtSel.addEventListener("change", update);
    loadAll(cfg.models.map(function (m) { return m[0]; })).then(update, function (e) {
      status(root, e.message, true);
    });
  }

  // ------------------------------------------------------------ mounting
  var VIEWS = { gates: mountGates, sampling: mountSampling, gradients: mountGradients };

  function style() {
    if (document.getElementById("rnnviz-live-style")) return;
    var css = [
      ".rnnviz-live{font-family:sans-serif;font-size:14px;margin:0.8em 0;padding:0.6em 0.8em;",
      "border:1px solid var(--rl-track);border-radius:6px;color:var(--rl-ink)}",
      ".rnnviz-live .rl-controls{display:flex;flex-wrap:wrap;gap:0.4em 1.2em;align-items:center;margin:0.3em 0}",
      ".rnnviz-live .rl-field label{margin-right:0.35em}",
      ".rnnviz-live input[type=number]{width:5.5em}",
      ".rnnviz-live .rl-input{width:100%;box-sizing:border-box;font-family:monospace;font-size:14px;margin:0.3em 0}",
      ".rnnviz-live .rl-text{font-family:monospace;font-size:15px;line-height:1.7;white-space:pre-wrap;",
      "word-break:break-all;padding:0.3em 0}",
      ".rnnviz-live .rl-text span{padding:1px 0}",
      ".rnnviz-live .rl-cursor{outline:2px solid var(--rl-ink)}",
      ".rnnviz-live .rl-readout,.rnnviz-live .rl-caption{color:var(--rl-muted);font-size:12px;min-height:1.3em}",
      ".rnnviz-live .rl-status{color:var(--rl-muted);font-size:12px;margin-top:0.3em}",
      ".rnnviz-live .rl-status.rl-error{color:var(--rl-error);font-weight:bold}",
      ".rnnviz-live .rl-chip{margin:0.15em 0.3em 0.15em 0;font-size:12px}",
      ".rnnviz-live .rl-bar{display:flex;align-items:center;gap:0.5em;margin:1px 0}",
      ".rnnviz-live .rl-bar-char{width:1.6em;text-align:center}",
      ".rnnviz-live .rl-bar-track{flex:0 0 60%;background:var(--rl-track);height:0.9em;border-radius:2px}",
      ".rnnviz-live .rl-bar-fill{display:block;height:100%;border-radius:2px}",
      ".rnnviz-live .rl-bar-value{font-size:12px;color:var(--rl-muted)}",
      ".rnnviz-live .rl-output{white-space:pre-wrap;font-size:14px;min-height:3em;margin:0.4em 0;",
      "background:transparent;border:1px dashed var(--rl-track);padding:0.4em}",
      ".rnnviz-live .rl-prompt{color:var(--rl-muted)}",
      ".rnnviz-live .rl-picker{font-family:monospace;display:flex;flex-wrap:wrap;gap:1px;margin:0.3em 0}",
      ".rnnviz-live .rl-char{font-family:monospace;font-size:14px;min-width:1.4em;padding:1px 2px;",
      "border:1px solid var(--rl-track);background:transparent;color:var(--rl-ink);cursor:pointer}",
      ".rnnviz-live .rl-char:disabled{cursor:default;color:var(--rl-muted)}",
      ".rnnviz-live .rl-target{outline:2px solid var(--rl-ink);font-weight:bold}",
      ".rnnviz-live .rl-row{font-family:monospace;font-size:14px;white-space:pre;overflow-x:auto;line-height:1.6}",
      ".rnnviz-live .rl-row-label{display:inline-block;width:3.5em;font-family:sans-serif;font-size:12px;font-weight:bold}",
    ].join("\n");
    document.head.appendChild(el("style", { id: "rnnviz-live-style", text: css }));
  }

  function mount(root) {
    if (root.getAttribute("data-mounted")) return;
    root.setAttribute("data-mounted", "1");
    var cfg;
    try {
      cfg = JSON.parse(root.getAttribute("data-config"));
    } catch (e) {
      root.textContent = "rnnviz live view: its configuration is not valid JSON";
      return;
    }
    var c = cfg.colors;
    root.style.setProperty("--rl-ink", c.ink);
    root.style.setProperty("--rl-muted", c.muted);
    root.style.setProperty("--rl-track", c.track);
    root.style.setProperty("--rl-error", c.error);
    root.style.background = c.zero; // a light card, also in the theme's dark mode
    root.style.color = c.ink;
    var fallback = root.querySelector(".rl-fallback");
    if (fallback) fallback.remove();
    var build = VIEWS[cfg.view];
    if (!build) {
      root.textContent = "rnnviz live view: unknown view " + JSON.stringify(cfg.view);
      return;
    }
    build(root, cfg);
  }

  function mountAll() {
    style();
    Array.prototype.forEach.call(document.querySelectorAll(".rnnviz-live"), mount);
  }

  window.rnnvizLiveViews = { mount: mount, mountAll: mountAll, version: 1 };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
