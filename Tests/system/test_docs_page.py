"""/docs in a real browser: Debian's headless Chromium loads the page with every host but the
gateway's unresolvable, so an asset fetched from anywhere else would fail; the rendered page must
list every route of /openapi.json. A screenshot is kept in var/test-artifacts/docs.png."""
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"


def chromium() -> str:
    for name in ["chromium", "chromium-browser"]:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (Tools/test installs Debian's chromium)")


def headless(url: str, *extra: str) -> subprocess.CompletedProcess:
    command = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--disable-extensions", "--disable-background-networking",
               # Only the gateway (127.0.0.1) can be reached: every other host fails to resolve.
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=10000", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_browser_here_cannot_reach_another_host():
    """The test below means something only if an outside asset would fail to load."""
    probe = headless("data:text/html,<img src='http://example.com/x.png' onerror='document.body.id=\"blocked\"'>",
                     "--dump-dom")
    assert 'id="blocked"' in probe.stdout, probe.stdout[:500]


def test_the_docs_page_renders_every_route_with_no_outside_asset(system):
    document = requests.get(system.url + "/openapi.json", timeout=10).json()
    routes = [(verb.upper(), path) for path, item in document["paths"].items() for verb in item]
    dumped = headless(system.url + "/docs", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert 'data-rendered="true"' in dom, dom[:2000]
    assert f'data-route-count="{len(routes)}"' in dom
    for verb, path in routes:
        assert f"{verb} {path}" in dom, f"{verb} {path} is not on the page"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "docs.png"
    shot = headless(system.url + "/docs", f"--screenshot={screenshot}", "--window-size=1280,3000")
    assert shot.returncode == 0 and screenshot.exists() and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
