"""The portals' design system (docs/adr/0024-design-system.md): GOV.UK Frontend under our own brand.

Served from the package itself (built by `make css`), with nothing of the GOV.UK brand in it, colours
with WCAG AA contrast, and a favicon that answers at /favicon.ico."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from opendsp.platform import Platform
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "opendsp" / "web" / "static"
SCSS = ROOT / "src" / "opendsp" / "web" / "scss" / "portal.scss"


def test_every_page_links_the_portal_styles_and_the_favicon_and_runs_no_script(platform: Platform) -> None:
    page = Browser(platform).get("/login").text
    assert '<link rel="stylesheet" href="/static/opendsp/portal.css">' in page
    assert '<link rel="icon" href="/favicon.ico"' in page and 'href="/static/opendsp/favicon.svg"' in page
    assert "<script" not in page and "dsfr" not in page.lower()  # the pages work without any script
    assert 'class="opendsp-wordmark" aria-hidden="true">DSP<' in page


def test_the_favicon_answers_with_an_image(platform: Platform) -> None:
    browser = Browser(platform)
    icon = browser.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/")
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file, not a page
    svg = browser.get("/static/opendsp/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_everything_the_stylesheets_load_is_served(platform: Platform) -> None:
    browser = Browser(platform)
    for sheet in ("portal.css", "opendsp.css"):
        response = browser.get(f"/static/opendsp/{sheet}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
        for url in re.findall(r'url\("?([^")]+)"?\)', response.text):
            if url.startswith("data:"):
                continue
            loaded = browser.get(url)
            assert loaded.status_code == 200, url
    font = browser.get("/static/opendsp/fonts/source-sans-3-latin-400-normal.woff2")
    assert font.content[:4] == b"wOF2"


def test_nothing_of_the_gov_uk_brand_is_shipped() -> None:
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "portal.css").read_text(encoding="utf-8-sig"), flags=re.S)
    assert "govuk-button" in css and "Source Sans 3" in css
    assert "GDS Transport" not in css and "/assets/" not in css and "crest" not in css and "crown" not in css
    shipped = [p.name for p in STATIC.rglob("*")]
    assert "favicon.ico" in shipped and not [name for name in shipped if "govuk" in name or "crest" in name]


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_brand_colours_have_aa_contrast() -> None:
    colours = dict(re.findall(r"^\$dsp-([a-z-]+): (#[0-9a-f]{6});", SCSS.read_text(), flags=re.M))
    white = "#ffffff"
    for text in ("petrol", "petrol-dark", "link", "visited", "ink", "secondary", "error", "success"):
        assert contrast(colours[text], white) >= 4.5, text  # text and links on the page
        assert contrast(colours[text], colours["tint"]) >= 4.5, text  # ... and on the tinted surfaces
    assert contrast(white, colours["success"]) >= 4.5  # the primary buttons' text
    assert contrast(colours["ink"], colours["focus"]) >= 4.5  # focused links
    assert contrast(white, "#00626f") >= 4.5  # the header band (opendsp.css, theme-color)
    assert contrast("#1b1b1b", "#ff0000") < 4.5  # the measure can fail


@pytest.mark.skipif(not (ROOT / "node_modules" / "sass").is_dir() or shutil.which("node") is None,
                    reason="node_modules/sass missing: run `npm ci --ignore-scripts` (make test does)")
def test_the_committed_stylesheet_is_the_one_the_sources_build(tmp_path: Path) -> None:
    """portal.css is built from portal.scss and the locked GOV.UK Frontend: `make css` after changing either."""
    built = tmp_path / "portal.css"
    subprocess.run(["node", str(ROOT / "node_modules" / "sass" / "sass.js"), "--no-source-map", "--style=compressed",
                    "--load-path", str(ROOT / "node_modules"), str(SCSS), str(built)], check=True, timeout=120)
    assert built.read_bytes() == (STATIC / "portal.css").read_bytes()
