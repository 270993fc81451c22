"""fetch() against a local HTTP server on 127.0.0.1; never the internet.

The server serves a directory laid out as <base_url>/<relative path>: the real shared
data folder for the happy path, a temporary folder with corrupted files otherwise.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from functools import partial
from pathlib import Path

import pytest

from carl.data import CORPORA, fetch
from carl.errors import DataError

DATA_DIR = Path(os.environ.get("CARL_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def serve():
    """serve(directory) -> (base_url, list of requested paths); servers stop after the test."""
    servers = []

    def start(directory: Path):
        requests: list[str] = []
        handler = type("Handler", (_QuietHandler,), {"requests": requests})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (DATA_DIR / "SHA256SUMS").is_file():
        pytest.fail(f"corpus data directory {DATA_DIR} not found: set CARL_DATA_DIR to the shared corpora folder")
    return DATA_DIR


def leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_fetch_downloads_verifies_and_prints_licences(serve, data_dir, tmp_path, capsys):
    base_url, requests = serve(data_dir)
    paths = fetch(["emobank", "facebook-va"], tmp_path, base_url=base_url)
    relatives = ["emobank/corpus_emobank.csv", "facebook-va/dataset-fb-valence-arousal-anon.csv"]
    assert paths == [tmp_path / relative for relative in relatives]
    for path, relative in zip(paths, relatives):
        assert path.read_bytes() == (data_dir / relative).read_bytes()
    assert sorted(leftovers(tmp_path)) == sorted(paths)  # no temporary files left
    out = capsys.readouterr().out
    assert "emobank: licence CC BY-SA 4.0" in out and "facebook-va: licence GPL-3.0" in out
    assert len(requests) == 2


def test_fetch_skips_files_already_verified(serve, data_dir, tmp_path):
    base_url, requests = serve(data_dir)
    fetch("goemotions", tmp_path, base_url=base_url, progress=False)
    assert len(requests) == 4
    fetch(["goemotions-10"], tmp_path, base_url=base_url, progress=False)  # same files as goemotions
    assert len(requests) == 4


def test_checksum_mismatch_leaves_nothing_behind(serve, tmp_path):
    mirror = tmp_path / "mirror"
    corrupted = mirror / "emobank" / "corpus_emobank.csv"
    corrupted.parent.mkdir(parents=True)
    corrupted.write_text("id,split,V,A,D,text\nx,train,3,3,3,tampered\n")
    base_url, _ = serve(mirror)
    destination = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch") as err:
        fetch(["emobank"], destination, base_url=base_url)
    assert hashlib.sha256(corrupted.read_bytes()).hexdigest() in str(err.value)
    assert leftovers(destination) == []


def test_a_bad_existing_file_is_replaced(serve, data_dir, tmp_path):
    base_url, _ = serve(data_dir)
    target = tmp_path / "facebook-va" / "dataset-fb-valence-arousal-anon.csv"
    target.parent.mkdir(parents=True)
    target.write_text("truncated")
    fetch(["facebook-va"], tmp_path, base_url=base_url, progress=False)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == CORPORA["facebook-va"].sha256[
        "facebook-va/dataset-fb-valence-arousal-anon.csv"]


def test_http_error_is_a_data_error(serve, tmp_path):
    base_url, _ = serve(tmp_path / "empty-mirror")
    (tmp_path / "empty-mirror").mkdir()
    with pytest.raises(DataError, match="HTTP 404"):
        fetch(["facebook-va"], tmp_path / "data", base_url=base_url)
    assert leftovers(tmp_path / "data") == []


def test_unreachable_host_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"download of http://127\.0\.0\.1:9/"):
        fetch(["emobank"], tmp_path, base_url="http://127.0.0.1:9")  # discard port: nothing listens
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name,where", [
    ("tec", "saifmohammad.com"), ("iemocap", "sail.usc.edu"), ("sst2", "harvardnlp"), ("carer", "dair-ai"),
])
def test_refuses_corpora_that_are_not_openly_licensed(serve, tmp_path, name, where):
    base_url, requests = serve(tmp_path)
    with pytest.raises(DataError, match="not openly licensed") as err:
        fetch(["emobank", name], tmp_path / "data", base_url=base_url)
    assert where in str(err.value)
    assert requests == [] and not (tmp_path / "data").exists()  # refused before downloading anything


def test_dailydialog_is_open_but_only_an_archive(tmp_path):
    with pytest.raises(DataError, match="no direct download") as err:
        fetch(["dailydialog"], tmp_path)
    assert "ijcnlp_dailydialog.zip" in str(err.value)


def test_unknown_name(tmp_path):
    with pytest.raises(DataError, match="unknown corpus 'emotions'; known corpora: emobank"):
        fetch(["emotions"], tmp_path)


def test_every_fetchable_file_has_a_checksum_and_an_https_url():
    for info in CORPORA.values():
        if info.fetchable:
            assert set(info.sha256) == set(info.files) == set(info.urls), info.name
            assert all(url.startswith("https://") for url in info.urls.values())
    assert {name for name, info in CORPORA.items() if info.fetchable} == {
        "emobank", "facebook-va", "goemotions", "goemotions-ekman", "goemotions-group", "goemotions-10", "goemotions-single"}
