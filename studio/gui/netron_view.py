"""Netron, embedded, served from this machine and kept from talking to any other: the Graph tab's view wherever
Qt WebEngine is usable (studio.gui.graph_view chooses).

How it fits together, and why:
- `netron.start` serves Netron's web app and the model from a thread of this process, bound to 127.0.0.1 on a
  free port. Starting is quick; the page then loads and lays the graph out asynchronously, so the UI never waits.
- Every page runs in a private, off-the-record QWebEngineProfile (nothing is written to disk) whose
  `LocalOnlyInterceptor` lets through only requests to 127.0.0.1/localhost. Netron's telemetry
  (analytics.google.com, ipinfo.io) is blocked and recorded in `blocked`.
- Netron's browser.js asks for cookie consent unless a `consent` (or `_ga`) cookie is set, and shows a blocking
  "Please update" screen once its `<meta name="date">` is 180 days old. `NETRON_PAGE_SCRIPT`, injected at
  DocumentCreation, sets the cookie and pins that date to today before Netron's code runs, so the view opens
  straight on the graph. It also adds `NETRON_STYLE`: the zoom toolbar gets a strip of its own under the graph
  (in narrow side-by-side panes it covered nodes) and smaller buttons.
- Netron writes a weight's shape as 〈16×3×3×3〉 with U+3008/U+3009, CJK brackets that only CJK fonts have; without
  one (most Western desktops, and the packaged app relies on the system's fonts) they draw as boxes.
  `NETRON_GLYPH_SCRIPT`, injected into the page's own (main) world, writes them as ‹ › (U+2039/U+203A, in every
  Latin font) as the text reaches the DOM; Netron's own logic still sees its strings unchanged.
- Netron themes itself with `@media (prefers-color-scheme: dark)` rules, and Chromium answers that query from
  the platform, not from the app. `COLOR_SCHEME_SCRIPT` (same injection point, the app's isolated world) rewrites
  the condition of those rules so they match exactly when the view's palette is dark, and `GraphView` switches
  loaded pages when its palette changes: the graph follows the app's light or dark palette.
- Each model gets its own server; it stops when its pane shows another model or the view closes.
  netron 9.3 keeps the served model on its request-handler *class*, so with two servers in one process both
  would serve the last model; `start_netron_server` gives each server its own handler class.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import netron
import netron.server as netron_server
from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWebEngineCore import (QWebEnginePage, QWebEngineProfile, QWebEngineScript,
                                     QWebEngineUrlRequestInterceptor)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QApplication, QLabel, QSplitter, QStackedLayout, QVBoxLayout, QWidget

from studio.gui.layers_data import NEUTRAL_NODE

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
NO_NETWORK_SCHEMES = frozenset({"data", "blob", "about"})   # served from memory, never the network
SERVER_HOST = "127.0.0.1"
POLL_MS = 200               # how often a loading pane asks the page whether the graph is drawn
SLOW_AFTER_S = 8.0          # then the placeholder says that large graphs take a while
ASK_ATTEMPTS = 100          # a drawn page is asked this many times (POLL_MS apart) until its graph object exists

NETRON_PAGE_SCRIPT = """
(function () {
    // browser.js skips its consent dialog when this cookie exists.
    document.cookie = 'consent=' + Date.now() + ';path=/;max-age=31536000';
    // browser.js blocks the page with "Please update" when <meta name="date"> is > 180 days old.
    var today = new Date().toISOString().slice(0, 19).replace('T', ' ');
    var pin = function (node) {
        if (node.nodeType === 1 && node.tagName === 'META' && node.getAttribute('name') === 'date') {
            node.setAttribute('content', today);
        }
    };
    var observer = new MutationObserver(function (records) {
        records.forEach(function (record) { record.addedNodes.forEach(pin); });
    });
    observer.observe(document, {childList: true, subtree: true});
    document.addEventListener('DOMContentLoaded', function () {
        observer.disconnect();
        document.querySelectorAll('meta[name="date"]').forEach(pin);
        var style = document.createElement('style');
        style.id = 'studio-style';
        style.textContent = %(style)s;
        document.head.appendChild(style);
    });
})();
"""

# The zoom toolbar in a strip of its own under the graph, never over its nodes; smaller, so it fits narrow panes.
NETRON_STYLE = """
.default .target { height: calc(100% - 30px); }
.toolbar { bottom: 1px; left: 4px; right: 4px; overflow: hidden; white-space: nowrap; }
.toolbar-button { width: 26px; height: 26px; flex-shrink: 0; }
.toolbar-path-back-button, .toolbar-path-name-button { margin-top: 1px; margin-bottom: 1px; padding-top: 3px;
                                                       padding-bottom: 3px; }
