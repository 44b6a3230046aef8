"""The in-app inbox: what a recipient reads, and the live feed of what arrives."""
