"""Identity: accounts, activation letters, strong login, federation and web sessions."""
