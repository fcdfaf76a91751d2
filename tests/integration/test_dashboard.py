"""The dashboard at /ui, driven in a real headless Chromium against the real platform.

Redis, the API over HTTP and a spawner running Docker are the integration fixtures
(conftest.py); the browser is Debian's ``chromium`` with ``chromium-driver``. Each test signs
in through the page as a user would, and saves a screenshot of what it looked at under
``$ACTORS_TEST_ARTIFACTS`` (default ``tests/artifacts/``). With CI=true or
ACTORS_REQUIRE_INTEGRATION=1 a missing browser fails the tests instead of skipping them.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from actors_core.tokens import mint

from .conftest import ECHO, SLEEP
from .platform import REPO, ApiClient, ApiServer, SpawnerProcess

try:
    from selenium import webdriver
    from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - reported by the browser fixture
    webdriver = None

REQUIRED = (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("ACTORS_REQUIRE_INTEGRATION") == "1")
ARTIFACTS = Path(os.environ.get("ACTORS_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
WAIT = 60  # seconds any one thing may take to appear on the page
XSS = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">'
TWO_GPUS = json.dumps([
    {"index": 0, "uuid": "GPU-sim-0000", "name": "Simulated A100", "memory_total": 40 << 30},
    {"index": 1, "uuid": "GPU-sim-0001", "name": "Simulated A100", "memory_total": 40 << 30},
])


def _chromium() -> tuple:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = _chromium()
    missing = [what for what, found in (("the selenium package", webdriver),
                                        ("chromium", chromium),
                                        ("chromedriver (chromium-driver)", chromedriver))
               if not found]
    if missing:
        message = f"browser tests need {', '.join(missing)} (scripts/host-setup.sh installs them)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1360,900", "--force-device-scale-factor=1", "--lang=en-US",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=chromedriver))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, api):
    """The browser at a blank dashboard; afterwards, no script error may have happened."""
    ui = Dashboard(browser, api.url)
    yield ui
    ui.assert_no_script_errors()


class Dashboard:
    """What a person does on the page, in selenium terms."""

    def __init__(self, driver, url: str):
        self.driver = driver
        self.url = url
        self.load(f"{url}/ui/")
        driver.execute_script("sessionStorage.clear(); localStorage.clear();")
        driver.get_log("browser")  # forget what earlier tests logged

    def load(self, url: str = None) -> None:
        """Open url (None: reload the page) and wait until the page's modules have started.

        Chromium drops requests in flight when a network interface comes or goes
        (ERR_NETWORK_CHANGED), which Docker causes whenever a container starts or stops. The
        page asks the API again itself (api.js); a module file lost that way leaves the page
        unstarted, and here it is loaded again, as a person would press reload.
        """
        for attempt in range(3):
            if url and not attempt:
                self.driver.get(url)
            else:
                self.driver.refresh()
            try:
                WebDriverWait(self.driver, 15, poll_frequency=0.2).until(lambda driver: (
                    driver.execute_script("return document.documentElement.dataset.app")))
                return
            except TimeoutException:
                continue
        raise AssertionError(f"the dashboard never started at {self.driver.current_url}: "
                             f"{self.driver.get_log('browser')}")

    def sign_in(self, token: str, route: str = "actors") -> None:
        self.load(f"{self.url}/ui/#/{route}")
        self.driver.execute_script("sessionStorage.clear();")
        self.load()
        self.type("#token", token)
        self.click("#sign-in")
        self.wait_for("#who-name")

    def go(self, route: str) -> None:
        self.load(f"{self.url}/ui/#/{route}")

    # The pages re-render as they poll, so an element found now may be gone a moment later.
    # Text is therefore read in one step in the page (never a WebElement kept and read later),
    # and a click looks the element up again if it was replaced in between.
    _TEXTS = ("return Array.from(document.querySelectorAll(arguments[0]))"
              ".filter((e) => e.getClientRects().length > 0).map((e) => e.innerText);")

    def texts(self, selector: str) -> list:
        """The text of each displayed element matching selector."""
        return self.driver.execute_script(self._TEXTS, selector)

    def text(self, selector: str) -> str:
        found = self.texts(selector)
        return found[0] if found else ""

    def count(self, selector: str) -> int:
        """How many elements match selector, displayed or not."""
        return len(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def wait_for(self, selector: str, text: str = None, timeout: float = WAIT) -> str:
        """The text of the first displayed element matching selector (and containing text)."""
        def present(driver):  # a list, so that an empty text (a form field) counts as found
            return [found for found in self.texts(selector) if text is None or text in found][:1]
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(present)[0]
        except TimeoutException:
            what = f"{selector!r}" + (f" containing {text!r}" if text else "")
            console = [entry["message"] for entry in self.driver.get_log("browser")]
            raise AssertionError(f"{what} never appeared at {self.driver.current_url}; the page "
                                 f"said: {self.body()[:2000]!r}; the console: {console}") from None

    def type(self, selector: str, text: str) -> None:
        """Type into a form field (fields are not re-rendered while the page polls)."""
        self.wait_for(selector)
        field = self.driver.find_element(By.CSS_SELECTOR, selector)
        field.clear()
        field.send_keys(text)

    def click(self, selector: str, text: str = None) -> None:
        for _ in range(5):
            self.wait_for(selector, text)
            for element in self.driver.find_elements(By.CSS_SELECTOR, selector):
                try:
                    if element.is_displayed() and (text is None or text in element.text):
                        element.click()
                        return
                except StaleElementReferenceException:
                    break  # re-rendered meanwhile: look again
        raise AssertionError(f"could not click {selector!r}: it kept being replaced")

    def body(self) -> str:
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except WebDriverException:
            return "<no page>"

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"dashboard-{name}.png"
        # The whole page, not just the window: grow the window to the document's height.
        height, chrome = self.driver.execute_script(
            "return [document.documentElement.scrollHeight, outerHeight - innerHeight]")
        self.driver.set_window_size(1360, max(900, min(int(height) + int(chrome), 3000)))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1360, 900)
        return path

    def session_storage(self) -> dict:
        return self.driver.execute_script(
            "return Object.fromEntries(Object.entries(sessionStorage));")

    def assert_no_script_errors(self) -> None:
        """No uncaught exception and no Content-Security-Policy violation in the console
        (refused requests log 'Failed to load resource', which some tests cause on purpose,
        as does Chromium when Docker changes the network under it: see load())."""
        errors = [entry["message"] for entry in self.driver.get_log("browser")
                  if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
                  and "ERR_NETWORK_CHANGED" not in entry["message"]]
        assert not errors, errors

    def assert_not_injected(self) -> None:
        assert self.count("img[src='x']") == 0, "data was inserted as markup"
        assert self.driver.execute_script("return window.__xss === undefined")


def token_of(client: ApiClient) -> str:
    return client.session.headers["Authorization"].split()[1]


def other_user(api) -> ApiClient:
    return ApiClient(api.url, mint(api.config, f"other-{uuid.uuid4().hex[:6]}"))


# -- sign-in ------------------------------------------------------------------------------------
def test_sign_in_refuses_a_bad_token_and_keeps_a_good_one_in_the_tab_only(page, user_token):
    page.go("actors")
    page.wait_for("#token")
    page.screenshot("sign-in")

    page.type("#token", "not-a-token")
    page.click("#sign-in")
    page.wait_for(".notice-error", "The API refused this token")
    assert page.session_storage() == {}

    page.sign_in(user_token)
    page.wait_for("#actors-table")
    assert page.session_storage() == {"actors.token": user_token}
    assert page.driver.execute_script("return localStorage.length") == 0
    assert page.driver.execute_script("return document.cookie") == ""
    assert user_token not in page.driver.current_url

    page.click("#sign-out")
    page.wait_for("#token")
    assert page.session_storage() == {}


# -- actors -------------------------------------------------------------------------------------
def test_actors_page_lists_what_the_token_may_read_and_shows_data_as_text(page, client, api,
                                                                            user_token):
    name = f"greeter-{uuid.uuid4().hex[:6]}"
    mine = client.create_actor(ECHO, name=name, description=f"says hello {XSS}")
    theirs = other_user(api).create_actor(ECHO, name=f"private-{uuid.uuid4().hex[:6]}")
    client.wait_actor(mine["id"])

    page.sign_in(user_token)
    row = page.wait_for(f"tr[data-actor-id='{mine['id']}']", "READY")
    assert name in row and "actors/echo:latest" in row
    assert client.result(client.get(f"/actors/{mine['id']}"))["owner"] in row
    assert page.text(f"tr[data-actor-id='{mine['id']}'] .description") == f"says hello {XSS}"
    page.assert_not_injected()
    assert page.count(f"tr[data-actor-id='{theirs['id']}']") == 0
    assert theirs["name"] not in page.body()
    page.screenshot("actors")


# -- an execution from message to COMPLETE ----------------------------------------------------
def test_send_a_message_from_the_page_and_watch_it_complete_with_its_logs(page, client,
                                                                         user_token):
    actor = client.create_actor(ECHO, name=f"echo-{uuid.uuid4().hex[:6]}",
                                description="Prints its message and its environment.")
    page.sign_in(user_token)
    page.click(f"tr[data-actor-id='{actor['id']}'] a")
    page.wait_for("h1", actor["name"])
    page.wait_for("#executions", "No executions yet")

    page.type("#message", f"hello from the dashboard {XSS}")
    page.click("#send")
    execution_id = page.wait_for("#sent-execution")
    assert execution_id
    page.wait_for(f"tr[data-execution-id='{execution_id}']")

    page.click("#sent-execution")
    page.wait_for("#execution-status", "COMPLETE")
    page.wait_for("#log-state", "final")
    logs = page.wait_for("#logs", "Contents of MSG: hello from the dashboard")
    assert f"Contents of MSG: hello from the dashboard {XSS}" in logs
    page.assert_not_injected()
    assert page.text("#figure-exit-code").startswith("0")
    assert "ExitCode" in page.wait_for("#final-state")
    assert page.count("#force-quit") == 0
    # Every finished record lists its outputs (none here): the card says so.
    assert "The execution wrote no outputs." in page.wait_for("#outputs", "no outputs")
    record = client.execution(actor["id"], execution_id)
    assert (record["status"], record["exit_code"]) == ("COMPLETE", 0)
    assert record["executor"] in page.text("#execution-facts")
    page.screenshot("execution")

    page.click(".crumbs a:nth-of-type(2)")
    page.wait_for(f"tr[data-execution-id='{execution_id}']", "COMPLETE")
    page.screenshot("actor")


def test_an_execution_whose_record_lists_outputs_offers_them(page, client, api, user_token):
    """Records gain ``outputs: [{path, size, sha256}]`` once spawners collect them (issue 13);
    until then the field is written here through the store, as a spawner would."""
    actor = client.create_actor(ECHO, name=f"writer-{uuid.uuid4().hex[:6]}")
    execution_id = client.send(actor["id"], "outputs")
    client.wait(actor["id"], execution_id)
    outputs = [{"path": "results/summary.csv", "size": 1536, "sha256": "ab" * 32},
               {"path": f"notes {XSS}.txt", "size": 12, "sha256": "cd" * 32}]
    api.app.extensions["actors_store"].executions.update(execution_id, outputs=outputs)

    page.sign_in(user_token, f"actors/{actor['id']}/executions/{execution_id}")
    card = page.wait_for("#outputs", "results/summary.csv")
    assert "1.5 KiB" in card and f"notes {XSS}.txt" in card
    assert page.wait_for("#download-outputs") == "Download all (zip)"
    assert page.texts("#outputs tbody button") == ["Download", "Download"]
    page.assert_not_injected()
    page.screenshot("execution-outputs")


def test_force_quit_a_running_execution_from_its_page(page, client, user_token):
    actor = client.create_actor(SLEEP, name=f"sleeper-{uuid.uuid4().hex[:6]}")
    execution_id = client.send(actor["id"], "600")
    page.sign_in(user_token, f"actors/{actor['id']}/executions/{execution_id}")
    page.wait_for("#execution-status", "RUNNING")
    page.wait_for("#logs", "iteration 2 of 600")  # the logs follow while it runs
    page.wait_for("#log-state", "following live")
    page.screenshot("execution-running")

    page.click("#force-quit")
    page.click("#confirm-force-quit")
    page.wait_for("#execution-status", "COMPLETE")
    page.wait_for("#final-state", "ForceQuit")
    record = client.execution(actor["id"], execution_id)
    assert record["status"] == "COMPLETE" and record["final_state"]["ForceQuit"] is True
    assert page.text("#figure-exit-code").startswith(str(record["exit_code"]))
    assert page.count("#force-quit") == 0 and page.count("#confirm-force-quit") == 0
    page.screenshot("execution-force-quit")


# -- hosts and admins ---------------------------------------------------------------------------
def test_hosts_show_slots_to_everyone_and_gpus_to_admins(page, admin, api, user_token,
                                                         environment, platform_dir, spawner):
    queue = f"uigpu-{uuid.uuid4().hex[:6]}"
    gpu_spawner = SpawnerProcess(dict(environment, ACTORS_GPUS=TWO_GPUS), name=f"gpu-{queue}",
                                 queues=queue, slots=2, log_path=platform_dir / f"{queue}.log")
    actor = admin.create_actor(SLEEP, name="trainer", queue=queue, gpus=1)
    try:
        execution_id = admin.send(actor["id"], "600")
        admin.wait(actor["id"], execution_id, statuses=("RUNNING",))

        page.sign_in(token_of(admin), "hosts")
        card = page.wait_for(f"section[data-host='gpu-{queue}']", execution_id)
        assert "Simulated A100" in card and "BUSY" in card and "FREE" in card
        assert "1 / 2 slots in use" in card
        assert page.texts(f"section[data-host='gpu-{queue}'] table a") == [execution_id]
        page.wait_for(f"section[data-host='{spawner.name}']", "/ 3 slots in use")
        page.screenshot("hosts")

        page.sign_in(user_token, "hosts")
        page.wait_for(".notice-info", "admins only")
        page.wait_for(f"section[data-host='gpu-{queue}']", "slots in use")
        assert "Simulated A100" not in page.body() and execution_id not in page.body()
        assert page.count("a[href='#/admin']") == 0
        page.screenshot("hosts-user")
    finally:
        admin.delete(f"/actors/{actor['id']}")  # force-quits the execution
        gpu_spawner.stop()


def test_admins_see_every_actor_and_the_tenant_summary_users_do_not(page, admin, client, api,
                                                                     user_token):
    mine = client.create_actor(ECHO, name=f"mine-{uuid.uuid4().hex[:6]}")
    theirs = other_user(api).create_actor(ECHO, name=f"theirs-{uuid.uuid4().hex[:6]}")
    execution_id = client.send(mine["id"], "for the admin page")
    client.wait(mine["id"], execution_id)

    page.sign_in(token_of(admin))
    page.wait_for(f"tr[data-actor-id='{mine['id']}']")
    assert page.text(f"tr[data-actor-id='{mine['id']}'] .num") == "1"  # its executions
    page.wait_for(f"tr[data-actor-id='{theirs['id']}']")
    page.click("a[href='#/admin']")
    table = page.wait_for("#admin-actors", mine["name"])
    assert theirs["name"] in table
    page.wait_for("#admin-latest", execution_id)
    page.screenshot("admin")

    page.sign_in(user_token)
    page.wait_for(f"tr[data-actor-id='{mine['id']}']")
    assert page.count(f"tr[data-actor-id='{theirs['id']}']") == 0
    assert page.count("a[href='#/admin']") == 0
    page.go("admin")
    page.wait_for(".failure", "This endpoint needs the admin role.")


def test_the_page_reads_an_api_that_answers_in_camel_case(page, client, user_token, environment):
    camel = ApiServer(dict(environment, ACTORS_CASE="camel"))
    try:
        actor = client.create_actor(ECHO, name=f"camel-{uuid.uuid4().hex[:6]}")
        execution_id = client.send(actor["id"], "camels")
        client.wait(actor["id"], execution_id)

        page.url = camel.url
        page.sign_in(user_token)
        page.wait_for(f"tr[data-actor-id='{actor['id']}']", "actors/echo:latest")
        assert page.text(f"tr[data-actor-id='{actor['id']}'] .num") == "1"  # its executions
        page.go(f"actors/{actor['id']}/executions/{execution_id}")
        page.wait_for("#execution-status", "COMPLETE")
        page.wait_for("#logs", "Contents of MSG: camels")
        assert page.text("#figure-exit-code").startswith("0")
        assert "ExitCode" in page.text("#final-state")  # Docker's own keys stay as they are
        answer = ApiClient(camel.url, user_token).get(f"/actors/{actor['id']}/executions")
        assert "totalExecutions" in answer.json()["result"]  # the page did read camelCase
    finally:
        camel.stop()
