"""Prompt formats the router model speaks (one package a format)."""