.toolbar-select { margin: 1px 4px; }
"""

GLYPH_SUBSTITUTES = {"\u3008": "\u2039", "\u3009": "\u203a"}   # 〈 〉 -> ‹ ›: see the module docstring
NETRON_GLYPH_SCRIPT = """
(function () {
    var swap = %(swap)s;
    var any = new RegExp('[' + Object.keys(swap).join('') + ']');
    var every = new RegExp(any.source, 'g');
    var fix = function (text) {
        return (typeof text === 'string' && any.test(text)) ? text.replace(every, function (c) { return swap[c]; }) : text;
    };
    var text = Object.getOwnPropertyDescriptor(Node.prototype, 'textContent');
    Object.defineProperty(Node.prototype, 'textContent', {
        configurable: true, enumerable: text.enumerable, get: text.get,
        set: function (value) { text.set.call(this, fix(value)); }
    });
    var createTextNode = Document.prototype.createTextNode;
    Document.prototype.createTextNode = function (data) { return createTextNode.call(this, fix(data)); };
})();
"""

# Netron's dark theme is its `@media (prefers-color-scheme: dark)` rules (index.html, grapher.css). Chromium
# evaluates that query against the platform, so this script makes the rules follow the scheme the app asks for:
# each `(prefers-color-scheme: X)` condition becomes one that always matches (X is the wanted scheme) or never
# does. The rules are kept with their original condition, so `studioSetColorScheme` can switch back and forth.
COLOR_SCHEME_SCRIPT = """
(function () {
    var scheme = %(scheme)s;
    var rules = [];                 // [{rule: CSSMediaRule, text: its original condition}]
    var FEATURE = /\\(\\s*prefers-color-scheme\\s*:\\s*(light|dark)\\s*\\)/gi;
    var collect = function (list) {
        for (var i = 0; i < list.length; i++) {
            var rule = list[i];
            if (rule.media && /prefers-color-scheme/i.test(rule.media.mediaText) &&
                    !rules.some(function (known) { return known.rule === rule; })) {
                rules.push({rule: rule, text: rule.media.mediaText});
            }
            if (rule.cssRules) { collect(rule.cssRules); }
        }
    };
    var apply = function () {
        for (var i = 0; i < document.styleSheets.length; i++) {
            try { collect(document.styleSheets[i].cssRules); } catch (e) { /* a sheet not readable here */ }
        }
        rules.forEach(function (known) {
            known.rule.media.mediaText = known.text.replace(FEATURE, function (_, wanted) {
                return wanted.toLowerCase() === scheme ? '(min-width: 0px)' : '(max-width: 0px) and (min-width: 1px)';
            });
        });
    };
    window.studioSetColorScheme = function (wanted) { scheme = wanted; apply(); return scheme; };
    if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', apply); }
    window.addEventListener('load', apply);   // a stylesheet that arrived late
    apply();
})();
"""
COLOR_SCHEME_SCRIPT_NAME = "studio-netron-color-scheme"

# Per-layer errors on the graph (the Layers tab), injected into the page's main world where Netron's objects
# live. Netron draws each node as `view.Node` (view.js) with its model node in `.value` and its SVG group in
# `.element`; the current graph is `window.__view__.target`, whose `_table` maps model nodes to view nodes and
# whose `_values` maps value names to their producing view node (`.from`). A name is looked up as a node name,
# then as a tensor name (a TFLite tensor is "name\nindex" there), then as a node identifier. Colours fill the
# node's header boxes (`.node-item-type`, one per op of a fused chain); nodes the report does not name turn
# grey so Netron's own category colours (a dark red for activations) never read as errors. Selecting is Netron's
# own `target.select` (its highlight and state); the node is then centred with the formula Netron's
# `target.scrollTo` uses for a node out of view (that method only nudges a visible node to the edge of the view,
# under the legend, and two panes would not line their nodes up). State is kept in the page and applied again
# when Netron redraws, or once the graph exists.
LAYERS_SCRIPT = """
(function () {
    if (window.studioLayers) { return; }
    var state = {colors: null, neutral: null, legend: null, selected: null, waits: 0};
    var graph = function () { var v = window.__view__; return v && v.target ? v.target : null; };
    var NodeClass = function () { return window.exports && window.exports.view ? window.exports.view.Node : null; };
    var isDrawn = function (el, value) {
        var Node = NodeClass();
        return Node && el instanceof Node && el.element && el.value === value;
    };
    var index = function (g) {
        if (g.__studioIndex) { return g.__studioIndex; }
        var byName = new Map(), byTensor = new Map(), byId = new Map(), all = [];
        g._table.forEach(function (el, value) {
            if (!isDrawn(el, value)) { return; }
            all.push(el);
            if (value.name && !byName.has(value.name)) { byName.set(value.name, el); }
            if (value.identifier !== undefined && value.identifier !== null && value.identifier !== '') {
                byId.set(String(value.identifier), el);
            }
        });
        g._values.forEach(function (v) {
            var name = v.value && typeof v.value.name === 'string' ? v.value.name.split('\\n')[0] : '';
            if (name && v.from && isDrawn(v.from, v.from.value) && !byTensor.has(name)) { byTensor.set(name, v.from); }
        });
        g.__studioIndex = {byName: byName, byTensor: byTensor, byId: byId, all: all};
        return g.__studioIndex;
    };
    var find = function (g, name) {
        var ix = index(g);
        return ix.byName.get(name) || ix.byTensor.get(name) || ix.byId.get(name) || null;
    };
    var fill = function (el, colors) {
        el.element.querySelectorAll(':scope > .node-item-type').forEach(function (item) {
            var path = item.querySelector('path'), text = item.querySelector('text');
            if (path) { path.style.fill = colors[0]; path.setAttribute('data-studio-fill', '1'); }
            if (text) { text.style.fill = colors[1]; text.setAttribute('data-studio-fill', '1'); }
        });
        el.element.setAttribute('data-studio-error', colors.length > 2 ? String(colors[2]) : '');
    };
    var unfill = function () {
        document.querySelectorAll('[data-studio-fill]').forEach(function (e) {
            e.style.removeProperty('fill');
            e.removeAttribute('data-studio-fill');
        });
        document.querySelectorAll('[data-studio-error]').forEach(function (e) {
            e.removeAttribute('data-studio-error');
        });
    };
    var style = function () {
        if (document.getElementById('studio-layers-style')) { return; }
        var s = document.createElement('style');
        s.id = 'studio-layers-style';
        s.textContent = 'body.studio-errors .select > .node.node-border { stroke: #1f6feb; stroke-width: 3px; }' +
            'body.studio-no-legend #studio-legend { display: none; }' +
            '#studio-legend { position: fixed; top: 6px; right: 8px; z-index: 50; pointer-events: none;' +
            ' font: 10px -apple-system, "Segoe UI", "Ubuntu", "Droid Sans", sans-serif; padding: 3px 6px 1px;' +
            ' border-radius: 4px; }' +
            '#studio-legend .bar { position: relative; width: 160px; height: 8px; margin: 3px 6px 11px; }' +
            '#studio-legend .tick { position: absolute; top: 8px; transform: translateX(-50%); white-space: nowrap; }' +
            '#studio-legend .one { position: absolute; top: -2px; height: 10px; width: 0; border-left: 1.5px solid; }' +
            '#studio-legend .swatch { display: inline-block; width: 9px; height: 9px; margin-right: 4px;' +
            ' vertical-align: -1px; }';
        document.head.appendChild(s);
    };
    var drawLegend = function () {
        var old = document.getElementById('studio-legend');
        if (old) { old.remove(); }
        var legend = state.colors ? state.legend : null;
        if (!legend || !document.body) { return; }
        var dark = legend.scheme === 'dark';
        var box = document.createElement('div');
        box.id = 'studio-legend';
        box.style.background = dark ? 'rgba(30,30,30,0.88)' : 'rgba(255,255,255,0.9)';
        box.style.color = dark ? '#ddd' : '#222';
        box.style.border = dark ? '1px solid #555' : '1px solid #ccc';
        var title = document.createElement('div');
        title.textContent = legend.title + '\u2003';
        var swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = legend.neutral;
        title.appendChild(swatch);
        title.appendChild(document.createTextNode(legend.neutral_text));
        box.appendChild(title);
        var bar = document.createElement('div');
        bar.className = 'bar';
        bar.style.background = 'linear-gradient(to right, ' + legend.stops.map(function (s) {
            return s[1] + ' ' + (s[0] * 100).toFixed(2) + '%';
        }).join(', ') + ')';
        legend.ticks.forEach(function (t) {
            var tick = document.createElement('span');
            tick.className = 'tick';
            tick.style.left = (t[0] * 100).toFixed(2) + '%';
            tick.textContent = t[1];
            bar.appendChild(tick);
            if (t[1] === '1') {
                var one = document.createElement('span');
                one.className = 'one';
                one.style.left = (t[0] * 100).toFixed(2) + '%';
                one.style.borderColor = dark ? '#fff' : '#000';
                bar.appendChild(one);
            }
        });
        box.appendChild(bar);
        document.body.appendChild(box);
    };
    var paint = function (g) {
        unfill();
        style();
        drawLegend();
        if (!state.colors) { document.body.classList.remove('studio-errors'); return {colored: 0, missing: []}; }
        document.body.classList.add('studio-errors');
        var best = new Map(), missing = [];
        Object.keys(state.colors).forEach(function (name) {
            var el = find(g, name);
            if (!el) { missing.push(name); return; }
            var c = state.colors[name];
            var had = best.get(el);
            if (!had || (c[2] || 0) > (had[2] || 0)) { best.set(el, c); }
        });
        index(g).all.forEach(function (el) { fill(el, best.get(el) || state.neutral); });
        return {colored: best.size, missing: missing};
    };
    var centre = function (elements) {
        var container = document.getElementById('target');
        if (!container || !elements || !elements.length) { return; }
        var box = container.getBoundingClientRect(), r = elements[0].getBoundingClientRect();
        var x = (r.left + r.width / 2) - (box.left + container.clientWidth / 2);
        var y = (r.top + r.height / 2) - (box.top + container.clientHeight / 2);
        container.scrollTo({left: container.scrollLeft + x, top: container.scrollTop + y, behavior: 'smooth'});
    };
    var select = function (g, scroll) {
        if (!state.selected) { g.select(null, 'studio'); return false; }
        var el = find(g, state.selected);
        if (!el) { g.select(null, 'studio'); return false; }
        var elements = g.select([el.value], 'studio');
        if (scroll) { centre(elements); }
        return true;
    };
    var shown = null;
    var whenReady = function () {
        var g = graph();
        if (!g) {
            if (state.waits++ < 150) { setTimeout(whenReady, 200); }
            return;
        }
        state.waits = 0;
        shown = g;
        paint(g);
        select(g, true);
    };
    // Netron replaces the graph when it redraws (a subgraph opened, an option toggled): paint the new one.
    var observer = new MutationObserver(function () {
        var g = graph();
        if (g && g !== shown && (state.colors || state.selected)) { setTimeout(whenReady, 0); }
    });
    var watch = function () {
        var target = document.getElementById('target');
        if (target) { observer.observe(target, {childList: true}); } else { setTimeout(watch, 200); }
    };
    if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', watch); } else { watch(); }
    window.studioLayers = {
        setColors: function (colors, neutral, legend) {
            state.colors = colors; state.neutral = neutral; state.legend = legend;
            var g = graph();
            if (!g) { whenReady(); return null; }
            shown = g;
            return JSON.stringify(paint(g));
        },
        select: function (name) {
            state.selected = name || null;
            var g = graph();
            if (!g) { whenReady(); return null; }
            return select(g, true);
        },
        selected: function () {
            var g = graph();
            if (!g) { return []; }
            var names = [];
            g.selection.forEach(function (el) {
                if (el.value && isDrawn(el, el.value)) { names.push(el.value.name || String(el.value.identifier)); }
            });
            return names;
        },
        showLegend: function (on) {
            document.body.classList.toggle('studio-no-legend', !on);
            return on;
        },
        colorOf: function (name) {
            var g = graph(), el = g ? find(g, name) : null;
            var item = el ? el.element.querySelector(':scope > .node-item-type > path') : null;
            return item ? item.style.fill : null;
        }
    };
})();
"""
LAYERS_SCRIPT_NAME = "studio-netron-layers"


def color_scheme_of(palette: QPalette) -> str:
    """"dark" or "light": what a palette looks like (its window colour), as the rest of the app judges it."""
    return "dark" if palette.color(QPalette.ColorRole.Window).lightness() < 128 else "light"


def color_scheme_script(scheme: str) -> QWebEngineScript:
    """The profile script that makes new pages start in `scheme` ("light" or "dark")."""
    script = QWebEngineScript()
    script.setName(COLOR_SCHEME_SCRIPT_NAME)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.ApplicationWorld)
    script.setRunsOnSubFrames(False)
    script.setSourceCode(COLOR_SCHEME_SCRIPT % {"scheme": json.dumps(scheme)})
    return script


# What the page shows: the graph, Netron's error alert, its consent dialog, or still loading.
PAGE_STATE_JS = """
(function () {
    var body = document.body;
    var text = document.getElementById('message-text');
    var message = text ? text.innerText : '';
    var classes = body ? body.className.split(/\\s+/) : [];
    var nodes = document.querySelectorAll('#canvas g.node').length;
    var state = 'loading';
    if (classes.indexOf('alert') >= 0) { state = 'error'; }
    else if (classes.indexOf('notification') >= 0 && /cookie/i.test(message)) { state = 'consent'; }
    else if (classes.indexOf('default') >= 0 && document.querySelector('#canvas g')) { state = 'graph'; }
    return JSON.stringify({state: state, message: message, nodes: nodes,
                           notification: classes.indexOf('notification') >= 0});
})();
"""


def is_local_url(url: QUrl) -> bool:
    """True for URLs that stay on this machine: 127.0.0.1/localhost over http(s)/ws(s), or in-memory schemes."""
    scheme = url.scheme().lower()
    if scheme in NO_NETWORK_SCHEMES:
        return True
    return scheme in ("http", "https", "ws", "wss") and url.host().lower() in LOCAL_HOSTS


def netron_target(path: str | os.PathLike) -> Path:
    """The file Netron should open: a SavedModel folder is read through its saved_model.pb."""
    p = Path(path)
    if p.is_dir():
        for name in ("saved_model.pb", "saved_model.pbtxt"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p} is a folder without saved_model.pb; Netron can't draw it")
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    return p


def start_netron_server(model: Path) -> tuple[str, int]:
    """netron.start on 127.0.0.1 and a free port, with a request handler of its own (see the module docstring)."""
    address = tuple(netron.start(str(model), address=(SERVER_HOST, 0), browse=False))
    threads = getattr(netron_server, "_threads", lambda _address: [])(address)
    for thread in threads:
        shared = thread.server.RequestHandlerClass
        own = type("OneModelRequestHandler", (shared,), {"content": shared.content})
        thread.server.RequestHandlerClass = own
    if not threads:
        log.warning("netron internals changed: side-by-side graphs may show the same model twice")
    return address


class LocalOnlyInterceptor(QWebEngineUrlRequestInterceptor):
    """Blocks every request that would leave this machine; remembers all of them for tests and diagnostics."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.requests: list[tuple[str, bool]] = []   # (url, allowed), in order
        self.blocked: list[str] = []

    def interceptRequest(self, info) -> None:  # noqa: N802 (Qt override)
        url = info.requestUrl()
        allowed = is_local_url(url)
        self.requests.append((url.toString(), allowed))
        if not allowed:
            info.block(True)
            self.blocked.append(url.toString())


