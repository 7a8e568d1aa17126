"""Typed settings, their loader and the default settings file."""

from config.settings import (
    CASettings,
    CRLSettings,
    HSMSettings,
    OCSPSettings,
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
    "CRLSettings",
    "HSMSettings",
    "OCSPSettings",
    "PipelineSettings",
    "ProfileSettings",
    "RegistrySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "load_settings",
]
