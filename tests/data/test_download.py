import io
import zipfile

import pytest

from gscpr.data.download import DownloadError, download, extract_zip

from .http_server import FileServer

DATA = bytes(range(256)) * 4000  # ~1 MB


def test_download_resumes_after_a_dropped_connection(tmp_path):
    server = FileServer({"/a.bin": DATA})
    server.drop_once.add("/a.bin")
    with server.running() as url:
        path = download(f"{url}/a.bin", tmp_path / "a.bin", progress=False)
    assert path.read_bytes() == DATA
    assert not (tmp_path / "a.bin.part").exists()
    assert server.requests[0] == ("/a.bin", None)
    assert server.requests[1][1] == f"bytes={len(DATA) // 2}-"  # resumed, not restarted


def test_partial_file_from_an_earlier_run_is_resumed_and_complete_files_skipped(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(DATA[:1000])
    server = FileServer({"/a.bin": DATA})
    with server.running() as url:
        download(f"{url}/a.bin", tmp_path / "a.bin", progress=False)
        download(f"{url}/a.bin", tmp_path / "a.bin", progress=False)  # second run: nothing to do
    assert (tmp_path / "a.bin").read_bytes() == DATA
    assert server.requests == [("/a.bin", "bytes=1000-")]


def test_errors_name_url_and_sizes(tmp_path):
    server = FileServer({"/a.bin": DATA})
    with server.running() as url:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(f"{url}/missing.zip", tmp_path / "m.zip", progress=False)
        with pytest.raises(
            DownloadError, match=f"a.bin: downloaded {len(DATA)} bytes but the expected size is 5 bytes"
        ):
            download(f"{url}/a.bin", tmp_path / "a.bin", expected_size=5, progress=False)
    with pytest.raises(DownloadError, match="cannot connect"):
        download(f"{url}/a.bin", tmp_path / "b.bin", progress=False, retries=0)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_extract_zip_is_idempotent_and_refuses_path_traversal(tmp_path):
    (tmp_path / "ok.zip").write_bytes(zip_bytes({"scene/a.txt": b"a", "scene/sub/b.txt": b"b"}))
    assert extract_zip(tmp_path / "ok.zip", tmp_path / "out", delete=True) == ["scene/a.txt", "scene/sub/b.txt"]
    assert (tmp_path / "out" / "scene" / "sub" / "b.txt").read_bytes() == b"b"
    assert not (tmp_path / "ok.zip").exists()
    (tmp_path / "out" / "scene" / "a.txt").write_bytes(b"changed")
    extract_zip(tmp_path / "ok.zip", tmp_path / "out")  # marker: not extracted again
    assert (tmp_path / "out" / "scene" / "a.txt").read_bytes() == b"changed"
    (tmp_path / "evil.zip").write_bytes(zip_bytes({"../evil.txt": b"x"}))
    with pytest.raises(DownloadError, match="unsafe member name '../evil.txt'"):
        extract_zip(tmp_path / "evil.zip", tmp_path / "out2")
    assert not (tmp_path / "evil.txt").exists()
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="bad.zip: not a valid zip"):
        extract_zip(tmp_path / "bad.zip", tmp_path / "out3")
