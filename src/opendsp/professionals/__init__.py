"""Professionals and the organisations they act for."""
