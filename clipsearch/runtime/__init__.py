"""Lambda plumbing every function shares: the handler wrapper with its Logger, Metrics and Tracer
(`entry`), settings read from the environment, request errors, what an AWS error means (`faults`),
the invocation's deadline, and events in and responses out. Imports nothing else of clipsearch."""
