"""The test images of test/fixtures/images: drawn here (no copied photos), deterministic.

Names are <what>-<WIDTH>x<HEIGHT>.<ext>. The photo-sized ones have the sizes where Lotus's pipeline
differs from a naive one: sides that are not multiples of 8 at processing resolution 768 and at the
native resolution, downscaling and upscaling, portrait, very wide, RGBA, grayscale, JPEG, and a JPEG
whose EXIF orientation rotates it."""
import os

import numpy as np

# name -> group: "small" cases run at processing resolutions 64 and 0, the others at 768 and 0.
SMALL = ("gradient-64x48.png", "shapes-97x61-rgba.png", "tall-40x120.png")
PHOTOS = ("scene-848x804.png", "wide-1443x715.png", "rgba-1024x685.png")
SPECIAL = ("portrait-301x451.jpg", "panorama-1000x143.png", "gray-250x167.png", "exif-rotated-240x160.jpg")
# The EXIF JPEG as displayed (PIL's exif_transpose of its pixels): the official pipeline's input for
# the auto-oriented case. Written next to the images but not itself a test input.
EXIF_DISPLAYED = "exif-rotated-240x160.displayed.png"


def _scene(w, h, seed):
    """A photo-like picture: sky gradient, ground, a few shapes, faint texture."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = h * (0.45 + 0.1 * np.sin(x / w * 6.0 + seed))
    sky = np.stack([90 + 80 * y / h, 140 + 60 * y / h, 230 - 40 * y / h], -1)
    ground = np.stack([70 + 60 * (y / h), 110 + 30 * np.sin(x / 37.0), 40 + 20 * (x / w)], -1)
    img = np.where((y < horizon)[..., None], sky, ground)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        cx, cy = rng.integers(0, w), rng.integers(int(h * 0.3), h)
        r = int(rng.integers(max(4, w // 40), max(5, w // 8)))
        colour = tuple(int(c) for c in rng.integers(20, 240, 3))
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.rectangle((cx - r, cy - r // 2, cx + r, cy + r), fill=colour)
    noisy = np.asarray(im).astype(np.int16) + rng.integers(-2, 3, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def make_images(d):
    """Writes every image into d; returns {name: path}."""
    from PIL import Image, ImageDraw, ImageOps

    os.makedirs(d, exist_ok=True)
    out = {}

    def save(name, im, **kw):
        path = os.path.join(d, name)
        im.save(path, **kw)
        out[name] = path

    y, x = np.mgrid[0:48, 0:64]
    grad = np.stack([x * 255 // 63, y * 255 // 47, (x + y) * 255 // 110], -1).astype(np.uint8)
    save("gradient-64x48.png", Image.fromarray(grad, "RGB"))

    im = Image.new("RGBA", (97, 61), (30, 60, 90, 255))
    dr = ImageDraw.Draw(im)
    dr.ellipse((5, 5, 50, 55), fill=(220, 40, 40, 255))
    dr.rectangle((45, 10, 90, 40), fill=(40, 200, 80, 128))  # half-transparent: alpha must be dropped
    dr.polygon([(60, 58), (95, 58), (80, 30)], fill=(250, 240, 20, 0))  # fully transparent
    save("shapes-97x61-rgba.png", im)

    y, x = np.mgrid[0:120, 0:40]
    tall = np.stack([(np.sin(y / 7.0) * 127 + 128), x * 6, 255 - y * 2], -1).clip(0, 255).astype(np.uint8)
    save("tall-40x120.png", Image.fromarray(tall, "RGB"))

    save("scene-848x804.png", _scene(848, 804, 1))
    save("wide-1443x715.png", _scene(1443, 715, 2))
    rgba = _scene(1024, 685, 3).convert("RGBA")
    alpha = np.full((685, 1024), 255, np.uint8)
    alpha[:, 600:] = 0  # transparent pixels keep their colour: PIL's convert('RGB') drops alpha
    alpha[300:400, :] = 100
    rgba.putalpha(Image.fromarray(alpha, "L"))
    save("rgba-1024x685.png", rgba)

    save("portrait-301x451.jpg", _scene(301, 451, 4), quality=90)
    save("panorama-1000x143.png", _scene(1000, 143, 5))
    save("gray-250x167.png", _scene(250, 167, 6).convert("L"))

    # Stored 240x160 with EXIF orientation 6 (displayed rotated 90 degrees clockwise, 160x240).
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif-rotated-240x160.jpg", _scene(240, 160, 7), quality=90, exif=exif.tobytes())
    displayed = ImageOps.exif_transpose(Image.open(out["exif-rotated-240x160.jpg"]))
    save(EXIF_DISPLAYED, displayed.convert("RGB"))
    return out
