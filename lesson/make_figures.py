"""Draw the lesson's figures from the project's own code and synthetic data.

Run from the project root: `python lesson/make_figures.py` writes lesson/figures/*.png.
Every figure is drawn here (numpy scenes, matplotlib diagrams, the synthetic PH2 stand-in),
with fixed seeds, a fixed font and no PNG timestamps, so a re-run gives identical files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle  # noqa: E402

DPI = 100
OUT_DIR = Path(__file__).resolve().parent / "figures"
PNG_METADATA = {"Software": None, "Creation Time": None}

# Okabe-Ito colours: distinguishable with the common kinds of colour blindness.
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
BACKGROUND_GREY = "#D9D9D9"
CONV, POOL, UNPOOL, OUTPUT, SKIP = "#7FB3D5", VERMILION, GREEN, PURPLE, "#9E9E9E"


def set_style() -> None:
    """Fixed matplotlib settings so output does not depend on the user's matplotlibrc."""
    matplotlib.rcdefaults()
    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.titleweight": "bold",
            "figure.titlesize": 13,
            "figure.titleweight": "bold",
            "savefig.dpi": DPI,
            "figure.dpi": DPI,
        }
    )


def save(fig, out: Path, name: str, colours: int = 0) -> Path:
    """Save one figure as a timestamp-free PNG and close it.

    `colours` > 0 reduces a photo-like figure to that many palette colours, which keeps its
    PNG small (photographic noise compresses badly); Pillow's quantizer is deterministic.
    """
    path = out / name
    if colours:
        from PIL import Image

        fig.canvas.draw()
        rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
        rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, format="PNG", optimize=True
        )
    else:
        fig.savefig(path, dpi=DPI, metadata=PNG_METADATA, facecolor="white")
    plt.close(fig)
    return path


def hex_rgb(colour: str) -> np.ndarray:
    """'#RRGGBB' as a float RGB triple in 0..1."""
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float) / 255


def label_image(labels: np.ndarray, colours: list[str]) -> np.ndarray:
    """A label map (H, W) of ints as an RGB picture, one colour per label."""
    palette = np.stack([hex_rgb(c) for c in colours])
    return palette[labels]


def capsule(yy, xx, start, end, radius) -> np.ndarray:
    """Pixels within `radius` of the segment start-end (a limb with round ends)."""
    (y0, x0), (y1, x1) = start, end
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx), 0, 1)
    return (yy - (y0 + t * dy)) ** 2 + (xx - (x0 + t * dx)) ** 2 <= radius**2


