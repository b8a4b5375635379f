"""Issue 17, item 7 (bodies): request bodies are bounded per route, also when sent without a length."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient


def test_oversized_bodies_are_refused_before_they_are_read(client: TestClient) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    r = client.post("/api/v1/auth/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"username": "'
        for _ in range(64):
            yield b"a" * 65536
        yield b'"}'

    r = client.post("/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    r = client.post("/login", content=big, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    r = client.post("/api/v1/wire/enroll", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    # an ordinary request is untouched
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "x"})
    assert r.status_code == 401
