"""Write docs/examples/photo.jpg: a valid 16x16 grey baseline JPEG, with the standard library.

The README's walk-through sends it as a binary message. Every 8x8 block is flat grey (its
DC difference is 0, no AC coefficients), so one-code Huffman tables encode the whole image
in one byte. Run: python3 docs/examples/make_photo.py [PATH]
"""
import struct
import sys
from pathlib import Path


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def tiny_jpeg(width: int = 16, height: int = 16) -> bytes:
    blocks = (width // 8) * (height // 8)
    quantization = segment(0xDB, bytes([0]) + bytes([1] * 64))  # table 0, all ones
    frame = segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    one_code = bytes([1] + [0] * 15)  # one Huffman code, of length 1 ("0")
    huffman = segment(0xC4, bytes([0x00]) + one_code + bytes([0])   # DC 0: difference 0
                      + bytes([0x10]) + one_code + bytes([0]))       # AC 0: end of block
    scan = segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
    bits = "00" * blocks  # per block: DC "0" and EOB "0"
    bits += "1" * (-len(bits) % 8)  # pad the last byte with ones
    data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    return b"\xff\xd8" + quantization + frame + huffman + scan + data + b"\xff\xd9"


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("photo.jpg"))
    path.write_bytes(tiny_jpeg())
    print(f"wrote {path} ({path.stat().st_size} bytes)")
