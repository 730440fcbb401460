"""Where the project's own files are, independent of the working directory."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "config"
MESSAGES_DIR = CONFIG_DIR / "messages"
SERVICES_DIR = CONFIG_DIR / "services"
