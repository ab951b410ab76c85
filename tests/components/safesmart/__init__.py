"""Tests for the SafeSmart Home Assistant integration."""