class NetronPage(QWebEnginePage):
    """Stays on the local Netron page: outside links open in the desktop browser; console noise goes to the log."""

    def acceptNavigationRequest(self, url: QUrl, nav_type, is_main_frame: bool) -> bool:  # noqa: N802
        if is_local_url(url):
            return True
        if nav_type == QWebEnginePage.NavigationType.NavigationTypeLinkClicked:
            QDesktopServices.openUrl(url)
        return False

    def javaScriptConsoleMessage(self, level, message: str, line: int, source: str) -> None:  # noqa: N802
        log.debug("netron console: %s (%s:%s)", message, source, line)


def make_private_profile(parent, color_scheme: str = "light") -> tuple[QWebEngineProfile, LocalOnlyInterceptor]:
    """An off-the-record profile with the local-only interceptor, Netron's page script and its colour scheme."""
    profile = QWebEngineProfile(parent)      # no storage name: off the record, nothing on disk
    interceptor = LocalOnlyInterceptor(profile)
    profile.setUrlRequestInterceptor(interceptor)
    script = QWebEngineScript()
    script.setName("studio-netron-prelude")
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.ApplicationWorld)
    script.setRunsOnSubFrames(False)
    script.setSourceCode(NETRON_PAGE_SCRIPT % {"style": json.dumps(NETRON_STYLE)})
    profile.scripts().insert(script)
    glyphs = QWebEngineScript()
    glyphs.setName("studio-netron-glyphs")
    glyphs.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    glyphs.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)    # patches the DOM methods Netron's code calls
    glyphs.setRunsOnSubFrames(False)
    glyphs.setSourceCode(NETRON_GLYPH_SCRIPT % {"swap": json.dumps(GLYPH_SUBSTITUTES)})
    profile.scripts().insert(glyphs)
    layers = QWebEngineScript()
    layers.setName(LAYERS_SCRIPT_NAME)
    layers.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    layers.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)    # Netron's objects live there
    layers.setRunsOnSubFrames(False)
    layers.setSourceCode(LAYERS_SCRIPT)
    profile.scripts().insert(layers)
    profile.scripts().insert(color_scheme_script(color_scheme))
    return profile, interceptor


