"""Tags that TexForge writes on the data it creates, so that later runs recognise their own output.

The tag is an ID custom property (``obj[ROLE_KEY]``), saved in the .blend and visible to artists under
Object / Image properties > Custom Properties:
* ``CORRECTED`` on the cameras a reconstruction creates: a second run over "all cameras" would
  otherwise take them as new views of the same photos (duplicates);
* ``MASK`` on images that hold a frame's object mask (transforms.json ``mask_path``), attached to the
  camera as a hidden second background image: they are never a photo.
"""

from __future__ import annotations

ROLE_KEY = "texforge_role"
CORRECTED = "corrected"
MASK = "mask"


def role(id_data) -> str:
    """The TexForge role of a datablock ('' for the user's own data)."""
    if id_data is None:
        return ""
    value = id_data.get(ROLE_KEY, "")
    return value if isinstance(value, str) else ""


def tag(id_data, value: str) -> None:
    id_data[ROLE_KEY] = value
