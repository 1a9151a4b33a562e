"""The learner's JupyterLab in a real browser (issue 26): headless Chromium drives JupyterLab on the course
kernel, as ``make lab`` starts it, through lessons 00 and 05 in smoke mode.

Asserted for each lesson: the file browser lists it once; it opens clean (not marked modified); Run All
through the UI ends with every code cell executed, no error and nothing on stderr (so no missing-glyph
warning: the Chinese characters of lesson 05's figures are drawn); at least the promised figures are
rendered as images; and a progress widget appeared while lesson 00's own training loop and lesson 07's
Trainer cell ran (lesson 07 is the first with a Trainer). A screenshot of each lesson, and of each of its figures as the browser drew it, is kept under
``$BERT_MS_ARTIFACTS`` (default ``runs/browser/``). The course kernel is registered afresh in a scratch
Jupyter path, pointing at this interpreter, so a stale user kernelspec cannot decide the result.

Needs the browser extra (``make setup-browser``: Selenium, pinned in requirements/lock-browser.txt) and the
system's Chromium and its driver (Debian: ``apt-get install chromium chromium-driver``); skipped, saying
which is missing, without them.

    .venv/bin/python -m pytest -m browser tests/test_browser.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ("00_setup", "05_bert_input", "07_pretraining")
WITH_PROGRESS = {"00_setup": "its own training loop", "07_pretraining": "the Trainer cell"}
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _chromium() -> tuple[str, str] | None:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _skip_reason() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the browser extra is not installed (make setup-browser)"
    if _chromium() is None:
        return "Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)"
    return None


if _skip_reason():
    pytest.skip(_skip_reason(), allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as ``make lab`` starts it (scripts/lab.py), on a copy of the two lessons made as ``make
    notebooks`` makes them, the kernel in smoke mode with a scratch cache."""
    root = tmp_path_factory.mktemp("lab")
    for name in LESSONS:
        shutil.copy(ROOT / "notebooks" / f"{name}.py", root / f"{name}.py")
    subprocess.run([str(Path(sys.executable).parent / "jupytext"), "--quiet", "--to", "ipynb",
                    *[str(root / f"{n}.py") for n in LESSONS]], check=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ipynb_metadata.py"),
                    *[str(root / f"{n}.ipynb") for n in LESSONS]], check=True, capture_output=True)
    kernel = root / ".jupyter-path" / "kernels" / "bert-ms"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (bert-ms)", "language": "python", "metadata": {"debugger": True}}))
    port, token = _free_port(), "bert-ms-browser-test"
    env = {**os.environ, "BERT_MS_SMOKE": "1", "BERT_MS_CACHE": str(root / ".cache"), "BERT_MS_DEVICE": "CPU",
           "JUPYTER_CONFIG_DIR": str(root / ".jupyter-config"),
           "JUPYTER_PATH": str(root / ".jupyter-path")}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "lab.py"), str(root), "--no-browser",
                             f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
                             "--LabApp.expose_app_in_browser=True", *(["--allow-root"] if os.geteuid() == 0 else [])],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-3000:]}")
    yield {"url": url, "token": token, "root": root, "proc": proc}
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    chromium, driver = _chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    yield drv
    drv.quit()


def _wait(drv, script: str, timeout: float, what: str, *args):
    """Poll a JavaScript expression until it is truthy; fail naming ``what``."""
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        value = drv.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")


CURRENT = "const w = window.__nb; "  # the notebook panel docmanager:open returned


def _artifacts() -> Path:
    out = Path(os.environ.get("BERT_MS_ARTIFACTS", ROOT / "runs" / "browser"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_runs_through_the_jupyterlab_ui(lab, browser, lesson):
    drv = browser
    drv.get(f"{lab['url']}/lab?token={lab['token']}")
    _wait(drv, "return window.jupyterapp && window.jupyterapp.shell && "
               "document.querySelectorAll('.jp-DirListing-item').length > 0", 120, "the file browser")
    listed = drv.execute_script("return [...document.querySelectorAll('.jp-DirListing-itemText')]"
                                ".map(e => e.textContent.trim())")
    assert [n for n in listed if n.startswith(lesson)] == [f"{lesson}.ipynb"], listed  # each lesson once

    drv.execute_script("window.__nb = null; window.jupyterapp.commands.execute('docmanager:open', "
                       "{path: arguments[0]}).then(w => { window.__nb = w; })", f"{lesson}.ipynb")
    _wait(drv, CURRENT + "return w && w.context && w.context.path === arguments[0] && "
                         "w.sessionContext.session && w.sessionContext.session.kernel && "
                         "w.sessionContext.session.kernel.status === 'idle'", 180, "the course kernel to start",
          f"{lesson}.ipynb")
    kernel = drv.execute_script(CURRENT + "return w.sessionContext.kernelDisplayName")
    assert kernel == "Python (bert-ms)", kernel
    time.sleep(2)  # let JupyterLab settle whatever it does on open (metadata, trust)
    assert drv.execute_script(CURRENT + "return w.context.model.dirty") is False, "the lesson opened marked modified"

    # Run All, watching for a progress bar while it runs
    drv.execute_script("window.__sawProgress = false; new MutationObserver(() => { if "
                       "(document.querySelector('.widget-progress, .jp-OutputArea .progress')) "
                       "window.__sawProgress = true; }).observe(document.body, {subtree: true, childList: true});")
    drv.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    _wait(drv, CURRENT + "const cells = w.content.model.cells; let done = true; "
                         "for (let i = 0; i < cells.length; i++) { const c = cells.get(i); "
                         "if (c.type === 'code' && c.sharedModel.source.trim() && !c.executionCount) done = false; } "
                         "return done && w.sessionContext.session.kernel.status === 'idle';",
          420, f"every code cell of {lesson} to run")
    drv.save_screenshot(str(_artifacts() / f"{lesson}.png"))
    from selenium.webdriver.common.by import By

    for k, img in enumerate(drv.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")):  # each figure as drawn
        drv.execute_script("arguments[0].scrollIntoView()", img)
        img.screenshot(str(_artifacts() / f"{lesson}-figure{k + 1}.png"))

    outputs = drv.execute_script(
        CURRENT + "const out = []; const cells = w.content.model.cells; "
                  "for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type !== 'code') continue; "
                  "for (let j = 0; j < c.outputs.length; j++) out.push(c.outputs.get(j).toJSON()); } return out;")
    errors = [o for o in outputs if o.get("output_type") == "error"]
    stderr = "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                     for o in outputs if o.get("name") == "stderr")
    assert not errors, f"{lesson}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert not stderr.strip(), f"{lesson} wrote to stderr: {stderr[:2000]}"
    meta = json.loads((lab["root"] / f"{lesson}.ipynb").read_text())["metadata"]
    promised = meta.get("bert_ms", {}).get("images", 0)
    images = drv.execute_script("return document.querySelectorAll('.jp-OutputArea-output img').length")
    assert promised >= 1 and images >= promised, f"{lesson}: promised {promised} figures, {images} rendered"
    if lesson in WITH_PROGRESS:
        assert drv.execute_script("return window.__sawProgress"), f"no progress widget appeared for {WITH_PROGRESS[lesson]}"
    drv.execute_script(CURRENT + "return w.context.model.dirty = false")  # leave it unsaved: the lab is a scratch copy
    drv.execute_script("return window.jupyterapp.commands.execute('application:close-all')")
