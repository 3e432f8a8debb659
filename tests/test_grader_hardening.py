"""Attacks on the grader from issue 11, classes 2 (feedback page), 7 (disk) and 8 (evaluation
time, CPU share, sandbox uids): each test builds the attack and checks it is handled."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from submissions import builders as b
from test_grading import course  # noqa: F401 - a shared fixture
from test_sandbox import require_sandbox

from segcourse import grader
from segcourse.grader import batch, worker
from segcourse.grader import sandbox as sb
from segcourse.grader.reports import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[1]
MARKER = "PWNED"  # what any of the attack's scripts would write into the page
SCRIPT = f"document.title='{MARKER}';document.body.appendChild(document.createElement('pwned'))"
EVIL = "https://cdn.evil.example"
TINY_PNG = (  # a valid 1 x 1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)


# ------------------------------------------------------------------------------ (2) the page


def attack_notebook() -> nbformat.NotebookNode:
    """A notebook whose stored outputs and markup try every way into the feedback page."""
    nb = b.notebook("print('hi')")
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"w": {"model_name": "HTMLModel", "state": {
                "value": f"<script src='{EVIL}/widget.js'></script>"}}},
            "version_major": 2, "version_minor": 0,
        }
    }  # fmt: skip
    nb.metadata["title"] = f"</title><script>{SCRIPT}</script>"
    nb.cells.append(nbformat.v4.new_markdown_cell(
        f"# Notes\n[click](javascript:{SCRIPT}) [site]({EVIL}/page) <a href='//evil.example'>x</a>"
        f"\n<img src='{EVIL}/pixel.png'> ![tracker]({EVIL}/t.png) <script>{SCRIPT}</script>"
        f"\n<svg onload=\"{SCRIPT}\"><script>{SCRIPT}</script></svg>"
        f"\n<iframe src='{EVIL}'></iframe><meta http-equiv='refresh' content='0;url={EVIL}'>"
        f"\n<base href='{EVIL}/'><form action='{EVIL}'><button>go</button></form>"
    ))  # fmt: skip
    raw = nbformat.v4.new_raw_cell(f'<script>{SCRIPT}</script><img src=x onerror="{SCRIPT}">')
    raw.metadata["raw_mimetype"] = "text/html"
    nb.cells.append(raw)
    code = nb.cells[-3]  # the code cell
    code.execution_count = 1
    code.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
            metadata={"image/png": {"width": "1 onerror=alert(1)",
                                    "height": "1 onerror=document.title=/PWNED/.source"}},
        ),  # nbconvert writes width and height unquoted; the PNG is broken, so onerror fires
        nbformat.v4.new_output("display_data", data={"image/png": TINY_PNG},
                               metadata={"filenames": {"image/png": f"{EVIL}/remote.png"}}),
        nbformat.v4.new_output("display_data", data={
            "text/html": f"<img src='{EVIL}/x.png'><script>{SCRIPT}</script>"}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "w", "version_major": 2,
                                                         "version_minor": 0}}),
        nbformat.v4.new_output("display_data", data={"application/javascript": SCRIPT}),
        nbformat.v4.new_output("display_data", data={
            "image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg'><script>{SCRIPT}</script></svg>"}),
        nbformat.v4.new_output("execute_result", execution_count=1, data={
            "text/markdown": f"[x](javascript:{SCRIPT})", "text/plain": "shown as text"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue=f"<script>{SCRIPT}</script>",
                               traceback=[f"\x1b[31m<script>{SCRIPT}</script>\x1b[0m"]),
    ]  # fmt: skip
    return nb


class PageParser(HTMLParser):
    """Every start tag of a page with its attributes, and the first element inside <head>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.in_head, self.head_first = False, None

    def handle_starttag(self, tag, attrs):
        attrs = {k.lower(): v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if self.in_head and self.head_first is None:
            self.head_first = (tag, attrs)
        if tag == "head":
            self.in_head = True

    handle_startendtag = handle_starttag


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


def assert_page_is_inert(page: str) -> PageParser:
    """The page's markup: no script, no event attribute, nothing fetched, the CSP first."""
    found = parse(page)
    names = [tag for tag, _ in found.tags]
    for tag in ("script", "iframe", "object", "embed", "base", "form", "link", "svg"):
        assert tag not in names, (tag, [a for t, a in found.tags if t == tag])
    for tag, attrs in found.tags:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        for key in ("src", "href", "action", "formaction", "srcset", "poster", "xlink:href"):
            if key in attrs:
                value = attrs[key].strip()
                assert value.startswith(("#", "data:image/png;base64,")), (tag, key, value)
        if tag == "meta":
            assert attrs.get("http-equiv", "").lower() != "refresh", attrs
    assert found.head_first is not None, "the page has no <head>"
    tag, attrs = found.head_first
    assert tag == "meta" and attrs.get("http-equiv", "").lower() == "content-security-policy"
    policy = {d.split()[0]: d.split()[1:] for d in attrs["content"].split(";") if d.strip()}
    assert policy["default-src"] == ["'none'"] and policy["img-src"] == ["data:"], policy
    assert "script-src" not in policy and policy.get("style-src") == ["'unsafe-inline'"], policy
    return found


def feedback_page(tmp_path: Path, nb, name="eve") -> str:
    outcome = grader.Outcome(name, status="ok", score=40, max_score=100, notebook=nb,
                             items=[("runs", 15, 15, "ran")], composite=None)  # fmt: skip
    dest = tmp_path / f"{name}.html"
    grader.write_feedback(outcome, dest)
    return dest.read_text(encoding="utf-8")


def test_feedback_page_of_an_attack_notebook_runs_and_fetches_nothing(tmp_path):
    page = feedback_page(tmp_path, attack_notebook())
    found = assert_page_is_inert(page)
    assert "Lab grade for eve" in page and "shown as text" in page  # the page is still there
    images = [a["src"] for t, a in found.tags if t == "img" and "src" in a]
    assert f"data:image/png;base64,{TINY_PNG}" in images  # a plain PNG output is still shown
    assert "text/html" in page and "image/svg+xml" in page  # named as removed
    assert CONTENT_SECURITY_POLICY in page


def test_feedback_page_without_a_notebook_has_the_policy_too(tmp_path):
    for nb in (None, {"cells": "not a list", "metadata": {}}):  # none, or one nbconvert rejects
        assert_page_is_inert(feedback_page(tmp_path, nb, name="<script>x</script>"))


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium: installed here once when missing and we are root with apt-get
    (up to 5 minutes: that is why this test can take long the first time), else skipped."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    why = "neither chromium nor chromium-browser is installed"
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
            tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
            why = f"`{' '.join(cmd)}` failed ({done.returncode}): {tail}"
        except subprocess.TimeoutExpired:
            why = f"`{' '.join(cmd)}` took over 300 s"
        found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip(f"no headless browser: {why}")
    return found


def dump_dom(browser: str, page: Path, profile: Path) -> str:
    """The DOM of `page` after chromium loaded it and ran what it would run (3 s virtual)."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
           page.as_uri()]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def test_no_script_of_the_attack_runs_in_a_real_browser(chromium, tmp_path):
    control = tmp_path / "control.html"  # proves that this browser runs scripts at all
    control.write_text(f"<html><head><title>t</title></head><body><script>{SCRIPT}</script>"
                       "</body></html>")  # fmt: skip
    ran = dump_dom(chromium, control, tmp_path / "profile")
    assert "<pwned>" in ran and f"<title>{MARKER}</title>" in ran, ran
    blocked = tmp_path / "blocked.html"  # and that it honours the policy
    blocked.write_text(control.read_text().replace(
        "<head>", f'<head><meta http-equiv="Content-Security-Policy" '
                  f'content="{CONTENT_SECURITY_POLICY}">'))  # fmt: skip
    stopped = dump_dom(chromium, blocked, tmp_path / "profile")
    assert "<pwned" not in stopped and "<title>t</title>" in stopped, stopped
    page = tmp_path / "attack.html"
    page.write_text(feedback_page(tmp_path, attack_notebook()), encoding="utf-8")
    dom = dump_dom(chromium, page, tmp_path / "profile")
    assert "Lab grade for eve" in dom  # it loaded
    assert "<pwned" not in dom and f"<title>{MARKER}" not in dom


# ------------------------------------------------------------------------------ (7) disk

FILL = """\
import os, json
total = os.statvfs('.').f_blocks * os.statvfs('.').f_frsize
written = 0
try:
    with open('junk.bin', 'wb') as handle:
        for _ in range(200):  # 200 MB, far past the 16 MB the test allows
            handle.write(b'\\0' * 2**20)
            handle.flush()
            written += 2**20
except OSError as exc:
    os.remove('junk.bin')  # room again, so that the executed notebook can be saved
    raise RuntimeError(f"{exc}; AREA={total} WROTE={written}") from None
"""
FILL_EXCHANGE = """\
with open('/tmp/grader/junk.bin', 'wb') as handle:  # the grader's exchange folder
    for _ in range(200):
        handle.write(b'\\0' * 2**20)
"""


def test_notebook_that_fills_its_disk_gets_status_disk(course, tmp_path, monkeypatch):  # noqa: F811
    require_sandbox()
    if os.geteuid() != 0:
        pytest.skip("a size-capped work area is a tmpfs that only root can mount")
    _, hidden = course
    scratch = tmp_path / "scratch"  # the grader's temp folder: only this test's work areas
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    subs = tmp_path / "subs"
    b.write_folder(subs, "filler", b.hostile(FILL))
    b.write_folder(subs, "exchange", b.hostile(FILL_EXCHANGE))
    b.write_folder(subs, "other", b.hostile("print('fine')"))
    rows = grader.grade(subs, hidden, tmp_path / "out", timeout=120, profile="ci",
                        progress=False, disk_gb=16 / 1024)  # fmt: skip
    got = {r["student"]: r for r in rows}
    limit = 16 * 2**20
    assert got["filler"]["status"] == "disk", got["filler"]
    reason = got["filler"]["reason"]
    assert "capped at 16 MB" in reason and "No space left on device" in reason, reason
    area, wrote = (int(v) for v in re.search(r"AREA=(\d+) WROTE=(\d+)", reason).groups())
    assert area == limit and wrote < limit  # a tmpfs of its own, not the host's disk
    assert got["exchange"]["status"] == "disk", got["exchange"]
    assert got["other"]["status"] == "no_model" and "disk" not in got["other"]["reason"]
    assert "capped at 16 MB" in (tmp_path / "out" / "summary.md").read_text()
    leftovers = list(scratch.glob("segcourse-grade-*"))
    assert leftovers == []  # every area was unmounted (a mount point cannot be removed)


def test_without_root_the_work_area_says_it_is_not_limited(tmp_path, monkeypatch):
    from segcourse.grader import workarea

    monkeypatch.setattr(workarea.os, "geteuid", lambda: 1000)
    area = workarea.WorkArea(tmp_path / "area", 2).open()
    assert not area.mounted and not os.path.ismount(tmp_path / "area")
    assert "not size-limited" in area.limit and "root" in area.limit
    assert workarea.disk_limit_problem(2) is None  # nothing to probe: the grader warns instead
    area.close()


KILLED = """\
import sys, time
from pathlib import Path
from segcourse.grader.workarea import WorkArea
area = WorkArea(Path(sys.argv[1]), 0.01).open()
print(area.mounted, flush=True)
time.sleep(600)
"""


def test_killed_grader_leaves_no_mount(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a size-capped work area is a tmpfs that only root can mount")
    area = tmp_path / "area"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(area)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "True" and os.path.ismount(area)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    for _ in range(100):
        if not os.path.ismount(area):
            break
        time.sleep(0.1)
    assert not os.path.ismount(area)


# ------------------------------------------------------------------------------ (8) cost


def costly_model(path: Path, calls: int = 50) -> Path:
    """A small file (one 15 x 15 convolution's weights) whose model applies that convolution
    `calls` times: 2.9 million multiply-adds per pixel at 50 calls."""
    import keras

    inputs = keras.Input((64, 96, 3))
    x = keras.layers.Conv2D(16, 1)(inputs)
    shared = keras.layers.Conv2D(16, 15, padding="same")
    for _ in range(calls):
        x = shared(x)
    keras.Model(inputs, keras.layers.Conv2D(1, 1)(x)).save(path)
    return path


def honest_model(path: Path) -> Path:
    """A small encoder-decoder like a student's."""
    import keras

    inputs = keras.Input((64, 96, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    skip = x
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(16, 2, strides=2, padding="same")(x)
    x = keras.layers.Concatenate()([x, skip])
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    keras.Model(inputs, keras.layers.Conv2D(1, 1)(x)).save(path)
    return path


def test_costly_model_is_refused_before_it_runs(course, tmp_path, monkeypatch):  # noqa: F811
    import keras

    _, hidden = course
    ran = []
    real_predict = keras.Model.predict
    monkeypatch.setattr(keras.Model, "predict",
                        lambda self, *a, **k: ran.append(self.name) or real_predict(self, *a, **k))  # fmt: skip
    costly = costly_model(tmp_path / "costly.keras")
    assert costly.stat().st_size < 400_000
    result = worker.evaluate_model(costly, hidden, (64, 96), max_macs=batch.MAX_MACS)
    assert result["status"] == "too_costly" and "multiply-adds per pixel" in result["reason"]
    assert result["macs_per_pixel"] > batch.MAX_MACS and ran == []  # refused before running
    honest = worker.evaluate_model(honest_model(tmp_path / "honest.keras"), hidden, (64, 96),
                                   max_macs=batch.MAX_MACS)  # fmt: skip
    assert honest["status"] == "ok" and honest["iou"] is not None and len(ran) == 1, honest
    # 3x3 convolutions: 3*3*3*16 + 3*3*16*32/4 + 2*2*32*16/4 + 3*3*32*16 + 16 (weights and bias)
    assert 4000 < honest["macs_per_pixel"] < 8000, honest


def test_grader_refuses_the_costly_model_and_bounds_evaluation(course, tmp_path):  # noqa: F811
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    ran = b.weak()
    for cell in ran.cells:
        if cell.cell_type == "code":
            cell.execution_count, cell.outputs = 1, []
    b.write_folder(
        subs, "costly", ran, {"model.keras": costly_model(tmp_path / "c.keras").read_bytes()}
    )
    b.write_folder(
        subs, "honest", ran, {"model.keras": honest_model(tmp_path / "h.keras").read_bytes()}
    )
    rows = {r["student"]: r for r in grader.grade(subs, hidden, tmp_path / "out", execute=False,
                                                  profile="ci", progress=False)}  # fmt: skip
    assert rows["costly"]["status"] == "too_costly" and rows["costly"]["iou"] == "", rows
    assert rows["honest"]["status"] == "ok" and rows["honest"]["iou"] != "", rows
    quick = grader.grade(subs, hidden, tmp_path / "out2", execute=False, profile="ci",
                         progress=False, eval_timeout=1)  # fmt: skip
    assert all(r["status"] == "eval_error" and "1 s limit" in r["reason"] for r in quick), quick


# ------------------------------------------------------------------------------ (8) cpu, uid


def test_job_slots_get_disjoint_cores():
    cores = sorted(os.sched_getaffinity(0))
    shares = [sb.job_cpus(slot, len(cores)) for slot in range(len(cores))]
    assert sorted(c for share in shares for c in share) == cores
    assert sb.job_cpus(0, 1) == cores
    assert all(len(sb.job_cpus(s, 4 * len(cores))) == 1 for s in range(4 * len(cores)))


def probe(tmp_path: Path, cpus=None) -> dict:
    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o755, exist_ok=True)
    run = sb.sandboxed_python(["probe", str(sb.INSIDE_GRADER / "probe.json")],
                              limits=sb.Limits(timeout=60), protected=[],
                              rw={exchange: sb.INSIDE_GRADER}, ro={}, chdir=sb.INSIDE_GRADER,
                              cpus=cpus)  # fmt: skip
    assert (exchange / "probe.json").is_file(), run.output
    return json.loads((exchange / "probe.json").read_text())


def test_sandbox_stays_on_its_cores(tmp_path):
    require_sandbox()
    if sb.seccomp_program() is None:
        pytest.skip("the seccomp filter knows x86-64 and arm64 only")
    before = os.sched_getaffinity(0)
    core = sorted(before)[-1]
    found = probe(tmp_path, cpus=[core])
    assert found["cpus"] == [core] and found["affinity_locked"] is True, found
    assert os.sched_getaffinity(0) == before  # the grader's own thread got its cores back


CLAIM = """\
import sys
from segcourse.grader import sandbox as sb
with sb.claim_uid() as uid:
    print(uid, flush=True)
    sys.stdin.readline()
"""


def test_two_grader_processes_get_different_sandbox_uids(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("sandbox uids are switched to only when the grader is root")
    graders = [subprocess.Popen([sys.executable, "-c", CLAIM], cwd=ROOT, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
               for _ in range(2)]  # fmt: skip
    try:
        uids = [int(p.stdout.readline()) for p in graders]  # both hold theirs now
    finally:
        for p in graders:
            p.communicate("\n", timeout=60)
    assert uids[0] != uids[1] and all(u >= sb.SANDBOX_UID_BASE for u in uids), uids
    if sb.sandbox_problem() is None:
        with sb.claim_uid() as held:  # a sandbox started meanwhile gets another one
            assert probe(tmp_path)["uid"] not in (held, 0)
