"""Inputs: find and decode images, read box annotations and label files.

May import only errors, progress and common. Nothing here knows about models or scores."""
