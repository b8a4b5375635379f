"""The API reference works offline: /docs names no other host, and the files it loads are served by
the console itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in URL.findall(html)]


def test_docs_load_only_from_the_console(admin: TestClient) -> None:
    client = admin
    assert client.get("/redoc").status_code == 404  # ReDoc would fetch its logo from a CDN
    for path, needed in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),):
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.text
        refs = _references(html)
        assert refs, path
        for ref in refs:
            assert ref.startswith("/"), f"{path} references {ref}"  # same host, never a CDN
        assert "//" not in "".join(refs)
        assert not re.search(r"https?://(?!www\.w3\.org)", html), path  # no host in the page at all
        for name in needed:
            (ref,) = [x for x in refs if x.endswith(name)]
            asset = client.get(ref)
            assert asset.status_code == 200 and len(asset.content) > 10_000, ref
    docs = client.get("/docs")
    assert '"validatorUrl": null' in docs.text
    csp = docs.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp  # the browser may load nothing from elsewhere
    assert client.get("/openapi.json").json()["info"]["title"] == "OTWatch console"


def test_docs_need_sign_in(client: TestClient) -> None:
    r = client.get("/docs", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
