"""Errors a caller can act on. Each carries a message that says what to fix."""


class WatermarkRemovalError(Exception):
    """Base class: the job failed for a reason the caller should be told."""


class InputError(WatermarkRemovalError):
    """The input is missing, unreadable, or not a video we can process."""


class EncodeError(WatermarkRemovalError):
    """ffmpeg could not encode the output."""


class ConfigError(WatermarkRemovalError):
    """A setting or option is invalid or a required resource is missing."""
