"""Video watermark removal: decode -> detect -> track -> inpaint -> encode."""
