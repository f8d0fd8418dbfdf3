"""Frames first on the live review page, in headless Chromium through WebDriver (Debian's
chromedriver): loads the URL `storyboard review` printed, checks each frame take is shown as an
image that loaded, clicks "pick frame N" of a shot, waits for the page to show that frame
selected, takes a screenshot, and prints as JSON what the browser logged and what the page showed.

usage: review_frames_browser.py URL SCREENSHOT SHOT FRAME [end]
("end": the shot's end frame row instead of its first frames.)
"""

import json
import sys

from browser import chromium, whole_page_screenshot
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

url, screenshot, shot, frame = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
edge = '[data-edge="end"]' if sys.argv[5:] == ["end"] else ':not([data-edge])'

driver = chromium()
try:
    driver.get(url)
    logs = driver.get_log("browser")
    images = f'section[data-shot="{shot}"] figure.frame img'
    WebDriverWait(driver, 30).until(lambda d: all(
        d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
        for i in d.find_elements(By.CSS_SELECTOR, images)))
    loaded = [driver.execute_script("return arguments[0].naturalWidth", i)
              for i in driver.find_elements(By.CSS_SELECTOR, images)]
    button = driver.find_element(By.CSS_SELECTOR, f'button[data-pick-frame="{shot}"][data-frame="{frame}"]{edge}')
    button.click()
    selected = f'section[data-shot="{shot}"] figure.frame.selected[data-frame="{frame}"]{edge}'
    wait = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, selected))
    logs += driver.get_log("browser")
    whole_page_screenshot(driver, screenshot)
    print(json.dumps({
        "console": [entry["message"] for entry in logs if entry["level"] in ("SEVERE", "WARNING")],
        "frames": len(driver.find_elements(By.CSS_SELECTOR, "figure.frame")),
        "widths": loaded,
        "selected": len(driver.find_elements(By.CSS_SELECTOR, selected)),
        "summary": driver.find_element(By.CSS_SELECTOR, "p.summary").text,
    }))
finally:
    driver.quit()
