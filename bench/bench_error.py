"""The one exception of the serving benchmark's modules."""


class BenchError(RuntimeError):
    """A prerequisite is missing or a server misbehaves; the message says which."""