def ellipse(yy, xx, centre, half_axes, angle_deg=0.0) -> np.ndarray:
    """Pixels inside a rotated ellipse."""
    cy, cx = centre
    a, b = half_axes
    t = np.deg2rad(angle_deg)
    u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
    v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def person_scene():
    """A cartoon scene (person and ball on grass) and its label map: 0 background, 1 person, 2 ball."""
    h, w = 180, 240
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    image = np.zeros((h, w, 3))
    sky = np.linspace(0, 1, 115)[:, None]
    image[:115] = ((1 - sky) * hex_rgb("#8EC5F0") + sky * hex_rgb("#D6EAF8"))[:, None, :]
    image[115:] = hex_rgb("#5E9C4A")
    image[115:] *= (0.9 + 0.1 * np.linspace(0, 1, h - 115))[:, None, None]

    head = (yy - 36) ** 2 + (xx - 100) ** 2 <= 12**2
    torso = ellipse(yy, xx, (80, 100), (14, 25))
    arms = capsule(yy, xx, (62, 90), (28, 62), 5) | capsule(yy, xx, (62, 110), (96, 132), 5)
    legs = capsule(yy, xx, (100, 94), (152, 82), 6) | capsule(yy, xx, (100, 106), (150, 124), 6)
    ball = (yy - 146) ** 2 + (xx - 162) ** 2 <= 12**2
    parts = [(legs, "#2C3E50"), (arms, "#F5CBA7"), (torso, "#C0392B"), (head, "#F5CBA7")]
    for mask, colour in parts:
        image[mask] = hex_rgb(colour)
    shade = 0.75 + 0.25 * np.clip(1 - ((yy - 140) ** 2 + (xx - 157) ** 2) / 260, 0, 1)
    image[ball] = hex_rgb("#F4F4F4")[None, :] * shade[ball][:, None]
    image = np.clip(image, 0, 1)

    labels = np.zeros((h, w), dtype=int)
    labels[head | torso | arms | legs] = 1
    labels[ball] = 2
    return image, labels


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The tight bounding box (x0, y0, x1, y1) of a boolean mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def figure_tasks(out: Path) -> Path:
    """Classification vs detection vs semantic segmentation on one scene."""
    image, labels = person_scene()
    names, colours = ["background", "person", "ball"], [BACKGROUND_GREY, ORANGE, BLUE]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9), layout="constrained")
    fig.suptitle("Three questions about one picture")

    axes[0].imshow(image)
    axes[0].set_title("Image classification")
    axes[0].text(
        0.5,
        0.04,
        'answer: "person"',
        transform=axes[0].transAxes,
        ha="center",
        fontsize=11,
        bbox={"facecolor": "white", "edgecolor": "black"},
    )
    axes[0].set_xlabel("output: one class for the whole image")

    axes[1].imshow(image)
    axes[1].set_title("Object detection")
    for value, colour in ((1, ORANGE), (2, BLUE)):
        x0, y0, x1, y1 = box_of(labels == value)
        axes[1].add_patch(
            Rectangle(
                (x0 - 0.5, y0 - 0.5),
                x1 - x0 + 1,
                y1 - y0 + 1,
                fill=False,
                edgecolor=colour,
                linewidth=2.5,
            )
        )
        axes[1].text(
            x0,
            y0 - 3,
            names[value],
            color="white",
            fontsize=9,
            va="bottom",
            bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5},
        )
    axes[1].set_xlabel("output: a box and a class per object")

    axes[2].imshow(label_image(labels, colours), interpolation="nearest")
    axes[2].set_title("Semantic segmentation")
    axes[2].legend(
        handles=[
            Patch(facecolor=c, edgecolor="black", label=f"{i} = {n}")
            for i, (n, c) in enumerate(zip(names, colours, strict=True))
        ],
        loc="upper right",
        fontsize=8,
        framealpha=0.95,
    )
    h, w = labels.shape
    axes[2].set_xlabel(f"output: a class for every pixel ({h}×{w} = {h * w:,})")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, out, "01_tasks.png")


# Cells: (centre y, centre x, half-axis a, half-axis b, angle). Some touch or overlap on purpose.
CELLS = [
    (42, 44, 20, 15, 20),
    (56, 72, 17, 14, -30),
    (34, 122, 18, 13, 70),
    (96, 34, 15, 15, 0),
    (106, 100, 22, 16, 35),
    (122, 128, 15, 12, -10),
    (84, 134, 14, 11, 80),
    (140, 58, 16, 13, 50),
]


def cell_scene(seed: int = 1):
    """A fluorescence-like picture of touching cells and its instance map (0 = background)."""
    rng = np.random.default_rng(seed)
    h = w = 170
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    instances = np.zeros((h, w), dtype=int)
    brightness = np.zeros((h, w))
    for k, (cy, cx, a, b, angle) in enumerate(CELLS, start=1):
        inside = ellipse(yy, xx, (cy, cx), (a, b), angle)
        nucleus = ellipse(yy, xx, (cy + 2, cx - 2), (a * 0.45, b * 0.45), angle)
        instances[inside] = k
        brightness[inside] = 0.55 + 0.1 * rng.random()
        brightness[nucleus] = 0.95
        image = np.clip(brightness[..., None] * hex_rgb("#7CFC9A") + hex_rgb("#0B1026") * 0.9, 0, 1)
    return image, instances


