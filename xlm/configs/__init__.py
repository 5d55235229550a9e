"""xlm's Hydra config tree (a package so Hydra can load it as pkg://xlm.configs)."""
