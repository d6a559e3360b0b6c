"""16-bit PNG (grey or RGB) for reference arrays in [0, 1]: value = round(v * 65535), so a stored
value is within 0.5 / 65535 (7.6e-6) of the original. PIL writes no 16-bit RGB PNG, so this is
the format's few lines: signature, IHDR, one zlib IDAT, IEND. Each row takes the filter (None, Sub
or Up) with the smallest sum of absolute byte values, the usual heuristic: nearest-resized maps
repeat rows and columns, which Up and Sub turn into zeros."""
import struct
import zlib

import numpy as np


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def quantize(values):
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).all() or v.min() < 0 or v.max() > 1:
        raise ValueError("png16 stores finite values in [0, 1]")
    return np.round(v * 65535).astype(">u2")


def write(path, values):
    """values: HxW (grey) or HxWx3 (RGB) in [0, 1]."""
    q = quantize(values)
    h, w = q.shape[:2]
    colour = {2: 0, 3: 2}[q.ndim]
    rows = np.frombuffer(q.tobytes(), np.uint8).reshape(h, -1).astype(np.int16)
    bpp = 2 * (3 if q.ndim == 3 else 1)
    sub = rows.copy()
    sub[:, bpp:] -= rows[:, :-bpp]
    up = rows.copy()
    up[1:] -= rows[:-1]
    candidates = np.stack([rows, sub, up]) % 256  # filter types 0, 1, 2
    cost = np.minimum(candidates, 256 - candidates).sum(axis=2)
    choice = cost.argmin(axis=0)
    raw = b"".join(bytes([int(f)]) + candidates[f, i].astype(np.uint8).tobytes() for i, f in enumerate(choice))
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)) +
           _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)
