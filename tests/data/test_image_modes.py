"""Every PIL image mode reads as 8-bit gray with its real range: ink dark, paper white."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from detector.data.deepscores import ImageReadError, load_page_image


def page_with_ink(mode: str) -> Image.Image:
    """A 30 x 30 white page with a black square at (5..15, 5..15), in ``mode``."""
    image = Image.new("RGB", (30, 30), "white")
    image.paste((0, 0, 0), (5, 5, 15, 15))
    return image.convert(mode)


@pytest.mark.parametrize("mode, suffix", [
    ("1", "png"), ("L", "png"), ("P", "png"), ("LA", "png"), ("RGB", "png"), ("RGBA", "png"),
    ("I;16", "png"), ("CMYK", "tiff"), ("F", "tiff"), ("I", "tiff"), ("YCbCr", "tiff"),
    ("LAB", "tiff"), ("PA", "tiff"), ("CMYK", "jpg"),
])
def test_any_mode_reads_ink_as_black_and_paper_as_white(tmp_path, mode, suffix):
    # given a page with a black square saved in an unusual mode
    path = tmp_path / f"page.{suffix}"
    page_with_ink(mode).save(path)
    # when it is loaded
    gray = load_page_image(path)
    # then it is uint8 gray, the square is black and the paper white
    assert gray.dtype == np.uint8 and gray.shape == (30, 30)
    assert gray[10, 10] < 20 and gray[0, 0] > 235 and gray[25, 25] > 235


def test_a_16_bit_scan_keeps_its_grey_levels(tmp_path):
    # given a 16-bit scan whose darkest pixel is 20/255 of full scale and mid-tones at 128/255
    pixels = np.full((40, 40), 65535, np.uint16)
    pixels[5:15, 5:15] = 20 * 257
    pixels[20:30, 20:30] = 128 * 257
    Image.fromarray(pixels).save(tmp_path / "scan16.png")
    assert Image.open(tmp_path / "scan16.png").mode == "I;16"
    # when it is loaded, then every level keeps its place on the 8-bit scale (PIL alone clips to white)
    gray = load_page_image(tmp_path / "scan16.png")
    assert gray[10, 10] == 20 and gray[25, 25] == 128 and gray[0, 0] == 255


def test_a_blank_16_bit_page_with_faint_noise_stays_blank(tmp_path):
    # the range is the storage's, never the image's own min-max: noise is not stretched into ink
    rng = np.random.default_rng(0)
    pixels = (65535 - rng.integers(0, 300, size=(50, 50))).astype(np.uint16)
    Image.fromarray(pixels).save(tmp_path / "blank16.png")
    assert load_page_image(tmp_path / "blank16.png").min() >= 253


@pytest.mark.parametrize("values, expected", [
    (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),  # float in [0, 1]
    (np.array([[0.0, 128.0, 255.0]], np.float32), [0, 128, 255]),  # float on the 8-bit scale
    (np.array([[np.nan, -3.0, 65535.0]], np.float32), [255, 0, 255]),  # NaN is paper, below 0 black
])
def test_float_images_are_read_on_the_scale_that_holds_them(tmp_path, values, expected):
    Image.fromarray(values, mode="F").save(tmp_path / "page.tiff")
    assert load_page_image(tmp_path / "page.tiff")[0].tolist() == expected


def test_a_32_bit_integer_page_beyond_16_bits_is_scaled_by_its_maximum(tmp_path):
    Image.fromarray(np.array([[0, 1 << 20, 1 << 21]], np.int32), mode="I").save(tmp_path / "page.tiff")
    assert load_page_image(tmp_path / "page.tiff")[0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_an_empty_or_garbled_file_is_a_one_line_image_read_error(tmp_path, content):
    path = tmp_path / "page.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        load_page_image(path)
    assert "\n" not in str(info.value) and "page.png" in str(info.value)
