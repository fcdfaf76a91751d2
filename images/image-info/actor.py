"""image-info: the format and size of a PNG or JPEG binary message, as a JSON result.

Only the header is parsed (PNG's IHDR chunk, JPEG's SOFn frame header), with
the standard library: ``{"format": "PNG", "width": 640, "height": 480}``.
Anything else answers ``{"error": ...}`` and exits with code 2.
"""
import json
import struct
import sys

from runtime_sdk import get_binary_message, send_bytes_result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM: no length field


class NotAnImage(ValueError):
    pass


def png_size(data: bytes) -> tuple:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise NotAnImage("a PNG signature but no IHDR chunk after it")
    return struct.unpack(">II", data[16:24])


def jpeg_size(data: bytes) -> tuple:
    position = 2  # after SOI (FF D8)
    while position < len(data):
        if data[position] != 0xFF:
            raise NotAnImage(f"JPEG: expected a marker at byte {position}")
        while position < len(data) and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= len(data):
            break
        marker = data[position]
        position += 1
        if marker in JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI, or SOS (entropy-coded data) before any frame header
            break
        if position + 2 > len(data):
            break
        (length,) = struct.unpack(">H", data[position:position + 2])
        if marker in JPEG_SOF:
            if position + 7 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 3:position + 7])
            return width, height
        position += length
    raise NotAnImage("JPEG: no frame header (SOFn) found")


def describe(data: bytes) -> dict:
    if data.startswith(PNG_SIGNATURE):
        width, height = png_size(data)
        return {"format": "PNG", "width": width, "height": height}
    if data.startswith(b"\xff\xd8"):
        width, height = jpeg_size(data)
        return {"format": "JPEG", "width": width, "height": height}
    raise NotAnImage(f"not a PNG or JPEG image (first bytes: {data[:8].hex() or 'none'})")


def main():
    data = get_binary_message()
    try:
        info = describe(data)
    except NotAnImage as error:
        print(f"image-info: {error}", file=sys.stderr)
        send_bytes_result(json.dumps({"error": str(error)}).encode())
        sys.exit(2)
    print(f"image-info: {info['format']} {info['width']}x{info['height']} ({len(data)} bytes)")
    send_bytes_result(json.dumps(info).encode())


if __name__ == "__main__":
    main()