class NetronPane(QWidget):
    """One Netron page for one model, with a caption and a placeholder until the graph is drawn."""

    settled = Signal(bool)   # the graph is drawn (True) or Netron/the page failed (False)

    def __init__(self, profile: QWebEngineProfile, parent=None):
        super().__init__(parent)
        self.address: tuple[str, int] | None = None
        self.model_path: str | None = None
        self.state = "empty"          # empty | loading | graph | error
        self.message = ""
        self._generation = 0
        self._started = 0.0
        # Per-layer errors drawn on this model (see LAYERS_SCRIPT), kept here and sent again once a page loads.
        self.error_colors: dict[str, list] | None = None   # node name -> [fill, text colour, error ratio]
        self.error_legend: dict | None = None
        self.selected_node: str | None = None              # the node the Layers tab selected here
        self.legend_visible = True                          # the page's own legend (the Layers tab has its own)
        self.selection_found: bool | None = None           # whether the page found it (None: not asked yet)
        self.colors_applied: dict | None = None            # the page's answer: {"colored": n, "missing": [...]}
        self._questions: dict[str, int] = {}
        self.caption = QLabel(self)
        self.caption.setObjectName("graphCaption")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setContentsMargins(8, 4, 8, 4)
        self.caption.hide()
        self.view = QWebEngineView(self)
        self.page = NetronPage(profile, self.view)
        self.page.setBackgroundColor(self.palette().color(QPalette.ColorRole.Base))  # until Netron paints
        self.view.setPage(self.page)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.placeholder = QLabel("No model")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAutoFillBackground(True)
        stack_host = QWidget(self)
        self._stack = QStackedLayout(stack_host)     # placeholder over the view; the view stays visible so
        self._stack.setStackingMode(QStackedLayout.StackingMode.StackAll)   # the page keeps rendering below
        self._stack.addWidget(self.view)
        self._stack.addWidget(self.placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.caption)
        layout.addWidget(stack_host, 1)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._ask_page_state)
        self.page.loadFinished.connect(self._page_loaded)
        self.page.renderProcessTerminated.connect(self._renderer_died)

    # ---- showing a model

    def show_model(self, path: str, caption: str | None = None) -> None:
        """Serve `path` on a fresh local server and point the page at it; returns before the graph is drawn."""
        self.stop_server()
        self._generation += 1
        self.model_path = str(path)
        self.error_colors = self.error_legend = self.selected_node = None    # they were the last model's
        self.selection_found = self.colors_applied = None
        self.caption.setText(caption or "")
        self.caption.setVisible(bool(caption))
        self._show_placeholder(f"Loading graph…\n{Path(path).name}")
        try:
            self.address = start_netron_server(netron_target(path))
        except (OSError, ValueError) as exc:
            self._finish("error", f"Netron can't open {Path(path).name}: {exc}")
            return
        self.state = "loading"
        self._started = time.monotonic()
        self.page.load(QUrl(f"http://{self.address[0]}:{self.address[1]}/"))

    def set_color_scheme(self, scheme: str, palette: QPalette) -> None:
        """Switch the page shown now to Netron's light or dark theme (new pages start in the profile's)."""
        self.page.setBackgroundColor(palette.color(QPalette.ColorRole.Base))
        self.page.runJavaScript(f"window.studioSetColorScheme && window.studioSetColorScheme({json.dumps(scheme)})",
                                QWebEngineScript.ScriptWorldId.ApplicationWorld)

    # ---- per-layer errors (the Layers tab)

    def set_error_colors(self, colors: dict[str, list] | None, legend: dict | None = None) -> None:
        """Fill the named nodes with their colours ([fill, text colour, error ratio]) and grey the others, with a
        legend; None takes the colours off. Kept, and drawn once the graph is (again)."""
        self.error_colors, self.error_legend = (dict(colors), legend) if colors is not None else (None, None)
        self.colors_applied = None
        if self.state == "graph":
            self._send_colors()

    def select_node(self, name: str | None) -> None:
        """Select the node called `name` (a node name, or a tensor it produces) with Netron's own selection, and
        scroll it into view; None clears the selection."""
        self.selected_node = name
        self.selection_found = None
        if self.state == "graph":
            self._send_selection()

    def set_legend_visible(self, on: bool) -> None:
        """Show the colour legend in the page (hidden where the window shows one beside the graph)."""
        self.legend_visible = bool(on)
        if self.state == "graph":
            self._send_legend_visible()

    def _send_legend_visible(self) -> None:
        call = f"window.studioLayers && window.studioLayers.showLegend({json.dumps(self.legend_visible)})"
        self.page.runJavaScript(call, QWebEngineScript.ScriptWorldId.MainWorld)

    def _send_colors(self) -> None:
        call = (f"window.studioLayers ? window.studioLayers.setColors({json.dumps(self.error_colors)}, "
                f"{json.dumps(list(NEUTRAL_NODE))}, {json.dumps(self.error_legend)}) : null")
        self._ask(call, "colors_applied", lambda result: json.loads(result))

    def _send_selection(self) -> None:
        call = f"window.studioLayers ? window.studioLayers.select({json.dumps(self.selected_node)}) : null"
        self._ask(call, "selection_found", bool)

    def _ask(self, call: str, attribute: str, read, attempt: int = 0) -> None:
        """Run `call` in the page and keep its answer in `attribute`. The page answers null until Netron has made
        its graph object (the drawing shows a moment before): ask again shortly, a bounded number of times. Only
        the answer to the latest question counts."""
        self._questions[attribute] = question = self._questions.get(attribute, 0) + (attempt == 0)
        generation = self._generation

        def answered(result) -> None:
            try:
                if generation != self._generation or self._questions.get(attribute) != question:
                    return
                if result is None:
                    if attempt < ASK_ATTEMPTS and self.state == "graph":
                        QTimer.singleShot(POLL_MS, lambda: self._ask(call, attribute, read, attempt + 1))
                    return
                setattr(self, attribute, read(result))
            except RuntimeError:        # the pane was deleted while the page answered
                pass

        self.page.runJavaScript(call, QWebEngineScript.ScriptWorldId.MainWorld, answered)

    def stop_server(self) -> None:
        self._poll.stop()
        if self.address is not None:
            netron.stop(self.address)
            self.address = None

    # ---- following the page

    def _page_loaded(self, ok: bool) -> None:
        if self.state != "loading":
            return
        if not ok:
            self._finish("error", "The graph page did not load.")
            return
        self._poll.start()

    def _ask_page_state(self) -> None:
        generation = self._generation
        self.page.runJavaScript(PAGE_STATE_JS, QWebEngineScript.ScriptWorldId.ApplicationWorld,
                                lambda result: self._page_state(generation, result))

    def _page_state(self, generation: int, result) -> None:
        try:
            if generation != self._generation or self.state != "loading" or not result:
                return
        except RuntimeError:        # the pane was deleted while the page answered
            return
        page = json.loads(result)
        if page["state"] == "graph":
            self._finish("graph", "")
        elif page["state"] == "error":
            reason = page["message"] or "Netron could not read this model."
            self._finish("error", f"Netron can't draw {Path(self.model_path).name}:\n{reason}")
        elif page["notification"]:
            self.placeholder.hide()     # Netron's own notice (e.g. a slow layout, with Cancel) is better
        elif time.monotonic() - self._started > SLOW_AFTER_S:
            self._show_placeholder(f"Still laying out the graph of {Path(self.model_path).name}…\n"
                                   "Large models take a while; the window stays usable.")

    def _renderer_died(self, status, code: int) -> None:
        self._finish("error", f"The graph view stopped ({status.name}, code {code}). Open the model again to retry.")

    def _finish(self, state: str, message: str) -> None:
        self._poll.stop()
        self.state, self.message = state, message
        if state == "graph":
            self.placeholder.hide()
            if not self.legend_visible:
                self._send_legend_visible()
            if self.error_colors is not None:
                self._send_colors()
            if self.selected_node is not None:
                self._send_selection()
        else:
            self.stop_server()          # nothing left to serve
            self._show_placeholder(message)
        self.settled.emit(state == "graph")

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.placeholder.show()
        self._stack.setCurrentWidget(self.placeholder)


