"""tokenaudit: records every model node run of this ComfyUI as a usage record (README.md).

A ComfyUI custom-node package that adds no nodes. Importing it installs the hooks (hooks.py) and
starts the delivery thread; any failure is logged and leaves ComfyUI as it was.
"""

import logging

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}

EXTENSION = None
try:
    from . import hooks as _hooks

    EXTENSION = _hooks.start()
except Exception:  # never break ComfyUI's start-up
    logging.getLogger("tokenaudit.comfyui").exception(
        "tokenaudit: extension not started; ComfyUI runs without usage records")

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