def figure_semantic_instance(out: Path) -> Path:
    """The same cells as one semantic class and as separate instances."""
    image, instances = cell_scene()
    n = int(instances.max())
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.0), layout="constrained")
    fig.suptitle("Semantic vs instance segmentation of the same cells")
    axes[0].imshow(image)
    axes[0].set_title("Input image")
    axes[0].set_xlabel(f"{n} cells, some touching")

    semantic = (instances > 0).astype(int)
    axes[1].imshow(label_image(semantic, [BACKGROUND_GREY, ORANGE]), interpolation="nearest")
    axes[1].set_title("Semantic: which class?")
    axes[1].set_xlabel(
        "every cell pixel gets the class 'cell';\ntouching cells merge into one region"
    )

    palette = [BACKGROUND_GREY, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE, "#8C564B"]
    axes[2].imshow(label_image(instances, palette[: n + 1]), interpolation="nearest")
    for k in range(1, n + 1):
        ys, xs = np.nonzero(instances == k)
        axes[2].text(
            xs.mean(),
            ys.mean(),
            str(k),
            ha="center",
            va="center",
            fontsize=9,
            color="black",
            fontweight="bold",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1, "alpha": 0.8},
        )
    axes[2].set_title("Instance: which object?")
    axes[2].set_xlabel(f"class 'cell' plus an id per object (1-{n})")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, out, "02_semantic_vs_instance.png")


def draw_block(ax, x, y_mid, width, height, colour, depth=0.18):
    """A feature map drawn as a box with a little depth; returns its right edge."""
    ax.add_patch(
        Rectangle(
            (x, y_mid - height / 2),
            width,
            height,
            facecolor=colour,
            edgecolor="black",
            linewidth=0.8,
            zorder=3,
        )
    )
    top = [
        (x, y_mid + height / 2),
        (x + depth, y_mid + height / 2 + depth),
        (x + width + depth, y_mid + height / 2 + depth),
        (x + width, y_mid + height / 2),
    ]
    side = [
        (x + width, y_mid + height / 2),
        (x + width + depth, y_mid + height / 2 + depth),
        (x + width + depth, y_mid - height / 2 + depth),
        (x + width, y_mid - height / 2),
    ]
    for points in (top, side):
        ax.add_patch(
            plt.Polygon(
                points, facecolor=colour, edgecolor="black", linewidth=0.8, alpha=0.7, zorder=2
            )
        )
    return x + width + depth


