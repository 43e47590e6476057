"""Persons: the insured population, holders of records."""
