"""The content hash xpm records (`sha256-tree:`): one implementation, `xlm.records.treehash`.

It sits below xlm and xpm both, so the hash of a vendored model in `xlm.lock` and the hash
xlm records for any model in a run's `models.lock` are computed the same way (docs/xpm.md,
"The content hash").
"""

from xlm.records.treehash import (ALGORITHM, IGNORED_DIRS, FileRecord, hash_dir, parse_tree_text, record, records,
                                  records_of, text_hash, tree_hash, tree_hash_of, tree_text, walk)

__all__ = ["ALGORITHM", "IGNORED_DIRS", "FileRecord", "hash_dir", "parse_tree_text", "record", "records", "records_of",
           "text_hash", "tree_hash", "tree_hash_of", "tree_text", "walk"]
