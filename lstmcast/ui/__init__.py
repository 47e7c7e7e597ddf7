"""Output for people: rich tables and progress on a console, matplotlib figures; from plain data, never torch."""
