"""A loopback PEP 503 package index for the tests: real wheels and sdists, served with ETag and
Cache-Control so that a real pip caches pages and files, and builds wheels from the sdists."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import signal
import tarfile
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BACKEND = textwrap.dedent(
    '''
    """A PEP 517 backend with no dependencies: packs the module next to it into a wheel."""
    import base64, hashlib, os, zipfile

    NAME, VERSION = open("NAME-VERSION").read().split()

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        filename = f"{NAME}-{VERSION}-py3-none-any.whl"
        dist = f"{NAME}-{VERSION}.dist-info"
        files = {
            f"{NAME}.py": open(f"{NAME}.py", "rb").read(),
            f"{dist}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode(),
            f"{dist}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
        }
        record = []
        for path, data in files.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        files[f"{dist}/RECORD"] = ("\\n".join(record) + "\\n").encode()
        with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
            for path, data in files.items():
                zf.writestr(path, data)
        return filename
    '''
)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(name: str, version: str, payload: bytes = b"") -> bytes:
    """A valid pure-Python wheel of ``name`` ``version``; ``payload`` pads its module."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 1\n# " + payload + b"\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{p},sha256={_digest(d)},{len(d)}" for p, d in files.items()]
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def make_sdist(name: str, version: str) -> bytes:
    """An sdist ``name-version.tar.gz`` that pip builds offline with an in-tree backend."""
    top = f"{name}-{version}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        "pyproject.toml": (
            b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        ),
        "backend.py": BACKEND.encode(),
        "NAME-VERSION": f"{name} {version}\n".encode(),
        f"{name}.py": b"VALUE = 2\n",
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class Index:
    """The packages an index serves: project name -> {filename: bytes}; and how it serves them:
    PyPI's ``x-pypi-file-*`` headers on files, PEP 691 JSON pages when asked, gzip'd pages,
    absolute links (as PyPI's pages have) instead of relative ones."""

    projects: dict[str, dict[str, bytes]] = field(default_factory=dict)
    pypi_headers: bool = False
    json_pages: bool = False
    gzip_pages: bool = False
    absolute_links: bool = False
    core_metadata: bool = False  # PEP 658: each wheel's METADATA served beside it

    def metadata(self, filename: str) -> bytes | None:
        """The METADATA inside a served wheel (PEP 658's ``<file>.metadata``)."""
        project = filename.split("-", 1)[0].lower()
        data = self.projects.get(project, {}).get(filename)
        if data is None or not filename.endswith(".whl"):
            return None
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            return zf.read(name)

    def _meta_attr(self, filename: str) -> str:
        meta = self.metadata(filename) if self.core_metadata else None
        if meta is None:
            return ""
        return f' data-core-metadata="sha256={hashlib.sha256(meta).hexdigest()}"'

    def add(self, filename: str, data: bytes) -> None:
        """Serve a file under the project its name starts with."""
        project = filename.split("-", 1)[0].lower().replace("_", "-")
        self.projects.setdefault(project, {})[filename] = data

    def page(self, project: str, base: str = "../../files/") -> bytes | None:
        """The PEP 503 page of a project; links start with ``base``."""
        files = self.projects.get(project)
        if files is None:
            return None
        links = "".join(
            f'<a href="{base}{fn}#sha256={hashlib.sha256(d).hexdigest()}"'
            f"{self._meta_attr(fn)}>{fn}</a><br/>\n"
            for fn, d in sorted(files.items())
        )
        return f"<!DOCTYPE html><html><head><title>Links for {project}</title></head><body>\n{links}</body></html>\n".encode()

    def json_page(self, project: str, base: str) -> bytes | None:
        """The PEP 691 JSON page of a project."""
        files = self.projects.get(project)
        if files is None:
            return None
        entries = [
            {"filename": fn, "url": base + fn, "hashes": {"sha256": hashlib.sha256(d).hexdigest()}}
            for fn, d in sorted(files.items())
        ]
        doc = {"meta": {"api-version": "1.1"}, "files": entries, "name": project}
        return json.dumps(doc).encode()


def default_index() -> Index:
    """alpha (two wheels), beta and gamma (sdists, so pip builds and caches wheels)."""
    index = Index()
    index.add("alpha-1.0-py3-none-any.whl", make_wheel("alpha", "1.0", b"a" * 3000))
    index.add("alpha-2.0-py3-none-any.whl", make_wheel("alpha", "2.0", b"b" * 20000))
    index.add("beta-1.0.tar.gz", make_sdist("beta", "1.0"))
    index.add("gamma-0.5.tar.gz", make_sdist("gamma", "0.5"))
    return index


@dataclass
class Hold:
    """Makes the index answer file downloads slowly: half the body, then nothing until released."""

    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(http.server.BaseHTTPRequestHandler):
    index: Index
    hold: Hold | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        """uv asks for a file's headers first (whether it serves ranges)."""
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        parts = [p for p in path.split("/") if p]
        body: bytes | None = None
        ctype = "application/octet-stream"
        index = self.index
        extra: dict[str, str] = {}
        base = f"http://{self.headers['Host']}/files/" if index.absolute_links else "../../files/"
        if parts[:1] == ["simple"] and len(parts) == 2:
            project = parts[1].lower()
            if index.json_pages and "vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
                body = index.json_page(project, base)
                ctype = "application/vnd.pypi.simple.v1+json"
            else:
                body = index.page(project, base)
                ctype = "text/html"
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            if body is not None and index.gzip_pages and gzipped:
                body = gzip.compress(body, mtime=0)
                extra["Content-Encoding"] = "gzip"
        elif parts[:1] == ["files"] and len(parts) == 2 and parts[1].endswith(".metadata"):
            if index.core_metadata:
                body = index.metadata(parts[1][: -len(".metadata")])
        elif parts[:1] == ["files"] and len(parts) == 2:
            project = parts[1].split("-", 1)[0].lower()
            body = index.projects.get(project, {}).get(parts[1])
            if index.pypi_headers and body is not None:
                version = parts[1].split("-")[1].removesuffix(".tar.gz")
                extra["x-pypi-file-project"] = project
                extra["x-pypi-file-version"] = version
                kind = "bdist_wheel" if parts[1].endswith(".whl") else "sdist"
                extra["x-pypi-file-package-type"] = kind
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", "max-age=600, public")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if self.hold is not None and parts[0] == "files":
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            self.hold.started.set()
            self.hold.release.wait(120)
            body = body[half:]
        self.wfile.write(body)


@contextmanager
def serve_in_child(index: Index) -> Iterator[str]:
    """Serve ``index`` on 127.0.0.1 from a forked child process; yields the simple index URL.
    No thread stays in the test process: a clean refuses to fork its deleting child while
    threads run, so a test that runs one in-process must not find the index's threads there."""
    handler = type("Handler", (_Handler,), {"index": index, "hold": None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    pid = os.fork()
    if pid == 0:  # the child serves until it is told to stop, and never returns into pytest
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            server.serve_forever()
        finally:
            os._exit(0)
    server.server_close()
    try:
        yield f"http://127.0.0.1:{port}/simple/"
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)


@contextmanager
def serve(index: Index, hold: Hold | None = None) -> Iterator[str]:
    """Serve ``index`` on 127.0.0.1; yields the simple index URL. With ``hold``, every file
    download stops halfway until ``hold.release`` is set."""
    handler = type("Handler", (_Handler,), {"index": index, "hold": hold})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        if hold is not None:
            hold.release.set()
        server.shutdown()
        server.server_close()
