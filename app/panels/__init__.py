"""The window's panels: one widget per file, each updated in place through a set_* slot."""
