/* rnnviz training in the page: a tiny RNN and a tiny LSTM learn the adding
 * problem in the reader's browser, in plain JavaScript without dependencies.
 *
 * The models follow PyTorch's layout and names (nn.RNN / nn.LSTM with one
 * layer, batch first, input size 2, and an nn.Linear head on the last hidden
 * state), in float64. One training step (forward pass, backward pass through
 * time, torch.nn.utils.clip_grad_norm_, torch.optim.SGD or torch.optim.Adam)
 * equals torch's on the same weights; tests/browser/test_live_train.py checks
 * it. The API is window.rnnvizTrain; every <div class="rnnviz-train"
 * data-config="{...}"> of the page (written by rnnviz.viz.train_view) is
 * mounted as a view that trains both models side by side.
 */
(function () {
  "use strict";
  if (window.rnnvizTrain) {
    window.rnnvizTrain.mountAll();
    return;
  }

  var GATES = { rnn: 1, lstm: 4 }; // rows of weight_ih per hidden unit; LSTM i, f, g, o
  var NAMES = [
    "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
    "head.weight", "head.bias",
  ];
  var INPUT = 2; // the adding problem's channels: value, marker
  var MAX_HIDDEN = 256;
  var MAX_LENGTH = 1000;
  var MAX_BATCH = 4096;
  var BASELINE = 1 / 6; // always answering 1: E[(a + b - 1)^2] = Var(a + b) = 2/12
  var ADAM = { betas: [0.9, 0.999], eps: 1e-8 }; // torch.optim.Adam's defaults
  var LR = 1e-3; // torch.optim's default learning rate

  // ------------------------------------------------------------ checks
  function fail(message) {
    throw new Error("rnnvizTrain: " + message);
  }

  function show(v) {
    if (typeof v === "number") return String(v);
    try {
      var s = JSON.stringify(v);
      return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
    } catch (e) {
      return String(v);
    }
  }

  function isInt(v) {
    return typeof v === "number" && isFinite(v) && Math.floor(v) === v;
  }

  function intIn(name, v, lo, hi) {
    if (!isInt(v) || v < lo || v > hi) {
      fail(name + " must be an integer in [" + lo + ", " + hi + "], got " + show(v));
    }
    return v;
  }

  function positive(name, v) {
    if (typeof v !== "number" || !isFinite(v) || !(v > 0)) {
      fail(name + " must be a finite number > 0, got " + show(v));
    }
    return v;
  }

  function options(name, opts, known) {
    if (opts === undefined || opts === null) return {};
    if (typeof opts !== "object" || Array.isArray(opts)) {
      fail(name + " must be an object, got " + show(opts));
    }
    var bad = Object.keys(opts).filter(function (k) { return known.indexOf(k) < 0; });
    if (bad.length) {
      fail(name + " has unknown option(s) " + bad.join(", ") + "; known: " + known.join(", "));
    }
    return opts;
  }

  // ------------------------------------------------------------ random numbers
  // mulberry32: a small, fast 32-bit generator; uniform in [0, 1).
  function mulberry32(seed) {
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // ------------------------------------------------------------ the model
  function Model(cell, hidden, seed, forgetBias) {
    var G = GATES[cell], H = hidden;
    this.cell = cell;
    this.hidden = H;
    this.seed = seed;
    this.forgetBias = forgetBias;
    this.G = G;
    this.shapes = {
      "rnn.weight_ih_l0": [G * H, INPUT],
      "rnn.weight_hh_l0": [G * H, H],
      "rnn.bias_ih_l0": [G * H],
      "rnn.bias_hh_l0": [G * H],
      "head.weight": [1, H],
      "head.bias": [1],
    };
    this.params = {};
    // torch's default: every weight and bias of the recurrent layer, and of the
    // head (fan-in H), uniform in (-1/sqrt(H), 1/sqrt(H)).
    var rand = mulberry32(seed), bound = 1 / Math.sqrt(H);
    for (var n = 0; n < NAMES.length; n++) {
      var p = new Float64Array(size(this.shapes[NAMES[n]]));
      for (var i = 0; i < p.length; i++) p[i] = (2 * rand() - 1) * bound;
      this.params[NAMES[n]] = p;
    }
    if (cell === "lstm" && forgetBias !== null) {
      // as rnnviz.labs.tasks.SeqModel(forget_bias=...): b_if = forgetBias, b_hf = 0
      for (var j = H; j < 2 * H; j++) {
        this.params["rnn.bias_ih_l0"][j] = forgetBias;
        this.params["rnn.bias_hh_l0"][j] = 0;
      }
    }
    this.opt = null; // the optimizer's state, made by the first step
    this.steps = 0;
    this.work = null;
  }

  function size(shape) {
    var n = 1;
    for (var i = 0; i < shape.length; i++) n *= shape[i];
    return n;
  }

  function checkModel(m) {
    if (!(m instanceof Model)) fail("model must be made by rnnvizTrain.model(), got " + show(m));
    return m;
  }

  function model(opts) {
    var o = options("model options", opts, ["cell", "hidden", "seed", "forgetBias"]);
    var cell = o.cell === undefined ? "lstm" : o.cell;
    if (!Object.prototype.hasOwnProperty.call(GATES, cell)) {
      fail('cell must be "rnn" or "lstm", got ' + show(cell));
    }
    var hidden = intIn("hidden", o.hidden === undefined ? 16 : o.hidden, 1, MAX_HIDDEN);
    var seed = intIn("seed", o.seed === undefined ? 0 : o.seed, 0, 4294967295);
    var fb = o.forgetBias;
    if (cell === "rnn") {
      if (fb !== undefined && fb !== null) fail("forgetBias needs an LSTM, got cell " + show(cell));
      fb = null;
    } else if (fb === undefined) {
      fb = 1;
    } else if (fb !== null && (typeof fb !== "number" || !isFinite(fb))) {
      fail("forgetBias must be a finite number or null, got " + show(fb));
    }
    return new Model(cell, hidden, seed, fb);
  }

  // ------------------------------------------------------------ the adding problem
  // A batch as flat arrays: x (B x T x 2, channel 0 values, channel 1 markers), y (B).
  function addingPacked(T, B, seed) {
    var rand = mulberry32(seed);
    var x = new Float64Array(B * T * INPUT), y = new Float64Array(B);
    var half = Math.floor(T / 2);
    for (var b = 0; b < B; b++) {
      var o = b * T * INPUT;
      for (var t = 0; t < T; t++) x[o + t * INPUT] = rand();
      var first = Math.floor(rand() * half);
      var second = half + Math.floor(rand() * (T - half));
      x[o + first * INPUT + 1] = 1;
      x[o + second * INPUT + 1] = 1;
      y[b] = x[o + first * INPUT] + x[o + second * INPUT];
    }
    return { B: B, T: T, x: x, y: y };
  }

  function adding(T, batch, seed) {
    intIn("T (the sequence length)", T, 2, MAX_LENGTH);
    intIn("batch", batch, 1, MAX_BATCH);
    intIn("seed", seed === undefined ? 0 : seed, 0, 4294967295);
    var P = addingPacked(T, batch, seed || 0);
    var x = [];
    for (var b = 0; b < batch; b++) {
      var row = [];
      for (var t = 0; t < T; t++) {
        var o = (b * T + t) * INPUT;
        row.push([P.x[o], P.x[o + 1]]);
      }
      x.push(row);
    }
    return { x: x, y: Array.prototype.slice.call(P.y) };
  }

  // {x: B x T x 2 nested arrays, y: B} -> the flat form, checked.
  function pack(batch) {
    if (!batch || typeof batch !== "object") fail("batch must be {x, y}, got " + show(batch));
    if (batch.x instanceof Float64Array && isInt(batch.B) && isInt(batch.T)) return batch;
    var x = batch.x, y = batch.y;
    if (!Array.isArray(x) || !x.length) fail("batch.x must be a non-empty B x T x 2 array");
    var B = x.length;
    if (!Array.isArray(y) || y.length !== B) {
      fail("batch.y must be an array of B = " + B + " targets, got " +
        (Array.isArray(y) ? y.length + " of them" : show(y)));
    }
    if (!Array.isArray(x[0]) || x[0].length < 1) fail("batch.x[0] must be a T x 2 array");
    var T = x[0].length;
    var flat = new Float64Array(B * T * INPUT), ys = new Float64Array(B);
    for (var b = 0; b < B; b++) {
      if (!Array.isArray(x[b]) || x[b].length !== T) {
        fail("batch.x must be B x T x 2: sequence " + b + " does not have T = " + T + " steps");
      }
      for (var t = 0; t < T; t++) {
        var v = x[b][t];
        if (!Array.isArray(v) || v.length !== INPUT) {
          fail("batch.x[" + b + "][" + t + "] must hold 2 channels, got " + show(v));
        }
        for (var c = 0; c < INPUT; c++) {
          if (typeof v[c] !== "number" || !isFinite(v[c])) {
            fail("batch.x[" + b + "][" + t + "] must hold finite numbers, got " + show(v));
          }
          flat[(b * T + t) * INPUT + c] = v[c];
        }
      }
      if (typeof y[b] !== "number" || !isFinite(y[b])) {
        fail("batch.y[" + b + "] must be a finite number, got " + show(y[b]));
      }
      ys[b] = y[b];
    }
    return { B: B, T: T, x: flat, y: ys };
  }

  // ------------------------------------------------------------ forward and backward
  function sigmoid(a) {
    return 1 / (1 + Math.exp(-a));
  }

  function workFor(m, B, T) {
    var w = m.work, H = m.hidden, GH = m.G * H;
    if (w && w.B === B && w.T === T) return w;
    w = m.work = {
      B: B, T: T,
      hs: new Float64Array(B * (T + 1) * H), // h_{-1} = 0, h_0, ..., h_{T-1}
      cs: new Float64Array(m.cell === "lstm" ? B * (T + 1) * H : 0),
      tcs: new Float64Array(m.cell === "lstm" ? B * T * H : 0), // tanh(c_t)
      acts: new Float64Array(B * T * GH), // gates after their nonlinearity
      pred: new Float64Array(B),
      bsum: new Float64Array(GH), z: new Float64Array(GH), dz: new Float64Array(GH),
      dh: new Float64Array(H), dhp: new Float64Array(H), dc: new Float64Array(H),
      hNorms: new Float64Array(T),
      grads: {},
    };
    NAMES.forEach(function (n) { w.grads[n] = new Float64Array(m.params[n].length); });
    return w;
  }

  function forward(m, P) {
    var H = m.hidden, GH = m.G * H, B = P.B, T = P.T, lstm = m.cell === "lstm";
    var w = workFor(m, B, T);
    var wih = m.params["rnn.weight_ih_l0"], whh = m.params["rnn.weight_hh_l0"];
    var bih = m.params["rnn.bias_ih_l0"], bhh = m.params["rnn.bias_hh_l0"];
    var hw = m.params["head.weight"], hb = m.params["head.bias"];
    var hs = w.hs, cs = w.cs, tcs = w.tcs, acts = w.acts, z = w.z, bsum = w.bsum;
    var r, j, k, s;
    for (r = 0; r < GH; r++) bsum[r] = bih[r] + bhh[r];
    var loss = 0;
    for (var b = 0; b < B; b++) {
      var h0 = b * (T + 1) * H;
      for (j = 0; j < H; j++) {
        hs[h0 + j] = 0;
        if (lstm) cs[h0 + j] = 0;
      }
      for (var t = 0; t < T; t++) {
        var xo = (b * T + t) * INPUT, x0 = P.x[xo], x1 = P.x[xo + 1];
        var hp = h0 + t * H, hn = hp + H, ao = (b * T + t) * GH, to = (b * T + t) * H;
        for (r = 0; r < GH; r++) {
          s = bsum[r] + wih[2 * r] * x0 + wih[2 * r + 1] * x1;
          var ro = r * H;
          for (k = 0; k < H; k++) s += whh[ro + k] * hs[hp + k];
          z[r] = s;
        }
        if (!lstm) {
          for (j = 0; j < H; j++) {
            var v = Math.tanh(z[j]);
            acts[ao + j] = v;
            hs[hn + j] = v;
          }
        } else {
          for (j = 0; j < H; j++) {
            var gi = sigmoid(z[j]), gf = sigmoid(z[H + j]);
            var gg = Math.tanh(z[2 * H + j]), go = sigmoid(z[3 * H + j]);
            var c = gf * cs[hp + j] + gi * gg, tc = Math.tanh(c);
            acts[ao + j] = gi;
            acts[ao + H + j] = gf;
            acts[ao + 2 * H + j] = gg;
            acts[ao + 3 * H + j] = go;
            cs[hn + j] = c;
            tcs[to + j] = tc;
            hs[hn + j] = go * tc;
          }
        }
      }
      var hT = h0 + T * H;
      s = hb[0];
      for (j = 0; j < H; j++) s += hw[j] * hs[hT + j];
      w.pred[b] = s;
      loss += (s - P.y[b]) * (s - P.y[b]);
    }
    return loss / B; // nn.functional.mse_loss, mean over the batch
  }

  // The gradients of the batch-mean loss, by backpropagation through time, and
  // w.hNorms[k] = mean over the batch of ||dL/dh_k|| (the total derivative).
  function backward(m, P) {
    var H = m.hidden, GH = m.G * H, B = P.B, T = P.T, lstm = m.cell === "lstm";
    var w = m.work;
    var whh = m.params["rnn.weight_hh_l0"], hw = m.params["head.weight"];
    var g = w.grads;
    var gwih = g["rnn.weight_ih_l0"], gwhh = g["rnn.weight_hh_l0"], gb = g["rnn.bias_ih_l0"];
    var ghw = g["head.weight"], ghb = g["head.bias"];
    NAMES.forEach(function (n) { g[n].fill(0); });
    var hs = w.hs, cs = w.cs, tcs = w.tcs, acts = w.acts, dz = w.dz, hNorms = w.hNorms;
    var dh = w.dh, dhp = w.dhp, dc = w.dc, tmp, r, j, k;
    hNorms.fill(0);
    for (var b = 0; b < B; b++) {
      var h0 = b * (T + 1) * H, hT = h0 + T * H;
      var e = (2 * (w.pred[b] - P.y[b])) / B;
      ghb[0] += e;
      for (j = 0; j < H; j++) {
        ghw[j] += e * hs[hT + j];
        dh[j] = e * hw[j];
        dc[j] = 0;
      }
      for (var t = T - 1; t >= 0; t--) {
        var sq = 0;
        for (j = 0; j < H; j++) sq += dh[j] * dh[j];
        hNorms[t] += Math.sqrt(sq) / B;
        var hp = h0 + t * H, ao = (b * T + t) * GH, to = (b * T + t) * H;
        if (!lstm) {
          for (j = 0; j < H; j++) {
            var v = acts[ao + j];
            dz[j] = dh[j] * (1 - v * v);
          }
        } else {
          for (j = 0; j < H; j++) {
            var gi = acts[ao + j], gf = acts[ao + H + j];
            var gg = acts[ao + 2 * H + j], go = acts[ao + 3 * H + j], tc = tcs[to + j];
            var dct = dc[j] + dh[j] * go * (1 - tc * tc);
            dz[j] = dct * gg * gi * (1 - gi);
            dz[H + j] = dct * cs[hp + j] * gf * (1 - gf);
            dz[2 * H + j] = dct * gi * (1 - gg * gg);
            dz[3 * H + j] = dh[j] * tc * go * (1 - go);
            dc[j] = dct * gf;
          }
        }
        var xo = (b * T + t) * INPUT, x0 = P.x[xo], x1 = P.x[xo + 1];
        for (k = 0; k < H; k++) dhp[k] = 0;
        for (r = 0; r < GH; r++) {
          var d = dz[r];
          gb[r] += d;
          gwih[2 * r] += d * x0;
          gwih[2 * r + 1] += d * x1;
          var ro = r * H;
          for (k = 0; k < H; k++) {
            gwhh[ro + k] += d * hs[hp + k];
            dhp[k] += whh[ro + k] * d;
          }
        }
        tmp = dh;
        dh = dhp;
        dhp = tmp;
      }
    }
    g["rnn.bias_hh_l0"].set(gb); // both biases enter the same sum
    return g;
  }

  function compute(m, P) {
    if (P.T < 1) fail("batch.x must have at least one step");
    var loss = forward(m, P);
    backward(m, P);
    return loss;
  }

  function plain(a) {
    return Array.prototype.slice.call(a);
  }

  function lossAndGrads(m, batch) {
    checkModel(m);
    var P = pack(batch);
    var loss = compute(m, P);
    var grads = {};
    NAMES.forEach(function (n) { grads[n] = plain(m.work.grads[n]); });
    return { loss: loss, grads: grads, hNorms: plain(m.work.hNorms) };
  }

  function predict(m, batch) {
    checkModel(m);
    var P = pack(batch);
    var loss = forward(m, P);
    return { loss: loss, predictions: plain(m.work.pred) };
  }

  // ------------------------------------------------------------ one training step
  function stepOptions(opts) {
    var o = options("step options", opts, ["optimizer", "lr", "clip", "betas", "eps"]);
    var kind = o.optimizer === undefined ? "adam" : o.optimizer;
    if (kind !== "sgd" && kind !== "adam") {
      fail('optimizer must be "sgd" or "adam", got ' + show(kind));
    }
    var lr = positive("lr", o.lr === undefined ? LR : o.lr);
    var clip = o.clip === undefined || o.clip === null ? null : positive("clip", o.clip);
    var betas = o.betas === undefined ? ADAM.betas : o.betas;
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every(function (v) {
      return typeof v === "number" && v >= 0 && v < 1;
    })) {
      fail("betas must be two numbers in [0, 1), got " + show(betas));
    }
    var eps = o.eps === undefined ? ADAM.eps : o.eps;
    if (typeof eps !== "number" || !isFinite(eps) || eps < 0) {
      fail("eps must be a finite number >= 0, got " + show(eps));
    }
    if (kind === "sgd" && (o.betas !== undefined || o.eps !== undefined)) {
      fail("betas and eps are options of Adam, not of SGD");
    }
    return { optimizer: kind, lr: lr, clip: clip, betas: betas.slice(), eps: eps };
  }

  function update(m, o) {
    var g = m.work.grads, n, i;
    // torch.nn.utils.clip_grad_norm_: the norm of the tensors' norms
    var norms = NAMES.map(function (name) {
      var s = 0, a = g[name];
      for (var q = 0; q < a.length; q++) s += a[q] * a[q];
      return Math.sqrt(s);
    });
    var total = Math.sqrt(norms.reduce(function (s, v) { return s + v * v; }, 0));
    var clipped = false;
    if (o.clip !== null) {
      var coef = o.clip / (total + 1e-6);
      if (coef < 1) {
        clipped = true;
        NAMES.forEach(function (name) {
          var a = g[name];
          for (var q = 0; q < a.length; q++) a[q] *= coef;
        });
      }
    }
    if (!m.opt || m.opt.optimizer !== o.optimizer) {
      // a new optimizer (torch.optim.X(model.parameters())): fresh state
      m.opt = { optimizer: o.optimizer, t: 0, m: {}, v: {} };
      if (o.optimizer === "adam") {
        NAMES.forEach(function (name) {
          m.opt.m[name] = new Float64Array(g[name].length);
          m.opt.v[name] = new Float64Array(g[name].length);
        });
      }
    }
    var st = m.opt;
    st.t += 1;
    if (o.optimizer === "sgd") {
      for (n = 0; n < NAMES.length; n++) {
        var p = m.params[NAMES[n]], gr = g[NAMES[n]];
        for (i = 0; i < p.length; i++) p[i] += -o.lr * gr[i];
      }
    } else {
      // torch.optim.Adam (amsgrad off, no weight decay), as its single-tensor code
      var b1 = o.betas[0], b2 = o.betas[1];
      var bc1 = 1 - Math.pow(b1, st.t), bc2 = 1 - Math.pow(b2, st.t);
      var stepSize = o.lr / bc1, bc2s = Math.sqrt(bc2);
      for (n = 0; n < NAMES.length; n++) {
        var pa = m.params[NAMES[n]], ga = g[NAMES[n]];
        var ma = st.m[NAMES[n]], va = st.v[NAMES[n]];
        for (i = 0; i < pa.length; i++) {
          var gi = ga[i];
          ma[i] += (gi - ma[i]) * (1 - b1); // exp_avg.lerp_(grad, 1 - beta1)
          va[i] = va[i] * b2 + (1 - b2) * gi * gi;
          pa[i] += -stepSize * (ma[i] / (Math.sqrt(va[i]) / bc2s + o.eps));
        }
      }
    }
    m.steps += 1;
    return { gradNorm: total, clipped: clipped };
  }

  function step(m, batch, opts) {
    checkModel(m);
    var o = stepOptions(opts);
    var P = pack(batch);
    var loss = compute(m, P);
    var u = update(m, o);
    return { loss: loss, gradNorm: u.gradNorm, clipped: u.clipped, step: m.steps };
  }

  // ------------------------------------------------------------ state
  function state(m) {
    checkModel(m);
    var tensors = {};
    NAMES.forEach(function (n) {
      tensors[n] = { shape: m.shapes[n].slice(), values: plain(m.params[n]) };
    });
    return {
      config: { cell: m.cell, hidden: m.hidden, input: INPUT, seed: m.seed,
        forgetBias: m.forgetBias },
      tensors: tensors,
      steps: m.steps,
    };
  }

  // Copies the weights of state into m (same cell and size); the optimizer
  // starts afresh, as a new torch optimizer would.
  function setState(m, st) {
    checkModel(m);
    if (!st || typeof st !== "object" || !st.tensors || typeof st.tensors !== "object") {
      fail("state must be {config, tensors: {name: {shape, values}}}, got " + show(st));
    }
    var cfg = st.config || {};
    if (cfg.cell !== undefined && cfg.cell !== m.cell) {
      fail("state has cell " + show(cfg.cell) + ", this model has cell " + show(m.cell));
    }
    if (cfg.hidden !== undefined && cfg.hidden !== m.hidden) {
      fail("state has hidden " + show(cfg.hidden) + ", this model has " + m.hidden);
    }
    var names = Object.keys(st.tensors).sort(), want = NAMES.slice().sort();
    if (names.join() !== want.join()) {
      fail("state.tensors must hold exactly " + NAMES.join(", ") + "; got " + names.join(", "));
    }
    NAMES.forEach(function (n) {
      var t = st.tensors[n], shape = m.shapes[n];
      if (!t || !Array.isArray(t.shape) || t.shape.join() !== shape.join()) {
        fail(n + " must have shape [" + shape.join(", ") + "], got " + show(t && t.shape));
      }
      var vals = t.values;
      if (!vals || vals.length !== size(shape)) {
        fail(n + " must have " + size(shape) + " values, got " + show(vals && vals.length));
      }
      for (var i = 0; i < vals.length; i++) {
        if (typeof vals[i] !== "number" || !isFinite(vals[i])) {
          fail(n + " has a value that is not a finite number at " + i + ": " + show(vals[i]));
        }
      }
    });
    NAMES.forEach(function (n) { m.params[n].set(st.tensors[n].values); });
    m.opt = null;
    if (isInt(st.steps) && st.steps >= 0) m.steps = st.steps;
    return m;
  }

  // ------------------------------------------------------------ the view: helpers
  var count = 0;
  var SVGNS = "http://www.w3.org/2000/svg";

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

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function labelled(text, control) {
    count += 1;
    control.id = control.id || "rt-control-" + count;
    return el("span", { class: "rt-field" }, [el("label", { for: control.id, text: text }), control]);
  }

  function select(options, value) {
    var s = el("select", {});
    options.forEach(function (o) {
      var opt = el("option", { value: String(o[0]), text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function bump(root) {
    root.setAttribute("data-drawn", String(Number(root.getAttribute("data-drawn") || 0) + 1));
  }

  function withValue(list, v) { // the menu's values, with v added if it is not there
    var out = list.slice();
    if (out.indexOf(v) < 0) out.push(v);
    return out.sort(function (a, b) { return a - b; });
  }

  function niceStep(span, ticks) {
    var raw = span / Math.max(1, ticks), p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function axisMax(n) { // 50, or n rounded up to a multiple of a nice tick step
    if (n <= 50) return 50;
    var d = niceStep(n, 5);
    return Math.ceil(n / d) * d;
  }

  function decade(e) {
    return e === 0 ? "1" : e === 1 ? "10" : "1e" + e;
  }

  function fmtLoss(v) {
    if (!isFinite(v)) return "diverged";
    return v >= 0.01 ? v.toFixed(3) : v.toExponential(1);
  }

  // A log-scaled chart: series [{label, color, points: [[x, y]]}], reference
  // lines [{y, label, color}], x from 0 to xMax.
  function chart(c, opts) {
    var W = 440, H = 250, L = 52, R = 28, TOP = 12, BOT = 42;
    var lo = Infinity, hi = -Infinity;
    opts.series.forEach(function (s) {
      s.points.forEach(function (p) {
        if (p[1] > 0 && isFinite(p[1])) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
      });
    });
    (opts.refs || []).forEach(function (r) { lo = Math.min(lo, r.y); hi = Math.max(hi, r.y); });
    if (!isFinite(lo)) { lo = 1e-3; hi = 1; }
    var e1 = Math.ceil(Math.log10(hi) - 1e-9), e0 = Math.floor(Math.log10(lo) + 1e-9);
    e0 = Math.max(e0, e1 - (opts.maxDecades || 12));
    if (e1 - e0 < 1) e0 = e1 - 1;
    var xMax = opts.xMax > 0 ? opts.xMax : 1;
    function x(v) { return L + (v / xMax) * (W - L - R); }
    function y(v) {
      var a = (Math.log10(Math.max(v, Math.pow(10, e0))) - e0) / (e1 - e0);
      return TOP + (1 - a) * (H - TOP - BOT);
    }
    var s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img",
      "aria-label": opts.label, "class": "rt-svg" });
    var every = Math.max(1, Math.ceil((e1 - e0) / 6));
    for (var e = e0; e <= e1; e += every) {
      var yy = y(Math.pow(10, e)).toFixed(1);
      s.appendChild(svg("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: c.track }));
      s.appendChild(svg("text", { x: L - 6, y: Number(yy) + 4, "text-anchor": "end",
        "font-size": 11, fill: c.muted }, decade(e)));
    }
    var dx = niceStep(xMax, 5);
    for (var v = 0; v <= xMax + 1e-9; v += dx) {
      var xx = x(v).toFixed(1);
      s.appendChild(svg("line", { x1: xx, x2: xx, y1: H - BOT, y2: H - BOT + 4, stroke: c.muted }));
      s.appendChild(svg("text", { x: xx, y: H - BOT + 16, "text-anchor": "middle",
        "font-size": 11, fill: c.muted }, String(Math.round(v * 1000) / 1000)));
    }
    s.appendChild(svg("line", { x1: L, x2: W - R, y1: H - BOT, y2: H - BOT, stroke: c.muted }));
    s.appendChild(svg("line", { x1: L, x2: L, y1: TOP, y2: H - BOT, stroke: c.muted }));
    s.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle",
      "font-size": 12, fill: c.ink }, opts.xLabel));
    var my = (TOP + H - BOT) / 2;
    s.appendChild(svg("text", { x: 13, y: my, "text-anchor": "middle", "font-size": 12,
      fill: c.ink, transform: "rotate(-90 13 " + my + ")" }, opts.yLabel));
    (opts.refs || []).forEach(function (r) {
      var ry = y(r.y).toFixed(1);
      s.appendChild(svg("line", { x1: L, x2: W - R, y1: ry, y2: ry, stroke: r.color,
        "stroke-width": 1.5, "stroke-dasharray": "5 4", "class": "rt-ref" }));
      s.appendChild(svg("text", { x: W - R + 4, y: Number(ry) + 4, "text-anchor": "start",
        "font-size": 11, fill: r.color }, r.label));
    });
    opts.series.forEach(function (sr) {
      var floor = Math.pow(10, e0); // below the chart's last decade: not drawn
      var pts = sr.points.filter(function (p) { return p[1] >= floor && isFinite(p[1]); })
        .map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); });
      if (!pts.length) return;
      if (pts.length === 1) pts.push(pts[0]);
      s.appendChild(svg("polyline", { points: pts.join(" "), fill: "none", stroke: sr.color,
        "stroke-width": 2, "stroke-linejoin": "round", "data-model": sr.label }));
    });
    if (opts.empty) {
      s.appendChild(svg("text", { x: (L + W - R) / 2, y: TOP + 40, "text-anchor": "middle",
        "font-size": 12, fill: c.muted }, opts.empty));
    }
    return s;
  }

  // ------------------------------------------------------------ the view
  var CELLS = [["rnn", "RNN"], ["lstm", "LSTM"]];
  var GRAD_WINDOW = 20; // the gradient curve: mean over the last 20 steps
  var LOSS_POINTS = 150; // the loss curve: at most 150 points, each a mean over steps
  var FRAME_MS = 20; // the compute budget of one animation frame

  function mountTrain(root, cfg) {
    var c = cfg.colors;
    var st = {
      T: cfg.T, hidden: cfg.hidden, lr: cfg.lr, optimizer: cfg.optimizer, seed: cfg.seed,
      running: false, steps: 0, models: {}, loss: {}, grads: {}, diverged: {}, timer: null,
      rate: 0, announced: 0,
    };
    var lengthSel = select(withValue(cfg.lengths, cfg.T).map(function (v) {
      return [v, String(v)];
    }), st.T);
    var hiddenSel = select(withValue(cfg.hiddens, cfg.hidden).map(function (v) {
      return [v, String(v)];
    }), st.hidden);
    var lrSel = select(withValue(cfg.lrs, cfg.lr).map(function (v) { return [v, String(v)]; }), st.lr);
    var optSel = select([["adam", "Adam"], ["sgd", "SGD"]], st.optimizer);
    var seedIn = el("input", { type: "number", min: 0, max: 1000000, step: 1, value: st.seed });
    var go = el("button", { type: "button", class: "rt-go", "aria-pressed": "false", text: "Start" });
    var one = el("button", { type: "button", text: "One step" });
    var reset = el("button", { type: "button", text: "Reset" });
    var legend = el("div", { class: "rt-legend" });
    var lossBox = el("div", { class: "rt-chart" });
    var gradBox = el("div", { class: "rt-chart" });
    var status = el("div", { class: "rt-status", role: "status", "aria-live": "polite" });
    root.appendChild(el("div", { class: "rt-controls" }, [
      labelled("sequence length T", lengthSel), labelled("hidden units", hiddenSel),
      labelled("learning rate", lrSel), labelled("optimizer", optSel), labelled("seed", seedIn),
    ]));
    root.appendChild(el("div", { class: "rt-controls" }, [go, one, reset]));
    root.appendChild(legend);
    root.appendChild(el("div", { class: "rt-charts" }, [
      el("div", {}, [el("div", { class: "rt-title", text: "training loss" }), lossBox]),
      el("div", {}, [el("div", { class: "rt-title",
        text: "the gradient reaching each earlier step" }), gradBox]),
    ]));
    root.appendChild(el("div", { class: "rt-caption", text: "Both models learn the adding " +
      "problem from the same batches of " + cfg.batch + " sequences, here in your browser. " +
      "Each point of the loss curve is a mean over a run of steps; the dashed line is the " +
      "loss of always answering 1 (1/6). The gradient curve is the mean over the last " +
      GRAD_WINDOW + " steps of \u2016\u2202L/\u2202h_k\u2016 at distance T\u22121\u2212k " +
      "from the step the answer is read at." }));
    root.appendChild(status);

    function batchSeed(n) { // the batch of step n: the same for both models
      return (Math.imul(st.seed + 1, 0x9e3779b1) + n) >>> 0;
    }

    function opts() {
      return stepOptions({ optimizer: st.optimizer, lr: st.lr, clip: cfg.clip });
    }

    function fresh() {
      st.T = Number(lengthSel.value);
      st.hidden = Number(hiddenSel.value);
      st.optimizer = optSel.value;
      var seed = Math.round(Number(seedIn.value));
      st.seed = isFinite(seed) ? Math.max(0, Math.min(1000000, seed)) : 0;
      seedIn.value = st.seed;
      st.lr = Number(lrSel.value);
      st.steps = 0;
      var P = addingPacked(st.T, cfg.batch, batchSeed(0));
      CELLS.forEach(function (cl) {
        var m = new Model(cl[0], st.hidden, st.seed, cl[0] === "lstm" ? cfg.forgetBias : null);
        st.models[cl[0]] = m;
        st.loss[cl[0]] = [];
        st.diverged[cl[0]] = false;
        compute(m, P); // the gradient at the initial weights, drawn before training
        st.grads[cl[0]] = [Float64Array.from(m.work.hNorms)];
      });
      root.setAttribute("data-steps", "0");
    }

    function trainOne() {
      st.steps += 1;
      var P = addingPacked(st.T, cfg.batch, batchSeed(st.steps));
      CELLS.forEach(function (cl) {
        var name = cl[0], m = st.models[name];
        if (st.diverged[name]) return;
        var loss = compute(m, P);
        if (!isFinite(loss)) {
          st.diverged[name] = true;
          return;
        }
        update(m, opts());
        st.loss[name].push(loss);
        if (st.steps === 1) st.grads[name] = [];
        st.grads[name].push(Float64Array.from(m.work.hNorms));
        if (st.grads[name].length > GRAD_WINDOW) st.grads[name].shift();
      });
      root.setAttribute("data-steps", String(st.steps));
    }

    function recent(name) { // the mean loss of the last (up to) 20 steps
      var a = st.loss[name], n = Math.min(20, a.length), s = 0;
      for (var i = a.length - n; i < a.length; i++) s += a[i];
      return n ? s / n : NaN;
    }

    function colour(label) {
      return (c.model && c.model[label]) || c.ink;
    }

    function draw() {
      var n = st.steps, bin = Math.max(1, Math.ceil(n / LOSS_POINTS));
      var lossSeries = CELLS.map(function (cl) {
        var a = st.loss[cl[0]], pts = [];
        for (var i = 0; i < a.length; i += bin) {
          var s = 0, k = 0;
          for (var j = i; j < Math.min(a.length, i + bin); j++) { s += a[j]; k += 1; }
          pts.push([i + k / 2 + 0.5, s / k]);
        }
        return { label: cl[1], color: colour(cl[1]), points: pts };
      });
      var summary = CELLS.map(function (cl) {
        return cl[1] + " " + (st.diverged[cl[0]] ? "diverged" : fmtLoss(recent(cl[0])));
      }).join(", ");
      lossBox.innerHTML = "";
      lossBox.appendChild(chart(c, {
        series: lossSeries,
        refs: [{ y: cfg.baseline, label: "1/6", color: c.baseline }],
        xMax: axisMax(n),
        xLabel: "training step", yLabel: "loss (MSE, log scale)", maxDecades: 8,
        empty: n ? null : "press Start to train",
        label: "training loss against step, log scale; after " + n + " steps " + summary +
          "; the baseline of always answering 1 is 0.167",
      }));
      var gradSeries = CELLS.map(function (cl) {
        var rows = st.grads[cl[0]], T = st.T, pts = [];
        for (var k = 0; k < T; k++) {
          var s = 0;
          for (var r = 0; r < rows.length; r++) s += rows[r][k];
          pts.push([T - 1 - k, s / rows.length]);
        }
        pts.reverse();
        return { label: cl[1], color: colour(cl[1]), points: pts };
      });
      var far = gradSeries.map(function (g) {
        return g.label + " " + g.points[g.points.length - 1][1].toExponential(1);
      }).join(", ");
      gradBox.innerHTML = "";
      gradBox.appendChild(chart(c, {
        series: gradSeries, xMax: st.T - 1, maxDecades: 12,
        xLabel: "distance back from the last step, T \u2212 1 \u2212 k",
        yLabel: "mean \u2016\u2202L/\u2202h_k\u2016 (log scale)",
        label: "gradient norm against distance back from the last step, log scale; at " +
          "distance " + (st.T - 1) + ": " + far,
      }));
      legend.innerHTML = "";
      CELLS.forEach(function (cl) {
        var sw = el("span", { class: "rt-swatch" });
        sw.style.background = colour(cl[1]);
        legend.appendChild(el("span", { class: "rt-key" }, [sw, el("strong", { text: cl[1] }),
          el("span", { text: " loss " + (n ? (st.diverged[cl[0]] ? "diverged (lower the " +
            "learning rate)" : fmtLoss(recent(cl[0]))) : "\u2013") })]));
      });
      var dash = el("span", { class: "rt-swatch rt-dash" });
      dash.style.borderColor = c.baseline;
      legend.appendChild(el("span", { class: "rt-key" }, [dash,
        el("span", { text: "always answering 1: 1/6 = " + cfg.baseline.toFixed(3) })]));
      bump(root);
    }

    function say(text) {
      status.textContent = text;
    }

    function progress() {
      var text = "step " + st.steps + " of at most " + cfg.maxSteps + ": " +
        CELLS.map(function (cl) {
          return cl[1] + " loss " + (st.diverged[cl[0]] ? "diverged" : fmtLoss(recent(cl[0])));
        }).join(", ");
      if (st.rate > 0) text += " (" + Math.round(st.rate) + " steps per second)";
      return text;
    }

    function setRunning(on) {
      st.running = on;
      go.textContent = on ? "Pause" : "Start";
      go.setAttribute("aria-pressed", on ? "true" : "false");
      root.setAttribute("data-state", on ? "running" : st.steps >= cfg.maxSteps ? "done" : "paused");
      if (st.timer !== null) {
        (window.cancelAnimationFrame || clearTimeout)(st.timer);
        st.timer = null;
      }
      if (on) schedule();
    }

    function schedule() {
      var next = window.requestAnimationFrame || function (f) { return setTimeout(f, 16); };
      st.timer = next(frame);
    }

    function allDiverged() {
      return CELLS.every(function (cl) { return st.diverged[cl[0]]; });
    }

    function frame() {
      st.timer = null;
      if (!st.running) return;
      try {
        chunk();
      } catch (e) {
        setRunning(false);
        status.classList.add("rt-error");
        say(e.message);
        throw e;
      }
    }

    function chunk() {
      var t0 = performance.now(), done = 0;
      while (done < cfg.stepsPerFrame && st.steps < cfg.maxSteps && !allDiverged()) {
        trainOne();
        done += 1;
        if (performance.now() - t0 > FRAME_MS) break;
      }
      var dt = performance.now() - t0;
      if (dt > 0 && done) {
        var now = performance.now(), wall = st.lastFrame ? now - st.lastFrame : dt;
        var r = (1000 * done) / Math.max(dt, wall);
        st.rate = st.rate ? 0.9 * st.rate + 0.1 * r : r;
        st.lastFrame = now;
      }
      draw();
      if (st.steps >= cfg.maxSteps || allDiverged()) {
        setRunning(false);
        say(progress() + (allDiverged() ? ". Both models diverged: lower the learning rate " +
          "and press Reset." : ". Done: press Reset to train again."));
        go.disabled = true;
        return;
      }
      var now2 = performance.now();
      if (now2 - st.announced > 2000) { // a screen reader hears the status every 2 s
        st.announced = now2;
        say(progress());
      }
      schedule();
    }

    function restart(why) {
      var was = st.running;
      status.classList.remove("rt-error");
      setRunning(false);
      fresh();
      go.disabled = false;
      st.rate = 0;
      st.lastFrame = 0;
      draw();
      say(why + " " + CELLS.map(function (cl) { return cl[1]; }).join(" and ") + " with " +
        st.hidden + " hidden units, T = " + st.T + ", " + optSel.selectedOptions[0].text +
        " at learning rate " + st.lr + (was ? ": training." : ": press Start to train."));
      if (was) setRunning(true);
    }

    go.addEventListener("click", function () {
      if (st.running) {
        setRunning(false);
        say("paused at " + progress());
      } else {
        st.lastFrame = 0;
        setRunning(true);
        say("training: " + progress());
      }
    });
    one.addEventListener("click", function () {
      if (st.running || st.steps >= cfg.maxSteps || allDiverged()) return;
      trainOne();
      draw();
      root.setAttribute("data-state", "paused");
      say(progress());
    });
    reset.addEventListener("click", function () { restart("reset: new"); });
    [lengthSel, hiddenSel, optSel, seedIn].forEach(function (ctl) {
      ctl.addEventListener("change", function () { restart("settings changed: new"); });
    });
    lrSel.addEventListener("change", function () {
      st.lr = Number(lrSel.value);
      say("learning rate " + st.lr + " from the next step on");
    });

    fresh();
    draw();
    root.setAttribute("data-state", "ready");
    say("ready: an RNN and an LSTM with " + st.hidden + " hidden units will learn the adding " +
      "problem with T = " + st.T + " here in your browser. Press Start.");
    if (cfg.autostart) setRunning(true);
    root.rnnvizTrainView = { // for tests and the console
      state: function () {
        return { steps: st.steps, running: st.running, T: st.T, hidden: st.hidden,
          lr: st.lr, optimizer: st.optimizer, seed: st.seed, rate: st.rate,
          loss: { rnn: st.loss.rnn.slice(), lstm: st.loss.lstm.slice() } };
      },
      models: st.models,
    };
  }

  // ------------------------------------------------------------ mounting
  function style() {
    if (document.getElementById("rnnviz-train-style")) return;
    var css = [
      ".rnnviz-train{font-family:sans-serif;font-size:14px;margin:0.8em 0;padding:0.6em 0.8em;",
      "border:1px solid var(--rt-track);border-radius:6px;color:var(--rt-ink)}",
      ".rnnviz-train .rt-controls{display:flex;flex-wrap:wrap;gap:0.4em 1.2em;align-items:center;margin:0.3em 0}",
      ".rnnviz-train .rt-field label{margin-right:0.35em}",
      ".rnnviz-train input[type=number]{width:5.5em}",
      ".rnnviz-train button{font-size:14px;padding:0.15em 0.8em}",
      ".rnnviz-train .rt-go{min-width:5.5em;font-weight:bold}",
      ".rnnviz-train .rt-legend{display:flex;flex-wrap:wrap;gap:0.3em 1.4em;margin:0.4em 0 0.1em;font-size:13px}",
      ".rnnviz-train .rt-key{display:inline-flex;align-items:center;gap:0.35em}",
      ".rnnviz-train .rt-swatch{display:inline-block;width:1.4em;height:3px}",
      ".rnnviz-train .rt-dash{height:0;border-top:2px dashed;background:transparent}",
      ".rnnviz-train .rt-charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:0.4em 1em}",
      ".rnnviz-train .rt-title{font-size:13px;font-weight:bold;margin:0.3em 0 0 0.2em}",
      ".rnnviz-train .rt-svg{display:block;max-width:520px}",
      ".rnnviz-train .rt-caption{color:var(--rt-muted);font-size:12px;margin-top:0.2em}",
      ".rnnviz-train .rt-status{color:var(--rt-muted);font-size:12px;margin-top:0.3em;min-height:1.3em}",
      ".rnnviz-train .rt-error{color:var(--rt-error);font-weight:bold}",
    ].join("\n");
    document.head.appendChild(el("style", { id: "rnnviz-train-style", text: css }));
  }

  function mount(root) {
    if (root.getAttribute("data-mounted")) return;
    root.setAttribute("data-mounted", "1");
    var cfg;
    try {
      cfg = JSON.parse(root.getAttribute("data-config"));
    } catch (e) {
      root.textContent = "rnnviz training view: its configuration is not valid JSON";
      return;
    }
    var c = cfg.colors || {};
    root.style.setProperty("--rt-ink", c.ink);
    root.style.setProperty("--rt-muted", c.muted);
    root.style.setProperty("--rt-track", c.track);
    root.style.setProperty("--rt-error", c.error);
    if (c.background) root.style.background = c.background; // light in dark mode too
    if (c.ink) root.style.color = c.ink;
    var fallback = root.querySelector(".rt-fallback");
    if (fallback) fallback.remove();
    try {
      mountTrain(root, cfg);
    } catch (e) {
      root.appendChild(el("div", { class: "rt-status rt-error", text: e.message }));
    }
  }

  function mountAll() {
    if (typeof document === "undefined") return;
    style();
    Array.prototype.forEach.call(document.querySelectorAll(".rnnviz-train"), mount);
  }

  window.rnnvizTrain = {
    model: model,
    adding: adding,
    lossAndGrads: lossAndGrads,
    predict: predict,
    step: step,
    state: state,
    setState: setState,
    baseline: BASELINE,
    mount: mount,
    mountAll: mountAll,
    version: 1,
  };
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", mountAll);
    } else {
      mountAll();
    }
  }
})();
