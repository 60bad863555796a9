"""TapStack's Lambda code: one bundle, four handlers (see handlers/README.md)."""
