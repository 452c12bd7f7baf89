"""Jinja2 templates for the review renderers, shipped inside the package."""
