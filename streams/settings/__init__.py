"""The one settings object, in groups: ``Settings`` (``model``), its groups
(``groups``) and the names of earlier releases (``aliases``)."""

from models import ARTIFACTS
from streams.settings.groups import BUNDLED, GROUPS
from streams.settings.model import PROJECT_ROOT, Settings, SettingsError

__all__ = ["ARTIFACTS", "BUNDLED", "GROUPS", "PROJECT_ROOT", "Settings", "SettingsError"]
