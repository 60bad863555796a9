"""The stack under test: packaging, deploy, discovery, outputs, emulator gaps, evidence."""
