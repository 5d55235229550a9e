"""The git layer: remote (a URL and what it advertises), database (the cached bare mirror),
checkout (one commit's tree exported to a folder). Knows refs and commits, never model rules.
"""
