#!/usr/bin/env python3
"""Generate Ledgerline's PWA icons with the Python standard library only.

    python3 scripts/make_icons.py            # writes into static/icons/

Outputs
  icon-192.png, icon-512.png  purpose "any": teal rounded square, transparent corners
  maskable-512.png            purpose "maskable": full-bleed teal, artwork inside the
                              central safe zone (circle of radius 40% of the size)
  favicon.svg                 the same mark as a vector

The mark: a white invoice sheet with a folded top-right corner, a short heading bar,
two ledger lines and a right-aligned, heavier "total" bar.
Shapes are drawn with signed distance functions, so edges are anti-aliased without
supersampling. PNGs are written with zlib + struct (RGBA, 8 bit, filter 0).
"""

import math
import os
import struct
import sys
import zlib

TEAL = (0x0F, 0x76, 0x6E)        # #0f766e background
TEAL_DARK = (0x0B, 0x5A, 0x54)   # sheet shadow
TEAL_LINE = (0x0F, 0x76, 0x6E)   # lines on the sheet
TEAL_TOTAL = (0x11, 0x5E, 0x59)  # total bar
FOLD = (0x99, 0xE0, 0xD5)        # folded corner
WHITE = (0xFF, 0xFF, 0xFF)

# Geometry in unit coordinates (0..1, y down) for the "any" icon.
BG_RADIUS = 0.22
SHEET = dict(x0=0.25, y0=0.17, x1=0.75, y1=0.83, r=0.045)
FOLD_SIZE = 0.14
SHADOW_OFFSET = 0.018
BARS = [
    # (x0, y0, x1, y1, colour): heading, two ledger lines, total
    (0.32, 0.30, 0.50, 0.355, TEAL_LINE),
    (0.32, 0.45, 0.68, 0.485, TEAL_LINE),
    (0.32, 0.56, 0.68, 0.595, TEAL_LINE),
    (0.50, 0.68, 0.68, 0.74, TEAL_TOTAL),
]
MASKABLE_SCALE = 0.80  # artwork scaled about the centre: half-diagonal 0.33 < 0.40


# ---------------------------------------------------------------- SDF helpers
def sd_round_box(px, py, x0, y0, x1, y1, r):
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = (x1 - x0) / 2 - r, (y1 - y0) / 2 - r
    qx, qy = abs(px - cx) - hx, abs(py - cy) - hy
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    inside = min(max(qx, qy), 0.0)
    return outside + inside - r


def sd_half_plane(px, py, nx, ny, c):
    """Distance to the half plane nx*x + ny*y <= c (n normalised here)."""
    n = math.hypot(nx, ny)
    return (nx * px + ny * py - c) / n


class Canvas:
    def __init__(self, size):
        self.size = size
        self.px = [[0.0, 0.0, 0.0, 0.0] for _ in range(size * size)]  # premultiplied

    def fill(self, sdf, colour, bbox):
        """Composite `colour` over the canvas where sdf (in unit coords) < 0."""
        s = self.size
        x0, y0, x1, y1 = bbox
        ix0, iy0 = max(0, int(x0 * s) - 2), max(0, int(y0 * s) - 2)
        ix1, iy1 = min(s, int(math.ceil(x1 * s)) + 2), min(s, int(math.ceil(y1 * s)) + 2)
        r, g, b = (c / 255.0 for c in colour)
        for iy in range(iy0, iy1):
            uy = (iy + 0.5) / s
            row = iy * s
            for ix in range(ix0, ix1):
                ux = (ix + 0.5) / s
                d = sdf(ux, uy) * s  # distance in pixels
                a = 0.5 - d
                if a <= 0.0:
                    continue
                if a > 1.0:
                    a = 1.0
                p = self.px[row + ix]
                k = 1.0 - a
                p[0] = r * a + p[0] * k
                p[1] = g * a + p[1] * k
                p[2] = b * a + p[2] * k
                p[3] = a + p[3] * k

    def png(self):
        s = self.size
        raw = bytearray()
        for iy in range(s):
            raw.append(0)  # filter: none
            for ix in range(s):
                pr, pg, pb, pa = self.px[iy * s + ix]
                if pa > 0.0:
                    raw += bytes((
                        min(255, round(pr / pa * 255)),
                        min(255, round(pg / pa * 255)),
                        min(255, round(pb / pa * 255)),
                        min(255, round(pa * 255)),
                    ))
                else:
                    raw += b"\0\0\0\0"
        return encode_png(s, s, bytes(raw))


def encode_png(width, height, raw_rgba_rows):
    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw_rgba_rows, 9)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- the mark
def transform(scale):
    """Scale a unit-space coordinate about the centre."""
    return lambda v: 0.5 + (v - 0.5) * scale


