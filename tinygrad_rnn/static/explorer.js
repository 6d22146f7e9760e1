// The explorer page's behaviour. The data (JSON in #explorer-data) is written by tinygrad_rnn/explorer.py:
//   tensors[place]   every node of the graph, in topological order: name, op, shape, value, grad, visit, reach, rule
//   order[k - 1]     the place of the op backward visits at step k (k = 1 … steps)
//   variants[name]   one drawing each (its SVG is in <template id="variant-NAME">): boxes by id, and per step the
//                    boxes to outline (current) and the edges that carry the gradient (carry)
//   checks           the annotation sets (heading, legend); a tensor's own notes are in tensors[place].checks
"use strict";
(() => {
  const D = JSON.parse(document.getElementById("explorer-data").textContent);
  // explorer.py leaves out empty fields: put them back
  const EMPTY_TENSOR = { name: "", op: "", scope: "", parents: [], within: [], needs: false, shape: [] };
  D.tensors = D.tensors.map((t) => Object.assign({}, EMPTY_TENSOR, t, { rule: D.rules[t.op] || [] }));
  const EMPTY_BOX = { name: "", title: "", members: [], detail: "", step: false, noted: false, rule: "" };
  for (const v of Object.values(D.variants)) {
    for (const [id, box] of Object.entries(v.boxes)) v.boxes[id] = Object.assign({}, EMPTY_BOX, box);
  }
  const $ = (id) => document.getElementById(id);
  const graph = $("graph");
  const info = $("info");
  const N = D.steps;
  const S = {
    step: 0,
    variant: D.variant,
    values: D.start.values,
    grads: D.start.grads,
    heat: D.start.heatmap,
    check: D.start.check,
    pinned: null,
    hover: null,
    timer: null,
    zoom: null,
  };
  let V = null; // the drawing on screen
  const PLAY = $("step-play").querySelector("svg").cloneNode(true);
  const PAUSE = PLAY.cloneNode(true);
  PAUSE.querySelector("path").setAttribute("d", "M3 2h4v12H3zM9 2h4v12H9z");

  const KIND = {
    param: "parameter",
    state: "initial state",
    input: "input / target",
    const: "constant",
    value: "value",
    op: "op",
    group: "collapsed",
    loss: "loss",
    ghost: "detached source",
  };
  const SYMBOL = {
    add: "+",
    sub: "−",
    mul: "×",
    div: "÷",
    neg: "−x",
    pow: "xᵖ",
    matmul: "@",
    sigmoid: "σ",
    abs: "|x|",
    sum: "Σ",
    transpose: "ᵀ",
    getitem: "[ ]",
    concatenate: "concat",
  };

  // ---- small helpers ----------------------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // x as Python's format(x, ".4g") writes it (e.g. 0.09969, -1.235e+04, 1e-05): what a test computing f"{v:.4g}"
  // finds in the panel
  function fmt(x, digits = 4) {
    if (x === null || x === undefined || Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return Object.is(x, -0) ? "-0" : "0";
    const [, exp] = x.toExponential(digits - 1).split("e");
    const e = Number(exp);
    const strip = (m) => (m.includes(".") ? m.replace(/\.?0+$/, "") : m);
    if (e < -4 || e >= digits) {
      const m = strip(x.toExponential(digits - 1).split("e")[0]);
      return `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
    }
    return strip(x.toFixed(digits - 1 - e));
  }

  // "∇_{h_2}L = Uᵀ h_{t+1}" → ∇<sub>h<sub>2</sub></sub>L = Uᵀ h<sub>t+1</sub>, built as DOM nodes (never as HTML)
  function maths(text) {
    const out = document.createDocumentFragment();
    let i = 0;
    let plain = "";
    const flush = () => {
      if (plain) out.append(plain);
      plain = "";
    };
    while (i < text.length) {
      if (text[i] === "_" && text[i + 1] === "{") {
        let depth = 0;
        let j = i + 1;
        for (; j < text.length; j++) {
          if (text[j] === "{") depth++;
          else if (text[j] === "}" && --depth === 0) break;
        }
        flush();
        out.append(el("sub", {}, maths(text.slice(i + 2, j))));
        i = j + 1;
      } else if (text[i] === "_" && /[A-Za-z0-9]/.test(text[i + 1] || "")) {
        const run = /^[A-Za-z0-9]+/.exec(text.slice(i + 1))[0];
        flush();
        out.append(el("sub", {}, run));
        i += 1 + run.length;
      } else {
        plain += text[i++];
      }
    }
    flush();
    return out;
  }

  const symbol = (op) => SYMBOL[op] || op;
  const label = (t) => t.name || (t.op ? `(${symbol(t.op)})` : "leaf");
  const scopeText = (s) =>
    s
      .split("/")
      .map((p) => p.replace("=", " = "))
      .join(" / ");
  const size = (shape) => shape.reduce((a, b) => a * b, 1);
  const shapeText = (shape) => (shape.length ? shape.join("×") : "scalar");
  const reached = (t, k) => t !== null && t.reach !== null && t.reach <= k;

  function heatIndex(value) {
    const { lo, hi, colours } = D.heat;
    if (value <= 0) return 0;
    if (hi <= lo) return colours.length - 1;
    const frac = (Math.log10(value) - lo) / (hi - lo);
    return Math.min(colours.length - 1, Math.max(0, Math.floor(frac * colours.length)));
  }

  // ---- the drawing ------------------------------------------------------------------------------------------------

  function mount(name) {
    graph.replaceChildren($(`variant-${name}`).content.cloneNode(true));
    const svg = graph.querySelector("svg");
    const data = D.variants[name];
    const nodes = new Map();
    for (const g of svg.querySelectorAll("g.node")) {
      const outline = g.querySelector("path, polygon, ellipse");
      if (outline) outline.classList.add("outline");
      nodes.set(g.dataset.node, { g, outline, fill: outline ? outline.getAttribute("fill") : null });
    }
    const edges = new Map();
    for (const g of svg.querySelectorAll("g.edge")) {
      if (!edges.has(g.dataset.edge)) edges.set(g.dataset.edge, []);
      edges.get(g.dataset.edge).push(g);
    }
    const passedAt = new Map();
    data.carry.forEach((keys, k) => keys.forEach((key) => passedAt.has(key) || passedAt.set(key, k + 1)));
    const box = svg.viewBox.baseVal;
    V = { name, data, svg, nodes, edges, passedAt, width: box.width * (4 / 3), height: box.height * (4 / 3) };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    if (S.zoom === null) S.zoom = Math.max(0.55, Math.min(1, (graph.clientWidth - 16) / V.width));
    zoom(S.zoom);
  }

  function zoom(z) {
    S.zoom = Math.max(0.1, Math.min(3, z));
    V.svg.style.width = `${V.width * S.zoom}px`;
    V.svg.style.height = `${V.height * S.zoom}px`;
  }

  const fit = () => zoom(Math.min((graph.clientWidth - 16) / V.width, (graph.clientHeight - 16) / V.height));

  function fillOf(box, entry, isReached) {
    const t = box.t === null ? null : D.tensors[box.t];
    const note = S.check && box.noted && t && t.checks ? t.checks[S.check] : null;
    if (note && note.fill) return [note.fill, false];
    if (S.heat && t && t.grad && isReached && box.kind !== "ghost" && t.grad.norm !== null) {
      const k = heatIndex(t.grad.norm);
      return [D.heat.colours[k], k >= 5];
    }
    return [entry.fill, false];
  }

  function paint() {
    const k = S.step;
    graph.classList.toggle("no-values", !S.values);
    graph.classList.toggle("no-grads", !S.grads);
    for (const [id, entry] of V.nodes) {
      const box = V.data.boxes[id];
      const isReached = box.t !== null && reached(D.tensors[box.t], k);
      const [fill, dark] = fillOf(box, entry, isReached);
      entry.g.classList.toggle("reached", isReached);
      entry.g.classList.toggle("dark", dark);
      entry.g.classList.toggle("pinned", id === S.pinned);
      entry.g.classList.remove("current");
      if (entry.outline && fill) entry.outline.setAttribute("fill", fill);
    }
    const current = k > 0 ? V.data.current[k - 1] : [];
    for (const id of current) if (V.nodes.has(id)) V.nodes.get(id).g.classList.add("current");
    const carry = new Set(k > 0 ? V.data.carry[k - 1] : []);
    for (const [key, gs] of V.edges) {
      const at = V.passedAt.get(key);
      for (const g of gs) {
        g.classList.toggle("carry", carry.has(key));
        g.classList.toggle("passed", at !== undefined && at <= k && !carry.has(key));
      }
    }
  }

  function reveal(id) {
    const entry = V.nodes.get(id);
    if (!entry) return;
    const r = entry.g.getBoundingClientRect();
    const view = graph.getBoundingClientRect();
    const margin = 60;
    if (r.left < view.left + margin || r.right > view.right - margin) {
      graph.scrollLeft += (r.left + r.right) / 2 - (view.left + view.right) / 2;
    }
    if (r.top < view.top + margin || r.bottom > view.bottom - margin) {
      graph.scrollTop += (r.top + r.bottom) / 2 - (view.top + view.bottom) / 2;
    }
  }

  // ---- the stepper ------------------------------------------------------------------------------------------------

  function describe(k) {
    if (N === 0) return [`Nothing in this graph needs a gradient: there is no backward pass to step through.`];
    if (k === 0) return ["Before backward: no node holds a gradient yet. Press → or ▶ play to start at the loss."];
    const t = D.tensors[D.order[k - 1]];
    const inputs = t.parents.filter((p) => D.tensors[p].needs).map((p) => label(D.tensors[p]));
    const where = t.scope ? ` at ${scopeText(t.scope)}` : "";
    const made = t.name ? `${symbol(t.op)} → ${t.name}` : symbol(t.op);
    const text = `Step ${k}: backward visits ${made}${where} and hands ∂L/∂${label(t)} to ${inputs.join(", ")}`;
    const done = k === N ? " — done: every node that needs a gradient holds it." : ".";
    return [text + done, t.rule.length > 1 ? t.rule.slice(1).join("  ") : ""];
  }

  function go(k) {
    S.step = Math.max(0, Math.min(N, Math.round(Number(k)) || 0));
    $("step-slider").value = String(S.step);
    $("step-index").textContent = String(S.step);
    $("step-prev").disabled = $("step-first").disabled = S.step === 0;
    $("step-next").disabled = $("step-last").disabled = S.step === N;
    const [text, rule] = describe(S.step);
    $("step-what").replaceChildren(text, rule ? el("span", { class: "rule" }, `   ${rule}`) : "");
    paint();
    const current = S.step > 0 ? V.data.current[S.step - 1] : [];
    if (current.length) reveal(current[0]);
    showInfo();
  }

  function play() {
    if (S.timer !== null) return pause();
    if (S.step >= N) go(0);
    $("step-play").replaceChildren(PAUSE.cloneNode(true), el("span", {}, "pause"));
    S.timer = setInterval(() => (S.step >= N ? pause() : go(S.step + 1)), Number($("step-speed").value));
  }

  function pause() {
    if (S.timer !== null) clearInterval(S.timer);
    S.timer = null;
    $("step-play").replaceChildren(PLAY.cloneNode(true), el("span", {}, "play"));
  }

  // ---- the panel --------------------------------------------------------------------------------------------------

  function colour(v, scale) {
    if (v === null) return "#adb5bd";
    const f = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
    const [r, g, b] = f >= 0 ? [178, 24, 43] : [33, 102, 172];
    const a = Math.abs(f);
    const mix = (c) => Math.round(255 + (c - 255) * a);
    return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
  }

  function strip(x, shape) {
    const cols = Math.min(32, shape.length ? shape[shape.length - 1] : 1);
    const scale = Math.max(0, ...x.map((v) => (v === null ? 0 : Math.abs(v))));
    const cells = x.map((v) => el("div", { title: fmt(v, 6), style: `background:${colour(v, scale)}` }));
    return el("div", { class: "strip", style: `grid-template-columns:repeat(${cols}, minmax(3px, 1fr))` }, ...cells);
  }

  function numbers(arr, shape, what) {
    const n = size(shape);
    const cols = shape.length >= 2 ? shape[shape.length - 1] : Math.min(8, Math.max(1, n));
    const shownCols = Math.min(cols, 8);
    const rows = [];
    for (let r = 0; r * cols < arr.x.length && rows.length < 12; r++) {
      const cells = arr.x.slice(r * cols, r * cols + shownCols).map((v) => el("td", { "data-x": String(v) }, fmt(v)));
      if (cols > shownCols) cells.push(el("td", {}, "…"));
      rows.push(el("tr", {}, ...cells));
    }
    const parts = [];
    if (n > 1) parts.push(strip(arr.x, shape));
    parts.push(el("table", { class: "nums", "data-what": what }, ...rows));
    const shown = Math.min(arr.x.length, rows.length * cols);
    if (shown < n || cols > shownCols) {
      const range = arr.min !== undefined ? `; min ${fmt(arr.min)}, max ${fmt(arr.max)}` : "";
      parts.push(el("div", { class: "more" }, `the table shows part of ${n} numbers${range}`));
    }
    return parts;
  }

  function arraySection(cls, title, arr, shape) {
    const head = el("h3", {}, title, el("span", { class: "norm" }, `‖·‖ = ${fmt(arr.norm)}`));
    return el("section", { class: cls }, head, ...numbers(arr, shape, cls));
  }

  function gradSection(t) {
    const title = `gradient ∂L/∂${label(t)}`;
    if (!t.needs) {
      const why = "none needed: nothing this node depends on needs a gradient";
      return el("section", { class: "grad" }, el("h3", {}, title), el("div", { class: "waiting" }, why));
    }
    if (t.grad === null || t.reach === null) {
      return el("section", { class: "grad" }, el("h3", {}, title), el("div", { class: "waiting" }, "none"));
    }
    if (!reached(t, S.step)) {
      const when = t.op ? `backward visits it at step ${t.reach}` : `its gradient is complete at step ${t.reach}`;
      const text = `not reached yet — ${when} (now at step ${S.step})`;
      return el("section", { class: "grad" }, el("h3", {}, title), el("div", { class: "waiting" }, text));
    }
    return arraySection("grad", title, t.grad, t.shape);
  }

  function ruleSection(t, box) {
    const lines = [];
    if (box.kind === "group" && box.rule) {
      lines.push(el("div", {}, maths(box.rule)), el("div", { class: "src" }, `composite ${box.title} (functional.py)`));
    } else if (t.rule.length) {
      for (const part of t.rule) lines.push(el("div", {}, maths(part)));
      lines.push(el("div", { class: "src" }, `the entry of ${t.op} in the derivative table (ops.py)`));
    } else if (!t.op) {
      const text = t.needs
        ? "a leaf: no local derivative; its gradient is the sum of what each use hands back"
        : "a leaf that needs no gradient";
      lines.push(el("div", { class: "src" }, text));
    } else {
      return null;
    }
    return el("section", { class: "rule" }, el("h3", {}, "local derivative"), ...lines);
  }

  function noteSections(t) {
    const out = [];
    for (const [name, meta] of Object.entries(D.checks)) {
      const note = t.checks ? t.checks[name] : null;
      if (!note) continue;
      const row = ([text, c], i) =>
        el("div", { class: i === 0 ? "formula" : "", style: `color:${c}` }, i ? text : maths(text));
      const status = note.status ? el("span", { class: "chip", style: `background:${note.fill}` }, note.status) : null;
      const box = el("div", { class: "note", style: `border-color:${note.fill || "#ced4da"}` }, ...note.rows.map(row));
      const after = reached(t, S.step) ? null : el("span", { class: "after" }, " (numbers after backward)");
      const head = el("h3", {}, meta.heading || name, after, status);
      out.push(el("section", { class: "check", "data-check": name }, head, box));
    }
    return out;
  }

  function facts(t, box) {
    const dl = el("dl");
    const add = (k, ...v) => dl.append(el("dt", {}, k), el("dd", {}, ...v));
    if (box.kind === "group") add("hides", `${box.members.length} ops`);
    if (t.op) {
      const links = t.parents.map((p, i) => [i ? ", " : "", link(p)]).flat();
      add("made by", `${t.op}(`, ...links, ")");
    } else {
      add("made by", "— (a leaf)");
    }
    add("shape", `${shapeText(t.shape)}  ${t.dtype}`);
    if (t.within.length) add("inside", t.within.map(([n, k]) => `${n} (call ${k})`).join(" / "));
    if (t.visit !== null) add("backward", `visits it at step ${t.visit} of ${N}`);
    else if (t.reach !== null) add("backward", `its gradient is complete at step ${t.reach} of ${N}`);
    return dl;
  }

  function link(place) {
    const t = D.tensors[place];
    const id = boxOf(place);
    if (id === null) return t.name || symbol(t.op) || "leaf";
    const a = el("span", { class: "link", title: "show this node" }, t.name || symbol(t.op) || "leaf");
    a.addEventListener("click", () => pin(id));
    return a;
  }

  function boxOf(place) {
    let found = null;
    for (const [id, box] of Object.entries(V.data.boxes)) {
      if (box.t === place && (found === null || box.kind !== "op")) found = id;
      else if (found === null && box.members.includes(place)) found = id;
    }
    return found;
  }

  function help() {
    const k = (text) => el("kbd", {}, text);
    return el(
      "div",
      { class: "help" },
      el("h2", {}, "Backward pass explorer"),
      el(
        "p",
        {},
        "Hover or click a node to see its value, its gradient, the local derivative backward applies, ",
        "and what the lecture's formula says of it.",
      ),
      el(
        "p",
        {},
        k("←"),
        " ",
        k("→"),
        " step, ",
        k("Home"),
        " ",
        k("End"),
        " jump, ",
        k("space"),
        " play / pause, ",
        k("Esc"),
        " unpin, ",
        k("+"),
        " ",
        k("−"),
        " ",
        k("0"),
        " zoom.",
      ),
      el("p", {}, `The backward pass visits ${N} ops, in the engine's order (the purple numbers on the ops).`),
    );
  }

  function showInfo() {
    const current = S.step > 0 ? V.data.current[S.step - 1] : [];
    const id = S.hover || S.pinned || current[current.length - 1] || null; // the value box of the op, if it has one
    const box = id ? V.data.boxes[id] : null;
    if (!box || box.t === null) {
      info.replaceChildren(help());
      info.dataset.node = "";
      return;
    }
    const t = D.tensors[box.t];
    const title = box.kind === "group" ? box.title : box.name || t.name || symbol(t.op) || box.title;
    const chip = el("span", { class: "chip" }, KIND[box.kind] || box.kind);
    const sub = [t.scope ? scopeText(t.scope) : "outside the steps", id === S.pinned ? " · pinned (Esc to unpin)" : ""];
    const parts = [el("h2", {}, title, chip), el("p", { class: "sub" }, ...sub), facts(t, box)];
    parts.push(arraySection("value", "value", t.value, t.shape), gradSection(t));
    const rule = ruleSection(t, box);
    if (rule) parts.push(rule);
    parts.push(...noteSections(t));
    info.replaceChildren(...parts);
    info.dataset.node = id;
  }

  function pin(id) {
    S.pinned = id;
    S.hover = null;
    paint();
    showInfo();
  }

  // ---- toggles and the legend -------------------------------------------------------------------------------------

  function legend() {
    const parts = [];
    if (S.heat) {
      const { lo, hi, colours } = D.heat;
      const swatches = colours.map((c) => el("span", { class: "swatch", style: `background:${c}` }));
      parts.push(el("span", { class: "scale" }, `heat-map ‖∂L/∂node‖: 1e${lo} `, ...swatches, ` 1e${hi} (log scale)`));
    }
    const meta = S.check ? D.checks[S.check] : null;
    if (meta) {
      parts.push(el("span", {}, `${meta.heading}:`));
      for (const [c, text] of meta.legend)
        parts.push(el("span", {}, el("span", { class: "swatch", style: `background:${c}` }), text));
    }
    $("legend").replaceChildren(...parts);
  }

  function setVariant(name) {
    const pinned = S.pinned ? V.data.boxes[S.pinned] : null;
    mount(name);
    S.variant = name;
    if (pinned && !V.data.boxes[S.pinned]) S.pinned = pinned.t === null ? null : boxOf(pinned.t);
    go(S.step);
  }

  function setUp() {
    $("step-slider").max = String(N);
    $("step-total").textContent = String(N);
    const toggles = [
      ["show-values", "values"],
      ["show-grads", "grads"],
      ["show-heat", "heat"],
    ];
    for (const [id, key] of toggles) {
      $(id).checked = Boolean(S[key]);
      $(id).addEventListener("change", (e) => {
        S[key] = e.target.checked;
        legend();
        paint();
      });
    }
    const check = $("show-check");
    for (const [name, meta] of Object.entries(D.checks)) {
      check.append(el("option", { value: name, title: meta.heading }, name));
    }
    check.value = S.check;
    $("check-label").hidden = Object.keys(D.checks).length === 0;
    check.addEventListener("change", (e) => {
      S.check = e.target.value;
      legend();
      paint();
    });
    const variant = $("show-variant");
    for (const [name, data] of Object.entries(D.variants))
      variant.append(el("option", { value: name }, data.label.replace("composites ", "")));
    variant.value = S.variant;
    $("variant-label").hidden = Object.keys(D.variants).length < 2;
    variant.addEventListener("change", (e) => setVariant(e.target.value));
    wire();
  }

  function wire() {
    $("step-first").addEventListener("click", () => go(0));
    $("step-prev").addEventListener("click", () => go(S.step - 1));
    $("step-next").addEventListener("click", () => go(S.step + 1));
    $("step-last").addEventListener("click", () => go(N));
    $("step-play").addEventListener("click", play);
    $("step-slider").addEventListener("input", (e) => go(e.target.value));
    $("step-slider").addEventListener("change", (e) => go(e.target.value));
    $("zoom-in").addEventListener("click", () => zoom(S.zoom * 1.25));
    $("zoom-out").addEventListener("click", () => zoom(S.zoom / 1.25));
    $("zoom-fit").addEventListener("click", fit);
    graph.addEventListener("mouseover", (e) => {
      const g = e.target.closest("g.node");
      if (g && g.dataset.node !== S.hover) {
        S.hover = g.dataset.node;
        showInfo();
      }
    });
    graph.addEventListener("mouseout", (e) => {
      const g = e.target.closest("g.node");
      if (g && !(e.relatedTarget && g.contains(e.relatedTarget))) {
        S.hover = null;
        showInfo();
      }
    });
    graph.addEventListener("click", (e) => {
      const g = e.target.closest("g.node");
      pin(g ? g.dataset.node : null);
    });
    document.addEventListener("keydown", keys);
  }

  function keys(e) {
    const tag = e.target.tagName;
    if (tag === "SELECT" || (tag === "INPUT" && e.target.type === "range" && e.key.startsWith("Arrow"))) return;
    if ((tag === "BUTTON" || tag === "INPUT") && (e.key === " " || e.key === "Enter")) return; // their own action
    const actions = {
      ArrowRight: () => go(S.step + 1),
      ArrowDown: () => go(S.step + 1),
      ArrowLeft: () => go(S.step - 1),
      ArrowUp: () => go(S.step - 1),
      Home: () => go(0),
      End: () => go(N),
      " ": play,
      Escape: () => pin(null),
      "+": () => zoom(S.zoom * 1.25),
      "=": () => zoom(S.zoom * 1.25),
      "-": () => zoom(S.zoom / 1.25),
      0: fit,
    };
    if (e.ctrlKey || e.metaKey || e.altKey || !actions[e.key]) return;
    e.preventDefault();
    actions[e.key]();
  }

  setUp();
  mount(S.variant);
  legend();
  go(0);
  window.explorer = { go, pin, state: S, data: D };
  performance.mark("explorer-ready");
  document.body.dataset.ready = "1";
  requestAnimationFrame(() => requestAnimationFrame(() => performance.mark("explorer-painted"))); // for the benchmark
})();
