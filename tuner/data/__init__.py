"""The data: reading and resampling a CSV, calendar and derived inputs, panels, scaling, the dataset and its windows, a forecast's inputs, and the demo generator."""
