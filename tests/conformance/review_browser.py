"""Drives the live review page in headless Chromium through WebDriver (Debian's chromedriver):
loads the URL `storyboard review` printed, plays the shot's takes side by side (the first take
seeked, the others follow), clicks "pick take N" of a shot, waits for the page
to show that take selected, writes a note, asks for a redo and withdraws it with the page's
buttons, takes a screenshot, and prints as JSON what the browser logged and what the page showed
(takes, prompt-version groups, models and times shown, the stale-cut mark).

usage: review_browser.py URL SCREENSHOT SHOT TAKE
"""

import json
import sys

from browser import chromium, whole_page_screenshot
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

url, screenshot, shot, take = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def _alive(element):
    """Whether an element still belongs to the page (a reload replaces it)."""
    try:
        element.is_enabled()
        return True
    except Exception:
        return False

def _together(driver, shot):
    """Clicks "play the takes side by side" of the shot (when it has one): waits until every take
    plays, then seeks the first take and waits until the others follow it. What it saw."""
    buttons = driver.find_elements(By.CSS_SELECTOR, f'button[data-together="{shot}"]')
    if not buttons:
        return None
    buttons[0].click()
    videos = f'section[data-shot="{shot}"] figure.take video'
    times = f"return [...document.querySelectorAll('{videos}')].map(v => [v.paused, v.currentTime])"
    wait = WebDriverWait(driver, 30)
    try:
        wait.until(lambda d: all(not paused and t > 0.2 for paused, t in d.execute_script(times)))
        playing = True
    except TimeoutException:
        playing = False
    driver.execute_script(f"document.querySelector('{videos}').currentTime = 2.5")
    try:
        wait.until(lambda d: (lambda ts: max(t for _, t in ts) - min(t for _, t in ts) < 0.3
                              and min(t for _, t in ts) >= 2.5)(d.execute_script(times)))
        in_step = True
    except TimeoutException:
        in_step = False
    muted = driver.execute_script(f"return [...document.querySelectorAll('{videos}')].map(v => v.muted)")
    driver.execute_script(f"document.querySelector('{videos}').pause()")
    return {"takes": len(muted), "playing": playing, "in_step": in_step, "muted": muted}


driver = chromium()
try:
    driver.get(url)
    logs = driver.get_log("browser")
    together = _together(driver, shot)
    button = driver.find_element(By.CSS_SELECTOR, f'button[data-pick="{shot}"][data-take="{take}"]')
    button.click()
    selected = f'section[data-shot="{shot}"] figure.take.selected[data-take="{take}"]'
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, selected))
    logs += driver.get_log("browser")
    # A note, then a redo, through the page's own buttons (each reloads the page).
    note = driver.find_element(By.CSS_SELECTOR, f'textarea[data-note="{shot}"]')
    note.clear()
    note.send_keys("slower, and closer")
    old = driver.find_element(By.TAG_NAME, "main")
    driver.find_element(By.CSS_SELECTOR, f'button[data-save-note="{shot}"]').click()
    # The page reloads under the wait: an element found just before it is gone is tried again.
    reloaded = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))
    reloaded.until(lambda d: not _alive(old) and d.find_element(By.CSS_SELECTOR, f'textarea[data-note="{shot}"]').get_attribute("value") == "slower, and closer")
    old = driver.find_element(By.TAG_NAME, "main")
    driver.find_element(By.CSS_SELECTOR, f'button[data-redo="{shot}"]').click()
    badge = f'section[data-shot="{shot}"] .badge.redo'
    try:
        redo_badge = reloaded.until(lambda d: not _alive(old) and d.find_elements(By.CSS_SELECTOR, badge))
    except TimeoutException:
        redo_badge = []
    # The redo withdrawn with the page's own button.
    redo_withdrawn = False
    if redo_badge:
        old = driver.find_element(By.TAG_NAME, "main")
        driver.find_element(By.CSS_SELECTOR, f'button[data-no-redo="{shot}"]').click()
        try:
            redo_withdrawn = reloaded.until(lambda d: not _alive(old) and not d.find_elements(By.CSS_SELECTOR, badge))
        except TimeoutException:
            redo_withdrawn = False
    logs += driver.get_log("browser")
    section = f'section[data-shot="{shot}"]'
    versions = [v.find_element(By.TAG_NAME, "h3").text
                for v in driver.find_elements(By.CSS_SELECTOR, f"{section} div.version")]
    # The whole page in the screenshot, from the cut at the top.
    whole_page_screenshot(driver, screenshot)
    print(json.dumps({
        "console": [entry["message"] for entry in logs if entry["level"] in ("SEVERE", "WARNING")],
        "title": driver.title,
        "takes": len(driver.find_elements(By.CSS_SELECTOR, "figure.take")),
        "redo_shown": len(redo_badge) == 1,
        "redo_withdrawn": bool(redo_withdrawn),
        "versions": versions,
        "models": len(driver.find_elements(By.CSS_SELECTOR, f"{section} figure.take .model")),
        "times": len(driver.find_elements(By.CSS_SELECTOR, f"{section} figure.take time")),
        "cut_stale": len(driver.find_elements(By.CSS_SELECTOR, ".cut .cut-stale")) == 1,
        "together": together,
    }))
finally:
    driver.quit()
