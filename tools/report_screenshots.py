"""Open every figure of a Snakemake report in headless Chromium, screenshot it and check it is whole.

    python tools/report_screenshots.py report.html [--out shots/] [--window 1280x800]

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``) and
``pip install selenium``; neither is a udaflow dependency. For each category, subcategory and item of
the report it clicks the item's "view" (eye) button, waits for the image, writes a screenshot and
checks that the image's top and bottom lie inside the window (the viewer centres an image at its
pixel size, so a taller one would hide its top; issue 22). Exit status 1 lists the figures that are
not whole. Tables (CSV, HTML) are opened and screenshotted too, but only images are checked.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMEDRIVER = "/usr/bin/chromedriver"
PAUSE_S = 0.6
_IMAGE_RECT = """
const images = [...document.querySelectorAll('img')].filter(i => i.naturalWidth > 100);
if (!images.length) return null;
const b = images[0].getBoundingClientRect();
return [b.top, b.bottom, window.innerHeight, images[0].naturalWidth, images[0].naturalHeight];
"""


def browser(window: str) -> webdriver.Chrome:
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={window.replace('x', ',')}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def click_text(driver: webdriver.Chrome, text: str) -> bool:
    for element in driver.find_elements(By.XPATH, f"//*[normalize-space(text())={text!r}]"):
        try:
            element.click()
        except Exception:  # noqa: BLE001 - hidden duplicates of the text are not clickable; try the next
            continue
        time.sleep(PAUSE_S)
        return True
    return False


def sidebar_entries(driver: webdriver.Chrome) -> list[str]:
    """The texts of the sidebar's current list (categories, subcategories or the items' table)."""
    rows = driver.find_elements(By.XPATH, "//table//tr/td[1]")
    if rows:
        return [row.text for row in rows if row.text]
    return [link.text for link in driver.find_elements(By.XPATH, "//nav//a|//ul//a") if link.text]


def open_list(driver: webdriver.Chrome, report: Path, category: str, subcategory: str | None = None) -> None:
    """From the landing page, the sidebar list of ``category`` (and ``subcategory``)."""
    driver.get(report.resolve().as_uri())
    time.sleep(2 * PAUSE_S)
    click_text(driver, category)
    if subcategory is not None:
        click_text(driver, subcategory)


def item_rows(driver: webdriver.Chrome) -> list:
    return driver.find_elements(By.XPATH, "//table//tr[.//a[@iconname='eye']]")


def check(report: Path, out: Path, window: str) -> list[str]:
    driver = browser(window)
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    try:
        driver.get(report.resolve().as_uri())
        time.sleep(2 * PAUSE_S)
        categories = [name for name in sidebar_entries(driver) if name[:1].isdigit()]
        for category in categories:
            open_list(driver, report, category)
            subcategories = [s for s in sidebar_entries(driver) if s not in (category, "Results")]
            for subcategory in subcategories:
                open_list(driver, report, category, subcategory)
                for index in range(len(item_rows(driver))):
                    row = item_rows(driver)[index]
                    label = " ".join(cell.text for cell in row.find_elements(By.TAG_NAME, "td") if cell.text)
                    row.find_element(By.CSS_SELECTOR, "a[iconname=eye]").click()
                    time.sleep(PAUSE_S)
                    name = f"{category}_{subcategory}_{label}"
                    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
                    driver.save_screenshot(str(out / f"{safe}.png"))
                    rect = driver.execute_script(_IMAGE_RECT)
                    if rect and (rect[0] < 0 or rect[1] > rect[2]):
                        problems.append(f"{category} / {subcategory} / {label}: image {rect[3]}x{rect[4]} px spans "
                                        f"{rect[0]:.0f}..{rect[1]:.0f} of a {rect[2]} px window")
                    print(f"{category} / {subcategory} / {label}: {'image ' + str(rect[3:]) if rect else 'table'}")
    finally:
        driver.quit()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the report.html of `snakemake --report`")
    parser.add_argument("--out", type=Path, default=Path("report_screenshots"), help="where screenshots go")
    parser.add_argument("--window", default="1280x800", help="browser window WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    problems = check(args.report, args.out, args.window)
    for problem in problems:
        print(f"NOT WHOLE: {problem}")
    print(f"screenshots in {args.out}; {len(problems)} figure(s) not whole")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
