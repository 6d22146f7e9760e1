"""The explorer page in a real browser: headless Chromium, driven by Selenium through Debian's chromium-driver.

The tests open the page from a file, click nodes and hold the panel (#info) against the engine's numbers, step
through the whole backward pass holding the `reached` set against the engine's visiting order, work the toggles,
and fail on any console error and on any request for something other than the page itself. They skip, saying why,
when selenium, chromium or chromedriver is missing (`pip install -e '.[browser]'`; `apt-get install chromium
chromium-driver`; CHROMIUM and CHROMEDRIVER name other binaries).

    python tests/test_explorer_browser.py [OUT.png]   # the README's screenshot (viz/explorer_T3.png), taken here
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.demo import DEMO_COLLAPSE, demo_report, random_problem
from tinygrad_rnn.dot import HEAT, make_style
from tinygrad_rnn.draw import backward_steps, layout_of
from tinygrad_rnn.explorer import derivative_rule, explore
from tinygrad_rnn.explorer_lecture import explore_demo, formula, lecture_annotations
from tinygrad_rnn.layout import Layout
from tinygrad_rnn.report import compare
from tinygrad_rnn.tensor import topological_order

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "viz" / "explorer_T3.png"
WINDOW = (1600, 1000)


# ---- the machinery: a headless Chromium ----------------------------------------------------------------------------


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why there is none."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    names = [os.environ["CHROMIUM"]] if "CHROMIUM" in os.environ else ["chromium", "chromium-browser", "google-chrome"]
    chromium = next(filter(None, map(shutil.which, names)), None)
    driver = shutil.which(os.environ.get("CHROMEDRIVER", "chromedriver"))
    if not chromium or not driver:
        missing = " and ".join(n for n, found in (("chromium", chromium), ("chromedriver", driver)) if not found)
        return f"{missing} not found (Debian/Ubuntu: apt-get install chromium chromium-driver)"
    return chromium, driver


class Browser:
    """One headless Chromium: open a page, click, read the DOM, the console and the requests made."""

    def __init__(self, chromium: str, driver: str, window: tuple[int, int] = WINDOW):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
            options.add_argument(arg)
        options.add_argument(f"--window-size={window[0]},{window[1]}")
        options.add_argument("--force-device-scale-factor=1")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        metrics = {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # the page gets the whole window
        self.console: list[dict] = []
        self.requests: list[str] = []

    def open(self, path: Path) -> None:
        """Load the page and wait until it says it is interactive (the console and requests start anew)."""
        self.collect()
        self.console, self.requests = [], []
        self.url = path.resolve().as_uri()
        self.driver.get(self.url)
        for _ in range(200):
            if self.js("return document.body.dataset.ready") == "1":
                break
            time.sleep(0.02)
        self.collect()
        assert self.js("return document.body.dataset.ready") == "1", "the page never became interactive"

    def collect(self) -> None:
        self.console += self.driver.get_log("browser")
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])

    def assert_clean(self) -> None:
        """No console error, and nothing requested but the page itself."""
        self.collect()
        errors = [e for e in self.console if e["level"] == "SEVERE"]
        assert not errors, errors
        others = [u for u in self.requests if u != self.url and not u.startswith("data:")]
        assert not others, others

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def click(self, selector: str) -> None:
        self.css(selector).click()

    def key(self, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        ActionChains(self.driver).send_keys(getattr(Keys, key, key)).perform()

    def step(self) -> int:
        return int(self.css("#step-index").text)

    def reached(self) -> set[str]:
        return set(self.js("return [...document.querySelectorAll('g.node.reached')].map(g => g.dataset.node)"))

    def numbers(self, what: str) -> list[float]:
        cells = self.js(f"return [...document.querySelectorAll('#info table[data-what={what}] td[data-x]')]"
                        ".map(td => td.dataset.x)")  # fmt: skip
        return [float(c) if c != "null" else math.nan for c in cells]

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser():
    found = find_browser()
    if isinstance(found, str):
        pytest.skip(found)
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` is not installed (CI installs it)")
    b = Browser(*found)
    yield b
    b.quit()


# ---- the pages and what the engine says ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    """A T = 3 lecture problem with both readings of section 2.4, composites collapsed (as the page opens)."""
    rnn, xs, ys = random_problem(3, 3, 4, 3, seed=1)
    report = compare(rnn, xs, ys)
    path = tmp_path_factory.mktemp("page") / "t3.html"
    explore(report.loss, path, annotations=lecture_annotations(report), collapse=DEMO_COLLAPSE)
    return path, report.loss, layout_of(report.loss, make_style(None, {"collapse": DEMO_COLLAPSE}, "test"))


def expected_reached(lay: Layout, root: Tensor, k: int) -> set[str]:
    """The boxes whose gradient backward has by step k: an op from its visit on, a leaf once all its uses were."""
    ops = [t for t in reversed(topological_order(root, grad_only=True)) if t.op is not None]
    visit = {id(t): n for n, t in enumerate(ops, start=1)}
    out = set()
    for box_id, box in lay.boxes.items():
        t = box.tensors[0]
        if not lay.graph.has(t) or not t.requires_grad:
            continue
        if t.op is not None:
            done = visit[id(t)] <= k
        else:
            users = [u for u in lay.graph.tensors if u.requires_grad and any(p is t for p in u.parents)]
            done = bool(users) and all(visit[id(u)] <= k for u in users)
        if done:
            out.add(box_id)
    return out


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1)


# ---- the tests ------------------------------------------------------------------------------------------------------


def test_the_page_opens_offline_and_draws_every_node_with_its_contract(browser, lecture):
    path, _, lay = lecture
    browser.open(path)
    nodes = browser.js(
        "return [...document.querySelectorAll('#graph g.node')].map(g => [g.dataset.node, g.dataset.name])"
    )
    assert sorted(n for n, _ in nodes) == sorted(lay.boxes)
    assert all(name is not None for _, name in nodes)
    assert browser.step() == 0 and browser.reached() == set()
    assert browser.js("return document.getElementById('step-slider').max") == str(backward_steps(lay.graph.root))
    browser.assert_clean()


def test_clicking_a_node_shows_the_engines_numbers(browser, lecture):
    path, loss, lay = lecture
    browser.open(path)
    browser.click("#step-last")
    by_name = {b.tensors[0].name: b.tensors[0] for b in lay.boxes.values() if b.kind not in ("op", "group")}
    for name in ("W", "U", "V", "b", "c", "h_0", "h_1", "h_3", "o_2", "L_1", "L"):
        t = by_name[name]
        browser.click(f'#graph g.node[data-name="{name}"]')
        info = browser.css("#info").text
        assert info.startswith(name), info[:80]
        np.testing.assert_allclose(browser.numbers("value"), _flat(t.data), rtol=5e-6, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(browser.numbers("grad"), _flat(t.grad), rtol=5e-6, atol=1e-12, err_msg=name)
        cells = browser.js(
            "return [...document.querySelectorAll('#info table[data-what=grad] td')].map(td => td.textContent)"
        )
        assert cells == [f"{v:.4g}" for v in _flat(t.grad)], name  # the panel writes numbers as Python's .4g does
        if t.op is not None:
            assert derivative_rule(t.op)[1] in info, (name, info)
    w = by_name["W"]
    browser.click('#graph g.node[data-name="W"]')
    for reading in ("corrected", "printed"):
        text = browser.css(f'#info section[data-check="{reading}"]').text
        assert re.sub(r"[_{}]", "", formula("W", reading, 3)) in text, text
    assert "rel. error" in browser.css('#info section[data-check="corrected"]').text
    assert f"{np.linalg.norm(w.grad):.4g}".rstrip("0") in browser.css("#info section.grad").text
    browser.assert_clean()


def test_hovering_shows_a_node_and_clicking_pins_it(browser, lecture):
    from selenium.webdriver.common.action_chains import ActionChains

    path, _, _ = lecture
    browser.open(path)
    browser.click('#graph g.node[data-name="V"]')
    ActionChains(browser.driver).move_to_element(browser.css('#graph g.node[data-name="h_2"]')).perform()
    assert browser.css("#info").text.startswith("h_2")
    ActionChains(browser.driver).move_to_element(browser.css("#step-next")).perform()
    assert browser.css("#info").text.startswith("V")  # back to the pinned node
    browser.key("ESCAPE")
    assert not browser.css("#info").text.startswith("V")
    browser.assert_clean()


def test_stepping_through_the_whole_backward_pass_follows_the_engines_order(browser, lecture):
    path, loss, lay = lecture
    browser.open(path)
    n = backward_steps(loss)
    ops = [t for t in reversed(topological_order(loss, grad_only=True)) if t.op is not None]
    for k in range(1, n + 1):
        browser.click("#step-next")
        assert browser.step() == k
        assert browser.reached() == expected_reached(lay, loss, k), k
        current = browser.js("return [...document.querySelectorAll('g.node.current')].map(g => g.dataset.node)")
        op = ops[k - 1]
        assert any(op in (lay.boxes[c].members or lay.boxes[c].tensors) for c in current), (k, current)
    assert browser.css("#step-next").get_attribute("disabled") is not None
    browser.click("#step-prev")
    assert browser.step() == n - 1 and browser.reached() == expected_reached(lay, loss, n - 1)
    browser.key("HOME")
    assert browser.step() == 0 and browser.reached() == set()
    browser.key("ARROW_RIGHT")
    browser.key("ARROW_RIGHT")
    assert browser.step() == 2
    browser.key("ARROW_LEFT")
    assert browser.step() == 1
    browser.key("END")
    assert browser.step() == n and browser.reached() == expected_reached(lay, loss, n)
    slider = browser.css("#step-slider")
    browser.js("arguments[0].value = 5; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert browser.step() == 5 and browser.reached() == expected_reached(lay, loss, 5)
    browser.assert_clean()


def test_nodes_not_reached_yet_show_no_gradient(browser, lecture):
    path, loss, lay = lecture
    browser.open(path)
    k = backward_steps(loss) // 2
    browser.js(f"window.explorer.go({k})")
    shown = browser.js(
        "return [...document.querySelectorAll('#graph g.node')].filter(g => g.querySelector('text.g'))"
        ".map(g => [g.dataset.node, getComputedStyle(g.querySelector('text.g')).visibility])"
    )
    reached = expected_reached(lay, loss, k)
    assert shown and {node for node, v in shown if v == "visible"} == {node for node, _ in shown} & reached
    browser.click('#graph g.node[data-name="W"]')
    assert "not reached yet" in browser.css("#info section.grad").text and not browser.numbers("grad")
    browser.assert_clean()


def test_the_toggles(browser, lecture):
    path, loss, lay = lecture
    browser.open(path)
    visible = (
        "return [...document.querySelectorAll(arguments[0])].filter(e => getComputedStyle(e).display != 'none').length"
    )
    browser.click("#step-last")
    assert browser.js(visible, "text.v") > 0 and browser.js(visible, "text.g") > 0
    browser.click("#show-values")
    browser.click("#show-grads")
    assert browser.js(visible, "text.v") == 0 and browser.js(visible, "text.g") == 0
    browser.click("#show-heat")
    fills = browser.js(
        "return [...document.querySelectorAll('g.node.reached .outline')].map(o => o.getAttribute('fill'))"
    )
    assert fills and set(fills) <= set(HEAT)
    from selenium.webdriver.support.select import Select

    Select(browser.css("#show-check")).select_by_value("printed")
    fill = browser.js("return document.querySelector('g.node[data-name=\"W\"] .outline').getAttribute('fill')")
    assert fill == lecture_annotations(compare(*random_problem(3, 3, 4, 3, seed=1)))["printed"].nodes["W"].fill
    Select(browser.css("#show-variant")).select_by_value("expanded")
    expanded = layout_of(loss, make_style(None, {}, "test"))
    drawn = browser.js("return [...document.querySelectorAll('#graph g.node')].map(g => g.dataset.node)")
    assert sorted(drawn) == sorted(expanded.boxes) and browser.step() == backward_steps(loss)
    assert browser.reached() == expected_reached(expanded, loss, backward_steps(loss))
    browser.assert_clean()


def test_play_animates_and_pauses(browser, lecture):
    from selenium.webdriver.support.select import Select

    path, _, _ = lecture
    browser.open(path)
    Select(browser.css("#step-speed")).select_by_value("250")
    browser.click("#step-play")
    time.sleep(1.2)
    browser.click("#step-play")
    k = browser.step()
    assert k >= 2
    time.sleep(0.6)
    assert browser.step() == k
    browser.js("document.activeElement.blur()")
    browser.key("SPACE")  # space plays and pauses too
    time.sleep(0.8)
    browser.key("SPACE")
    assert browser.step() > k
    browser.assert_clean()


def test_a_long_sequence_opens_and_steps(browser, tmp_path):
    rnn, xs, ys = random_problem(30, 3, 4, 3, seed=0)
    loss = rnn.loss(xs, ys)
    loss.backward()
    browser.open(explore(loss, tmp_path / "t30.html", collapse=DEMO_COLLAPSE))
    browser.click("#step-last")
    lay = layout_of(loss, make_style(None, {"collapse": DEMO_COLLAPSE}, "test"))
    assert browser.reached() == expected_reached(lay, loss, backward_steps(loss))
    browser.assert_clean()


def test_the_screenshot_is_taken_mid_backward(browser, tmp_path):
    out = take_screenshot(tmp_path / "shot.png", browser)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000


# ---- the README's screenshot ----------------------------------------------------------------------------------------


def take_screenshot(out: Path, browser: Browser | None = None) -> Path:
    """The demo's page (T = 3) in the middle of the backward pass, at the step that hands the gradient back in time:
    backward visits U·h_1 at t = 2, so the bold state edge h_1 → step 2 and U's edge carry ∂L/∂(U h_1) back; h_2
    (reached two steps before) is pinned: its gradient, the rule 1 − out² of its tanh, the lecture's ∇_{h_2}L
    corrected and as printed with their errors. The nodes are coloured by the printed formulas' error."""
    own = browser is None
    if own:
        found = find_browser()
        if isinstance(found, str):
            raise SystemExit(f"no screenshot: {found}")
        browser = Browser(*found)
    assert browser is not None
    page = explore_demo(demo_report(), out.with_suffix(".html"))
    try:
        browser.open(page)
        tensors = browser.js("return window.explorer.data.tensors")
        names = [t.get("name", "") for t in tensors]
        u_h1 = [names.index("U"), names.index("h_1")]
        back_in_time = next(t for t in tensors if t.get("op") == "matmul" and t["parents"] == u_h1)
        browser.js(f"window.explorer.go({back_in_time['visit']})")
        browser.js("document.getElementById('zoom-fit').click()")
        browser.click('#graph g.node[data-name="h_2"]')
        time.sleep(0.4)  # let the carry edges' dashes move a little
        out.parent.mkdir(parents=True, exist_ok=True)
        browser.driver.save_screenshot(str(out))
        browser.assert_clean()
    finally:
        out.with_suffix(".html").unlink(missing_ok=True)
        if own:
            browser.quit()
    return out


if __name__ == "__main__":
    print(f"wrote {take_screenshot(Path(sys.argv[1]) if len(sys.argv) > 1 else SCREENSHOT)}")
