"""One module per method; each takes arrays, a config dataclass and progress / should_stop callbacks."""
