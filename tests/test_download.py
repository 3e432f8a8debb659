"""Downloads against a local HTTP server on 127.0.0.1 (no other network) and fake CLI tools."""

import hashlib
import io
import random
import shutil
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segcourse import download
from segcourse.download import DownloadError

RAR_BYTES = b"Rar!\x1a\x07\x00" + bytes(range(256)) * 4


def _ph2_zip() -> bytes:
    """A tiny archive in the PH2 layout (spaces in the folder name, per-case folders)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for case in ("IMD002", "IMD003"):
            base = f"PH2Dataset/PH2 Dataset images/{case}"
            zf.writestr(f"{base}/{case}_Dermoscopic_Image/{case}.bmp", b"BM" + case.encode() * 50)
            zf.writestr(f"{base}/{case}_lesion/{case}_lesion.bmp", b"BM" + b"\x00" * 80)
        # incompressible and stored: large enough for an interrupted download to keep whole chunks
        zf.writestr("PH2Dataset/Readme.txt", random.Random(0).randbytes(300_000))
        zf.writestr("PH2Dataset/PH2_dataset.txt", "|| Name || Clinical Diagnosis ||\n")
    return buffer.getvalue()


ZIP_BYTES = _ph2_zip()
HTML_BYTES = b"<!DOCTYPE html>\n<html><head><title>Dropbox</title></head><body>...</body></html>"


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.files`; honours `Range: bytes=N-`; can cut the first response short."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        start, status = 0, 200
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
            start, status = int(ranged[6:-1]), 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        payload = body[start:]
        if self.server.cut_next:
            self.server.cut_next = False
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {
        "/PH2Dataset.zip": ZIP_BYTES,
        "/PH2Dataset.rar": RAR_BYTES,
        "/page/PH2Dataset.rar": HTML_BYTES,
    }
    httpd.requests = []
    httpd.cut_next = False
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_checks_hash_and_extracts(server, tmp_path, capsys):
    root = download.download_ph2(
        tmp_path,
        url=f"{server.url}/PH2Dataset.zip?dl=1",
        known_hash=f"sha256:{_sha256(ZIP_BYTES)}",
        progressbar=True,
    )
    assert root == tmp_path / "PH2Dataset"
    image = root / "PH2 Dataset images" / "IMD003" / "IMD003_Dermoscopic_Image" / "IMD003.bmp"
    assert image.read_bytes() == b"BM" + b"IMD003" * 50
    assert (root / "PH2_dataset.txt").is_file()
    assert (tmp_path / "PH2Dataset.zip").read_bytes() == ZIP_BYTES  # the archive is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PH2Dataset", "PH2Dataset.zip"]
    captured = capsys.readouterr()
    assert "SHA256 checked" in captured.out
    assert "PH2Dataset.zip" in captured.err and "100%" in captured.err  # the progress bar


def test_without_known_hash_the_computed_hash_is_printed(server, tmp_path, capsys):
    download.download_ph2(tmp_path, url=f"{server.url}/PH2Dataset.zip", progressbar=False)
    out = capsys.readouterr().out
    assert _sha256(ZIP_BYTES) in out and "not checked" in out


def test_wrong_checksum_fails_and_keeps_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="checksum.*wrong") as info:
        download.download_ph2(
            tmp_path,
            url=f"{server.url}/PH2Dataset.zip",
            known_hash="sha256:" + "0" * 64,
            progressbar=False,
        )
    assert _sha256(ZIP_BYTES) in str(info.value)  # the actual hash is reported
    assert list(tmp_path.iterdir()) == []


def test_html_page_instead_of_archive_is_detected(server, tmp_path):
    with pytest.raises(DownloadError, match=r"web page instead of an archive.*\?dl=1"):
        download.download_ph2(tmp_path, url=f"{server.url}/page/PH2Dataset.rar", progressbar=False)
    assert list(tmp_path.iterdir()) == []


def test_rar_without_extractor_says_what_to_install(server, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DownloadError) as info:
        download.download_ph2(tmp_path, url=f"{server.url}/PH2Dataset.rar", progressbar=False)
    message = str(info.value)
    for advice in ("sudo apt-get install unar", "brew install unar", "winget install 7zip.7zip"):
        assert advice in message
    assert (tmp_path / "PH2Dataset.rar").read_bytes() == RAR_BYTES  # kept for the next try


def _fake_tool(folder, name, body):
    """An executable Python script called `name` in `folder`."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys, pathlib\n{body}")
    path.chmod(0o755)
    return str(path)


