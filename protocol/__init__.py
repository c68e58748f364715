"""The evaluation protocol's version.

Any change that can move a number (LR generation, JPEG settings, Y formula, crop, SSIM) bumps
``PROTOCOL_VERSION``; it is part of every result's key and of every LR cache key, so results and cached
LR images made under another protocol are never mixed with new ones.
"""

PROTOCOL_VERSION = "srbench-1"

# PROTOCOL section 3: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, R, G, B in [0, 255].
Y_OFFSET = 16.0
Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)

GRAY_CONVENTIONS = ("rgb", "y")
