"""GraphView: Netron served from 127.0.0.1 only, opened straight on the graph, servers stopped on close."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--disable-gpu")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

import datetime
import json
import socket

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from studio.gui.netron_view import PAGE_STATE_JS, GraphView, is_local_url, netron_target  # before QApplication

from PySide6.QtCore import QUrl  # noqa: E402
from PySide6.QtWebEngineCore import QWebEngineScript  # noqa: E402

pytestmark = pytest.mark.gui
LOAD_TIMEOUT_MS = 60_000


def _tiny_onnx(path, out_channels: int) -> str:
    """x[1,3,8,8] -> Conv -> Relu -> y: four graph nodes (input, Conv, Relu, output)."""
    weight = numpy_helper.from_array(np.ones((out_channels, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_channels, 8, 8])],
        [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph")
    return _tiny_onnx(folder / "tiny.onnx", 4), _tiny_onnx(folder / "tiny_wide.onnx", 8)


@pytest.fixture
def graph_view(qtbot):
    view = GraphView()
    view.resize(1000, 650)
    view.show()
    yield view
    view.close()
    view.deleteLater()          # pages go before their profile, while Qt is still fully up
    qtbot.wait(50)


def run_js(qtbot, page, script: str):
    answer = {}
    page.runJavaScript(script, QWebEngineScript.ScriptWorldId.ApplicationWorld, lambda r: answer.setdefault("r", r))
    qtbot.waitUntil(lambda: "r" in answer, timeout=10_000)
    return answer["r"]


def port_accepts(address) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
        return True
    except OSError:
        return False


def test_opens_on_the_graph_from_localhost_only_and_stops_on_close(qtbot, graph_view, tiny_models):
    with qtbot.waitSignal(graph_view.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        graph_view.show_model(tiny_models[0])
    assert blocker.args == [True]
    [address] = graph_view.servers
    assert address[0] == "127.0.0.1" and port_accepts(address)

    page = graph_view.panes[0].page
    state = json.loads(run_js(qtbot, page, PAGE_STATE_JS))
    assert state["state"] == "graph" and state["nodes"] >= 4, state
    consent_visible = run_js(qtbot, page, "document.body.classList.contains('notification') || "
                                          "/cookie/i.test(document.getElementById('message-text').innerText)")
    assert consent_visible is False
    build_date = run_js(qtbot, page, "document.querySelector('meta[name=date]').content")
    assert build_date.startswith(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
    assert not graph_view.panes[0].placeholder.isVisible()
    drawn = run_js(qtbot, page, "document.getElementById('canvas').textContent")
    assert "\u3008" not in drawn and "\u2039" in drawn     # the weight's 〈shape〉 in brackets every font has
    toolbar_top, graph_bottom = json.loads(run_js(qtbot, page, (
        "JSON.stringify([document.getElementById('toolbar').getBoundingClientRect().top, "
        "document.getElementById('target').getBoundingClientRect().bottom])")))
    assert toolbar_top >= graph_bottom                        # the zoom toolbar never covers the graph

    run_js(qtbot, page, "fetch('https://example.com/probe').catch(() => 0); 1")
    qtbot.waitUntil(lambda: any("example.com/probe" in url for url in graph_view.blocked), timeout=10_000)
    allowed = [url for url, ok in graph_view.requests if ok]
    assert any(url.startswith(f"http://127.0.0.1:{address[1]}/data/tiny.onnx") for url in allowed)
    assert all(QUrl(url).host() == "127.0.0.1" for url in allowed), allowed
    assert graph_view.blocked and all(QUrl(url).host() not in ("127.0.0.1", "localhost")
                                      for url in graph_view.blocked)

    graph_view.grab().save("/tmp/graph.png")
    graph_view.close()
    assert graph_view.servers == []
    qtbot.waitUntil(lambda: not port_accepts(address), timeout=2_000)   # netron's loop notices within 0.25 s


def test_side_by_side_runs_two_servers_and_stops_the_one_not_shown(qtbot, graph_view, tiny_models):
    with qtbot.waitSignal(graph_view.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        graph_view.show_side_by_side(*tiny_models)
    assert blocker.args == [True]
    assert len(graph_view.servers) == 2 and {host for host, _ in graph_view.servers} == {"127.0.0.1"}
    captions = [pane.caption.text() for pane in graph_view.panes]
    assert captions == ["Source · tiny.onnx", "Artifact · tiny_wide.onnx"]
    drawn = [run_js(qtbot, pane.page, "document.getElementById('canvas').textContent") for pane in graph_view.panes]
    assert "1×4×8×8" in drawn[0] and "1×8×8×8" not in drawn[0]      # each server serves its own model
    assert "1×8×8×8" in drawn[1] and "1×4×8×8" not in drawn[1]
    graph_view.grab().save("/tmp/graph_side_by_side.png")

    before = list(graph_view.servers)
    with qtbot.waitSignal(graph_view.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        graph_view.show_model(tiny_models[1])
    assert blocker.args == [True]
    assert len(graph_view.servers) == 1
    qtbot.waitUntil(lambda: not any(port_accepts(address) for address in before), timeout=2_000)


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    for role, colour in (("Window", "#2d2d2d"), ("WindowText", "#e0e0e0"), ("Base", "#1e1e1e"),
                         ("Text", "#e0e0e0"), ("Button", "#353535"), ("ButtonText", "#e0e0e0")):
        palette.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    return palette


def page_colours(qtbot, page) -> tuple[str, str]:
    """Netron's page background and the stroke of its graph's edges, as the page computed them."""
    return tuple(json.loads(run_js(qtbot, page, "JSON.stringify([getComputedStyle(document.body).backgroundColor, "
                                                "getComputedStyle(document.querySelector('#canvas .edge-path'))"
                                                ".stroke])")))


def test_follows_a_dark_palette_and_switches_back(qtbot, graph_view, tiny_models):
    """Netron's own dark theme (its prefers-color-scheme rules) when the view's palette is dark, live."""
    from PySide6.QtWidgets import QApplication

    graph_view.setPalette(dark_palette())
    assert graph_view.color_scheme == "dark"
    with qtbot.waitSignal(graph_view.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        graph_view.show_side_by_side(*tiny_models)
    assert blocker.args == [True]
    for pane in graph_view.panes:
        assert page_colours(qtbot, pane.page) == ("rgb(64, 64, 64)", "rgb(136, 136, 136)")   # Netron's dark
    graph_view.grab().save("/tmp/graph_dark.png")
    assert all(QUrl(url).host() == "127.0.0.1" for url, ok in graph_view.requests if ok)   # still local only

    graph_view.setPalette(QApplication.style().standardPalette())     # the desktop turned light again
    assert graph_view.color_scheme == "light"
    for pane in graph_view.panes:
        qtbot.waitUntil(lambda p=pane: page_colours(qtbot, p.page) == ("rgb(255, 255, 255)", "rgb(0, 0, 0)"),
                        timeout=5_000)
    with qtbot.waitSignal(graph_view.loaded, timeout=LOAD_TIMEOUT_MS):
        graph_view.show_model(tiny_models[1])             # a new page starts light
    assert page_colours(qtbot, graph_view.panes[0].page) == ("rgb(255, 255, 255)", "rgb(0, 0, 0)")
    assert all(QUrl(url).host() == "127.0.0.1" for url, ok in graph_view.requests if ok)


def test_a_missing_model_reports_failure_without_a_server(qtbot, graph_view, tmp_path):
    with qtbot.waitSignal(graph_view.loaded, timeout=5_000) as blocker:
        graph_view.show_model(str(tmp_path / "nope.onnx"))
    assert blocker.args == [False]
    assert graph_view.servers == []
    assert "nope.onnx" in graph_view.panes[0].placeholder.text()


def test_an_unreadable_model_shows_netrons_reason(qtbot, graph_view, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(bytes(range(256)) * 2)
    with qtbot.waitSignal(graph_view.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        graph_view.show_model(str(junk))
    assert blocker.args == [False]
    pane = graph_view.panes[0]
    assert pane.state == "error" and "junk.onnx" in pane.message and pane.placeholder.isVisible()
    assert graph_view.servers == []


def test_only_local_urls_pass():
    assert is_local_url(QUrl("http://127.0.0.1:8080/index.html"))
    assert is_local_url(QUrl("http://localhost:1/x"))
    assert is_local_url(QUrl("data:image/png;base64,AAAA"))
    for url in ("https://analytics.google.com/g/collect", "https://ipinfo.io/json", "http://127.0.0.2/",
                "file:///etc/passwd", "http://127.0.0.1.example.com/"):
        assert not is_local_url(QUrl(url)), url


def test_saved_model_folders_open_through_saved_model_pb(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert netron_target(tmp_path) == tmp_path / "saved_model.pb"
    with pytest.raises(FileNotFoundError):
        netron_target(tmp_path / "variables")


def test_without_qt_webengine_the_graph_tab_is_a_placeholder_that_says_why(qtbot, monkeypatch):
    from studio.gui import graph_view

    assert graph_view.webengine_problem() is None         # here it is usable: the real view
    real = graph_view.create_graph_view()
    assert isinstance(real, GraphView)
    real.close()
    real.deleteLater()
    monkeypatch.setattr(graph_view, "webengine_problem", lambda: "Qt WebEngine is not usable here: libnss3.so")
    view = graph_view.create_graph_view()
    qtbot.addWidget(view)
    assert isinstance(view, graph_view.GraphPlaceholder)
    view.show_side_by_side("/m/model.pt2", "/m/out/model_float32.tflite")
    assert "model_float32.tflite" in view.text() and "libnss3.so" in view.text()
