"""Renderers: a Report in, text out.  They never import the engine."""
