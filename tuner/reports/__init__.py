"""What a fitted model says to people: forecast plots, what-if scenarios, and the notes under its test table."""
