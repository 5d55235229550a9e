"""Hydra discovers this plugin by its namespace package; it appends registered models' configs."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class XlmModelsSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from xlm.external.registration import config_dirs

        for folder in config_dirs():
            search_path.append(provider="xlm-model", path=f"file://{folder}")
