"""What a reader sees: pages of the built site rendered in headless Chromium, and the site's remote resources.

The site must read well when opened from disk, offline, at 1280 px: :func:`remote_resources` lists every script,
style sheet or image a page would fetch from another site (there should be none), and :func:`inspect` renders a
page as a browser does and reports where its table columns end, whether its formulas were typeset, and takes a
screenshot. Chromium is the browser (Debian: ``apt-get install chromium``); :func:`find_browser` finds it.

Example:
    >>> remote_resources_in('<script src="https://cdn.example.org/mathjax.js"></script><a href="https://x.org">x</a>')
    ['https://cdn.example.org/mathjax.js']
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

BROWSER_VARIABLE = "EMERGENCE_BROWSER"
"""Environment variable naming the browser to use (a command or a path); default: the first of :data:`BROWSERS`."""

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Commands tried, in order, by :func:`find_browser`."""

INSTALL_HINT = "install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) or set EMERGENCE_BROWSER"
"""What to do when no browser is found."""

WIDTH = 1280
"""The viewport width, in CSS pixels, a page is checked at: a laptop screen at 100% zoom."""

_RESULT_ID = "emergence-browser-check"

# Run in the page after it has loaded and MathJax (when the page has it) has typeset: where every table header
# ends (and where the nearest scrolling box around it clips it), how many formulas were typeset, and how many text
# nodes outside code still hold raw TeX delimiters. The result is written into the page for --dump-dom to print.
_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const report = () => {
    const headers = [];
    document.querySelectorAll("th").forEach((th) => {
      const box = th.getBoundingClientRect();
      let clip = window.innerWidth;
      for (let node = th.parentElement; node; node = node.parentElement) {
        const overflow = getComputedStyle(node).overflowX;
        if (overflow !== "visible") clip = Math.min(clip, node.getBoundingClientRect().right);
      }
      headers.push({text: th.textContent.trim(), left: box.left, right: box.right, clip: clip});
    });
    let raw = 0;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (node.parentElement.closest("script, style, pre, code, textarea, mjx-container")) continue;
      if (/\\\\\\(|\\\\\\[/.test(node.textContent)) raw += 1;
    }
    const result = {viewport: window.innerWidth, headers: headers, raw_math: raw,
                    typeset: document.querySelectorAll("mjx-container").length,
                    mathjax: Boolean(window.MathJax && window.MathJax.startup)};
    const out = document.createElement("pre");
    out.id = "%s";
    out.textContent = JSON.stringify(result);
    document.body.appendChild(out);
  };
  const mathjax = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  if (mathjax) mathjax.then(report, report); else report();
});
</script>
""" % _RESULT_ID


class BrowserError(RuntimeError):
    """The browser could not be found, or could not render a page."""


@dataclass(frozen=True)
class Header:
    """A table header cell as rendered: its text, its left and right edges, and the right edge of the box that
    clips it (the viewport, or a scrolling container around the table), all in CSS pixels."""

    text: str
    left: float
    right: float
    clip: float

    @property
    def visible(self) -> bool:
        """True when the whole cell lies within the box that clips it (no sideways scrolling needed)."""
        return self.right <= self.clip + 0.5


@dataclass(frozen=True)
class Rendering:
    """What :func:`inspect` found on a page.

    Attributes:
        viewport: the window's width in CSS pixels.
        headers: every table header cell of the page, in document order.
        typeset: formulas MathJax typeset.
        raw_math: text nodes outside code that still hold a raw TeX delimiter (``\\(`` or ``\\[``).
        mathjax: whether MathJax ran at all.
        screenshot: the screenshot written, if one was asked for.
    """

    viewport: int
    headers: tuple[Header, ...]
    typeset: int
    raw_math: int
    mathjax: bool
    screenshot: Path | None = None

    def header(self, text: str) -> Header:
        """The first header cell whose text is ``text``.

        Raises:
            KeyError: naming the headers the page has.
        """
        for header in self.headers:
            if header.text == text:
                return header
        raise KeyError(f"no table header {text!r}; the page's headers: {sorted({h.text for h in self.headers})}")


def find_browser() -> str | None:
    """The browser to use: ``$EMERGENCE_BROWSER`` when set, else the first of :data:`BROWSERS` found on the path."""
    named = os.environ.get(BROWSER_VARIABLE)
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class _Resources(HTMLParser):
    """Collects the addresses a page fetches by itself: scripts, style sheets, images, frames (not links)."""

    FETCHED = {"script": "src", "img": "src", "iframe": "src", "source": "src", "link": "href"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and not {"stylesheet", "preload", "icon"} & set((attributes.get("rel") or "").split()):
            return
        address = attributes.get(self.FETCHED.get(tag, ""))
        if address and address.split(":", 1)[0] in ("http", "https") or (address or "").startswith("//"):
            self.found.append(address)


def remote_resources_in(html: str) -> list[str]:
    """The addresses on another site that the page ``html`` would fetch as it loads."""
    parser = _Resources()
    parser.feed(html)
    return parser.found


def remote_resources(site: str | Path) -> dict[str, list[str]]:
    """Every page of the built ``site`` folder that would fetch something from another site, with what it fetches."""
    site = Path(site)
    found = {}
    for page in sorted(site.rglob("*.html")):
        remote = remote_resources_in(page.read_text(encoding="utf-8", errors="replace"))
        if remote:
            found[str(page.relative_to(site))] = remote
    return found


def _run(browser: str, arguments: list[str], timeout: float) -> str:
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--virtual-time-budget=15000", *arguments]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrowserError(f"{browser} did not finish within {timeout:.0f} s: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise BrowserError(f"{browser} failed (exit status {done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def inspect(page: str | Path, screenshot: str | Path | None = None, width: int = WIDTH, height: int = 2400,
            browser: str | None = None, timeout: float = 120) -> Rendering:
    """Render ``page`` (an HTML file of the built site) in headless Chromium at ``width`` x ``height`` and report
    what a reader sees: where each table header ends, and whether the formulas were typeset.

    A copy of the page with a small reporting script is rendered beside it (so that its relative links resolve)
    and removed afterwards. With ``screenshot``, the page itself is also saved there as a PNG.

    Raises:
        BrowserError: no browser (:data:`INSTALL_HINT`), or it failed.
    """
    browser = browser or find_browser()
    if browser is None:
        raise BrowserError(f"no browser found: {INSTALL_HINT}")
    page = Path(page).resolve()
    html = page.read_text(encoding="utf-8")
    probe = page.with_name(f".{page.stem}.{uuid.uuid4().hex}.html")
    try:
        probe.write_text(html.replace("</body>", _SCRIPT + "</body>", 1), encoding="utf-8")
        dom = _run(browser, [f"--window-size={width},{height}", "--dump-dom", probe.as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    start = dom.find(f'id="{_RESULT_ID}"')
    if start < 0:
        raise BrowserError(f"the page {page} did not finish loading in {browser}")
    text = dom[start:].split(">", 1)[1].split("</pre>", 1)[0]
    result = json.loads(unescape(text))
    shot = None
    if screenshot is not None:
        shot = Path(screenshot)
        shot.parent.mkdir(parents=True, exist_ok=True)
        _run(browser, [f"--window-size={width},{height}", f"--screenshot={shot.resolve()}", page.as_uri()], timeout)
    return Rendering(viewport=int(result["viewport"]), headers=tuple(Header(**h) for h in result["headers"]),
                     typeset=int(result["typeset"]), raw_math=int(result["raw_math"]),
                     mathjax=bool(result["mathjax"]), screenshot=shot)  # fmt: skip


SCORECARD_PAGE = "book/scorecard.html"
"""The page whose verdict column must fit the screen (relative to the site folder)."""

FORMULA_PAGE = "book/emergence_metric.html"
"""A page with many formulas, checked for typeset math (relative to the site folder)."""


def check_site(site: str | Path, screenshots: str | Path | None = None, browser: str | None = None
               ) -> tuple[list[str], bool]:
    """Check the built ``site`` as a reader meets it, offline at :data:`WIDTH` px.

    No page may fetch anything from another site (:func:`remote_resources`). With a browser (:func:`find_browser`):
    the scorecard's ``verdict`` column lies within the screen and within any scrolling box around its table, and
    the formulas of :data:`FORMULA_PAGE` are typeset with no raw TeX left; screenshots of both pages go to
    ``screenshots`` when given.

    Returns:
        The problems found (empty when the site passes), and whether a browser rendered the pages.
    """
    site = Path(site)
    remote = remote_resources(site)
    problems = [f"{page} fetches from another site: {', '.join(found)}" for page, found in remote.items()]
    browser = browser or find_browser()
    if browser is None:
        return problems, False
    shots = Path(screenshots) if screenshots is not None else None
    if (site / SCORECARD_PAGE).is_file():
        card = inspect(site / SCORECARD_PAGE, shots / "scorecard.png" if shots else None, browser=browser)
        verdict = card.header("verdict")
        if not (verdict.visible and verdict.right <= card.viewport):
            problems.append(f"{SCORECARD_PAGE}: the verdict column ends at {verdict.right:.0f} px, beyond the "
                            f"{min(verdict.clip, card.viewport):.0f} px a reader sees without scrolling")  # fmt: skip
    if (site / FORMULA_PAGE).is_file():
        page = inspect(site / FORMULA_PAGE, shots / "chapter.png" if shots else None, browser=browser)
        if not page.mathjax or page.typeset == 0 or page.raw_math:
            problems.append(f"{FORMULA_PAGE}: formulas not rendered (MathJax ran: {page.mathjax}, typeset: "
                            f"{page.typeset}, text with raw TeX: {page.raw_math})")  # fmt: skip
    return problems, True
