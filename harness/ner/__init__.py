"""CoNLL-2003 taggers (the NCRF++ family and the 50-unit analysis model) and their units."""
