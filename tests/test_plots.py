"""Figures: titles, labels, panel counts, and the colours at known pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from segcourse import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _disk(size, cy, cx, r):
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def _cases(n=3, size=32):
    """Small skin-like images with a round lesion, its mask and a shifted prediction."""
    rng = np.random.default_rng(0)
    images, truth, pred = [], [], []
    for i in range(n):
        t = _disk(size, 14 + i, 15, 6 + i)
        img = np.full((size, size, 3), (200, 160, 140), np.float64)
        img[t] = (120, 80, 60)
        images.append(np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8))
        truth.append(t[..., None].astype(np.uint8))
        pred.append(_disk(size, 16 + i, 17, 6 + i)[..., None].astype(np.uint8))
    return np.array(images), np.array(truth), np.array(pred)


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_error_map_colours_at_known_pixels():
    y_true = np.array([[1, 1], [0, 0]])
    y_pred = np.array([[1, 0], [1, 0]])
    out = plots.error_map(y_true, y_pred)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == plots.ERROR_COLORS["TP"]
    assert tuple(out[0, 1]) == plots.ERROR_COLORS["FN"]
    assert tuple(out[1, 0]) == plots.ERROR_COLORS["FP"]
    assert tuple(out[1, 1]) == plots.ERROR_COLORS["TN"]
    assert len(set(plots.ERROR_COLORS.values())) == 4


def test_error_map_refuses_probabilities_and_mismatched_shapes():
    with pytest.raises(ValueError, match="probs > 0.5"):
        plots.error_map(np.zeros((2, 2)), np.full((2, 2), 0.4))
    with pytest.raises(ValueError, match="must match"):
        plots.error_map(np.zeros((2, 2)), np.zeros((3, 2)))


def test_outline_is_the_inner_ring_and_skips_the_image_frame():
    square = np.zeros((9, 9), bool)
    square[2:7, 2:7] = True  # 5 x 5: ring of 16 pixels around a 3 x 3 core
    ring = plots.outline(square, thickness=1)
    assert ring.sum() == 16 and not ring[3:6, 3:6].any() and ring[2, 2]
    corner = np.zeros((9, 9), bool)
    corner[:4, :4] = True  # touches the frame: only the two inner sides are outlined
    edge = plots.outline(corner, thickness=1)
    assert edge.sum() == 7 and not edge[0, 0] and edge[3, 0] and edge[0, 3]


def test_overlay_draws_outline_and_fill_in_the_colour():
    image = np.full((9, 9, 3), 100, np.uint8)
    mask = np.zeros((9, 9), np.uint8)
    mask[2:7, 2:7] = 1
    out = plots.overlay(image, mask, color=(255, 0, 0), contour=True, fill=0.5, thickness=1)
    assert tuple(out[2, 2]) == (255, 0, 0)  # outline
    assert tuple(out[4, 4]) == (178, 50, 50)  # fill: half 100, half the colour
    assert tuple(out[0, 0]) == (100, 100, 100)  # outside untouched
    unchanged = plots.overlay(image, mask, contour=False, fill=0)
    np.testing.assert_array_equal(unchanged, image)
    grey_float = plots.overlay(np.full((9, 9), 0.5), mask, color="#000000", fill=0)
    assert grey_float.shape == (9, 9, 3) and tuple(grey_float[2, 2]) == (0, 0, 0)
    assert tuple(grey_float[0, 0]) == (128, 128, 128)
    with pytest.raises(ValueError, match="must match"):
        plots.overlay(image, mask[:5])


def test_show_samples_has_three_titled_rows():
    images, truth, _ = _cases(4)
    fig = plots.show_samples(images, truth, titles=["a", "b", "c", "d"])
    assert len(fig.axes) == 3 * 4
    assert fig.get_suptitle()
    assert all(_titles(fig))
    assert [fig.axes[k].get_ylabel() for k in (0, 4, 8)] == ["image", "mask", "overlay"]
    assert _titles(fig)[:4] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="differ in length"):
        plots.show_samples(images, truth[:2])


def test_show_samples_takes_a_dataset_and_n():
    images, truth, _ = _cases(4)

    class Data:
        pass

    data = Data()
    data.images, data.masks, data.ids = images, truth, ["IMD002", "IMD003", "IMD004", "IMD005"]
    fig = plots.show_samples(data, n=2, title="two cases")
    assert len(fig.axes) == 3 * 2
    assert _titles(fig)[:2] == ["IMD002", "IMD003"] and fig.get_suptitle() == "two cases"
    with pytest.raises(ValueError, match="needs masks"):
        plots.show_samples(images)


def test_show_predictions_panels_scores_and_legend():
    images, truth, pred = _cases(3)
    fig = plots.show_predictions(images, truth, pred, titles=["IMD1", "IMD2", "IMD3"])
    assert len(fig.axes) == 3 * 5
    assert all(_titles(fig))
    t, p = truth[1, ..., 0].astype(bool), pred[1, ..., 0].astype(bool)
    expected = 2 * (t & p).sum() / (t.sum() + p.sum())
    assert f"Dice {expected:.3f}" in fig.axes[5 + 2].get_title()
    assert f"Dice {expected:.3f}" in fig.axes[5 + 4].get_title()
    assert "mean Dice" in fig.get_suptitle()
    labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert any("false positive" in s for s in labels)
    assert any("false negative" in s for s in labels)
    assert any("true positive" in s for s in labels)
    no_scores = plots.show_predictions(images[:1], truth[:1], pred[:1], scores=False)
    assert len(no_scores.axes) == 5 and "Dice" not in " ".join(_titles(no_scores))


def test_show_predictions_refuses_raw_model_outputs_and_takes_n():
    images, truth, pred = _cases(3)
    logits = np.where(pred > 0, 2.5, -2.5)
    with pytest.raises(ValueError, match="logits > 0"):
        plots.show_predictions(images, truth, logits)
    fig = plots.show_predictions(images, truth, logits > 0, titles=["a", "b", "c"], n=2)
    assert len(fig.axes) == 2 * 5 and fig.axes[5].get_title() == "b"


def test_compare_predictions_one_column_per_model():
    images, truth, pred = _cases(2)
    preds = {"SegNet": pred, "U-Net": truth}
    fig = plots.compare_predictions(images, truth, preds)
    assert len(fig.axes) == 2 * (2 + 2)
    titles = _titles(fig)
    assert titles[3].startswith("U-Net") and "Dice 1.000" in titles[3]
    assert titles[2].startswith("SegNet")
    assert "U-Net 1.000" in fig.get_suptitle()
    with pytest.raises(ValueError, match="differ in length"):
        plots.compare_predictions(images, truth, {"bad": pred[:1]})


class _FakeHistory:
    history = {
        "loss": [0.9, 0.5, 0.4],
        "val_loss": [1.0, 0.6, 0.7],
        "dice": [0.3, 0.6, 0.8],
        "val_dice": [0.2, 0.7, 0.65],
    }


def test_plot_history_one_labelled_subplot_per_metric():
    fig = plots.plot_history(_FakeHistory(), metrics=("loss", "dice"))
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ("loss", "dice"), strict=True):
        assert ax.get_title() == name and ax.get_xlabel() == "epoch" and ax.get_ylabel() == name
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "train" in labels and "validation" in labels
    best_loss = [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1]
    best_dice = [t.get_text() for t in fig.axes[1].get_legend().get_texts()][-1]
    assert "epoch 2" in best_loss and "0.600" in best_loss  # lowest validation loss
    assert "epoch 2" in best_dice and "0.700" in best_dice  # highest validation Dice
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1, 2, 3])
    assert fig.get_suptitle()


def test_plot_history_names_missing_metrics():
    with pytest.raises(ValueError, match="'iou'.*dice"):
        plots.plot_history(_FakeHistory.history)  # default asks for iou too


def test_plot_score_distribution_groups_and_means():
    scores = [0.9, 0.8, 0.5, 0.7, 0.95]
    groups = ["melanoma", "common nevus", "melanoma", None, "common nevus"]
    fig = plots.plot_score_distribution(scores, groups)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["common nevus\n(n=2)", "melanoma\n(n=2)", "unknown\n(n=1)"]
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["mean\n0.875", "mean\n0.700", "mean\n0.700"]
    assert ax.get_title() == "Dice per image by diagnosis"
    assert ax.get_xlabel() == "diagnosis" and ax.get_ylabel() == "Dice"
    single = plots.plot_score_distribution(np.array([0.5, 0.7]), metric="IoU")
    assert single.axes[0].get_title() == "IoU per image" and single.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="2 groups for 3 scores"):
        plots.plot_score_distribution([0.1, 0.2, 0.3], ["a", "b"])


def test_figures_render_headless(tmp_path):
    images, truth, pred = _cases(2)
    figures = [
        plots.show_samples(images, truth),
        plots.show_predictions(images, truth, pred),
        plots.compare_predictions(images, truth, {"A": pred}),
        plots.plot_history(_FakeHistory(), metrics=("loss",)),
        plots.plot_score_distribution([0.1, 0.9]),
    ]
    for k, fig in enumerate(figures):
        path = tmp_path / f"{k}.png"
        fig.savefig(path)
        assert path.stat().st_size > 5000


def test_alt_text_comes_from_the_titles_or_a_given_sentence():
    fig = plots.plot_threshold_scan([0.3, 0.5, 0.7], [0.6, 0.7, 0.65], 0.5, title="Scan")
    assert plots.alt_text(fig) == "Figure. 1 panel(s): Scan"
    plots.describe(fig, "Validation Dice peaks at 0.5.")
    assert plots.alt_text(fig) == "Validation Dice peaks at 0.5."


def test_the_notebook_png_output_carries_the_alt_text(monkeypatch):
    """In a kernel, a figure's PNG output gets {"alt": ...} metadata, which nbconvert uses."""
    IPython = pytest.importorskip("IPython")
    from IPython.core.formatters import PNGFormatter
    from matplotlib.figure import Figure

    png = PNGFormatter()
    png.for_type(Figure, lambda fig: b"\x89PNG")  # what the inline backend registers

    class Shell:
        display_formatter = type("DF", (), {"formatters": {"image/png": png}})()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    fig = plots.show_images([np.zeros((4, 4, 3), np.uint8)], ["one"], title="Row")
    data, metadata = png(fig)
    assert data == b"\x89PNG" and metadata == {"alt": "Figure. Row. 1 panel(s): one"}
    assert plots.show_images([np.zeros((4, 4, 3), np.uint8)], ["two"], title="Again")
    assert png(fig)[1] == metadata  # wrapped once, not twice


def test_the_html_export_writes_the_alt_text_into_each_img():
    """`segcourse run` exports with a template that reads the alt text of the lab template's
    images from the output metadata, so nbconvert's 'No description' filler never appears."""
    import nbformat
    from nbconvert import HTMLExporter

    from segcourse.course import HTML_TEMPLATE

    nb = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output(
        "display_data",
        data={"image/png": "iVBORw0KGgo="},
        metadata={"image/png": {"alt": 'Dice <by> "diagnosis"'}},
    )
    nb.cells = [nbformat.v4.new_code_cell("fig", outputs=[output])]
    html, _ = HTMLExporter(template_file=str(HTML_TEMPLATE)).from_notebook_node(nb)
    from bs4 import BeautifulSoup

    (img,) = BeautifulSoup(html, "html.parser").find_all("img")
    assert img["alt"] == 'Dice <by> "diagnosis"'  # escaped in the HTML, intact when parsed
    assert "No description has been provided" not in html
