"""Typed settings, their loader and the default settings file."""

from config.settings import (
    CASettings,
    HSMSettings,
    PipelineSettings,
    ProfileSettings,
    RegistrySettings,
    ServerSettings,
    Settings,
    SettingsError,
    load_settings,
)

__all__ = [
    "CASettings",
    "HSMSettings",
    "PipelineSettings",
    "ProfileSettings",
    "RegistrySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "load_settings",
]
