"""Watermark detection: per-frame boxes in source pixels, then temporal tracking."""
