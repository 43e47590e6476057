"""The MHD flows driven by a FHIR client written by others (fhirpy), over a real HTTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.factories import PDF
from tests.fhir.conftest import World, live_token, provide_bundle, valid




def test_fhirpy_provides_finds_pages_and_retrieves(server: tuple[str, Platform], world: World,
                                                   clock: FrozenClock) -> None:
    url, served = server
    lab = SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {live_token(url, served, world, 'lab', world.biologist, 'system/DocumentReference.c')}")
    created = []
    for title in ("un", "deux", "trois"):
        response = lab.execute("", method="post", data=provide_bundle(world.person_id, title=title))
        created.append(valid(response)["entry"][1]["response"]["location"].split("/")[1])
        clock.advance(timedelta(seconds=1))

    gp = SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {live_token(url, served, world, 'hospital', world.gp, 'system/DocumentReference.rs system/Binary.r system/Patient.rs')}")
    patient = gp.resources("Patient").search(identifier=f"urn:oid:1.3.182.4.4|{world.national_number}").first()
    assert patient is not None and patient.id == str(world.person_id)
    references = gp.resources("DocumentReference").search(patient=f"Patient/{patient.id}").sort("date").limit(2)
    found = references.fetch_all()  # follows the next links
    assert [r.id for r in found] == created
    assert gp.resources("DocumentReference").search(patient=f"Patient/{patient.id}").count() == 3
    for resource in found:
        valid(resource.serialize())
    binary = gp.reference("Binary", created[0]).to_resource()
    assert binary["contentType"] == "application/pdf"
    import base64

    assert base64.b64decode(binary["data"]) == PDF

    outsider = SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {live_token(url, served, world, 'hospital', world.outsider, 'system/DocumentReference.s')}")
    with pytest.raises(ForbiddenError) as refused:
        outsider.resources("DocumentReference").search(patient=f"Patient/{patient.id}").fetch()
    assert "no_access" in str(refused.value)
