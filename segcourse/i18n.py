"""The language of what students read: English, or Norwegian bokmål from a gettext catalogue.

`SEGCOURSE_LANG=nb` (or `set_language("nb")`, or a notebook's `LANGUAGE = "nb"` parameter)
switches the messages of exercises, checks, data loading and the notebooks' figures to bokmål;
the default is English. English is the source text: `gettext("...")` returns it unchanged for
"en" and looks it up in segcourse/locale/nb/LC_MESSAGES/segcourse.mo for "nb" (see
docs/translation.md for how the catalogue is kept current).
"""

from __future__ import annotations

import gettext as _gettext
import os
from functools import lru_cache
from pathlib import Path

DOMAIN = "segcourse"
LANG_ENV = "SEGCOURSE_LANG"
LANGUAGES = ("en", "nb")  # "en" is the source language; "nb" is Norwegian bokmål
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_CHOSEN: list[str | None] = [None]  # set_language's choice; None: $SEGCOURSE_LANG, else "en"


class TranslationError(ValueError):
    """An unknown language, or a catalogue that is missing or unreadable."""


def _checked(lang: str, source: str) -> str:
    """`lang` normalised to one of LANGUAGES, or a TranslationError that names `source`."""
    value = str(lang).strip().lower().replace("_", "-")
    value = {"nb-no": "nb", "en-gb": "en", "en-us": "en"}.get(value, value)
    if value not in LANGUAGES:
        raise TranslationError(
            f"{source} = {lang!r} is not a course language: use one of {list(LANGUAGES)} "
            "('nb' is Norwegian bokmål)."
        )
    return value


def set_language(lang: str | None) -> None:
    """Choose the language for this process ("en" or "nb"); None goes back to $SEGCOURSE_LANG."""
    _CHOSEN[0] = None if lang is None else _checked(lang, "language")


def language() -> str:
    """The language in use: set_language's choice, else $SEGCOURSE_LANG, else "en"."""
    if _CHOSEN[0] is not None:
        return _CHOSEN[0]
    value = os.environ.get(LANG_ENV, "").strip()
    return _checked(value, f"${LANG_ENV}") if value else "en"


def catalogue_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    """Where the compiled catalogue of `lang` lives."""
    return Path(locale_dir) / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


@lru_cache(maxsize=8)
def translations(lang: str, locale_dir: Path = LOCALE_DIR) -> _gettext.NullTranslations:
    """The gettext catalogue of `lang` (English: the identity); a clear error if it is missing."""
    lang = _checked(lang, "language")
    if lang == "en":
        return _gettext.NullTranslations()
    path = catalogue_path(lang, locale_dir)
    try:
        with path.open("rb") as handle:
            return _gettext.GNUTranslations(handle)
    except FileNotFoundError:
        raise TranslationError(
            f"{path} is missing, so the {lang!r} messages cannot be shown: run "
            "`python -m segcourse translations build` in a source checkout (or reinstall "
            f"segcourse), or unset {LANG_ENV} for English."
        ) from None
    except OSError as err:
        raise TranslationError(f"{path} cannot be read as a gettext catalogue: {err}") from None


def gettext(message: str) -> str:
    """`message` (English) in the language in use."""
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for the count `n`, in the language in use."""
    return translations(language()).ngettext(singular, plural, n)


def tr(message: str, /, **fields) -> str:
    """`message` translated, then filled in with `fields` (str.format): the notebooks' helper.

    `tr("{n} cases", n=200)` prints "200 cases" in English and "200 tilfeller" in bokmål.
    """
    text = gettext(message)
    return text.format(**fields) if fields else text


def noop(message: str) -> str:
    """Marks a message for the catalogue where it is defined; it is translated where shown."""
    return message


_ = gettext
N_ = noop
