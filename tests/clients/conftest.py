"""The FHIR tests' world and HTTP client serve the token tests too."""

from tests.fhir.conftest import fhir, world  # noqa: F401
