"""Inpainting: fill the masked pixels of a frame, only on crops around the masks."""
