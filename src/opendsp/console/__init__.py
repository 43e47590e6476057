"""The agency's console: helpdesk and administration of accounts, never clinical content."""
