"""Training: the epoch loop (loop), the one fit -> calibrate -> refit -> keep sequence (run), preparing data for
it (fitting), device choice, resumable state, and distributed data parallel."""
