/*
 * gtlabel crowd-html-elements: a local, dependency-free implementation of the Ground Truth worker
 * elements used by bounding-box templates: <crowd-form>, <crowd-bounding-box>, <crowd-button>,
 * <crowd-alert>, <crowd-instructions>. Plain JavaScript custom elements, no build step, nothing
 * fetched from outside. The answer shape is Ground Truth's:
 *   {"<name>": {"boundingBoxes": [{label, left, top, width, height}],
 *               "inputImageProperties": {width, height}, "initialValueModified"?: bool}}
 * in natural image pixels (integers, origin top-left).
 *
 * Page contract (docs/ARCHITECTURE.md, "Task page <-> crowd-html-elements.js"): the task page carries
 * <meta name="csrf-token">, <meta name="gtlabel-submit">, optional gtlabel-decline / gtlabel-return /
 * gtlabel-home metas. Without gtlabel-submit the form only previews the answer (crowd-submit event).
 */
(function () {
  'use strict';

  if (!window.customElements || window.customElements.get('crowd-bounding-box')) return;

  var SCRIPT_SRC = (document.currentScript && document.currentScript.src) || '';

  // ------------------------------------------------------------------ helpers

  function whenReady(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn, { once: true });
    else fn();
  }

  function injectCss() {
    if (document.querySelector('link[data-gtlabel-css]')) return;
    var href = '/static/crowd-html-elements.css';
    try { if (SCRIPT_SRC) href = new URL('crowd-html-elements.css', SCRIPT_SRC).href; } catch (e) { /* keep default */ }
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    link.setAttribute('data-gtlabel-css', '');
    (document.head || document.documentElement).appendChild(link);
  }
  injectCss();

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    var v = m && m.getAttribute('content');
    return v ? v : null;
  }

  /** h('div', {class: 'x', onclick: fn}, child, 'text') -> element. Text is always set as text. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k.slice(0, 2) === 'on' && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'text') el.textContent = v;
        else if (k === 'style') el.style.cssText = v;   // CSSOM: allowed under a CSP without 'unsafe-inline'
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function clamp(v, lo, hi) { return v < lo ? lo : v > hi ? hi : v; }

  function isTyping(t) {
    if (!t || !t.tagName) return false;
    var tag = t.tagName.toLowerCase();
    return tag === 'input' || tag === 'textarea' || tag === 'select' || t.isContentEditable;
  }

  /**
   * Parse JSON, or the relaxed object literal that Ground Truth's adjustment template produces:
   * [{ label: "car", left: 1, top: 2, width: 3, height: 4 }, ] (unquoted keys, trailing commas,
   * single quotes). No eval.
   */
  function parseRelaxed(text) {
    var s = String(text == null ? '' : text);
    try { return JSON.parse(s); } catch (e) { /* fall through to the relaxed parser */ }
    var i = 0;
    function fail(msg) { throw new SyntaxError(msg + ' at character ' + i + ' of ' + JSON.stringify(s.slice(0, 80))); }
    function ws() {
      for (;;) {
        var c = s.charAt(i);
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') i++;
        else if (s.substr(i, 2) === '//') { while (i < s.length && s.charAt(i) !== '\n') i++; }
        else break;
      }
    }
    function ident() {
      var m = /^[A-Za-z_$][\w$]*/.exec(s.slice(i));
      if (!m) return null;
      i += m[0].length;
      return m[0];
    }
    function str() {
      var q = s.charAt(i++), out = '';
      while (i < s.length) {
        var c = s.charAt(i++);
        if (c === q) return out;
        if (c === '\\') {
          var e = s.charAt(i++);
          if (e === 'n') out += '\n'; else if (e === 't') out += '\t'; else if (e === 'r') out += '\r';
          else if (e === 'b') out += '\b'; else if (e === 'f') out += '\f';
          else if (e === 'u') { out += String.fromCharCode(parseInt(s.substr(i, 4), 16)); i += 4; }
          else out += e;
        } else out += c;
      }
      fail('unterminated string');
    }
    function num() {
      var m = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(s.slice(i));
      if (!m) fail('bad number');
      i += m[0].length;
      return parseFloat(m[0]);
    }
    function value() {
      ws();
      if (i >= s.length) fail('unexpected end');
      var c = s.charAt(i);
      if (c === '{') return obj();
      if (c === '[') return arr();
      if (c === '"' || c === "'") return str();
      if (c === '-' || c === '+' || c === '.' || (c >= '0' && c <= '9')) return num();
      var id = ident();
      if (id === 'true') return true;
      if (id === 'false') return false;
      if (id === 'null') return null;
      return fail('unexpected ' + JSON.stringify(id || c));
    }
    function obj() {
      i++;
      var o = {};
      for (;;) {
        ws();
        if (i >= s.length) fail('unexpected end in object');
        if (s.charAt(i) === '}') { i++; return o; }
        if (s.charAt(i) === ',') { i++; continue; }
        var k = (s.charAt(i) === '"' || s.charAt(i) === "'") ? str() : ident();
        if (k === null) fail('expected a key');
        ws();
        if (s.charAt(i) !== ':') fail("expected ':'");
        i++;
        o[k] = value();
        ws();
        if (s.charAt(i) === ',') i++;
        else if (s.charAt(i) !== '}') fail("expected ',' or '}'");
      }
    }
    function arr() {
      i++;
      var a = [];
      for (;;) {
        ws();
        if (i >= s.length) fail('unexpected end in array');
        if (s.charAt(i) === ']') { i++; return a; }
        if (s.charAt(i) === ',') { i++; continue; }
        a.push(value());
        ws();
        if (s.charAt(i) === ',') i++;
        else if (s.charAt(i) !== ']') fail("expected ',' or ']'");
      }
    }
    var v = value();
    ws();
    if (i < s.length) fail('trailing characters');
    return v;
  }

  // Colours chosen to stay visible on aerial imagery (greens, greys, browns).
  var PALETTE = ['#ff2d95', '#00e5ff', '#ffd600', '#76ff03', '#ff6d00', '#d500f9', '#2979ff', '#ff1744', '#1de9b6', '#ffffff'];

  function textColorFor(hex) {
    var n = parseInt(hex.slice(1), 16);
    var r = (n >> 16) & 255, g = (n >> 8) & 255, b = n & 255;
    return (0.299 * r + 0.587 * g + 0.114 * b) > 150 ? '#0b0f14' : '#ffffff';
  }

  // ------------------------------------------------------------------ modal

  var openModals = 0;

  function Modal(title, body, extraClass) {
    var self = this;
    this.isOpen = false;
    this.closeBtn = h('button', { type: 'button', class: 'gtl-btn gtl-btn-ghost gtl-modal-close', 'aria-label': 'Close', text: 'Close (Esc)',
      onclick: function () { self.close(); } });
    this.dialog = h('div', { class: 'gtl-modal-dialog ' + (extraClass || ''), role: 'dialog', 'aria-modal': 'true', 'aria-label': title },
      h('div', { class: 'gtl-modal-head' }, h('h2', { class: 'gtl-modal-title', text: title }), this.closeBtn),
      h('div', { class: 'gtl-modal-body' }, body));
    this.root = h('div', { class: 'gtl-modal', hidden: true,
      onclick: function (e) { if (e.target === self.root) self.close(); } }, this.dialog);
    document.body.appendChild(this.root);
  }
  Modal.prototype.open = function () {
    if (this.isOpen) return;
    this.isOpen = true; openModals++;
    this.root.hidden = false;
    this.closeBtn.focus({ preventScroll: true });
  };
  Modal.prototype.close = function () {
    if (!this.isOpen) return;
    this.isOpen = false; openModals--;
    this.root.hidden = true;
  };
  Modal.prototype.toggle = function () { if (this.isOpen) this.close(); else this.open(); };

  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && openModals > 0) {
      var all = document.querySelectorAll('.gtl-modal:not([hidden])');
      var last = all[all.length - 1];
      if (last && last.__modal) { last.__modal.close(); e.preventDefault(); e.stopImmediatePropagation(); }
    }
  }, true);

  function makeModal(title, body, extraClass) {
    var m = new Modal(title, body, extraClass);
    m.root.__modal = m;
    return m;
  }

  // ------------------------------------------------------------------ crowd-button

  class CrowdButton extends HTMLElement {
    connectedCallback() {
      if (this._btn) return;
      var self = this;
      var label = this.textContent.trim() || (this.getAttribute('form-action') === 'submit' ? 'Submit' : 'Button');
      var variant = this.getAttribute('variant') || (this.getAttribute('form-action') === 'submit' ? 'primary' : 'normal');
      this.textContent = '';
      this._btn = h('button', { type: 'button', class: 'gtl-btn gtl-btn-' + variant, text: label });
      if (this.hasAttribute('disabled')) this._btn.disabled = true;
      this._btn.addEventListener('click', function () {
        if (self.getAttribute('form-action') === 'submit') {
          var form = self.closest('crowd-form');
          if (form && typeof form.submit === 'function') form.submit();
        }
      });
      this.appendChild(this._btn);
    }
    get disabled() { return this._btn ? this._btn.disabled : this.hasAttribute('disabled'); }
    set disabled(v) { if (this._btn) this._btn.disabled = !!v; if (v) this.setAttribute('disabled', ''); else this.removeAttribute('disabled'); }
  }

  // ------------------------------------------------------------------ crowd-alert

  class CrowdAlert extends HTMLElement {
    connectedCallback() {
      if (!this.hasAttribute('role')) this.setAttribute('role', 'alert');
      if (!this.hasAttribute('type')) this.setAttribute('type', 'info');
      if (this.hasAttribute('dismissible') && !this._x) {
        var self = this;
        this._x = h('button', { type: 'button', class: 'gtl-alert-x', 'aria-label': 'Dismiss', text: '\u00d7',
          onclick: function () { self.hidden = true; } });
        this.appendChild(this._x);
      }
    }
  }

  // ------------------------------------------------------------------ crowd-instructions

  class CrowdInstructions extends HTMLElement {
    connectedCallback() {
      var self = this;
      whenReady(function () { self._setup(); });
    }
    _setup() {
      if (this._ready) return;
      this._ready = true;
      var body = h('div', { class: 'gtl-instr-body' });
      var sections = [['short-summary', 'Summary'], ['detailed-instructions', 'Detailed instructions'],
        ['positive-example', 'Good example'], ['negative-example', 'Bad example']];
      var self = this;
      sections.forEach(function (pair) {
        self.querySelectorAll(pair[0]).forEach(function (node) {
          body.appendChild(h('section', { class: 'gtl-instr-section gtl-' + pair[0] }, h('h3', { text: pair[1] }), node));
        });
      });
      var modal = makeModal(this.getAttribute('link-text') || 'Instructions', body, 'gtl-modal-wide');
      var link = h('button', { type: 'button', class: 'gtl-btn gtl-btn-link',
        text: this.getAttribute('link-text') || 'View instructions', onclick: function () { modal.open(); } });
      this.appendChild(link);
      this._modal = modal;
    }
  }

  // ------------------------------------------------------------------ crowd-bounding-box

  var activeBox = null;
  var HANDLE = 6;      // handle half-size, screen px
  var MIN_DRAG = 3;    // below this many screen px a drag is a click

  var SHORTCUTS = [
    ['Drag on the image', 'Draw a box with the current label'],
    ['Shift + drag', 'Draw even when starting inside another box'],
    ['Click a box / Tab, Shift+Tab', 'Select a box / next, previous box'],
    ['Drag box or handles', 'Move or resize the selected box'],
    ['Arrow keys (Shift: 10 px)', 'Nudge the selected box (no selection: pan)'],
    ['1 \u2026 9, 0', 'Choose label 1\u202610; a clicked (selected) box takes the label too'],
    ['Delete / Backspace', 'Delete the selected box'],
    ['Esc', 'Cancel the drag or clear the selection'],
    ['Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y', 'Undo / redo'],
    ['Mouse wheel, + / \u2212', 'Zoom in / out at the cursor'],
    ['F', 'Fit the image to the window'],
    ['Space + drag, right or middle drag', 'Pan'],
    ['C', 'Crosshair guides on/off'],
    ['H', 'Hide / show boxes (to see the objects under them)'],
    ['I', 'Full instructions'],
    ['?', 'This help'],
    ['Ctrl+Enter', 'Submit']
  ];

  class CrowdBoundingBox extends HTMLElement {
    constructor() {
      super();
      this._ready = false;
      this._boxes = [];          // [{label, left, top, width, height}] ints, image pixels
      this._undo = [];
      this._redo = [];
      this._labels = [];
      this._current = 0;
      this._sel = -1;
      this._scale = 1;
      this._ox = 0;
      this._oy = 0;
      this._img = null;
      this._imgW = 0;
      this._imgH = 0;
      this._loaded = false;
      this._loadError = null;
      this._initial = null;      // normalized initial boxes, when initial-value was given
      this._drag = null;
      this._mouse = null;        // {x, y} stage px of the pointer, null when outside
      this._space = false;
      this._showCross = true;
      this._showBoxes = true;
      this._emptyConfirmed = false;
      this._dirtyFrame = 0;
      this._fitted = false;
    }

    connectedCallback() {
      var self = this;
      whenReady(function () { self._setup(); });
    }

    // ---------------------------------------------------------- public API (also the test hook)

    /** Ground Truth's answer object for this element. */
    get value() {
      var out = {
        boundingBoxes: this._boxes.map(function (b) {
          return { label: b.label, left: b.left, top: b.top, width: b.width, height: b.height };
        }),
        inputImageProperties: { width: this._imgW, height: this._imgH }
      };
      if (this._initial !== null) out.initialValueModified = this.initialValueModified;
      return out;
    }
    get name() { return this.getAttribute('name') || 'boundingBox'; }
    get boxes() { return this.value.boundingBoxes; }
    get labels() { return this._labels.slice(); }
    get currentLabel() { return this._labels[this._current]; }
    get selectedIndex() { return this._sel; }
    get zoom() { return this._scale; }
    get loaded() { return this._loaded; }
    get imageSize() { return { width: this._imgW, height: this._imgH }; }
    get initialValueModified() {
      if (this._initial === null) return false;
      var key = function (b) { return [b.label, b.left, b.top, b.width, b.height].join('|'); };
      var a = this._initial.map(key).sort(), c = this._boxes.map(key).sort();
      return a.join('\n') !== c.join('\n');
    }
    setZoom(scale, clientX, clientY) {
      var r = this._canvas.getBoundingClientRect();
      var cx = clientX === undefined ? r.width / 2 : clientX - r.left;
      var cy = clientY === undefined ? r.height / 2 : clientY - r.top;
      this._zoomAt(scale, cx, cy);
    }
    fit() { this._fit(); }
    /** Image pixel -> viewport (client) coordinates, e.g. for page.mouse in tests. */
    imageToClient(x, y) {
      var r = this._canvas.getBoundingClientRect();
      return { x: r.left + this._ox + x * this._scale, y: r.top + this._oy + y * this._scale };
    }
    clientToImage(x, y) {
      var r = this._canvas.getBoundingClientRect();
      return { x: (x - r.left - this._ox) / this._scale, y: (y - r.top - this._oy) / this._scale };
    }
    selectLabel(i) { this._setCurrent(i, true); }
    /** Returns null when the answer may be submitted, else a message for the worker. */
    validate() {
      if (this._loadError) return 'The image could not be loaded, so this task cannot be answered. Skip or return it.';
      if (!this._loaded) return 'The image is still loading.';
      if (this._boxes.length === 0 && !this._emptyConfirmed) {
        this._emptyConfirmed = true;
        return 'No boxes drawn. If the image really shows none of the labels, press Submit again.';
      }
      return null;
    }

    // ---------------------------------------------------------- setup

    _setup() {
      if (this._ready) return;
      this._ready = true;
      var self = this;

      try {
        var labels = parseRelaxed(this.getAttribute('labels') || '[]');
        if (!Array.isArray(labels)) throw new SyntaxError('labels must be a JSON array');
        this._labels = labels.map(function (l) { return String(l); });
      } catch (err) {
        this._labels = [];
        this._configError = 'The labels attribute is not a JSON array: ' + err.message;
      }

      if (this.hasAttribute('initial-value')) {
        try {
          var raw = parseRelaxed(this.getAttribute('initial-value') || '[]');
          if (!Array.isArray(raw)) throw new SyntaxError('initial-value must be an array');
          this._initialRaw = raw.filter(function (b) { return b && typeof b === 'object'; }).map(function (b) {
            var label = String(b.label === undefined || b.label === null ? '' : b.label);
            if (label && self._labels.indexOf(label) < 0) self._labels.push(label);
            return { label: label, left: Number(b.left) || 0, top: Number(b.top) || 0,
              width: Number(b.width) || 0, height: Number(b.height) || 0 };
          });
        } catch (err) {
          this._initialRaw = [];
          this._configError = 'The initial-value attribute could not be read: ' + err.message;
        }
        this._initial = [];
      }

      var full = this.querySelector('full-instructions');
      var short = this.querySelector('short-instructions');
      var fullTitle = (full && full.getAttribute('header')) || 'Instructions';

      // --- DOM
      this._title = h('h2', { class: 'gtl-bb-title', text: this.getAttribute('header') || 'Draw a box around each object' });
      var btnInstr = h('button', { type: 'button', class: 'gtl-btn gtl-btn-ghost', title: 'Full instructions (I)',
        onclick: function () { self._fullModal.open(); } }, h('span', { class: 'gtl-ico gtl-ico-book' }), 'Instructions');
      var btnHelp = h('button', { type: 'button', class: 'gtl-btn gtl-btn-ghost', title: 'Keyboard shortcuts (?)',
        onclick: function () { self._helpModal.open(); } }, h('span', { class: 'gtl-ico gtl-ico-kbd' }), 'Shortcuts');
      var head = h('div', { class: 'gtl-bb-head' }, this._title, h('div', { class: 'gtl-bb-head-actions' }, btnInstr, btnHelp));

      this._labelList = h('ol', { class: 'gtl-labels', role: 'listbox', 'aria-label': 'Labels' });
      this._boxList = h('ul', { class: 'gtl-boxlist' });
      this._boxTotal = h('span', { class: 'gtl-count-total', text: '0' });
      var shortBody = h('div', { class: 'gtl-short-body' });
      if (short) shortBody.appendChild(short);
      var side = h('aside', { class: 'gtl-bb-side' },
        h('section', { class: 'gtl-side-section' }, h('h3', { class: 'gtl-side-h', text: 'Labels' }), this._labelList),
        h('section', { class: 'gtl-side-section gtl-side-boxes' },
          h('h3', { class: 'gtl-side-h' }, 'Boxes ', this._boxTotal), this._boxList),
        h('section', { class: 'gtl-side-section gtl-side-short' },
          h('h3', { class: 'gtl-side-h', text: 'Instructions' }), shortBody,
          h('button', { type: 'button', class: 'gtl-btn gtl-btn-link', text: 'View full instructions',
            onclick: function () { self._fullModal.open(); } })));

      function tool(text, title, fn, cls) {
        // keep keyboard focus on the image, so Space pans instead of pressing the button again
        return h('button', { type: 'button', class: 'gtl-btn gtl-tool ' + (cls || ''), title: title, text: text,
          onmousedown: function (e) { e.preventDefault(); },
          onclick: function () { fn(); self._stage.focus({ preventScroll: true }); } });
      }
      this._zoomLabel = h('span', { class: 'gtl-zoom-label', title: 'Zoom (screen px per image px)', text: '100%' });
      this._btnUndo = tool('Undo', 'Undo (Ctrl+Z)', function () { self.undo(); });
      this._btnRedo = tool('Redo', 'Redo (Ctrl+Shift+Z)', function () { self.redo(); });
      this._btnDelete = tool('Delete box', 'Delete the selected box (Del)', function () { self._deleteSelected(); }, 'gtl-tool-danger');
      this._btnCross = tool('Crosshair', 'Crosshair guides (C)', function () { self._toggleCross(); }, 'gtl-toggle');
      this._btnHide = tool('Hide boxes', 'Hide boxes (H)', function () { self._toggleBoxes(); }, 'gtl-toggle');
      var toolbar = h('div', { class: 'gtl-toolbar', role: 'toolbar' },
        h('div', { class: 'gtl-tool-group' },
          tool('\u2212', 'Zoom out (\u2212)', function () { self._zoomStep(-1); }, 'gtl-tool-icon'),
          this._zoomLabel,
          tool('+', 'Zoom in (+)', function () { self._zoomStep(1); }, 'gtl-tool-icon'),
          tool('Fit', 'Fit to window (F)', function () { self._fit(); }),
          tool('1:1', 'Actual pixels', function () { self.setZoom(1); })),
        h('div', { class: 'gtl-tool-group' }, this._btnUndo, this._btnRedo, this._btnDelete),
        h('div', { class: 'gtl-tool-group' }, this._btnCross, this._btnHide));

      this._canvas = h('canvas', { class: 'gtl-canvas', 'aria-label': 'Image to annotate' });
      this._mini = h('canvas', { class: 'gtl-minimap', title: 'Overview: click to move there', hidden: true });
      this._overlay = h('div', { class: 'gtl-stage-msg', text: 'Loading image\u2026' });
      this._stage = h('div', { class: 'gtl-stage', tabindex: '0' }, this._canvas, this._mini, this._overlay);

      this._stSize = h('span', { class: 'gtl-st-size' });
      this._stPos = h('span', { class: 'gtl-st-pos' });
      this._stLabel = h('span', { class: 'gtl-st-label' });
      this._stMsg = h('span', { class: 'gtl-st-msg' });
      this._stInit = h('span', { class: 'gtl-st-init', hidden: true });
      var status = h('div', { class: 'gtl-status' }, this._stLabel, this._stSize, this._stPos, this._stMsg, this._stInit);

      var main = h('div', { class: 'gtl-bb-main' }, toolbar, this._stage, status);
      this._root = h('div', { class: 'gtl-bb' }, head, h('div', { class: 'gtl-bb-body' }, side, main));
      if (this._configError) {
        this._root.insertBefore(h('div', { class: 'gtl-banner gtl-banner-error', role: 'alert', text: this._configError }), this._root.firstChild.nextSibling);
      }

      // full instructions + shortcut help modals
      var fullBody = h('div', { class: 'gtl-full-body' });
      if (full) fullBody.appendChild(full);
      else fullBody.appendChild(h('p', { text: 'No full instructions were given for this task.' }));
      this._fullModal = makeModal(fullTitle, fullBody, 'gtl-modal-wide');
      var rows = h('tbody');
      SHORTCUTS.forEach(function (r) { rows.appendChild(h('tr', null, h('th', null, h('kbd', { text: r[0] })), h('td', { text: r[1] }))); });
      this._helpModal = makeModal('Keyboard and mouse', h('table', { class: 'gtl-keys' }, rows));

      // move every remaining child out of sight (template authors sometimes add stray text)
      while (this.firstChild) this.removeChild(this.firstChild);
      this.appendChild(this._root);
      this.setAttribute('data-gtlabel-ready', '');

      this._renderLabels();
      this._bindEvents();
      this._loadImage(this.getAttribute('src') || '');
      this._changed(false);
      this._fitHeight();
      activeBox = activeBox || this;
    }

    // ---------------------------------------------------------- image

    _loadImage(src) {
      var self = this;
      var img = new Image();
      img.decoding = 'async';
      img.onload = function () {
        self._img = img;
        self._imgW = img.naturalWidth;
        self._imgH = img.naturalHeight;
        self._loaded = true;
        self._overlay.hidden = true;
        if (self._initialRaw) {
          self._initial = self._initialRaw.map(function (b) { return self._normBox(b); }).filter(Boolean);
          self._boxes = self._initial.map(function (b) { return Object.assign({}, b); });
        }
        self._fit();
        self._changed(false);
        self.setAttribute('data-image-loaded', '');
        self.dispatchEvent(new CustomEvent('gtlabel-image-loaded', { bubbles: true, detail: self.imageSize }));
      };
      img.onerror = function () {
        self._loadError = 'The image could not be loaded.';
        self._overlay.textContent = 'The image could not be loaded. Skip or return this task.';
        self._overlay.classList.add('gtl-stage-error');
        self.setAttribute('data-image-error', '');
      };
      if (!src) { img.onerror(); return; }
      img.src = src;
    }

    /** Round and clip a box to the image; null when nothing is left. */
    _normBox(b) {
      var W = this._imgW, H = this._imgH;
      var l = clamp(Math.round(b.left), 0, W), t = clamp(Math.round(b.top), 0, H);
      var r = clamp(Math.round(b.left + b.width), 0, W), btm = clamp(Math.round(b.top + b.height), 0, H);
      if (r - l < 1 || btm - t < 1) return null;
      return { label: b.label, left: l, top: t, width: r - l, height: btm - t };
    }

    // ---------------------------------------------------------- layout + view

    _fitHeight() {
      var footer = document.querySelector('.gtl-footer');
      var reserve = (footer ? footer.offsetHeight : 0) + 44;
      var top = this._stage.getBoundingClientRect().top + window.scrollY;
      var hgt = Math.max(360, Math.floor(window.innerHeight - top - reserve));
      this._stage.style.height = hgt + 'px';
      this._resizeCanvas();
    }

    _resizeCanvas() {
      var r = this._stage.getBoundingClientRect();
      var dpr = window.devicePixelRatio || 1;
      var w = Math.max(1, Math.round(r.width)), hh = Math.max(1, Math.round(r.height));
      var oldW = this._cw || w, oldH = this._ch || hh;
      this._cw = w; this._ch = hh;
      this._canvas.width = Math.round(w * dpr);
      this._canvas.height = Math.round(hh * dpr);
      this._canvas.style.width = w + 'px';
      this._canvas.style.height = hh + 'px';
      if (this._loaded && this._fitted && this._scale <= this._fitScale() * 1.0001 && (oldW !== w || oldH !== hh)) this._fit();
      else { this._ox += (w - oldW) / 2; this._oy += (hh - oldH) / 2; this._draw(); }
    }

    _fitScale() {
      if (!this._imgW) return 1;
      return Math.min((this._cw - 16) / this._imgW, (this._ch - 16) / this._imgH);
    }

    _minScale() { return Math.min(this._fitScale() * 0.5, 1); }

    _fit() {
      if (!this._loaded) return;
      this._scale = this._fitScale();
      this._ox = (this._cw - this._imgW * this._scale) / 2;
      this._oy = (this._ch - this._imgH * this._scale) / 2;
      this._fitted = true;
      this._viewChanged();
    }

    _zoomAt(scale, cx, cy) {
      if (!this._loaded) return;
      var ns = clamp(scale, this._minScale(), 40);
      var ix = (cx - this._ox) / this._scale, iy = (cy - this._oy) / this._scale;
      this._ox = cx - ix * ns;
      this._oy = cy - iy * ns;
      this._scale = ns;
      this._viewChanged();
    }

    _zoomStep(dir) {
      var cx = this._mouse ? this._mouse.x : this._cw / 2, cy = this._mouse ? this._mouse.y : this._ch / 2;
      this._zoomAt(this._scale * (dir > 0 ? 1.25 : 0.8), cx, cy);
    }

    _pan(dx, dy) { this._ox += dx; this._oy += dy; this._viewChanged(); }

    _viewChanged() {
      this._zoomLabel.textContent = Math.round(this._scale * 100) + '%';
      this._draw();
    }

    // ---------------------------------------------------------- coordinates + hit tests

    _local(e) {
      var r = this._canvas.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top };
    }
    _toImage(p) { return { x: (p.x - this._ox) / this._scale, y: (p.y - this._oy) / this._scale }; }
    _toScreen(x, y) { return { x: this._ox + x * this._scale, y: this._oy + y * this._scale }; }

    _handles(b) {
      var s = this._scale, x0 = this._ox + b.left * s, y0 = this._oy + b.top * s;
      var x1 = x0 + b.width * s, y1 = y0 + b.height * s, xm = (x0 + x1) / 2, ym = (y0 + y1) / 2;
      return [['nw', x0, y0], ['n', xm, y0], ['ne', x1, y0], ['e', x1, ym], ['se', x1, y1], ['s', xm, y1], ['sw', x0, y1], ['w', x0, ym]];
    }

    _hitHandle(p) {
      if (this._sel < 0 || !this._showBoxes) return null;
      var b = this._boxes[this._sel];
      var sw = b.width * this._scale, sh = b.height * this._scale;
      if (Math.min(sw, sh) < 20) return null;  // tiny on screen: drag moves it; zoom in to resize
      var small = Math.min(sw, sh) < 40;
      var hs = this._handles(b);
      for (var i = 0; i < hs.length; i++) {
        if (small && hs[i][0].length === 1) continue;
        if (Math.abs(p.x - hs[i][1]) <= HANDLE + 1 && Math.abs(p.y - hs[i][2]) <= HANDLE + 1) return hs[i][0];
      }
      if (small) return null;
      // edges of the selected box
      var s = this._scale, x0 = this._ox + b.left * s, y0 = this._oy + b.top * s, x1 = x0 + b.width * s, y1 = y0 + b.height * s;
      var tol = 4;
      var inY = p.y > y0 - tol && p.y < y1 + tol, inX = p.x > x0 - tol && p.x < x1 + tol;
      if (inY && Math.abs(p.x - x0) <= tol) return 'w';
      if (inY && Math.abs(p.x - x1) <= tol) return 'e';
      if (inX && Math.abs(p.y - y0) <= tol) return 'n';
      if (inX && Math.abs(p.y - y1) <= tol) return 's';
      return null;
    }

    /** Index of the smallest box under screen point p (the selected box wins), or -1. */
    _hitBox(p) {
      if (!this._showBoxes) return -1;
      var q = this._toImage(p), tol = 3 / this._scale, best = -1, bestArea = Infinity;
      for (var i = 0; i < this._boxes.length; i++) {
        var b = this._boxes[i];
        if (q.x >= b.left - tol && q.x <= b.left + b.width + tol && q.y >= b.top - tol && q.y <= b.top + b.height + tol) {
          var area = b.width * b.height;
          if (i === this._sel) return i;
          if (area < bestArea) { best = i; bestArea = area; }
        }
      }
      return best;
    }

    // ---------------------------------------------------------- events

    _bindEvents() {
      var self = this, c = this._canvas;
      c.addEventListener('pointerdown', function (e) { self._onDown(e); });
      c.addEventListener('pointermove', function (e) { self._onMove(e); });
      c.addEventListener('pointerup', function (e) { self._onUp(e); });
      c.addEventListener('pointercancel', function (e) { self._cancelDrag(); });
      c.addEventListener('pointerleave', function () { if (!self._drag) { self._mouse = null; self._stPos.textContent = ''; self._draw(); } });
      c.addEventListener('contextmenu', function (e) { e.preventDefault(); });
      c.addEventListener('wheel', function (e) {
        e.preventDefault();
        var p = self._local(e);
        var unit = e.deltaMode === 1 ? 0.05 : e.deltaMode === 2 ? 1 : 0.0015;
        self._zoomAt(self._scale * Math.exp(-e.deltaY * unit), p.x, p.y);
      }, { passive: false });
      this._mini.addEventListener('pointerdown', function (e) {
        e.preventDefault(); e.stopPropagation();
        var r = self._mini.getBoundingClientRect(), k = self._miniScale || 1;
        var ix = (e.clientX - r.left) / k, iy = (e.clientY - r.top) / k;
        self._ox = self._cw / 2 - ix * self._scale;
        self._oy = self._ch / 2 - iy * self._scale;
        self._viewChanged();
      });
      this._stage.addEventListener('focus', function () { activeBox = self; });
      this.addEventListener('pointerenter', function () { activeBox = self; });
      if (window.ResizeObserver) new ResizeObserver(function () { self._resizeCanvas(); }).observe(this._stage);
      window.addEventListener('resize', function () { self._fitHeight(); });
    }

    _onDown(e) {
      activeBox = this;
      this._stage.focus({ preventScroll: true });
      var p = this._local(e);
      this._mouse = p;
      if (e.button === 1 || e.button === 2 || (e.button === 0 && this._space)) {
        e.preventDefault();
        this._drag = { kind: 'pan', x: e.clientX, y: e.clientY, ox: this._ox, oy: this._oy };
        this._canvas.setPointerCapture(e.pointerId);
        this._setCursor('grabbing');
        return;
      }
      if (e.button !== 0 || !this._loaded) return;
      e.preventDefault();
      var before = this._copyState();
      if (!e.shiftKey) {
        var hnd = this._hitHandle(p);
        if (hnd) {
          this._drag = { kind: 'resize', handle: hnd, start: p, orig: Object.assign({}, this._boxes[this._sel]), before: before };
          this._canvas.setPointerCapture(e.pointerId);
          return;
        }
        var hit = this._hitBox(p);
        if (hit >= 0) {
          this._select(hit);
          this._drag = { kind: 'move', start: p, orig: Object.assign({}, this._boxes[hit]), before: before };
          this._canvas.setPointerCapture(e.pointerId);
          return;
        }
      }
      var q = this._toImage(p);
      this._drag = { kind: 'draw', start: p, a: { x: clamp(q.x, 0, this._imgW), y: clamp(q.y, 0, this._imgH) }, b: null, before: before };
      this._canvas.setPointerCapture(e.pointerId);
    }

    _onMove(e) {
      var p = this._local(e);
      this._mouse = p;
      var d = this._drag;
      if (this._loaded) {
        var q = this._toImage(p);
        this._stPos.textContent = (q.x >= 0 && q.y >= 0 && q.x <= this._imgW && q.y <= this._imgH)
          ? 'x ' + Math.floor(q.x) + '  y ' + Math.floor(q.y) : '';
      }
      if (!d) {
        this._updateCursor(p);
        this._draw();
        return;
      }
      var s = this._scale;
      if (d.kind === 'pan') {
        this._ox = d.ox + (e.clientX - d.x);
        this._oy = d.oy + (e.clientY - d.y);
        this._viewChanged();
        return;
      }
      var dx = (p.x - d.start.x) / s, dy = (p.y - d.start.y) / s;
      var W = this._imgW, H = this._imgH, o = d.orig, b;
      if (d.kind === 'draw') {
        var qq = this._toImage(p);
        d.b = { x: clamp(qq.x, 0, W), y: clamp(qq.y, 0, H) };
      } else if (d.kind === 'move') {
        b = this._boxes[this._sel];
        b.left = clamp(Math.round(o.left + dx), 0, W - o.width);
        b.top = clamp(Math.round(o.top + dy), 0, H - o.height);
        d.changed = d.changed || b.left !== o.left || b.top !== o.top;
      } else if (d.kind === 'resize') {
        b = this._boxes[this._sel];
        var l = o.left, t = o.top, r = o.left + o.width, bt = o.top + o.height, hn = d.handle;
        if (hn.indexOf('w') >= 0) l = clamp(Math.round(o.left + dx), 0, W);
        if (hn.indexOf('e') >= 0) r = clamp(Math.round(o.left + o.width + dx), 0, W);
        if (hn.indexOf('n') >= 0) t = clamp(Math.round(o.top + dy), 0, H);
        if (hn.indexOf('s') >= 0) bt = clamp(Math.round(o.top + o.height + dy), 0, H);
        var L = Math.min(l, r), R = Math.max(l, r), T = Math.min(t, bt), B = Math.max(t, bt);
        if (R - L < 1) R = Math.min(W, L + 1), L = R - 1;
        if (B - T < 1) B = Math.min(H, T + 1), T = B - 1;
        b.left = L; b.top = T; b.width = R - L; b.height = B - T;
        d.changed = d.changed || L !== o.left || T !== o.top || R - L !== o.width || B - T !== o.height;
      }
      this._changed(false);
    }

    _onUp(e) {
      var d = this._drag;
      if (!d) return;
      this._drag = null;
      try { this._canvas.releasePointerCapture(e.pointerId); } catch (err) { /* already released */ }
      if (d.kind === 'pan') { this._updateCursor(this._local(e)); return; }
      if (d.kind === 'draw') {
        var p = this._local(e);
        var moved = Math.max(Math.abs(p.x - d.start.x), Math.abs(p.y - d.start.y));
        if (moved < MIN_DRAG || !d.b) {        // a click on empty image: clear the selection
          this._select(-1);
          return;
        }
        if (!this._labels.length) { this._flash('This task has no labels to draw.'); this._draw(); return; }
        var W = this._imgW, H = this._imgH;
        var l = Math.round(Math.min(d.a.x, d.b.x)), r = Math.round(Math.max(d.a.x, d.b.x));
        var t = Math.round(Math.min(d.a.y, d.b.y)), bt = Math.round(Math.max(d.a.y, d.b.y));
        if (r - l < 1) { r = Math.min(W, l + 1); l = r - 1; }
        if (bt - t < 1) { bt = Math.min(H, t + 1); t = bt - 1; }
        this._pushUndo(d.before);
        this._boxes.push({ label: this._labels[this._current], left: l, top: t, width: r - l, height: bt - t });
        this._sel = this._boxes.length - 1;
        this._selFresh = true;     // just drawn: a number key picks the next label, it does not relabel this box
        this._changed(true);
        return;
      }
      if (d.changed) { this._pushUndo(d.before); this._changed(true); }
      this._updateCursor(this._local(e));
    }

    _cancelDrag() {
      var d = this._drag;
      if (!d) return false;
      this._drag = null;
      if (d.kind === 'move' || d.kind === 'resize') { this._restore(d.before); }
      this._changed(false);
      return true;
    }

    _updateCursor(p) {
      if (this._space) return this._setCursor('grab');
      var hnd = this._hitHandle(p);
      if (hnd) {
        var map = { nw: 'nwse-resize', se: 'nwse-resize', ne: 'nesw-resize', sw: 'nesw-resize', n: 'ns-resize', s: 'ns-resize', e: 'ew-resize', w: 'ew-resize' };
        return this._setCursor(map[hnd]);
      }
      this._setCursor(this._hitBox(p) >= 0 ? 'move' : (this._showCross ? 'none' : 'crosshair'));
    }

    _setCursor(c) { if (this._canvas.style.cursor !== c) this._canvas.style.cursor = c; }

    /** Keyboard, dispatched by the document-level handler to the active element. */
    _onKey(e) {
      var k = e.key, mod = e.ctrlKey || e.metaKey;
      if (mod && (k === 'z' || k === 'Z')) { if (e.shiftKey) this.redo(); else this.undo(); e.preventDefault(); return; }
      if (mod && (k === 'y' || k === 'Y')) { this.redo(); e.preventDefault(); return; }
      if (mod || e.altKey) return;
      if (k === ' ') {
        if (!this._space) { this._space = true; this._setCursor('grab'); }
        e.preventDefault();
        return;
      }
      if (/^[0-9]$/.test(k)) {
        var idx = k === '0' ? 9 : Number(k) - 1;
        if (idx < this._labels.length) { this._setCurrent(idx, true); e.preventDefault(); }
        return;
      }
      switch (k) {
        case 'Delete': case 'Backspace': this._deleteSelected(); e.preventDefault(); return;
        case 'Escape': if (!this._cancelDrag()) this._select(-1); e.preventDefault(); return;
        case 'Tab':
          if (this._boxes.length) {
            var n = this._boxes.length;
            this._select(this._sel < 0 ? (e.shiftKey ? n - 1 : 0) : (this._sel + (e.shiftKey ? n - 1 : 1)) % n);
            e.preventDefault();
          }
          return;
        case '+': case '=': this._zoomStep(1); e.preventDefault(); return;
        case '-': case '_': this._zoomStep(-1); e.preventDefault(); return;
        case 'f': case 'F': this._fit(); e.preventDefault(); return;
        case 'c': case 'C': this._toggleCross(); e.preventDefault(); return;
        case 'h': case 'H': this._toggleBoxes(); e.preventDefault(); return;
        case 'i': case 'I': this._fullModal.toggle(); e.preventDefault(); return;
        case '?': this._helpModal.toggle(); e.preventDefault(); return;
        case 'ArrowLeft': case 'ArrowRight': case 'ArrowUp': case 'ArrowDown': {
          var step = e.shiftKey ? 10 : 1;
          var dx = k === 'ArrowLeft' ? -1 : k === 'ArrowRight' ? 1 : 0, dy = k === 'ArrowUp' ? -1 : k === 'ArrowDown' ? 1 : 0;
          if (this._sel >= 0) {
            var b = this._boxes[this._sel];
            var nl = clamp(b.left + dx * step, 0, this._imgW - b.width), nt = clamp(b.top + dy * step, 0, this._imgH - b.height);
            if (nl !== b.left || nt !== b.top) {
              this._pushUndo(this._copyState());
              b.left = nl; b.top = nt;
              this._changed(true);
            }
          } else {
            this._pan(-dx * 60 * (e.shiftKey ? 4 : 1), -dy * 60 * (e.shiftKey ? 4 : 1));
          }
          e.preventDefault();
          return;
        }
        default:
      }
    }

    _onKeyUp(e) {
      if (e.key === ' ') { this._space = false; if (this._mouse) this._updateCursor(this._mouse); }
    }

    // ---------------------------------------------------------- edits

    _copyState() { return { boxes: this._boxes.map(function (b) { return Object.assign({}, b); }), sel: this._sel }; }
    _restore(st) { this._boxes = st.boxes.map(function (b) { return Object.assign({}, b); }); this._sel = st.sel < this._boxes.length ? st.sel : -1; }
    _pushUndo(st) { this._undo.push(st); if (this._undo.length > 300) this._undo.shift(); this._redo = []; }

    undo() {
      if (this._drag) this._cancelDrag();
      if (!this._undo.length) return;
      this._redo.push(this._copyState());
      this._restore(this._undo.pop());
      this._changed(true);
    }
    redo() {
      if (!this._redo.length) return;
      this._undo.push(this._copyState());
      this._restore(this._redo.pop());
      this._changed(true);
    }

    _deleteSelected() {
      if (this._sel < 0) return;
      this._pushUndo(this._copyState());
      this._boxes.splice(this._sel, 1);
      this._sel = -1;
      this._changed(true);
    }

    _select(i) {
      this._sel = i;
      this._selFresh = false;
      if (i >= 0) {
        var li = this._labels.indexOf(this._boxes[i].label);
        if (li >= 0) this._current = li;
      }
      this._changed(false);
    }

    _setCurrent(i, applyToSelection) {
      if (i < 0 || i >= this._labels.length) return;
      this._current = i;
      if (applyToSelection && this._sel >= 0 && !this._selFresh && this._boxes[this._sel].label !== this._labels[i]) {
        this._pushUndo(this._copyState());
        this._boxes[this._sel].label = this._labels[i];
        this._changed(true);
        return;
      }
      this._changed(false);
    }

    _toggleCross() { this._showCross = !this._showCross; this._btnCross.setAttribute('aria-pressed', String(this._showCross)); if (this._mouse) this._updateCursor(this._mouse); this._draw(); }
    _toggleBoxes() { this._showBoxes = !this._showBoxes; this._btnHide.setAttribute('aria-pressed', String(!this._showBoxes)); this._btnHide.textContent = this._showBoxes ? 'Hide boxes' : 'Show boxes'; this._draw(); }

    _flash(msg) {
      var self = this;
      this._stMsg.textContent = msg;
      clearTimeout(this._flashT);
      this._flashT = setTimeout(function () { self._stMsg.textContent = ''; }, 4000);
    }

    /** Something changed: refresh side panel, counters, status; edited=true for answer edits. */
    _changed(edited) {
      if (edited) {
        this._emptyConfirmed = false;
        this.dispatchEvent(new CustomEvent('change', { bubbles: true }));
      }
      this._renderCounts();
      this._renderBoxList();
      this._btnUndo.disabled = !this._undo.length;
      this._btnRedo.disabled = !this._redo.length;
      this._btnDelete.disabled = this._sel < 0;
      this._btnCross.setAttribute('aria-pressed', String(this._showCross));
      var lab = this._labels[this._current];
      this._stLabel.textContent = '';
      if (lab !== undefined) {
        this._stLabel.appendChild(h('span', { class: 'gtl-swatch', style: 'background:' + PALETTE[this._current % PALETTE.length] }));
        this._stLabel.appendChild(document.createTextNode(' ' + lab));
      }
      this._stSize.textContent = this._loaded ? this._imgW + ' \u00d7 ' + this._imgH + ' px' : '';
      if (this._initial !== null && this._loaded) {
        var mod = this.initialValueModified;
        this._stInit.hidden = false;
        this._stInit.textContent = this._initial.length + ' pre-drawn box' + (this._initial.length === 1 ? '' : 'es') + ' \u00b7 ' + (mod ? 'adjusted' : 'unchanged');
        this._stInit.classList.toggle('gtl-st-init-mod', mod);
      }
      this._draw();
    }

    _colorOf(label) {
      var i = this._labels.indexOf(label);
      return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
    }

    _renderLabels() {
      var self = this;
      this._labelItems = this._labels.map(function (l, i) {
        var count = h('span', { class: 'gtl-label-count', text: '0' });
        var btn = h('button', { type: 'button', class: 'gtl-label', role: 'option', title: 'Label ' + (i < 10 ? '(key ' + ((i + 1) % 10) + ')' : ''),
          onclick: function () { self._setCurrent(i, true); self._stage.focus({ preventScroll: true }); } },
          h('kbd', { class: 'gtl-label-key', text: i < 10 ? String((i + 1) % 10) : '' }),
          h('span', { class: 'gtl-swatch', style: 'background:' + PALETTE[i % PALETTE.length] }),
          h('span', { class: 'gtl-label-name', text: l }),
          count);
        self._labelList.appendChild(h('li', null, btn));
        return { btn: btn, count: count };
      });
      if (!this._labels.length) this._labelList.appendChild(h('li', { class: 'gtl-empty', text: 'No labels given' }));
    }

    _renderCounts() {
      var counts = {};
      this._boxes.forEach(function (b) { counts[b.label] = (counts[b.label] || 0) + 1; });
      var self = this;
      (this._labelItems || []).forEach(function (it, i) {
        var n = counts[self._labels[i]] || 0;
        it.count.textContent = String(n);
        it.count.classList.toggle('gtl-zero', n === 0);
        it.btn.classList.toggle('gtl-current', i === self._current);
        it.btn.setAttribute('aria-selected', String(i === self._current));
      });
      this._boxTotal.textContent = String(this._boxes.length);
    }

    _renderBoxList() {
      var self = this, list = this._boxList;
      var sig = this._boxes.map(function (b) { return [b.label, b.left, b.top, b.width, b.height].join(','); }).join(';') + '#' + this._sel;
      if (sig === this._boxSig) return;
      this._boxSig = sig;
      list.textContent = '';
      if (!this._boxes.length) {
        list.appendChild(h('li', { class: 'gtl-empty', text: 'Drag on the image to draw a box.' }));
        return;
      }
      this._boxes.forEach(function (b, i) {
        var li = h('li', { class: 'gtl-boxitem' + (i === self._sel ? ' gtl-selected' : ''),
          onclick: function () { self._select(i); self._reveal(i); self._stage.focus({ preventScroll: true }); } },
          h('span', { class: 'gtl-swatch', style: 'background:' + self._colorOf(b.label) }),
          h('span', { class: 'gtl-boxitem-label', text: (i + 1) + '. ' + b.label }),
          h('span', { class: 'gtl-boxitem-size', text: b.width + '\u00d7' + b.height }));
        list.appendChild(li);
      });
      var sel = list.querySelector('.gtl-selected');
      if (sel && sel.scrollIntoView) sel.scrollIntoView({ block: 'nearest' });
    }

    /** Pan so box i is visible (zooming in if it is tiny on screen). */
    _reveal(i) {
      var b = this._boxes[i];
      if (!b) return;
      var s = this._scale;
      if (Math.max(b.width, b.height) * s < 24) s = Math.min(40, 48 / Math.max(b.width, b.height, 1));
      var sx = this._ox + b.left * s, sy = this._oy + b.top * s;
      if (s !== this._scale || sx < 0 || sy < 0 || sx + b.width * s > this._cw || sy + b.height * s > this._ch) {
        this._scale = s;
        this._ox = this._cw / 2 - (b.left + b.width / 2) * s;
        this._oy = this._ch / 2 - (b.top + b.height / 2) * s;
        this._viewChanged();
      }
    }

    // ---------------------------------------------------------- drawing

    _draw() {
      if (this._dirtyFrame) return;
      var self = this;
      this._dirtyFrame = requestAnimationFrame(function () { self._dirtyFrame = 0; self._paint(); });
    }

    _paint() {
      var c = this._canvas, ctx = c.getContext('2d');
      var dpr = window.devicePixelRatio || 1, s = this._scale, self = this;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = '#0d1117';
      ctx.fillRect(0, 0, this._cw, this._ch);
      if (!this._loaded) return;
      ctx.imageSmoothingEnabled = s < 3;
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(this._img, this._ox, this._oy, this._imgW * s, this._imgH * s);
      ctx.strokeStyle = 'rgba(255,255,255,0.18)';
      ctx.lineWidth = 1;
      ctx.strokeRect(Math.round(this._ox) - 0.5, Math.round(this._oy) - 0.5, Math.round(this._imgW * s) + 1, Math.round(this._imgH * s) + 1);

      if (this._showBoxes) {
        this._boxes.forEach(function (b, i) { if (i !== self._sel) self._paintBox(ctx, b, false); });
        if (this._sel >= 0 && this._boxes[this._sel]) this._paintBox(ctx, this._boxes[this._sel], true);
      }
      var d = this._drag;
      if (d && d.kind === 'draw' && d.b) {
        var col = PALETTE[this._current % PALETTE.length];
        var a = this._toScreen(Math.min(d.a.x, d.b.x), Math.min(d.a.y, d.b.y));
        var z = this._toScreen(Math.max(d.a.x, d.b.x), Math.max(d.a.y, d.b.y));
        ctx.fillStyle = col + '22';
        ctx.fillRect(a.x, a.y, z.x - a.x, z.y - a.y);
        ctx.setLineDash([6, 4]);
        ctx.lineWidth = 2;
        ctx.strokeStyle = col;
        ctx.strokeRect(a.x, a.y, z.x - a.x, z.y - a.y);
        ctx.setLineDash([]);
        var wImg = Math.round(Math.abs(d.b.x - d.a.x)), hImg = Math.round(Math.abs(d.b.y - d.a.y));
        this._tag(ctx, wImg + ' \u00d7 ' + hImg, z.x + 6, z.y + 6, 'rgba(13,17,23,0.85)', '#e6edf3');
      }
      if (this._showCross && this._mouse && (!d || d.kind === 'draw') && !this._space) this._paintCross(ctx);
      this._paintMini();
    }

    _paintBox(ctx, b, selected) {
      var s = this._scale, col = this._colorOf(b.label);
      var x = Math.round(this._ox + b.left * s) + 0.5, y = Math.round(this._oy + b.top * s) + 0.5;
      var w = Math.max(1, Math.round(b.width * s)), hh = Math.max(1, Math.round(b.height * s));
      ctx.fillStyle = col + (selected ? '33' : '1a');
      ctx.fillRect(x, y, w, hh);
      ctx.lineWidth = 3;
      ctx.strokeStyle = 'rgba(0,0,0,0.55)';
      ctx.strokeRect(x, y, w, hh);
      ctx.lineWidth = selected ? 2 : 1.5;
      ctx.strokeStyle = col;
      ctx.strokeRect(x, y, w, hh);
      if (selected || w >= 28) {
        this._tag(ctx, b.label, x - 0.5, y - 18 < 0 ? y + 1 : y - 18, col, textColorFor(col));
      }
      if (selected) {
        ctx.setLineDash([4, 3]);
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 1;
        ctx.strokeRect(x - 3, y - 3, w + 6, hh + 6);
        ctx.setLineDash([]);
        var small = Math.min(w, hh) < 40;       // small on screen: corners only, so the object stays visible
        if (Math.min(w, hh) < 20) return;
        this._handles(b).forEach(function (hd) {
          if (small && hd[0].length === 1) return;
          ctx.fillStyle = '#ffffff';
          ctx.fillRect(Math.round(hd[1]) - HANDLE / 2 - 0.5, Math.round(hd[2]) - HANDLE / 2 - 0.5, HANDLE + 1, HANDLE + 1);
          ctx.strokeStyle = col;
          ctx.lineWidth = 1.5;
          ctx.strokeRect(Math.round(hd[1]) - HANDLE / 2 - 0.5, Math.round(hd[2]) - HANDLE / 2 - 0.5, HANDLE + 1, HANDLE + 1);
        });
      }
    }

    _tag(ctx, text, x, y, bg, fg) {
      ctx.font = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
      var w = Math.ceil(ctx.measureText(text).width) + 10;
      ctx.fillStyle = bg;
      ctx.fillRect(x, y, w, 17);
      ctx.fillStyle = fg;
      ctx.textBaseline = 'middle';
      ctx.fillText(text, x + 5, y + 9);
    }

    _paintCross(ctx) {
      var m = this._mouse, s = this._scale;
      var x0 = Math.max(0, this._ox), x1 = Math.min(this._cw, this._ox + this._imgW * s);
      var y0 = Math.max(0, this._oy), y1 = Math.min(this._ch, this._oy + this._imgH * s);
      if (m.x < x0 || m.x > x1 || m.y < y0 || m.y > y1) { this._setCursorIfNone('crosshair'); return; }
      var col = PALETTE[this._current % PALETTE.length];
      var x = Math.round(m.x) + 0.5, y = Math.round(m.y) + 0.5;
      ctx.lineWidth = 1;
      ctx.strokeStyle = 'rgba(0,0,0,0.6)';
      ctx.setLineDash([]);
      ctx.beginPath(); ctx.moveTo(x0, y + 1); ctx.lineTo(x1, y + 1); ctx.moveTo(x + 1, y0); ctx.lineTo(x + 1, y1); ctx.stroke();
      ctx.strokeStyle = col;
      ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.moveTo(x, y0); ctx.lineTo(x, y1); ctx.stroke();
    }

    _setCursorIfNone(c) { if (this._canvas.style.cursor === 'none') this._setCursor(c); }

    _paintMini() {
      var m = this._mini, s = this._scale;
      var show = this._loaded && s > this._fitScale() * 1.05;
      m.hidden = !show;
      if (!show) return;
      var maxW = 180, maxH = 135, k = Math.min(maxW / this._imgW, maxH / this._imgH);
      var w = Math.round(this._imgW * k), hh = Math.round(this._imgH * k);
      var dpr = window.devicePixelRatio || 1;
      if (m.width !== Math.round(w * dpr)) { m.width = Math.round(w * dpr); m.style.width = w + 'px'; }
      if (m.height !== Math.round(hh * dpr)) { m.height = Math.round(hh * dpr); m.style.height = hh + 'px'; }
      this._miniScale = k;
      var ctx = m.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this._img, 0, 0, w, hh);
      var self = this;
      this._boxes.forEach(function (b) {
        ctx.fillStyle = self._colorOf(b.label);
        ctx.fillRect(b.left * k, b.top * k, Math.max(1.5, b.width * k), Math.max(1.5, b.height * k));
      });
      var vx = -this._ox / s * k, vy = -this._oy / s * k, vw = this._cw / s * k, vh = this._ch / s * k;
      ctx.fillStyle = 'rgba(0,0,0,0.35)';
      ctx.fillRect(0, 0, w, hh);
      ctx.drawImage(this._img, clamp(-this._ox / s, 0, this._imgW), clamp(-this._oy / s, 0, this._imgH),
        Math.max(1, Math.min(this._imgW, this._cw / s)), Math.max(1, Math.min(this._imgH, this._ch / s)),
        clamp(vx, 0, w), clamp(vy, 0, hh), Math.max(1, Math.min(w, vw)), Math.max(1, Math.min(hh, vh)));
      ctx.strokeStyle = '#ffd600';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(vx, vy, vw, vh);
    }
  }

  // document-level keys go to the active bounding-box element
  document.addEventListener('keydown', function (e) {
    if (openModals > 0 || isTyping(e.target)) return;
    var el = activeBox || document.querySelector('crowd-bounding-box');
    if (el && el._ready) el._onKey(e);
  });
  document.addEventListener('keyup', function (e) {
    var el = activeBox || document.querySelector('crowd-bounding-box');
    if (el && el._ready) el._onKeyUp(e);
  });

  // ------------------------------------------------------------------ crowd-form

  class CrowdForm extends HTMLElement {
    connectedCallback() {
      var self = this;
      whenReady(function () { self._setup(); });
    }

    _setup() {
      if (this._ready) return;
      this._ready = true;
      var self = this;
      document.body.classList.add('gtl-has-crowd-form');
      this._banner = h('div', { class: 'gtl-banner', role: 'status', 'aria-live': 'polite', hidden: true });
      this.insertBefore(this._banner, this.firstChild);

      var submit = this.querySelector('crowd-button[form-action="submit"]');
      var actions = h('div', { class: 'gtl-footer-actions' });
      this._info = h('div', { class: 'gtl-footer-info' });
      var declineUrl = meta('gtlabel-decline'), returnUrl = meta('gtlabel-return');
      if (declineUrl) {
        this._decline = h('button', { type: 'button', class: 'gtl-btn gtl-btn-normal', title: 'Decline: you cannot or will not label this image',
          text: 'Skip task', onclick: function () { self._post(declineUrl, {}, 'Skipping\u2026'); } });
        actions.appendChild(this._decline);
      }
      if (returnUrl) {
        this._return = h('button', { type: 'button', class: 'gtl-btn gtl-btn-normal', title: 'Give this task back so someone else can do it',
          text: 'Return task', onclick: function () { self._post(returnUrl, {}, 'Returning\u2026'); } });
        actions.appendChild(this._return);
      }
      if (!submit) {
        submit = document.createElement('crowd-button');
        submit.setAttribute('form-action', 'submit');
        submit.setAttribute('variant', 'primary');
        submit.textContent = 'Submit';
        actions.appendChild(submit);
      } else if (!submit.closest('.gtl-footer')) {
        // leave an author-placed submit button where it is
      }
      this._submitBtn = submit;
      var home = meta('gtlabel-home');
      var footer = h('div', { class: 'gtl-footer' },
        home ? h('a', { class: 'gtl-btn gtl-btn-link', href: home, text: '\u2190 My jobs' }) : null,
        this._info, actions);
      this.appendChild(footer);
      this._footer = footer;
      this._info.appendChild(h('span', { class: 'gtl-footer-hint' }, 'Press ', h('kbd', { text: '?' }), ' for shortcuts \u00b7 ', h('kbd', { text: 'Ctrl+Enter' }), ' submits'));

      this.addEventListener('keydown', function () { /* keeps focus semantics simple */ });
      document.addEventListener('keydown', function (e) {
        if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && openModals === 0) { e.preventDefault(); self.submit(); }
      });
      // recompute the canvas height now that the footer exists
      this.querySelectorAll('crowd-bounding-box').forEach(function (el) { if (el._ready) el._fitHeight(); });
    }

    /** The answer: {name: value} for every named crowd element and native input inside the form. */
    answer() {
      var out = {};
      var nodes = this.querySelectorAll('[name]');
      for (var i = 0; i < nodes.length; i++) {
        var el = nodes[i], name = el.getAttribute('name'), tag = el.tagName.toLowerCase();
        if (!name || el.closest('.gtl-footer')) continue;
        if (tag === 'input') {
          var type = (el.getAttribute('type') || 'text').toLowerCase();
          if (type === 'checkbox') out[name] = el.checked;
          else if (type === 'radio') { if (el.checked) out[name] = el.value; }
          else if (type !== 'submit' && type !== 'button') out[name] = el.value;
        } else if (tag === 'select' || tag === 'textarea') {
          out[name] = el.value;
        } else if (tag.indexOf('crowd-') === 0 && 'value' in el) {
          out[name] = el.value;
        }
      }
      return out;
    }

    _busy(on, text) {
      this._busyNow = on;
      [this._submitBtn, this._decline, this._return].forEach(function (b) { if (b) b.disabled = on; });
      if (on) this._show(text, 'info');
    }

    _show(msg, kind, detail) {
      this._banner.textContent = '';
      this._banner.className = 'gtl-banner gtl-banner-' + (kind || 'info');
      this._banner.appendChild(h('span', { class: 'gtl-banner-text', text: msg }));
      if (detail) this._banner.appendChild(h('pre', { class: 'gtl-banner-detail', text: detail }));
      var self = this;
      this._banner.appendChild(h('button', { type: 'button', class: 'gtl-alert-x', 'aria-label': 'Dismiss', text: '\u00d7',
        onclick: function () { self._banner.hidden = true; } }));
      this._banner.hidden = false;
      this.setAttribute('data-status', kind || 'info');
    }

    /** Validate, collect and send the answer (or preview it when the page has no submit URL). */
    submit() {
      if (this._busyNow) return Promise.resolve();
      var ev = new Event('submit', { cancelable: true });
      if (!this.dispatchEvent(ev)) return Promise.resolve();
      var els = this.querySelectorAll('[name]');
      for (var i = 0; i < els.length; i++) {
        if (typeof els[i].validate === 'function') {
          var problem = els[i].validate();
          if (problem) { this._show(problem, 'warning'); return Promise.resolve(); }
        }
      }
      var answer = this.answer();
      var url = meta('gtlabel-submit');
      if (!url) {
        window.gtlabelLastAnswer = answer;
        this.dispatchEvent(new CustomEvent('crowd-submit', { bubbles: true, detail: answer }));
        this._show('Preview only: this page has no submit address, so the answer was not sent.', 'success', JSON.stringify(answer, null, 2));
        return Promise.resolve();
      }
      return this._post(url, answer, 'Submitting\u2026');
    }

    _post(url, body, text) {
      var self = this;
      var headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
      var token = meta('csrf-token');
      if (token) headers['X-CSRF-Token'] = token;
      this._busy(true, text);
      return fetch(url, { method: 'POST', headers: headers, body: JSON.stringify(body), credentials: 'same-origin' })
        .then(function (r) {
          var ct = r.headers.get('content-type') || '';
          var parsed = ct.indexOf('json') >= 0 ? r.json().catch(function () { return null; }) : Promise.resolve(null);
          return parsed.then(function (data) { return { r: r, data: data }; });
        })
        .then(function (res) {
          var r = res.r, data = res.data;
          if (!r.ok) {
            var msg = (data && (data.error || data.message)) || (r.status + ' ' + r.statusText);
            var hint = r.status === 401 ? ' You are logged out: log in again in another tab, then press Submit again.'
              : r.status === 403 ? ' Your session may have expired: reload the page or log in again.'
              : r.status === 409 ? ' This task is no longer assigned to you.' : '';
            self._busy(false);
            self._show('The server refused this: ' + msg + '.' + hint, 'error');
            self.setAttribute('data-status', 'error');
            return;
          }
          self._show('Saved. Loading the next task\u2026', 'success');
          self.setAttribute('data-status', 'submitted');
          var next = (data && data.next) || (r.redirected ? r.url : null) || meta('gtlabel-home') || '/';
          // the portal claims a task on POST only: "/jobs/<job>/next" is posted (with the CSRF header) and its
          // {"next": "/tasks/<id>"} followed; if that fails, the page it names still offers the next task
          if (/^\/jobs\/[^/]+\/next$/.test(next)) {
            return fetch(next, { method: 'POST', headers: headers, body: '{}', credentials: 'same-origin' })
              .then(function (c) { return c.ok ? c.json() : null; })
              .then(function (d) { window.location.assign((d && d.next) || next); },
                    function () { window.location.assign(next); });
          }
          window.location.assign(next);
        })
        .catch(function (err) {
          self._busy(false);
          self._show('Could not reach the server (' + err.message + '). Your boxes are still here; try again.', 'error');
        });
    }
  }

  customElements.define('crowd-button', CrowdButton);
  customElements.define('crowd-alert', CrowdAlert);
  customElements.define('crowd-instructions', CrowdInstructions);
  customElements.define('crowd-bounding-box', CrowdBoundingBox);
  customElements.define('crowd-form', CrowdForm);

  window.gtlabelCrowd = { parseRelaxed: parseRelaxed, version: '1' };
})();
