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

from actors_api.tokens import mint

from .conftest import ECHO, SLEEP
from .platform import REPO, ApiClient, ApiServer, SpawnerProcess

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
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
        driver.get(f"{url}/ui/")
        driver.execute_script("sessionStorage.clear(); localStorage.clear();")
        driver.get_log("browser")  # forget what earlier tests logged

    def sign_in(self, token: str, route: str = "actors") -> None:
        self.driver.get(f"{self.url}/ui/#/{route}")
        self.driver.execute_script("sessionStorage.clear();")
        self.driver.refresh()
        field = self.wait_for("#token")
        field.clear()
        field.send_keys(token)
        self.click("#sign-in")
        self.wait_for("#who-name")

    def go(self, route: str) -> None:
        self.driver.get(f"{self.url}/ui/#/{route}")

    def find(self, selector: str):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def click(self, selector: str) -> None:
        self.wait_for(selector).click()

    def text(self, selector: str) -> str:
        found = self.find(selector)
        return found[0].text if found else ""

    def wait_for(self, selector: str, text: str = None, timeout: float = WAIT):
        """The first element matching selector (whose text contains ``text``, if given)."""
        def present(driver):
            for element in driver.find_elements(By.CSS_SELECTOR, selector):
                try:
                    if element.is_displayed() and (text is None or text in element.text):
                        return element
                except StaleElementReferenceException:  # re-rendered meanwhile: look again
                    return False
            return False
        what = f"{selector!r}" + (f" containing {text!r}" if text else "")
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            present, message=f"{what} never appeared; the page said: {self.body()[:2000]}")

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
        (refused requests log 'Failed to load resource', which some tests cause on purpose)."""
        errors = [entry["message"] for entry in self.driver.get_log("browser")
                  if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]
        assert not errors, errors

    def assert_not_injected(self) -> None:
        assert self.find("img[src='x']") == [], "data was inserted as markup"
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

    page.wait_for("#token").send_keys("not-a-token")
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
    assert name in row.text and "actors/echo:latest" in row.text
    assert client.result(client.get(f"/actors/{mine['id']}"))["owner"] in row.text
    description = row.find_element(By.CSS_SELECTOR, ".description")
    assert description.text == f"says hello {XSS}"
    page.assert_not_injected()
    assert page.find(f"tr[data-actor-id='{theirs['id']}']") == []
    assert theirs["name"] not in page.body()
    page.screenshot("actors")


# -- an execution from message to COMPLETE ----------------------------------------------------
def test_send_a_message_from_the_page_and_watch_it_complete_with_its_logs(page, client,
                                                                         user_token):
    actor = client.create_actor(ECHO, name=f"echo-{uuid.uuid4().hex[:6]}",
                                description="Prints its message and its environment.")
    page.sign_in(user_token)
    page.wait_for(f"tr[data-actor-id='{actor['id']}'] a").click()
    page.wait_for("h1", actor["name"])
    page.wait_for("#executions", "No executions yet")

    page.wait_for("#message").send_keys(f"hello from the dashboard {XSS}")
    page.click("#send")
    execution_id = page.wait_for("#sent-execution").text
    assert execution_id
    page.wait_for(f"tr[data-execution-id='{execution_id}']")

    page.click("#sent-execution")
    page.wait_for("#execution-status", "COMPLETE")
    page.wait_for("#log-state", "final")
    logs = page.wait_for("#logs", "Contents of MSG: hello from the dashboard").text
    assert f"Contents of MSG: hello from the dashboard {XSS}" in logs
    page.assert_not_injected()
    assert page.text("#figure-exit-code").startswith("0")
    assert "ExitCode" in page.wait_for("#final-state").text
    assert page.find("#force-quit") == []
    assert page.find("#outputs")[0].is_displayed() is False  # the record lists no outputs
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
    assert "1.5 KiB" in card.text and f"notes {XSS}.txt" in card.text
    assert page.wait_for("#download-outputs").text == "Download all (zip)"
    assert len(card.find_elements(By.CSS_SELECTOR, "tbody button")) == 2
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
    assert page.find("#force-quit") == [] and page.find("#confirm-force-quit") == []
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
        assert "Simulated A100" in card.text and "BUSY" in card.text and "FREE" in card.text
        assert "1 / 2 slots in use" in card.text
        holder = card.find_element(By.CSS_SELECTOR, "table a")
        assert holder.text == execution_id
        page.wait_for(f"section[data-host='{spawner.name}']", "/ 3 slots in use")
        page.screenshot("hosts")

        page.sign_in(user_token, "hosts")
        page.wait_for(".notice-info", "admins only")
        page.wait_for(f"section[data-host='gpu-{queue}']", "slots in use")
        assert "Simulated A100" not in page.body() and execution_id not in page.body()
        assert page.find("a[href='#/admin']") == []
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
    page.wait_for(f"tr[data-actor-id='{theirs['id']}']")
    page.click("a[href='#/admin']")
    table = page.wait_for("#admin-actors", mine["name"])
    assert theirs["name"] in table.text
    page.wait_for("#admin-latest", execution_id)
    page.screenshot("admin")

    page.sign_in(user_token)
    page.wait_for(f"tr[data-actor-id='{mine['id']}']")
    assert page.find(f"tr[data-actor-id='{theirs['id']}']") == []
    assert page.find("a[href='#/admin']") == []
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
        row = page.wait_for(f"tr[data-actor-id='{actor['id']}']", "actors/echo:latest")
        assert row.find_elements(By.CSS_SELECTOR, ".num")[0].text == "1"  # its executions
        page.go(f"actors/{actor['id']}/executions/{execution_id}")
        page.wait_for("#execution-status", "COMPLETE")
        page.wait_for("#logs", "Contents of MSG: camels")
        assert page.text("#figure-exit-code").startswith("0")
        assert "ExitCode" in page.text("#final-state")  # Docker's own keys stay as they are
        answer = ApiClient(camel.url, user_token).get(f"/actors/{actor['id']}/executions")
        assert "totalExecutions" in answer.json()["result"]  # the page did read camelCase
    finally:
        camel.stop()
