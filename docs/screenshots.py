"""Take the screenshots of the guides from the real front office of the utility template.

    .venv/bin/python docs/screenshots.py            # writes docs/images/*.png
    .venv/bin/python docs/screenshots.py --out DIR  # somewhere else (the test does)

It makes the utility demo in a temporary folder with 200 demo customers, serves the front
office, and drives Debian's Chromium through Playwright as the agent, the supervisor and a
customer would: the pictures show what the software shows, never a mock-up.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from caruso.app import Application  # noqa: E402
from caruso.demo.templates import create, demo_module  # noqa: E402

AGENT, AGENT_PASSWORD = "anouk", "anouk-demo-2026"
SUPERVISOR, SUPERVISOR_PASSWORD = "sophie", "sophie-demo-2026"
CUSTOMER, CUSTOMER_PASSWORD = "klant", "klant-demo-2026"
QUEUE = "billing"
"""A queue of the agent's without an IVR in front: the call rings at once (only they are logged in)."""
SIZE = {"width": 1280, "height": 860}
SHOTS = ("desktop.png", "customer-360.png", "monitor.png", "customer-list.png", "self-service.png")


def take(out: Path, browser=None) -> list[Path]:
    """Every screenshot, written into ``out``; their paths. ``browser`` is a Playwright
    Chromium already launched (a test's), else Debian's Chromium is launched here."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = create("utility", Path(scratch) / "utility")
        app = Application.from_folder(folder)
        with app:
            app.services.get("storage").upgrade()
            module = demo_module(folder)
            module.generate(app, customers=200, seed=1)
            web = app.services.get("web")
            for name, password, roles, fields in module.DEMO_USERS:
                web.users.add(name, password, roles=list(roles), **fields)
            url = web.listen(port=0)
            if browser is not None:
                _all(app, browser, url, out)
            else:
                with _launched() as launched:
                    _all(app, launched, url, out)
    return [out / name for name in SHOTS]


def _all(app, browser, url: str, out: Path) -> None:
    _agent(app, browser, url, out)
    _supervisor(browser, url, out)
    _customer(browser, url, out)


@contextlib.contextmanager
def _launched():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


def _page(browser, url: str, name: str, password: str, path: str):
    page = browser.new_page(viewport=SIZE)
    page.goto(f"{url}{path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{path}")
    return page


def _agent(app, browser, url: str, out: Path) -> None:
    """The agent goes ready, a caller is offered and accepted: the desktop with the 360 view."""
    server = app.services.get("communication")
    bom = app.services.get("bom")
    agent = next(a for a in server.agent_views() if a.name == AGENT)
    with bom.session() as session:
        caller = session.scalars(bom.model.Customer.select(bom.model.Customer.phone.is_not(None)).limit(1)).one()
        key, phone, name = caller.id, caller.phone, caller.name
    page = _page(browser, url, AGENT, AGENT_PASSWORD, "/desktop")
    page.click("button[value=ready]")
    page.wait_for_selector("#agent-state:text('ready')")
    call = server.offer("voice", queue=QUEUE, address=phone, customer=key, language=agent.languages[0],
                        data={"ivr": {"session": "-", "script": "ivr-menu", "status": "ended",
                                      "answers": {"choice": "billing"}}})
    page.wait_for_selector(f"article[data-interaction='{call.id}'][data-state='offered']", timeout=15_000)
    page.click(f"article[data-interaction='{call.id}'] button:text('Accept')")
    page.wait_for_selector(f"article[data-interaction='{call.id}'][data-state='connected']")
    page.locator(".customer-360").get_by_text(name).first.wait_for(timeout=15_000)
    page.screenshot(path=str(out / "desktop.png"), full_page=False)
    page.goto(f"{url}/v/customer-360/{key}")
    page.screenshot(path=str(out / "customer-360.png"), full_page=False)
    page.goto(f"{url}/v/customer-list")
    page.screenshot(path=str(out / "customer-list.png"), full_page=False)
    page.close()


def _supervisor(browser, url: str, out: Path) -> None:
    page = _page(browser, url, SUPERVISOR, SUPERVISOR_PASSWORD, "/supervisor")
    page.wait_for_selector("#agents")
    page.screenshot(path=str(out / "monitor.png"), full_page=False)
    page.close()


def _customer(browser, url: str, out: Path) -> None:
    page = _page(browser, url, CUSTOMER, CUSTOMER_PASSWORD, "/self-service")
    page.screenshot(path=str(out / "self-service.png"), full_page=False)
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "images", help="where the PNG files go")
    for path in take(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
