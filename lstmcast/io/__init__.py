"""Reading files (CSV, gzip, standard input) into validated series and panels: csvio reads bytes into a frame,
cells parses times and numbers, data builds one Series, panel many."""
