/* rnnviz live engine: character RNN, LSTM and GRU language models in plain
 * JavaScript, in PyTorch's conventions (the equations of rnnviz.cells).
 *
 * No dependencies and no network: a model is a <script src> that defines
 * window.rnnvizLiveData[name] (written by `python -m rnnviz.web`), so the book
 * also works when it is opened from file://. The API is window.rnnvizLive; it
 * is documented on the book's "Live models" page (chapters/06-appendix/live).
 */
(function () {
  "use strict";

  var FORMAT = "rnnviz-web/1";
  var GATES = { lstm: ["i", "f", "g", "o"], gru: ["r", "z", "n"], rnn: [] };
  var data = (window.rnnvizLiveData = window.rnnvizLiveData || {});
  var models = {}; // name -> Model
  var loading = {}; // name -> Promise<Model>

  // ------------------------------------------------------------ errors
  function fail(message) {
    throw new Error("rnnvizLive: " + message);
  }

  // ------------------------------------------------------------ decoding
  function base64Bytes(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // float16 bits -> number (exact)
  function half(bits) {
    var s = bits & 0x8000 ? -1 : 1;
    var e = (bits >> 10) & 0x1f;
    var m = bits & 0x3ff;
    if (e === 0) return s * m * Math.pow(2, -24);
    if (e === 31) return m ? NaN : s * Infinity;
    return s * (1 + m / 1024) * Math.pow(2, e - 15);
  }

  // One tensor of the payload as a Float32Array, exactly as rnnviz.web.read_web
  // dequantises it: int8 values times a float32 scale per row, rounded to float32.
  function decodeTensor(bytes, t) {
    var n = 1;
    for (var k = 0; k < t.shape.length; k++) n *= t.shape[k];
    var out = new Float32Array(n);
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    var i;
    if (t.dtype === "float32") {
      for (i = 0; i < n; i++) out[i] = view.getFloat32(t.offset + 4 * i, true);
    } else if (t.dtype === "float16") {
      for (i = 0; i < n; i++) out[i] = half(view.getUint16(t.offset + 2 * i, true));
    } else if (t.dtype === "int8") {
      var rows = t.shape[0];
      var cols = n / rows;
      for (var r = 0; r < rows; r++) {
        var scale = view.getFloat32(t.scale_offset + 4 * r, true);
        for (var c = 0; c < cols; c++) {
          out[r * cols + c] = Math.fround(view.getInt8(t.offset + r * cols + c) * scale);
        }
      }
    } else {
      fail("tensor " + t.name + " has an unknown dtype " + t.dtype);
    }
    return out;
  }

  function Model(name, spec) {
    if (spec.format !== FORMAT) {
      fail(name + " is in format " + spec.format + ", this engine reads " + FORMAT);
    }
    var cfg = spec.config;
    if (!(cfg.cell in GATES)) fail(name + " has an unknown cell " + cfg.cell);
    var bytes = base64Bytes(spec.payload);
    if (bytes.length !== spec.payload_bytes) {
      fail(name + ": the payload has " + bytes.length + " bytes, expected " +
        spec.payload_bytes);
    }
    this.name = name;
    this.config = cfg;
    this.metadata = spec.metadata || {};
    this.sha256 = spec.sha256;
    this.vocab = spec.vocab.slice();
    this.index = {};
    for (var v = 0; v < this.vocab.length; v++) this.index[this.vocab[v]] = v;
    this.tensors = {};
    this.shapes = {};
    for (var k = 0; k < spec.tensors.length; k++) {
      var t = spec.tensors[k];
      this.tensors[t.name] = decodeTensor(bytes, t);
      this.shapes[t.name] = t.shape.slice();
    }
    this.cell = cfg.cell;
    this.gates = GATES[cfg.cell];
    this.G = Math.max(1, this.gates.length);
    this.L = cfg.num_layers;
    this.H = cfg.hidden_size;
    this.E = cfg.embed_size;
    this.V = cfg.vocab_size;
    this.layers = [];
    for (var l = 0; l < this.L; l++) {
      this.layers.push({
        Wih: this.tensors["rnn.weight_ih_l" + l],
        Whh: this.tensors["rnn.weight_hh_l" + l],
        bih: this.tensors["rnn.bias_ih_l" + l],
        bhh: this.tensors["rnn.bias_hh_l" + l],
        inSize: l === 0 ? this.E : this.H,
      });
    }
    this.emb = this.tensors["embed.weight"];
    this.Wout = this.tensors["head.weight"];
    this.bout = this.tensors["head.bias"];
    this.steps = []; // the cached forward pass of this.text
    this.text = "";
  }

  // y (rows) = W (rows x cols) x + b
  function affine(W, b, x, rows, cols, y) {
    for (var r = 0; r < rows; r++) {
      var s = b ? b[r] : 0;
      var o = r * cols;
      for (var c = 0; c < cols; c++) s += W[o + c] * x[c];
      y[r] = s;
    }
    return y;
  }

  // y (cols) += W^T (cols x rows) d
  function affineT(W, d, rows, cols, y) {
    for (var r = 0; r < rows; r++) {
      var dr = d[r];
      if (dr === 0) continue;
      var o = r * cols;
      for (var c = 0; c < cols; c++) y[c] += W[o + c] * dr;
    }
    return y;
  }

  function sigmoid(a) {
    return 1 / (1 + Math.exp(-a));
  }

  Model.prototype.ids = function (text) {
    if (typeof text !== "string") fail("text must be a string, got " + typeof text);
    var chars = Array.from(text);
    var ids = new Array(chars.length);
    var unknown = [];
    for (var i = 0; i < chars.length; i++) {
      var id = this.index[chars[i]];
      if (id === undefined) {
        if (unknown.indexOf(chars[i]) < 0) unknown.push(chars[i]);
      } else ids[i] = id;
    }
    if (unknown.length) {
      fail("the " + this.name + " model does not know the character(s) " +
        unknown.map(function (c) { return JSON.stringify(c); }).join(", "));
    }
    return ids;
  };

  // One step of every layer from the previous step's record (null: zeros).
  Model.prototype.step = function (id, prev) {
    var H = this.H, G = this.G;
    var x = this.emb.subarray(id * this.E, (id + 1) * this.E);
    var rec = { id: id, x: x, layers: [] };
    for (var l = 0; l < this.L; l++) {
      var P = this.layers[l];
      var hPrev = prev ? prev.layers[l].h : new Float64Array(H);
      var ai = affine(P.Wih, P.bih, x, G * H, P.inSize, new Float64Array(G * H));
      var ah = affine(P.Whh, P.bhh, hPrev, G * H, H, new Float64Array(G * H));
      var h = new Float64Array(H);
      var out = { x: x, hPrev: hPrev, h: h, gates: {} };
      var j;
      if (this.cell === "rnn") {
        for (j = 0; j < H; j++) h[j] = Math.tanh(ai[j] + ah[j]);
      } else if (this.cell === "lstm") {
        var cPrev = prev ? prev.layers[l].c : new Float64Array(H);
        var gi = new Float64Array(H), gf = new Float64Array(H);
        var gg = new Float64Array(H), go = new Float64Array(H);
        var c = new Float64Array(H);
        for (j = 0; j < H; j++) {
          gi[j] = sigmoid(ai[j] + ah[j]);
          gf[j] = sigmoid(ai[H + j] + ah[H + j]);
          gg[j] = Math.tanh(ai[2 * H + j] + ah[2 * H + j]);
          go[j] = sigmoid(ai[3 * H + j] + ah[3 * H + j]);
          c[j] = gf[j] * cPrev[j] + gi[j] * gg[j];
          h[j] = go[j] * Math.tanh(c[j]);
        }
        out.cPrev = cPrev;
        out.c = c;
        out.gates = { i: gi, f: gf, g: gg, o: go };
      } else {
        var gr = new Float64Array(H), gz = new Float64Array(H);
        var gn = new Float64Array(H), hn = new Float64Array(H);
        for (j = 0; j < H; j++) {
          gr[j] = sigmoid(ai[j] + ah[j]);
          gz[j] = sigmoid(ai[H + j] + ah[H + j]);
          hn[j] = ah[2 * H + j]; // W_hn h + b_hn, which r multiplies
          gn[j] = Math.tanh(ai[2 * H + j] + gr[j] * hn[j]);
          h[j] = (1 - gz[j]) * gn[j] + gz[j] * hPrev[j];
        }
        out.hn = hn;
        out.gates = { r: gr, z: gz, n: gn };
      }
      rec.layers.push(out);
      x = h;
    }
    rec.logits = affine(this.Wout, this.bout, x, this.V, H, new Float64Array(this.V));
    return rec;
  };

  // The forward pass of `text`, reusing the cached steps of the longest common
  // prefix with the previous call: typing one character costs one step.
  Model.prototype.run = function (text) {
    var ids = this.ids(text);
    if (!ids.length) fail("the text is empty: give at least one character");
    var old = this.steps;
    var keep = 0;
    while (keep < old.length && keep < ids.length && old[keep].id === ids[keep]) keep++;
    var steps = old.slice(0, keep);
    for (var t = keep; t < ids.length; t++) {
      steps.push(this.step(ids[t], t ? steps[t - 1] : null));
    }
    this.steps = steps;
    this.text = text;
    return steps;
  };

  function softmax(z, temperature) {
    var T = temperature || 1;
    var m = -Infinity, i;
    for (i = 0; i < z.length; i++) if (z[i] / T > m) m = z[i] / T;
    var p = new Array(z.length), s = 0;
    for (i = 0; i < z.length; i++) {
      p[i] = z[i] === -Infinity ? 0 : Math.exp(z[i] / T - m);
      s += p[i];
    }
    for (i = 0; i < z.length; i++) p[i] /= s;
    return p;
  }

  // The order of ids by score, best first; ties go to the lower id (stable).
  function ranking(z) {
    var order = [];
    for (var i = 0; i < z.length; i++) order.push(i);
    order.sort(function (a, b) { return z[b] - z[a] || a - b; });
    return order;
  }

  function checkOptions(opts) {
    opts = opts || {};
    var T = opts.temperature === undefined ? 1 : opts.temperature;
    if (!(typeof T === "number" && T > 0 && isFinite(T))) {
      fail("temperature must be a positive number, got " + T);
    }
    var k = opts.topK === undefined ? null : opts.topK;
    if (k !== null && !(Number.isInteger(k) && k >= 1)) {
      fail("topK must be a positive integer or null, got " + k);
    }
    var p = opts.topP === undefined ? null : opts.topP;
    if (p !== null && !(typeof p === "number" && p > 0 && p <= 1)) {
      fail("topP must be in (0, 1] or null, got " + p);
    }
    var seed = opts.seed === undefined ? 0 : opts.seed;
    if (!(Number.isInteger(seed) && seed >= 0)) {
      fail("seed must be a non-negative integer, got " + seed);
    }
    return { temperature: T, topK: k, topP: p, seed: seed };
  }

  // The sampling distribution, as rnnviz.sampling.filter_logits then softmax:
  // z / T, the top k kept, then the smallest nucleus whose probability reaches p.
  function filtered(logits, o) {
    var z = [], i;
    for (i = 0; i < logits.length; i++) z.push(logits[i] / o.temperature);
    var order = ranking(z);
    if (o.topK !== null && o.topK < z.length) {
      for (i = o.topK; i < order.length; i++) z[order[i]] = -Infinity;
    }
    if (o.topP !== null && o.topP < 1) {
      var p = softmax(z, 1);
      var before = 0;
      for (i = 0; i < order.length; i++) {
        var id = order[i];
        if (before >= o.topP) z[id] = -Infinity;
        before += p[id];
      }
    }
    return softmax(z, 1);
  }

  // mulberry32: a small, seeded 32-bit generator (uniform in [0, 1)).
  function prng(seed) {
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function draw(p, u) {
    var s = 0, last = 0;
    for (var i = 0; i < p.length; i++) {
      if (p[i] > 0) {
        last = i;
        s += p[i];
        if (u < s) return i;
      }
    }
    return last;
  }

  function rows(list) {
    return list.map(function (a) { return Array.from(a); });
  }

  // ------------------------------------------------------------ backward
  // d log p(text[t] | text[:t]) / d(every state): one backward pass through time.
  Model.prototype.gradNorms = function (text, t) {
    var steps = this.run(text);
    var T = steps.length;
    if (!(Number.isInteger(t) && t >= 1 && t < T)) {
      fail("t must be an integer in [1, " + (T - 1) + "]: the target is text[t], " +
        "predicted from the characters before it; got " + t);
    }
    var H = this.H, L = this.L, G = this.G, s = t - 1;
    var target = steps[t].id;
    var p = softmax(steps[s].logits, 1);
    var dlogits = new Float64Array(this.V);
    for (var v = 0; v < this.V; v++) dlogits[v] = (v === target ? 1 : 0) - p[v];
    var hNorm = [], cNorm = [], l, k, j;
    for (l = 0; l < L; l++) {
      hNorm.push(new Array(s + 1).fill(0));
      cNorm.push(new Array(s + 1).fill(0));
    }
    var inNorm = new Array(s + 1).fill(0);
    var attribution = new Array(s + 1).fill(0);
    var dhNext = [], dcNext = [];
    for (l = 0; l < L; l++) {
      dhNext.push(new Float64Array(H));
      dcNext.push(new Float64Array(H));
    }
    for (k = s; k >= 0; k--) {
      var fromAbove = new Float64Array(H);
      if (k === s) affineT(this.Wout, dlogits, this.V, H, fromAbove);
      for (l = L - 1; l >= 0; l--) {
        var P = this.layers[l], R = steps[k].layers[l];
        var dh = new Float64Array(H);
        for (j = 0; j < H; j++) dh[j] = dhNext[l][j] + fromAbove[j];
        hNorm[l][k] = norm(dh);
        var da = new Float64Array(G * H); // d(pre-activation), input side
        var dah = da; // the hidden side, where it differs (the GRU's n)
        var dhPrev = new Float64Array(H);
        if (this.cell === "rnn") {
          for (j = 0; j < H; j++) da[j] = dh[j] * (1 - R.h[j] * R.h[j]);
        } else if (this.cell === "lstm") {
          var g = R.gates, dc = new Float64Array(H);
          for (j = 0; j < H; j++) {
            var tc = Math.tanh(R.c[j]);
            dc[j] = dcNext[l][j] + dh[j] * g.o[j] * (1 - tc * tc);
            da[j] = dc[j] * g.g[j] * g.i[j] * (1 - g.i[j]);
            da[H + j] = dc[j] * R.cPrev[j] * g.f[j] * (1 - g.f[j]);
            da[2 * H + j] = dc[j] * g.i[j] * (1 - g.g[j] * g.g[j]);
            da[3 * H + j] = dh[j] * tc * g.o[j] * (1 - g.o[j]);
            dcNext[l][j] = dc[j] * g.f[j];
          }
          cNorm[l][k] = norm(dc);
        } else {
          var q = R.gates;
          dah = new Float64Array(G * H);
          for (j = 0; j < H; j++) {
            var dn = dh[j] * (1 - q.z[j]);
            var dz = dh[j] * (R.hPrev[j] - q.n[j]);
            var dan = dn * (1 - q.n[j] * q.n[j]);
            var dar = dan * R.hn[j] * q.r[j] * (1 - q.r[j]);
            var daz = dz * q.z[j] * (1 - q.z[j]);
            da[j] = dah[j] = dar;
            da[H + j] = dah[H + j] = daz;
            da[2 * H + j] = dan;
            dah[2 * H + j] = dan * q.r[j];
            dhPrev[j] = dh[j] * q.z[j];
          }
        }
        affineT(P.Whh, dah, G * H, H, dhPrev);
        dhNext[l] = dhPrev;
        var dx = affineT(P.Wih, da, G * H, P.inSize, new Float64Array(P.inSize));
        if (l > 0) {
          fromAbove = dx;
        } else {
          inNorm[k] = norm(dx);
          var e = steps[k].x, a = 0;
          for (j = 0; j < this.E; j++) a += e[j] * dx[j];
          attribution[k] = a;
        }
      }
    }
    var layers = [];
    for (l = 0; l < L; l++) {
      layers.push(this.cell === "lstm" ? { h: hNorm[l], c: cNorm[l] } : { h: hNorm[l] });
    }
    return {
      target: this.vocab[target],
      t: t,
      logp: Math.log(p[target]),
      layers: layers,
      inputs: inNorm,
      attribution: attribution,
    };
  };

  function norm(a) {
    var s = 0;
    for (var i = 0; i < a.length; i++) s += a[i] * a[i];
    return Math.sqrt(s);
  }

  // ------------------------------------------------------------ loading
  function staticRoot() {
    var root = document.documentElement.getAttribute("data-content_root");
    if (root !== null) return root + "_static/";
    var me = document.querySelector("script[src*='live/rnnviz-live.js']");
    if (me) return me.getAttribute("src").replace(/live\/rnnviz-live\.js.*$/, "");
    return "../../_static/";
  }

  function addScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("rnnvizLive: could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function load(name) {
    if (typeof name !== "string" || !/^[a-z0-9-]+$/.test(name)) {
      return Promise.reject(new Error("rnnvizLive: a model name is lower-case " +
        "letters, digits and '-', got " + JSON.stringify(name)));
    }
    if (models[name]) return Promise.resolve(models[name]);
    if (!loading[name]) {
      var ready = data[name] ? Promise.resolve()
        : addScript(staticRoot() + "live/models/" + name + ".js");
      loading[name] = ready.then(function () {
        if (!data[name]) fail("the script for " + name + " defined no model");
        models[name] = new Model(name, data[name]);
        return models[name];
      });
      loading[name].catch(function () { delete loading[name]; });
    }
    return loading[name];
  }

  function get(name) {
    var m = models[name];
    if (!m) {
      if (data[name]) m = models[name] = new Model(name, data[name]);
      else fail("model " + JSON.stringify(name) + " is not loaded: await load(name)");
    }
    return m;
  }

  // ------------------------------------------------------------ the API
  var api = {
    version: 1,
    format: FORMAT,
    load: load,
    loaded: function (name) { return !!models[name]; },
    /** Every gate and state of every layer: T x H arrays (plain numbers). */
    probe: function (name, text) {
      var m = get(name);
      var steps = m.run(text);
      var layers = [];
      for (var l = 0; l < m.L; l++) {
        var rec = { h: rows(steps.map(function (s) { return s.layers[l].h; })) };
        if (m.cell === "lstm") {
          rec.c = rows(steps.map(function (s) { return s.layers[l].c; }));
        }
        rec.gates = {};
        m.gates.forEach(function (g) {
          rec.gates[g] = rows(steps.map(function (s) { return s.layers[l].gates[g]; }));
        });
        layers.push(rec);
      }
      return {
        text: text,
        cell: m.cell,
        layers: layers,
        logits: rows(steps.map(function (s) { return s.logits; })),
      };
    },
    /** One layer's series `name` ('h', 'c' or a gate) as T x H, without copying all. */
    series: function (name, text, layer, series) {
      var m = get(name);
      if (!(Number.isInteger(layer) && layer >= 0 && layer < m.L)) {
        fail("layer must be an integer in [0, " + (m.L - 1) + "], got " + layer);
      }
      var known = ["h"].concat(m.cell === "lstm" ? ["c"] : [], m.gates);
      if (known.indexOf(series) < 0) {
        fail("a " + m.cell + " has no series " + JSON.stringify(series) +
          "; known: " + known.join(", "));
      }
      return m.run(text).map(function (s) {
        var r = s.layers[layer];
        return series === "h" ? r.h : series === "c" ? r.c : r.gates[series];
      });
    },
    /** Probabilities of the next character after `text` (temperature 1). */
    nextProbs: function (name, text) {
      var m = get(name);
      var steps = m.run(text);
      return { probs: softmax(steps[steps.length - 1].logits, 1), vocab: m.vocab.slice() };
    },
    /** The sampling distribution after `text` under temperature, topK, topP. */
    distribution: function (name, text, opts) {
      var m = get(name);
      var o = checkOptions(opts);
      var steps = m.run(text);
      return { probs: filtered(steps[steps.length - 1].logits, o), vocab: m.vocab.slice() };
    },
    /** `n` characters drawn after `prompt`; the same seed gives the same text. */
    sample: function (name, prompt, n, opts) {
      var m = get(name);
      var o = checkOptions(opts);
      if (!(Number.isInteger(n) && n >= 0 && n <= 100000)) {
        fail("n must be an integer in [0, 100000], got " + n);
      }
      var ids = m.ids(prompt);
      if (!ids.length) fail("the prompt is empty: give at least one character");
      var rand = prng(o.seed);
      var rec = null, t;
      for (t = 0; t < ids.length; t++) rec = m.step(ids[t], rec);
      var out = "";
      for (t = 0; t < n; t++) {
        var id = draw(filtered(rec.logits, o), rand());
        out += m.vocab[id];
        rec = m.step(id, rec);
      }
      return out;
    },
    /** Gradient norms through time for the target text[t]; see gradNorms above. */
    gradNorms: function (name, text, t) {
      return get(name).gradNorms(text, t);
    },
    /** The configuration and every tensor, as the page uses them. */
    state: function (name) {
      var m = get(name);
      var tensors = {};
      Object.keys(m.tensors).forEach(function (k) {
        tensors[k] = { shape: m.shapes[k].slice(), values: Array.from(m.tensors[k]) };
      });
      return {
        name: name,
        config: JSON.parse(JSON.stringify(m.config)),
        vocab: m.vocab.slice(),
        metadata: JSON.parse(JSON.stringify(m.metadata)),
        sha256: m.sha256,
        tensors: tensors,
      };
    },
    /** The vocabulary of a loaded model, in id order. */
    vocab: function (name) { return get(name).vocab.slice(); },
    /** Characters of `text` the model does not know, in order of appearance. */
    unknown: function (name, text) {
      var m = get(name), seen = [];
      Array.from(text).forEach(function (c) {
        if (m.index[c] === undefined && seen.indexOf(c) < 0) seen.push(c);
      });
      return seen;
    },
    gateNames: function (cell) { return (GATES[cell] || []).slice(); },
  };
  window.rnnvizLive = api;
  document.dispatchEvent(new CustomEvent("rnnviz-live-ready"));
})();
