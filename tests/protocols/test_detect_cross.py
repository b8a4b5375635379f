"""Detection is by content on every port (sensor/tracking/flows.py tries each spec's ``detect`` on a
flow its port does not decide), so a loose ``detect`` steals other protocols' flows. Here the newer
content detectors (ROC Plus, BSAP, Genisys) are run over every other protocol's seed traffic of the
dissector fuzz corpus (the public captures plus the synthetic generators): none may claim any of it."""

from __future__ import annotations

import pytest

from otwatch.protocols.registry import PROTOCOLS
from tests.protocols.test_dissector_fuzz import _key, _seeds

STRICT = ("roc_plus", "bsap", "genisys")


@pytest.mark.parametrize("name", STRICT)
def test_claims_no_other_protocols_traffic(name: str) -> None:
    mine = [s for s in PROTOCOLS if s.name == name]
    seeds = _seeds()
    claimed: list[tuple[str, str]] = []
    tried = 0
    for spec in PROTOCOLS:
        if spec.name == name or spec.transport == "eth":
            continue
        for payload, _from_client in seeds[_key(spec)]:
            tried += 1
            if any(m.detect(payload) for m in mine):
                claimed.append((_key(spec), payload[:16].hex()))
    assert tried > 1000
    assert claimed == []
