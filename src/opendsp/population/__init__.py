"""Importing the insured population: persons and their records."""
