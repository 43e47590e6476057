"""Registered client software (professionals' systems) and the tokens they obtain."""
