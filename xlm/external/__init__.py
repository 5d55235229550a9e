"""External models: discovery, static validation and registration. Imports nothing heavy."""
