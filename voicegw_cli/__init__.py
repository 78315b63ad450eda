"""voicegw: what every LiveKit voice-agent call cost, per project, proven against the invoice."""

__version__ = "0.1.0"
