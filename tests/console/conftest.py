from tests.accounts.portal import settings  # noqa: F401 - the portal's test settings