def arrow(ax, start, end, colour="black", style="-|>", linestyle="-", rad=0.0, lw=1.4):
    """A straight or curved arrow in data coordinates."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=12,
            color=colour,
            linewidth=lw,
            linestyle=linestyle,
            connectionstyle=f"arc3,rad={rad}",
            zorder=4,
        )
    )


def spatial_height(size: int) -> float:
    """Drawn height of a feature map of `size`×`size` pixels (log scale, so 16 px stays visible)."""
    return 0.9 * (np.log2(size) - 3)


def channel_width(channels: int) -> float:
    """Drawn width of a feature map with `channels` channels (log scale)."""
    return 0.12 + 0.1 * np.log2(channels)


ENC_DEC = [  # (size, channels, role)
    (256, 3, "input"),
    (256, 16, "enc"),
    (128, 32, "enc"),
    (64, 64, "enc"),
    (32, 128, "enc"),
    (16, 256, "bottleneck"),
    (32, 128, "dec"),
    (64, 64, "dec"),
    (128, 32, "dec"),
    (256, 16, "dec"),
    (256, 1, "output"),
]


def figure_encoder_decoder(out: Path) -> Path:
    """Feature maps shrink in the encoder and grow back in the decoder."""
    colours = {
        "input": "#BDBDBD",
        "enc": CONV,
        "bottleneck": "#2E86C1",
        "dec": "#A9DFBF",
        "output": OUTPUT,
    }
    fig, ax = plt.subplots(figsize=(11, 5.4))
    fig.suptitle("The shape of a segmentation network: encoder, bottleneck, decoder")
    x, gap, edges = 0.0, 0.95, []
    for size, channels, role in ENC_DEC:
        width = channel_width(channels)
        right = draw_block(ax, x, 0, width, spatial_height(size), colours[role])
        edges.append((x, right))
        ax.text(
            (x + right) / 2,
            -2.55,
            f"{size}×{size}\n×{channels}",
            ha="center",
            va="top",
            fontsize=8.5,
        )
        x = right + gap
    for (_, right), (left, _) in zip(edges[:-1], edges[1:], strict=True):
        arrow(ax, (right + 0.04, 0), (left - 0.04, 0))
    ax.text(*((edges[0][0] + edges[0][1]) / 2, 2.6), "image", ha="center", fontsize=9)
    ax.text(*((edges[-1][0] + edges[-1][1]) / 2, 2.6), "mask\nlogits", ha="center", fontsize=9)
    mid = (edges[5][0] + edges[5][1]) / 2
    ax.text(mid, 1.0, "bottleneck", ha="center", fontsize=9, fontweight="bold")

    def bracket(first, last, y, text, colour):
        x0, x1 = edges[first][0], edges[last][1]
        ax.plot([x0, x0, x1, x1], [y - 0.15, y, y, y - 0.15], color=colour, linewidth=1.5)
        ax.text((x0 + x1) / 2, y + 0.12, text, ha="center", va="bottom", fontsize=9.5, color=colour)

    bracket(
        1,
        4,
        3.45,
        "Encoder: convolutions + downsampling\nfewer pixels, more channels (what is there)",
        "#1F618D",
    )
    bracket(
        6,
        9,
        3.45,
        "Decoder: upsampling + convolutions\nback to the input size (where it is)",
        "#1E8449",
    )
    ax.text(
        (edges[0][0] + edges[-1][1]) / 2,
        -3.75,
        "Output: same height and width as the input, one channel per "
        "class (1 channel for a binary mask).\nAn autoencoder has the same shape but "
        "rebuilds its input; here the target is the mask.",
        ha="center",
        va="top",
        fontsize=9,
        style="italic",
    )
    ax.set_xlim(-0.3, x - gap + 0.3)
    ax.set_ylim(-4.6, 4.5)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01)
    return save(fig, out, "03_encoder_decoder.png")


def ph2_cases(root: Path) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """(id, image, mask, diagnosis) for every case of a PH2-layout folder, read with Pillow."""
    from PIL import Image

    diagnoses = {}
    table = root / "PH2_dataset.txt"
    names = {"0": "common nevus", "1": "atypical nevus", "2": "melanoma"}
    if table.is_file():
        for line in table.read_text(errors="replace").splitlines():
            fields = [f.strip() for f in line.split("||")]
            if len(fields) > 3 and fields[1].startswith("IMD"):
                diagnoses[fields[1]] = names.get(fields[3], "")
    cases = []
    for folder in sorted((root / "PH2 Dataset images").iterdir()):
        case = folder.name
        with Image.open(folder / f"{case}_Dermoscopic_Image" / f"{case}.bmp") as img:
            image = np.asarray(img.convert("RGB"))
        with Image.open(folder / f"{case}_lesion" / f"{case}_lesion.bmp") as img:
            mask = np.asarray(img.convert("L")) > 0
        cases.append((case, image, mask, diagnoses.get(case, "")))
    return cases


def figure_ph2(out: Path) -> Path:
    """Two synthetic PH2-style cases: image, lesion mask and overlay."""
    from PIL import Image

    from segcourse.synth import synth_ph2

    with tempfile.TemporaryDirectory() as tmp:
        with np.errstate(over="ignore"):
            root = synth_ph2(Path(tmp), n=4, seed=0, progress=False)
        cases = ph2_cases(Path(root))
    cases.sort(key=lambda c: c[2].mean())
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), layout="constrained")
    fig.suptitle("A PH2-style case (synthetic stand-in): image, lesion mask, overlay")
    for row, (case, image, mask, diagnosis) in zip(axes, (cases[0], cases[-1]), strict=True):
        small = np.asarray(Image.fromarray(image).resize((256, 192), Image.Resampling.BILINEAR))
        small_mask = np.asarray(Image.fromarray(mask).resize((256, 192), Image.Resampling.NEAREST))
        label = f"{case}" + (f" ({diagnosis})" if diagnosis else "")
        row[0].imshow(small)
        row[0].set_title(f"Image {label}", fontsize=10)
        row[1].imshow(small_mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        row[1].set_title(f"Lesion mask: {100 * mask.mean():.0f} % of pixels", fontsize=10)
        tint = small.astype(float) / 255
        tint[small_mask] = 0.7 * tint[small_mask] + 0.3 * hex_rgb(SKY)
        row[2].imshow(tint)
        row[2].contour(small_mask, levels=[0.5], colors=[YELLOW], linewidths=1.5)
        row[2].set_title("Overlay: mask outline on the image", fontsize=10)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[1][1].set_xlabel("white = lesion (1), black = skin (0)")
    return save(fig, out, "05_ph2_example.png", colours=192)


def stage_blocks(ax, x, size, kinds):
    """Draw one stage as thin layer slabs of the given kinds; returns the right edge."""
    height = spatial_height(size)
    colour = {"conv": CONV, "pool": POOL, "unpool": UNPOOL, "out": OUTPUT}
    for kind in kinds:
        width = 0.4 if kind in ("conv", "out") else 0.25
        ax.add_patch(
            Rectangle(
                (x, -height / 2),
                width,
                height,
                facecolor=colour[kind],
                edgecolor="black",
                linewidth=0.7,
                zorder=3,
            )
        )
        x += width + 0.06
    return x - 0.06


def figure_segnet(out: Path) -> Path:
    """SegNet: a mirrored encoder-decoder that upsamples with the stored max-pooling indices."""
    fig = plt.figure(figsize=(12, 6.2))
    fig.suptitle("SegNet: the decoder reuses the encoder's max-pooling indices")
    ax = fig.add_axes((0.01, 0.38, 0.98, 0.53))
    encoder = [(256, 16), (128, 32), (64, 64), (32, 128)]
    x, pools, unpools, rights, gap = 0.0, [], [], [], 0.75

    def label(start, end, size, text):
        ax.text(
            (start + end) / 2,
            -spatial_height(size) / 2 - 0.25,
            text,
            ha="center",
            va="top",
            fontsize=8,
        )

    ax.add_patch(
        Rectangle(
            (x, -spatial_height(256) / 2),
            0.3,
            spatial_height(256),
            facecolor="#BDBDBD",
            edgecolor="black",
            zorder=3,
        )
    )
    label(x, x + 0.3, 256, "input\n256×256×3")
    rights.append(x + 0.3)
    x += 0.3 + gap
    for size, channels in encoder:
        start = x
        x = stage_blocks(ax, x, size, ["conv", "conv"])
        label(start, x, size, f"{size}×{size}\n×{channels}")
        pools.append((x + 0.185, spatial_height(size) / 2))
        x = stage_blocks(ax, x, size, ["pool"])
        rights.append(x)
        x += gap
    for size, channels in reversed(encoder):
        unpools.append((x + 0.125, spatial_height(size) / 2))
        start = x
        x = stage_blocks(ax, x, size, ["unpool", "conv", "conv"])
        label(start, x, size, f"{size}×{size}\n×{channels}")
        rights.append(x)
        x += gap
    start = x
    x = stage_blocks(ax, x, 256, ["out"])
    label(start, x, 256, "logits\n256×256×1")
    for right in rights:
        arrow(ax, (right + 0.08, 0), (right + gap - 0.08, 0), lw=1.1)
    for (px, py), (ux, uy) in zip(pools, reversed(unpools), strict=True):
        top = py + 0.35
        ax.plot([px, px, ux], [py + 0.05, top, top], color=POOL, linestyle="--", linewidth=1.2)
        arrow(ax, (ux, top), (ux, uy + 0.05), colour=POOL, lw=1.2)
    ax.text(
        x / 2, 3.1, "pooling indices: where each maximum was", color=POOL, ha="center", fontsize=9.5
    )
    fig.legend(
        handles=[
            Patch(facecolor=CONV, edgecolor="black", label="3×3 conv + batch norm + ReLU"),
            Patch(facecolor=POOL, edgecolor="black", label="2×2 max pooling (keeps indices)"),
            Patch(facecolor=UNPOOL, edgecolor="black", label="2×2 max unpooling (uses indices)"),
            Patch(facecolor=OUTPUT, edgecolor="black", label="1×1 conv: one logit per pixel"),
        ],
        loc="center",
        bbox_to_anchor=(0.5, 0.34),
        ncol=4,
        fontsize=9,
        frameon=False,
    )
    ax.set_xlim(-0.2, x + 0.2)
    ax.set_ylim(-3.2, 3.5)
    ax.set_aspect("equal")
    ax.axis("off")
    draw_pooling_demo(fig)
    return save(fig, out, "06_segnet.png")


def draw_grid(ax, values, x0, y0, title, highlight=None, colour=POOL):
    """A small matrix of numbers as a grid of cells; `highlight` marks cells to colour."""
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            marked = highlight is not None and highlight[r, c]
            ax.add_patch(
                Rectangle(
                    (x0 + c, y0 - r - 1),
                    1,
                    1,
                    edgecolor="black",
                    linewidth=0.8,
                    facecolor=colour if marked else "white",
                    alpha=0.9,
                )
            )
            text = "" if values[r, c] is None else str(values[r, c])
            ax.text(
                x0 + c + 0.5,
                y0 - r - 0.5,
                text,
                ha="center",
                va="center",
                fontsize=9,
                color="white" if marked else "black",
            )
    ax.text(x0 + cols / 2, y0 + 0.3, title, ha="center", va="bottom", fontsize=9)


def draw_pooling_demo(fig) -> None:
    """4×4 -> 2×2 max pooling that remembers where each maximum was, then unpooling."""
    ax = fig.add_axes((0.08, 0.0, 0.84, 0.29))
    values = np.array([[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 2], [6, 2, 3, 1]])
    blocks = values.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4)
    where = blocks.argmax(axis=2)
    is_max = np.zeros((4, 4), dtype=bool)
    for i in range(2):
        for j in range(2):
            is_max[2 * i + where[i, j] // 2, 2 * j + where[i, j] % 2] = True
    pooled = blocks.max(axis=2)
    decoded = np.full((4, 4), None, dtype=object)
    decoded[is_max] = ["a", "b", "c", "d"]
    decoded[~is_max] = 0
    draw_grid(ax, values.astype(object), 0, 4, "feature map (encoder)", highlight=is_max)
    arrow(ax, (4.3, 2), (6.2, 2), colour=POOL)
    ax.text(5.25, 2.25, "max pool", ha="center", va="bottom", fontsize=9, color=POOL)
    draw_grid(ax, pooled.astype(object), 6.5, 3, "maxima", highlight=np.ones((2, 2), bool))
    ax.text(7.5, 0.55, "+ their positions", ha="center", va="top", fontsize=9, color=POOL)
    arrow(ax, (8.8, 2), (10.7, 2), colour="black")
    ax.text(9.75, 2.25, "decoder", ha="center", va="bottom", fontsize=9)
    draw_grid(
        ax,
        np.array([["a", "b"], ["c", "d"]], dtype=object),
        11,
        3,
        "decoder values",
        highlight=np.ones((2, 2), bool),
        colour=UNPOOL,
    )
    arrow(ax, (13.3, 2), (15.2, 2), colour=UNPOOL)
    ax.text(14.25, 2.25, "unpool", ha="center", va="bottom", fontsize=9, color=UNPOOL)
    draw_grid(
        ax, decoded, 15.5, 4, "back to the remembered places", highlight=is_max, colour=UNPOOL
    )
    ax.set_xlim(-0.2, 19.7)
    ax.set_ylim(-0.3, 5.0)
    ax.set_aspect("equal")
    ax.axis("off")


UNET_LEVELS = [(256, 16), (128, 32), (64, 64), (32, 128), (16, 256)]


def figure_unet(out: Path) -> Path:
    """U-Net: encoder down the left, decoder up the right, skip connections across."""
    fig, ax = plt.subplots(figsize=(12, 6.6))
    fig.suptitle("U-Net: skip connections carry fine detail from encoder to decoder")
    deepest = len(UNET_LEVELS) - 1
    step, centre, pad = 2.0, 7.0, 0.05
    heights = [0.4 + 0.22 * (np.log2(s) - 4) for s, _ in UNET_LEVELS]
    widths = [0.3 + 0.05 * np.log2(c) for _, c in UNET_LEVELS]

    def box(x, y, w, h, **style):
        ax.add_patch(
            Rectangle(
                (x, y - h / 2), w, h, edgecolor="black", zorder=3, **({"facecolor": CONV} | style)
            )
        )

    enc, dec = [], []  # (left, right, y) of each level's blocks
    for level, (size, channels) in enumerate(UNET_LEVELS):
        y, h, w = -level * step, heights[level], widths[level]
        if level == deepest:
            left = centre - w - pad / 2
        else:
            left = centre - 1.0 - (deepest - 1 - level) * 1.0 - 2 * w - pad
        box(left, y, w, h)
        box(left + w + pad, y, w, h)
        enc.append((left, left + 2 * w + pad, y))
        ax.text(
            left + w + pad / 2,
            y - h / 2 - 0.08,
            f"{size}×{size}×{channels}",
            ha="center",
            va="top",
            fontsize=8.5,
        )
        if level == deepest:
            continue
        left = centre + 1.0 + (deepest - 1 - level) * 1.0
        box(left, y, w, h, facecolor="white", hatch="///")
        box(left + w, y, w, h, facecolor=UNPOOL)
        box(left + 2 * w + pad, y, w, h)
        box(left + 3 * w + 2 * pad, y, w, h)
        dec.append((left, left + 4 * w + 2 * pad, y))
        ax.text(
            left + 2 * w + pad,
            y - h / 2 - 0.08,
            f"{size}×{size}×{2 * channels} → ×{channels}",
            ha="center",
            va="top",
            fontsize=8.5,
        )
    for level in range(deepest):
        (x0, x1, y), (n0, n1, ny) = enc[level], enc[level + 1]
        arrow(
            ax,
            ((x0 + x1) / 2, y - heights[level] / 2 - 0.4),
            ((n0 + n1) / 2, ny + heights[level + 1] / 2 + 0.08),
            colour=POOL,
            lw=2,
        )
        d0, d1, dy = dec[level]
        s0, s1, sy = dec[level + 1] if level + 1 < deepest else enc[deepest]
        arrow(
            ax,
            ((s0 + s1) / 2, sy + heights[level + 1] / 2 + 0.08),
            (d0 + 1.5 * widths[level], dy - heights[level] / 2 - 0.4),
            colour=UNPOOL,
            lw=2,
        )
        arrow(ax, (x1 + 0.1, y), (d0 - 0.1, dy), colour=SKIP, lw=2)
        if level < deepest - 1:
            ax.text(
                (x1 + d0) / 2,
                y + 0.1,
                "copy + concatenate" if level else "skip connection: copy + concatenate",
                ha="center",
                va="bottom",
                fontsize=8.5,
                color="#616161",
            )
    h0 = heights[0]
    in_x = enc[0][0] - 1.0
    box(in_x, 0, 0.3, h0, facecolor="#BDBDBD")
    ax.text(in_x + 0.15, h0 / 2 + 0.1, "input\n256×256×3", ha="center", va="bottom", fontsize=8.5)
    arrow(ax, (in_x + 0.4, 0), (enc[0][0] - 0.1, 0), lw=1.5)
    out_x = dec[0][1] + 0.7
    box(out_x, 0, 0.2, h0, facecolor=OUTPUT)
    ax.text(out_x + 0.1, h0 / 2 + 0.1, "logits\n256×256×1", ha="center", va="bottom", fontsize=8.5)
    arrow(ax, (dec[0][1] + 0.1, 0), (out_x - 0.1, 0), colour=OUTPUT, lw=1.5)
    ax.text(
        enc[2][0] - 0.4,
        -2 * step,
        "encoder\n(contracting\npath)",
        ha="right",
        va="center",
        fontsize=10,
        color="#1F618D",
        fontweight="bold",
    )
    ax.text(
        dec[2][1] + 0.4,
        -2 * step,
        "decoder\n(expanding\npath)",
        ha="left",
        va="center",
        fontsize=10,
        color="#1E8449",
        fontweight="bold",
    )
    ax.legend(
        handles=[
            Patch(facecolor=CONV, edgecolor="black", label="3×3 conv + batch norm + ReLU"),
            Patch(facecolor=POOL, label="2×2 max pooling (down)"),
            Patch(facecolor=UNPOOL, edgecolor="black", label="2×2 up-convolution (up)"),
            Patch(
                facecolor="white", edgecolor="black", hatch="///", label="copied encoder features"
            ),
            Patch(facecolor=SKIP, label="skip connection"),
            Patch(facecolor=OUTPUT, edgecolor="black", label="1×1 conv: one logit per pixel"),
        ],
        loc="lower right",
        fontsize=9,
        framealpha=1,
    )
    ax.set_xlim(in_x - 0.2, out_x + 1.2)
    ax.set_ylim(-deepest * step - 0.8, h0 / 2 + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.01)
    return save(fig, out, "07_unet.png")


def scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Pixel accuracy, Dice and IoU of one binary prediction (Dice = IoU = 1 when both are empty)."""
    accuracy = float((truth == pred).mean())
    inter, total = np.logical_and(truth, pred).sum(), truth.sum() + pred.sum()
    union = np.logical_or(truth, pred).sum()
    dice = 1.0 if total == 0 else float(2 * inter / total)
    iou = 1.0 if union == 0 else float(inter / union)
    return accuracy, dice, iou


