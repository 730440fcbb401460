"""Images for the screen: JPEG bytes and QR codes as Kivy textures, decoded in memory only."""

from __future__ import annotations

import io

import qrcode
from kivy.core.image import Image as CoreImage
from kivy.graphics.texture import Texture


def texture_from_bytes(data: bytes, ext: str = "jpg") -> Texture:
    return CoreImage(io.BytesIO(data), ext=ext, nocache=True).texture


def qr_texture(payload: str) -> Texture:
    image = qrcode.make(payload, border=2, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    texture = texture_from_bytes(buffer.getvalue(), "png")
    texture.mag_filter = "nearest"  # keep the modules sharp when scaled up
    return texture