def draw_mark(canvas, scale):
    t = transform(scale)
    sx0, sy0, sx1, sy1 = t(SHEET["x0"]), t(SHEET["y0"]), t(SHEET["x1"]), t(SHEET["y1"])
    sr = SHEET["r"] * scale
    f = FOLD_SIZE * scale
    off = SHADOW_OFFSET * scale
    # The dog-ear cut: keep x - y <= (x1 - f) - y0.
    cut_c = (sx1 - f) - sy0

    def sheet_sdf(dx=0.0, dy=0.0):
        def sdf(x, y):
            x, y = x - dx, y - dy
            return max(sd_round_box(x, y, sx0, sy0, sx1, sy1, sr), sd_half_plane(x, y, 1, -1, cut_c))
        return sdf

    bbox = (sx0, sy0, sx1 + off, sy1 + off)
    canvas.fill(sheet_sdf(off * 0.4, off), TEAL_DARK, bbox)  # drop shadow
    canvas.fill(sheet_sdf(), WHITE, bbox)

    # Folded corner: triangle (x1-f, y0) (x1-f, y0+f) (x1, y0+f), slightly rounded.
    fx, fy = sx1 - f, sy0 + f

    def fold_sdf(x, y):
        return max(
            sd_half_plane(x, y, -1, 0, -fx),          # x >= fx
            sd_half_plane(x, y, 0, 1, fy),            # y <= fy
            sd_half_plane(x, y, 1, -1, cut_c),        # x - y <= cut_c (under the cut)
        ) - 0.004 * scale
    canvas.fill(fold_sdf, FOLD, (fx, sy0, sx1, fy))

    for x0, y0, x1, y1, colour in BARS:
        bx0, by0, bx1, by1 = t(x0), t(y0), t(x1), t(y1)
        rr = (by1 - by0) / 2

        def bar_sdf(x, y, bx0=bx0, by0=by0, bx1=bx1, by1=by1, rr=rr):
            return sd_round_box(x, y, bx0, by0, bx1, by1, rr)
        canvas.fill(bar_sdf, colour, (bx0, by0, bx1, by1))


def make_icon(size, maskable):
    c = Canvas(size)
    if maskable:
        c.fill(lambda x, y: -1.0, TEAL, (0, 0, 1, 1))  # full bleed, fully opaque
        draw_mark(c, MASKABLE_SCALE)
    else:
        c.fill(lambda x, y: sd_round_box(x, y, 0, 0, 1, 1, BG_RADIUS), TEAL, (0, 0, 1, 1))
        draw_mark(c, 1.0)
    return c.png()


def hexc(rgb):
    return "#%02x%02x%02x" % rgb


def make_svg():
    u = 512  # viewBox units
    s = lambda v: round(v * u, 2)  # noqa: E731
    sx0, sy0, sx1, sy1, sr = SHEET["x0"], SHEET["y0"], SHEET["x1"], SHEET["y1"], SHEET["r"]
    f, off = FOLD_SIZE, SHADOW_OFFSET
    # Sheet outline: rounded corners except the cut top-right corner.
    sheet = (
        f"M{s(sx0 + sr)} {s(sy0)} H{s(sx1 - f)} L{s(sx1)} {s(sy0 + f)} "
        f"V{s(sy1 - sr)} Q{s(sx1)} {s(sy1)} {s(sx1 - sr)} {s(sy1)} "
        f"H{s(sx0 + sr)} Q{s(sx0)} {s(sy1)} {s(sx0)} {s(sy1 - sr)} "
        f"V{s(sy0 + sr)} Q{s(sx0)} {s(sy0)} {s(sx0 + sr)} {s(sy0)} Z"
    )
    fold = f"M{s(sx1 - f)} {s(sy0)} V{s(sy0 + f)} H{s(sx1)} Z"
    bars = "\n".join(
        f'  <rect x="{s(x0)}" y="{s(y0)}" width="{s(x1 - x0)}" height="{s(y1 - y0)}" '
        f'rx="{s((y1 - y0) / 2)}" fill="{hexc(c)}"/>'
        for x0, y0, x1, y1, c in BARS
    )
    return f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {u} {u}" width="{u}" height="{u}">
  <title>Ledgerline</title>
  <rect width="{u}" height="{u}" rx="{s(BG_RADIUS)}" fill="{hexc(TEAL)}"/>
  <path d="{sheet}" transform="translate({s(off * 0.4)} {s(off)})" fill="{hexc(TEAL_DARK)}"/>
  <path d="{sheet}" fill="{hexc(WHITE)}"/>
  <path d="{fold}" fill="{hexc(FOLD)}" stroke="{hexc(FOLD)}" stroke-width="{s(0.008)}" stroke-linejoin="round"/>
{bars}
</svg>
"""


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "static", "icons")
    os.makedirs(out, exist_ok=True)
    jobs = [
        ("icon-192.png", lambda: make_icon(192, maskable=False)),
        ("icon-512.png", lambda: make_icon(512, maskable=False)),
        ("maskable-512.png", lambda: make_icon(512, maskable=True)),
    ]
    for name, build in jobs:
        data = build()
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
        print(f"wrote {os.path.join(out, name)} ({len(data)} bytes)")
    svg = make_svg()
    with open(os.path.join(out, "favicon.svg"), "w", encoding="utf-8") as fh:
        fh.write(svg)
    print(f"wrote {os.path.join(out, 'favicon.svg')} ({len(svg)} bytes)")


if __name__ == "__main__":
    main()
