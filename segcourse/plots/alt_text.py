"""Alt text for notebook figures.

nbconvert writes an <img> per figure and warns when it has no alt text; matplotlib has no
alt-text field, so the PNG formatter of the running IPython kernel is wrapped to add one (the
figure's title and panel titles) to each figure's output metadata.
"""

from __future__ import annotations

ALT_ATTRIBUTE = "segcourse_alt_text"  # set on a figure to give it a hand-written alt text


def alt_text(fig) -> str:
    """The alt text of a figure: its own `segcourse_alt_text`, else its titles."""
    given = getattr(fig, ALT_ATTRIBUTE, None)
    if given:
        return str(given)
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    panels = [ax.get_title() for ax in fig.axes if ax.get_title()]
    parts = [title] if title else []
    if panels:
        parts.append(f"{len(panels)} panel(s): " + "; ".join(p.replace("\n", " ") for p in panels))
    return "Figure. " + (". ".join(parts) if parts else "A matplotlib figure without titles.")


def with_alt_text(fig):
    """Return `fig`, making sure the kernel's PNG output of figures carries alt text."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: no notebook output to describe
        return fig
    shell = get_ipython()
    if shell is None:
        return fig
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    try:
        current = png.lookup_by_type(Figure)
    except KeyError:
        return fig
    if getattr(current, "adds_alt_text", False):
        return fig

    def with_alt(figure):
        data = current(figure)
        if data is None:
            return None
        data, metadata = data if isinstance(data, tuple) else (data, {})
        return data, {**(metadata or {}), "alt": alt_text(figure)}

    with_alt.adds_alt_text = True
    png.for_type(Figure, with_alt)
    return fig


def describe(fig, alt: str):
    """Give a hand-made figure its alt text (what it shows, in a sentence); returns `fig`."""
    setattr(fig, ALT_ATTRIBUTE, alt)
    return with_alt_text(fig)
