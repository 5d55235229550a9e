"""Shared by every test folder: pytest puts this folder on sys.path for it, so the helpers kept
here (`venv_helpers`) import from any of them."""
