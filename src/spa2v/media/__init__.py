"""Files, plots and (later) video: everything spa2v writes for people to look at."""
