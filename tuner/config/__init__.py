"""The study config: its schema, loading with --set, the cross-field checks, export, and the names shared across tuner."""