class GraphView(QWidget):
    """Netron for one model, or two side by side (source left, artifact right). See the module docstring."""

    loaded = Signal(bool)    # every visible pane has drawn its graph (True) or one of them failed (False)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)   # created before the profile: Qt deletes
        layout = QVBoxLayout(self)                                    # children in order, pages before profile
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.color_scheme = color_scheme_of(self.palette())
        self.profile, self.interceptor = make_private_profile(self, self.color_scheme)
        self.panes: list[NetronPane] = []
        self._waiting: dict[NetronPane, bool | None] = {}
        self.error_colors: dict[str, tuple[dict, dict | None]] = {}   # model path -> its node colours, legend
        self.legends_visible = True
        self.selected_nodes: dict[str, str | None] = {}              # model path -> the node selected in it
        self._closed = False
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ---- API

    def show_model(self, path: str) -> None:
        """Draw one model's graph."""
        self._show([(path, None)])

    def show_side_by_side(self, left: str, right: str) -> None:
        """Source on the left, an artifact (ONNX, TFLite or SavedModel folder) on the right."""
        self._show([(left, f"Source · {Path(left).name}"), (right, f"Artifact · {Path(right).name}")])

    def set_error_colors(self, path: str, colors: dict[str, list] | None, legend: dict | None = None) -> None:
        """Colour the graph of the model at `path` by per-layer error (node name -> [fill, text colour, ratio]),
        now if a pane shows it and whenever one shows it again; None takes the colours off."""
        path = str(path)
        if colors is None:
            self.error_colors.pop(path, None)
        else:
            self.error_colors[path] = (colors, dict(legend or {}, scheme=self.color_scheme))
        for pane in self.panes_showing(path):
            pane.set_error_colors(*self.error_colors.get(path, (None, None)))

    def select_nodes(self, names: dict[str, str | None]) -> None:
        """Select and scroll to a node per model: {model path: node name (None: no selection)}."""
        for path, name in names.items():
            self.selected_nodes[str(path)] = name
            for pane in self.panes_showing(str(path)):
                pane.select_node(name)

    def set_legends_visible(self, on: bool) -> None:
        """Show the error colours' legend in every pane (off where the window shows its own beside them)."""
        self.legends_visible = bool(on)
        for pane in self.panes:
            pane.set_legend_visible(on)

    def panes_showing(self, path: str) -> list[NetronPane]:
        return [pane for pane in self.panes if pane.isVisibleTo(self) and pane.model_path == str(path)]

    @property
    def servers(self) -> list[tuple[str, int]]:
        """The (host, port) of every Netron server this view is running."""
        return [pane.address for pane in self.panes if pane.address is not None and netron.status(pane.address)]

    @property
    def blocked(self) -> list[str]:
        """URLs the pages tried to reach outside this machine (all refused)."""
        return self.interceptor.blocked

    @property
    def requests(self) -> list[tuple[str, bool]]:
        """Every request the pages made, as (url, allowed)."""
        return self.interceptor.requests

    def shutdown(self) -> None:
        """Stop every server; safe to call more than once."""
        try:
            for pane in self.panes:
                pane.stop_server()
        except RuntimeError:      # already deleted by Qt at exit
            pass

    def closeEvent(self, event) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) and \
                hasattr(self, "panes"):
            self.follow_palette()

    def follow_palette(self) -> None:
        """Light or dark Netron, as the view's palette is: for new pages and the ones already shown."""
        scheme = color_scheme_of(self.palette())
        if scheme == self.color_scheme:       # PaletteChange comes for every colour role, and for the children
            return
        self.color_scheme = scheme
        for path, (colors, legend) in list(self.error_colors.items()):
            self.set_error_colors(path, colors, legend)    # the legend's panel follows the scheme too
        scripts = self.profile.scripts()
        for old in scripts.find(COLOR_SCHEME_SCRIPT_NAME):
            scripts.remove(old)
        scripts.insert(color_scheme_script(scheme))
        for pane in self.panes:
            pane.set_color_scheme(scheme, self.palette())

    # ---- internals

    def _show(self, models: list[tuple[str, str | None]]) -> None:
        while len(self.panes) < len(models):
            pane = NetronPane(self.profile, self.splitter)
            pane.legend_visible = self.legends_visible
            pane.settled.connect(lambda ok, p=pane: self._pane_settled(p, ok))
            self.panes.append(pane)
            self.splitter.addWidget(pane)
        self._waiting = {}
        for pane in self.panes[len(models):]:
            pane.stop_server()
            pane.hide()
        for pane, (path, caption) in zip(self.panes, models):
            pane.show()
            self._waiting[pane] = None
        self.splitter.setSizes([1000] * len(models) + [0] * (len(self.panes) - len(models)))
        for pane, (path, caption) in zip(self.panes, models):
            pane.show_model(path, caption)
            if str(path) in self.error_colors:
                pane.set_error_colors(*self.error_colors[str(path)])
            if self.selected_nodes.get(str(path)):
                pane.select_node(self.selected_nodes[str(path)])

    def _pane_settled(self, pane: NetronPane, ok: bool) -> None:
        if pane not in self._waiting:
            return
        self._waiting[pane] = ok
        if all(result is not None for result in self._waiting.values()):
            results = list(self._waiting.values())
            self._waiting = {}
            self.loaded.emit(all(results))
