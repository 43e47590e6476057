"""Records: one shared care record per person, the unit of everything."""