def test_rar_is_unpacked_with_the_installed_extractor(server, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = _fake_tool(
        bin_dir,
        "unrar",
        (
            "args = sys.argv[1:]\n"
            "assert args[0] == 'x' and '-o-' in args, args\n"
            "assert pathlib.Path(args[-2]).read_bytes().startswith(b'Rar!'), args\n"
            "case = pathlib.Path(args[-1]) / 'PH2Dataset' / 'PH2 Dataset images' / 'IMD002'\n"
            "case.mkdir(parents=True)\n"
            "(case / 'IMD002.bmp').write_bytes(b'BM')\n"
        ),
    )
    monkeypatch.setattr(shutil, "which", lambda name: fake if name == "unrar" else None)
    dest = tmp_path / "data"
    root = download.download_ph2(dest, url=f"{server.url}/PH2Dataset.rar", progressbar=False)
    assert root == dest / "PH2Dataset"
    assert (root / "PH2 Dataset images" / "IMD002" / "IMD002.bmp").read_bytes() == b"BM"


def test_failing_extractor_reports_its_message(server, tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "7z", "print('ERROR: Unsupported Method'); sys.exit(2)\n")
    monkeypatch.setattr(shutil, "which", lambda name: fake if name == "7z" else None)
    with pytest.raises(
        DownloadError, match="(?s)7z could not unpack.*exit code 2.*Unsupported Method"
    ):
        download.download_ph2(tmp_path / "d", url=f"{server.url}/PH2Dataset.rar", progressbar=False)


def test_existing_dataset_is_never_touched(server, tmp_path):
    images = tmp_path / "PH2Dataset" / "PH2 Dataset images"
    images.mkdir(parents=True)
    (images / "mine.txt").write_text("keep")
    root = download.download_ph2(tmp_path, url=f"{server.url}/PH2Dataset.zip", progressbar=False)
    assert root == tmp_path / "PH2Dataset"
    assert server.requests == []
    assert (images / "mine.txt").read_text() == "keep"


def test_unpacking_refuses_to_overwrite_a_folder(server, tmp_path):
    (tmp_path / "PH2Dataset").mkdir()
    (tmp_path / "PH2Dataset" / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError, match="PH2Dataset already exists"):
        download.download_ph2(tmp_path, url=f"{server.url}/PH2Dataset.zip", progressbar=False)
    assert sorted(p.name for p in (tmp_path / "PH2Dataset").iterdir()) == ["notes.txt"]


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.cut_next = True
    url = f"{server.url}/PH2Dataset.zip"
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download.download_ph2(tmp_path, url=url, progressbar=False)
    part = tmp_path / "PH2Dataset.zip.part"
    kept = part.read_bytes()  # whole chunks received before the cut
    assert 0 < len(kept) <= len(ZIP_BYTES) // 2 and ZIP_BYTES.startswith(kept)
    root = download.download_ph2(
        tmp_path, url=url, known_hash=_sha256(ZIP_BYTES), progressbar=False
    )
    assert server.requests[-1] == ("/PH2Dataset.zip", f"bytes={len(kept)}-")
    assert (tmp_path / "PH2Dataset.zip").read_bytes() == ZIP_BYTES and not part.exists()
    assert (root / "PH2_dataset.txt").is_file()


def test_archive_kind_from_first_bytes(tmp_path):
    cases = {
        "a.zip": ZIP_BYTES,
        "b.rar": RAR_BYTES,
        "c.rar": b"\n  " + HTML_BYTES,
        "d.bin": b"\x00\x01garbage",
    }
    kinds = []
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        kinds.append(download.archive_kind(tmp_path / name))
    assert kinds == ["zip", "rar", "html", "unknown"]


def test_cli_reports_errors_with_exit_code_1(server, tmp_path, capsys):
    code = download.main(
        [
            "ph2",
            "--dest",
            str(tmp_path),
            "--url",
            f"{server.url}/PH2Dataset.zip",
            "--sha256",
            "1" * 64,
            "--no-progress",
        ]
    )
    assert code == 1 and "checksum" in capsys.readouterr().err
    code = download.main(
        [
            "ph2",
            "--dest",
            str(tmp_path),
            "--url",
            f"{server.url}/PH2Dataset.zip",
            "--sha256",
            _sha256(ZIP_BYTES),
            "--no-progress",
        ]
    )
    assert code == 0 and (tmp_path / "PH2Dataset" / "PH2 Dataset images").is_dir()


# -------------------------------------------------------------------------------------- MADS


@pytest.fixture
def no_kaggle_token(tmp_path, monkeypatch):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))


def test_mads_without_kaggle_gives_manual_steps(tmp_path, monkeypatch, no_kaggle_token, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DownloadError) as info:
        download.download_mads(tmp_path / "data")
    message = str(info.value)
    assert "`kaggle`) is not installed" in message
    assert download.MADS_PAGE in message and "MADS_ROOT" in message
    assert str(tmp_path / "data" / download.MADS_FOLDER) in message
    assert "flattened" in message
    assert download.main(["mads", "--dest", str(tmp_path / "data")]) == 1
    assert download.MADS_PAGE in capsys.readouterr().err


def test_mads_with_kaggle_but_no_token(tmp_path, monkeypatch, no_kaggle_token):
    monkeypatch.setattr(
        shutil, "which", lambda name: "/usr/bin/kaggle" if name == "kaggle" else None
    )
    with pytest.raises(DownloadError, match="no Kaggle API token"):
        download.download_mads(tmp_path)


def test_mads_with_configured_kaggle_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    inner = download.MADS_FOLDER
    fake = _fake_tool(
        tmp_path,
        "kaggle",
        (
            "args = sys.argv[1:]\n"
            f"assert args[:4] == ['datasets', 'download', '-d', {download.MADS_SLUG!r}], args\n"
            "assert '--unzip' in args\n"
            "out = pathlib.Path(args[args.index('-p') + 1])\n"
            "(out / 'df.csv').write_text(',images,masks,collages\\n')\n"
            f"for sub in ('images', 'masks'):\n"
            f"    (out / {inner!r} / sub).mkdir(parents=True)\n"
            f"    (out / {inner!r} / sub / 'Jazz_Jazz2_C1_00630.png').write_bytes(b'png')\n"
        ),
    )
    monkeypatch.setattr(shutil, "which", lambda name: fake if name == "kaggle" else None)
    dest = tmp_path / "data"
    root = download.download_mads(dest)
    assert root == dest / inner
    assert (root / "df.csv").is_file()
    assert (root / inner / "masks" / "Jazz_Jazz2_C1_00630.png").read_bytes() == b"png"
    assert sorted(p.name for p in dest.iterdir()) == [inner]  # no temporary folder left
    assert download.download_mads(dest) == root  # already there: nothing to do
