"""What the review-page scripts share: headless Chromium through Debian's chromedriver, with the
browser's console log kept, and a screenshot of the whole page from the top."""

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def chromium():
    """A headless Chromium driven through WebDriver, logging the page's console."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
                "--no-first-run", "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(60)
    return driver


def whole_page_screenshot(driver, path):
    """The whole page (up to 4000 px high) from its top, saved as a PNG at `path`."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(path)
