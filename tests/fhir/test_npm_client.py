"""The MHD flows driven by a FHIR client from npm (fhir-kit-client), over a real HTTP server.

tests/fhir/mhd_client.mjs runs under node against uvicorn serving the test platform; node_modules
comes from `npm ci` (package.json devDependencies), as in `make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opendsp.platform import Platform
from tests.factories import PDF
from tests.fhir.conftest import CONSULT_NOTE, World, live_token, provide_bundle, valid

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("mhd_client.mjs")
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node not installed: the npm FHIR client test needs Node.js"),
    pytest.mark.skipif(not (ROOT / "node_modules" / "fhir-kit-client").is_dir(),
                       reason="node_modules/fhir-kit-client missing: run `npm ci --ignore-scripts` (make test does)"),
]




def run_client(url: str, access_token: str, patient_id: str, bundle_file: Path | None = None) -> dict[str, Any]:
    env = {**os.environ, "MHD_BASE_URL": f"{url}/fhir", "MHD_TOKEN": access_token, "MHD_PATIENT_ID": patient_id}
    if bundle_file is not None:
        env["MHD_BUNDLE_FILE"] = str(bundle_file)
    assert NODE is not None
    done = subprocess.run([NODE, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_fhir_kit_client_provides_finds_retrieves_and_is_refused(server: tuple[str, Platform], world: World,
                                                                  tmp_path: Path) -> None:
    url, served = server
    patient_id = str(world.person_id)
    bundle_file = tmp_path / "iti65.json"
    bundle_file.write_text(json.dumps(provide_bundle(world.person_id, type_coding=CONSULT_NOTE, title="Consultation npm")))

    gp_token = live_token(url, served, world, "hospital", world.gp,
                     "system/DocumentReference.crs system/Binary.r system/List.s")
    result = run_client(url, gp_token, patient_id, bundle_file)

    assert "error" not in result, result
    assert result["provide"]["resourceType"] == "Bundle"
    assert result["provide"]["type"] == "transaction-response"
    created = next(location.split("/")[1] for location in result["provide"]["locations"]
                   if location.startswith("DocumentReference/"))
    assert result["documents"]["total"] == 1
    assert result["documents"]["ids"] == [created]
    assert result["documents"]["sizes"] == [len(PDF)]
    assert result["binary"] == {"id": created, "contentType": "application/pdf", "size": len(PDF)}
    assert result["lists"]["total"] == 1
    assert result["lists"]["items"] == [[f"DocumentReference/{created}"]]

    outsider_token = live_token(url, served, world, "hospital", world.outsider,
                           "system/DocumentReference.rs system/Binary.r system/List.s")
    refused = run_client(url, outsider_token, patient_id)

    assert set(refused) == {"error"}, refused
    assert refused["error"]["step"] == "ITI-67"
    assert refused["error"]["status"] == 403
    outcome = valid(refused["error"]["outcome"])
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "forbidden"
    assert "no_access" in json.dumps(outcome)