def figure_accuracy_vs_dice(out: Path) -> Path:
    """A lesion of 5 % of the pixels: the empty prediction scores 95 % accuracy and Dice 0."""
    h = w = 100
    yy, xx = np.mgrid[0:h, 0:w]
    distance = (yy - 45.3) ** 2 + (xx - 55.7) ** 2
    truth = np.zeros(h * w, dtype=bool)
    truth[np.argsort(distance, axis=None, kind="stable")[: h * w // 20]] = True
    truth = truth.reshape(h, w)
    shifted = np.roll(truth, (4, -5), axis=(0, 1))
    predictions = [
        ("Ground truth", truth),
        ("Prediction A: all background", np.zeros_like(truth)),
        ("Prediction B: a shifted disc", shifted),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.4), layout="constrained")
    fig.suptitle(
        "A lesion covering 5 % of the image: accuracy looks good even when the model finds nothing"
    )
    for ax, (title, pred) in zip(axes, predictions, strict=True):
        picture = np.ones((h, w, 3)) * hex_rgb(BACKGROUND_GREY)
        picture[pred & truth] = hex_rgb(ORANGE if pred is truth else GREEN)
        picture[pred & ~truth] = hex_rgb(VERMILION)
        if pred is not truth:
            picture[~pred & truth] = hex_rgb(SKY)
        ax.imshow(picture, interpolation="nearest")
        ax.contour(truth, levels=[0.5], colors="black", linewidths=1)
        ax.set_title(title)
        if pred is truth:
            ax.set_xlabel(
                f"lesion (orange): {truth.sum()} of {truth.size:,} pixels "
                f"({100 * truth.mean():.0f} %)",
                fontsize=11,
            )
        else:
            acc, dice, iou = scores(truth, pred)
            ax.set_xlabel(
                f"accuracy {100 * acc:.1f} %   Dice {dice:.2f}   IoU {iou:.2f}", fontsize=11
            )
        ax.set_xticks([])
        ax.set_yticks([])
    axes[2].legend(
        handles=[
            Patch(facecolor=GREEN, label="hit (true positive)"),
            Patch(facecolor=VERMILION, label="false alarm (false positive)"),
            Patch(facecolor=SKY, label="missed (false negative)"),
        ],
        loc="upper left",
        fontsize=8,
        framealpha=0.95,
    )
    return save(fig, out, "04_accuracy_vs_dice.png")


FIGURES = {
    "01_tasks.png": figure_tasks,
    "02_semantic_vs_instance.png": figure_semantic_instance,
    "03_encoder_decoder.png": figure_encoder_decoder,
    "04_accuracy_vs_dice.png": figure_accuracy_vs_dice,
    "05_ph2_example.png": figure_ph2,
    "06_segnet.png": figure_segnet,
    "07_unet.png": figure_unet,
}


def main(argv: list[str] | None = None) -> int:
    """Write the selected figures (default: all) into --out (default: lesson/figures)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the PNG files")
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"figures to draw (default: all): {', '.join(FIGURES)}",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    set_style()
    for name in args.names or FIGURES:
        path = FIGURES[name](args.out)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
