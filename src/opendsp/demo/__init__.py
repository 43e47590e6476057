"""Demonstration data: a small, fictitious population generated from a seed.

``opendsp.demo.load.load_demo`` writes it through the ordinary services (so
every act is traced and every content sealed) and lists the identities it
created in a JSON file for people trying the platform.
"""
