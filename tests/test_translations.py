"""The Norwegian course: translations current (a changed English cell is caught), generated
notebooks equal to the build with the English code, every message translated, one glossary."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from segcourse import exercises as ex
from segcourse import i18n
from segcourse.grader import messages, translate

ROOT = Path(__file__).resolve().parents[1]
TARGETS = translate.targets(ROOT)
IDS = [item.source.stem for item in TARGETS]
SOURCES = [item.source for item in TARGETS]


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """Every test starts in English, whatever the environment says."""
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def copy_project(tmp_path: Path, item: translate.Target) -> Path:
    """A project folder in tmp_path holding one English notebook and its translation."""
    for path in (item.source, item.translation):
        dest = tmp_path / path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return tmp_path


def markdown_cell(nb: dict, index: int = 0) -> dict:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "markdown"][index]


def code_cells(nb: dict) -> list[tuple[str, str]]:
    return [
        (cell["id"], "".join(cell["source"])) for cell in nb["cells"] if cell["cell_type"] == "code"
    ]


# --- the committed files are current ------------------------------------------------------


@pytest.mark.parametrize("item", TARGETS, ids=IDS)
def test_every_markdown_cell_has_a_current_translation(item):
    english = json.loads(item.source.read_text(encoding="utf-8"))
    cells = translate.read_translation(item.translation)
    assert translate.problems(english, cells, item.translation) == []


def test_generated_norwegian_notebooks_are_what_the_build_writes():
    assert translate.notebook_problems(ROOT) == [], "run `python -m segcourse translations build`"


@pytest.mark.parametrize("item", TARGETS, ids=IDS)
def test_norwegian_code_is_the_english_code(item):
    english = code_cells(json.loads(item.source.read_text(encoding="utf-8")))
    norwegian = code_cells(json.loads(item.solution.read_text(encoding="utf-8")))
    assert [cid for cid, _ in norwegian] == [cid for cid, _ in english]
    changed = [(cid, a, b) for (cid, a), (_, b) in zip(english, norwegian, strict=True) if a != b]
    assert len(changed) == 1, "only the parameters cell may differ"
    _cid, before, after = changed[0]
    assert after == before.replace("LANGUAGE = None", 'LANGUAGE = "nb"', 1)


@pytest.mark.parametrize("item", TARGETS, ids=IDS)
def test_norwegian_starter_is_blank_like_the_english_one(item):
    text = item.starter.read_text(encoding="utf-8")
    assert "### BEGIN SOLUTION" not in text and "YOUR" in text
    first = markdown_cell(json.loads(item.source.read_text(encoding="utf-8")))
    english = "".join(first["source"])
    norwegian = "".join(markdown_cell(json.loads(text))["source"])
    assert norwegian == translate.read_translation(item.translation)[first["id"]]["text"] != english


# --- what the checks catch, on a temporary copy -------------------------------------------


def test_a_changed_english_sentence_makes_the_translation_stale_until_updated(tmp_path):
    root = copy_project(tmp_path, TARGETS[0])
    item = translate.target(root, TARGETS[0].source.relative_to(ROOT))
    nb = json.loads(item.source.read_text(encoding="utf-8"))
    cell = markdown_cell(nb, 1)
    cell["source"] = "".join(cell["source"]).replace(".", ", and one more clause.", 1)
    item.source.write_text(translate.dumps(nb), encoding="utf-8")
    names = [item.source.relative_to(root).as_posix()]

    found = translate.notebook_problems(root, names)
    assert any(f"cell {cell['id']} is stale" in line for line in found), found
    with pytest.raises(translate.TranslationBuildError, match=f"cell {cell['id']} is stale"):
        translate.build(root, names)
    todo = translate.todo(root, names)
    assert translate.source_hash(cell["source"]) in todo and "one more clause" in todo

    data = yaml.safe_load(item.translation.read_text(encoding="utf-8"))
    entry = data["cells"][cell["id"]]
    entry["text"] += "\n\nOg én setning til."
    entry["source_hash"] = translate.source_hash(cell["source"])
    item.translation.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert translate.build(root, names) == [item.solution, item.starter]
    assert translate.notebook_problems(root, names) == []
    assert "Og én setning til." in item.solution.read_text(encoding="utf-8")


def test_a_missing_or_unknown_translation_is_named(tmp_path):
    root = copy_project(tmp_path, TARGETS[0])
    item = translate.target(root, TARGETS[0].source.relative_to(ROOT))
    data = yaml.safe_load(item.translation.read_text(encoding="utf-8"))
    gone = next(iter(data["cells"]))
    data["cells"]["no-such-cell"] = data["cells"].pop(gone)
    item.translation.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    found = translate.notebook_problems(root, [item.source.relative_to(root).as_posix()])
    assert any(f"cell {gone} has no translation" in line for line in found), found
    assert any("no-such-cell is not a markdown cell" in line for line in found), found


def test_a_hand_edited_norwegian_notebook_differs_from_the_build(tmp_path):
    root = copy_project(tmp_path, TARGETS[0])
    names = [TARGETS[0].source.relative_to(ROOT).as_posix()]
    translate.build(root, names)
    item = translate.target(root, names[0])
    nb = json.loads(item.solution.read_text(encoding="utf-8"))
    code = next(cell for cell in nb["cells"] if cell["cell_type"] == "code")
    code["source"] = ["print('edited by hand')\n"]
    item.solution.write_text(translate.dumps(nb), encoding="utf-8")
    found = translate.notebook_problems(root, names)
    assert found == [f"{item.solution.relative_to(root)} differs from what the build writes."]


def test_a_parameters_cell_without_a_language_line_is_refused(tmp_path):
    root = copy_project(tmp_path, TARGETS[0])
    item = translate.target(root, TARGETS[0].source.relative_to(ROOT))
    nb = json.loads(item.source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell["metadata"].get("tags", []):
            cell["source"] = [line for line in cell["source"] if "LANGUAGE" not in line]
    item.source.write_text(translate.dumps(nb), encoding="utf-8")
    with pytest.raises(translate.TranslationBuildError, match="LANGUAGE = None"):
        translate.build(root, [item.source.relative_to(root).as_posix()])


def test_an_unquoted_numeric_cell_id_is_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("cells:\n  12345678:\n    source_hash: a\n    text: b\n", encoding="utf-8")
    with pytest.raises(translate.TranslationBuildError, match="quote it"):
        translate.read_translation(path)


def test_lab_and_new_lessons_map_to_their_own_norwegian_paths():
    lab = translate.target(ROOT, "lab/solution/body_segmentation.ipynb")
    assert lab.translation == ROOT / "lab/solution/nb/body_segmentation.yaml"
    assert lab.solution == ROOT / "lab/nb/solution/body_segmentation.ipynb"
    assert lab.starter == ROOT / "lab/nb/body_segmentation.ipynb" and not lab.lesson
    lesson = translate.target(ROOT, "notebooks/solutions/05_more.ipynb")
    assert lesson.starter == ROOT / "notebooks/nb/05_more.ipynb" and lesson.lesson


# --- the message catalogue ----------------------------------------------------------------


def test_the_catalogue_translates_every_message():
    assert messages.coverage_problems(ROOT, "nb", SOURCES) == []


def test_the_committed_mo_is_what_the_po_compiles_to():
    assert messages.mo_is_current(ROOT, "nb"), "run `python -m segcourse translations build`"


def copy_catalogue(tmp_path: Path, code: str) -> Path:
    """A project with the real .po and one module holding `code`."""
    po = messages.po_path(tmp_path, "nb")
    po.parent.mkdir(parents=True)
    shutil.copyfile(messages.po_path(ROOT, "nb"), po)
    (tmp_path / "segcourse" / "module.py").write_text(code, encoding="utf-8")
    return tmp_path


def test_a_new_untranslated_message_is_caught(tmp_path):
    root = copy_catalogue(
        tmp_path, 'from segcourse.i18n import tr\nprint(tr("brand new {n}", n=1))\n'
    )
    found = messages.coverage_problems(root, "nb", [])
    assert any("no entry for 'brand new {n}'" in line for line in found), found
    assert any("'correct.' is no longer used" in line for line in found), found
    messages.update(root, "nb", [])
    catalogue = messages.read_catalogue(messages.po_path(root, "nb"), "nb")
    assert catalogue.get("brand new {n}").string == "" and catalogue.get("correct.") is None


def test_a_translation_that_drops_a_field_is_caught(tmp_path):
    root = copy_catalogue(tmp_path, 'print(tr("{n} cases", n=3))\n')
    po = messages.po_path(root, "nb")
    po.write_text(
        po.read_text(encoding="utf-8").replace('msgstr "{n} tilfeller"', 'msgstr "tilfeller"'),
        encoding="utf-8",
    )
    found = messages.coverage_problems(root, "nb", [])
    assert any("has the fields [], the English ['n']" in line for line in found), found


def test_a_stale_mo_is_caught(tmp_path):
    root = copy_catalogue(tmp_path, "")
    shutil.copyfile(i18n.catalogue_path("nb"), i18n.catalogue_path("nb", root / "segcourse/locale"))
    assert messages.mo_is_current(root, "nb")
    po = messages.po_path(root, "nb")
    po.write_text(
        po.read_text(encoding="utf-8").replace('msgstr "riktig."', 'msgstr "korrekt."'),
        encoding="utf-8",
    )
    assert not messages.mo_is_current(root, "nb")


def test_an_f_string_message_is_refused():
    with pytest.raises(messages.CatalogueError, match="f-string"):
        messages.messages_in_code('n = 2\ntr(f"{n} cases")\n', "x.py")


def test_every_tr_call_passes_the_fields_its_text_needs():
    found = []
    for path in sorted((ROOT / "segcourse").rglob("*.py")):
        found += messages.field_problems(path.read_text(encoding="utf-8"), str(path))
    for item in TARGETS:
        for cell_id, code in messages.notebook_code(item.source):
            found += messages.field_problems(code, f"{item.source.name}, cell {cell_id}")
    assert found == []
    assert messages.field_problems('tr("{n} of {total}", n=1)', "x.py")


# --- choosing the language ----------------------------------------------------------------


def test_english_by_default_and_bokmal_by_switch(monkeypatch, capsys):
    assert i18n.language() == "en" and i18n.tr("{n} cases", n=3) == "3 cases"
    monkeypatch.setenv(i18n.LANG_ENV, "nb")
    assert i18n.tr("{n} cases", n=3) == "3 tilfeller"
    ex.record_to(None)
    ex.check("01.2", ..., lambda fn: None, hint="average over every axis but the first.")
    out = capsys.readouterr().out
    assert out == (
        "Oppgave 01.2: ikke besvart ennå. Hint: ta gjennomsnittet over alle akser unntatt den "
        "første.\n"
    )
    i18n.set_language("en")  # the parameter wins over the environment
    assert i18n.tr("{n} cases", n=3) == "3 cases"


def test_an_unknown_language_or_a_missing_catalogue_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv(i18n.LANG_ENV, "de")
    with pytest.raises(i18n.TranslationError, match=r"\$SEGCOURSE_LANG = 'de'.*'en', 'nb'"):
        i18n.language()
    with pytest.raises(i18n.TranslationError, match="translations build"):
        i18n.translations("nb", tmp_path)


# --- one glossary, used everywhere --------------------------------------------------------


def avoided_words() -> list[str]:
    """The `unngå` column of docs/glossary.md: words the Norwegian texts must not use."""
    words = []
    for line in (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] not in ("English", "---"):
            words += re.findall(r"`([^`]+)`", cells[2])
    return words


def norwegian_texts() -> dict[str, str]:
    """Every Norwegian prose text of the course, without its code."""
    texts = {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in (ROOT / "lesson" / "README.nb.md", ROOT / "lab" / "README.nb.md")
    }
    for item in TARGETS:
        for cell_id, entry in translate.read_translation(item.translation).items():
            texts[f"{item.translation.relative_to(ROOT)}, cell {cell_id}"] = entry["text"]
    catalogue = messages.read_catalogue(messages.po_path(ROOT, "nb"), "nb")
    texts.update({f"segcourse.po: {m.id!r}": m.string for m in catalogue if m.id})
    fence = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
    return {name: re.sub(r"`[^`\n]*`", "", fence.sub("", text)) for name, text in texts.items()}


def test_norwegian_texts_avoid_the_words_the_glossary_rules_out():
    words = avoided_words()
    assert len(words) >= 10 and "utverdi*" in words and "F1-mål" in words
    patterns = {
        word: re.compile(
            r"(?<!\w)"
            + re.escape(word.rstrip("*"))
            + (r"\w*" if word.endswith("*") else r"(?!\w)"),
            re.IGNORECASE,
        )
        for word in words
    }
    found = [
        f"{name}: {word!r}"
        for name, text in norwegian_texts().items()
        for word, pattern in patterns.items()
        if pattern.search(text)
    ]
    assert found == [], "use the glossary's term instead (docs/glossary.md)"


def test_the_glossary_gives_one_bokmal_term_per_english_term():
    seen = {}
    for line in (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] not in ("English", "---"):
            assert cells[0] not in seen, f"{cells[0]!r} is in the glossary twice"
            seen[cells[0]] = cells[1]
    assert len(seen) >= 50


def test_the_norwegian_lesson_links_every_norwegian_notebook():
    text = (ROOT / "lesson" / "README.nb.md").read_text(encoding="utf-8")
    lab_brief = (ROOT / "lab" / "README.nb.md").read_text(encoding="utf-8")
    assert any(not item.lesson for item in TARGETS), "the lab is translated"
    for item in TARGETS:
        assert f"(../{item.starter.relative_to(ROOT).as_posix()})" in text, item.starter.name
        if not item.lesson:  # the lab brief links its notebook from beside it
            assert f"({item.starter.relative_to(ROOT / 'lab').as_posix()})" in lab_brief


def test_the_english_and_norwegian_lab_briefs_link_each_other():
    english = (ROOT / "lab" / "README.md").read_text(encoding="utf-8")
    norwegian = (ROOT / "lab" / "README.nb.md").read_text(encoding="utf-8")
    assert "(README.nb.md)" in english and "(README.md)" in norwegian
    # a full translation: every section of the English brief has one in the Norwegian
    assert len(re.findall(r"^#+ ", norwegian, re.MULTILINE)) == len(
        re.findall(r"^#+ ", english, re.MULTILINE)
    )


# --- running the course in Norwegian ------------------------------------------------------


def test_run_lang_picks_the_norwegian_notebooks_or_both(monkeypatch, tmp_path):
    from segcourse import course

    def planned(lang):
        return course.planned_runs(ROOT, course.run_languages(lang), [], tmp_path)

    english, norwegian, both = planned("en"), planned("nb"), planned("all")
    assert [nb for _, nb, _ in english] == sorted(
        (ROOT / "notebooks" / "solutions").glob("*.ipynb")
    ) + [ROOT / "lab" / "solution" / "body_segmentation.ipynb"]
    assert {nb for _, nb, _ in norwegian} == {item.solution for item in TARGETS}
    assert norwegian[-1][1] == ROOT / "lab" / "nb" / "solution" / "body_segmentation.ipynb"
    assert all(out == tmp_path / nb.name for _, nb, out in english)
    assert all(lang == "nb" and out == tmp_path / "nb" / nb.name for lang, nb, out in norwegian)
    assert both == english + norwegian
    lab = [run for run in both if "body_segmentation" in run[1].name]
    assert lab == course.planned_runs(ROOT, ("en", "nb"), ["body_seg"], tmp_path)
    # the default follows $SEGCOURSE_LANG (regional forms included), else English
    assert course.run_languages() == ("en",)
    monkeypatch.setenv(i18n.LANG_ENV, "nb_NO")
    assert course.run_languages() == ("nb",) and course.run_languages("all") == ("en", "nb")
    with pytest.raises(ValueError, match="--lang en, nb or all"):
        course.run_languages("de")
    # a Norwegian run keeps its scores and models apart from the English run's
    options = course.language_parameters(norwegian[-1][1], "nb", tmp_path)
    assert options == ["-p", "RESULTS_DIR", str(tmp_path / "nb" / "results")]
    assert course.language_parameters(english[-1][1], "en", tmp_path) == []
    # `python -m segcourse run --lang ...` hands the choice on, and executes nothing here
    seen = []
    monkeypatch.setattr(course, "run_notebooks", lambda *args: seen.append(args) or 0)
    assert course.main(["run", "--lang", "all", "unet"]) == 0
    assert course.main(["run"]) == 0  # $SEGCOURSE_LANG=nb_NO
    assert [(only, languages) for _, only, _, languages in seen] == [
        (["unet"], ("en", "nb")),
        ([], ("nb",)),
    ]


def test_segcourse_lang_all_runs_every_step_in_a_real_language(monkeypatch, tmp_path):
    """SEGCOURSE_LANG=all picks notebooks; the steps it runs (the data preparation first) must
    each get "en" or "nb", which is all the message catalogue understands."""
    from segcourse import course

    monkeypatch.setenv(i18n.LANG_ENV, "all")
    steps = []

    def step(argv, root, env=None):
        steps.append((argv, env[i18n.LANG_ENV]))
        return 0

    monkeypatch.setattr(course, "_step", step)
    assert course.main(["run", "01_ph2", "--build", str(tmp_path)]) == 0
    assert steps[0][0][-1] == "prepare" and steps[0][1] == "en"
    ran = [(Path(argv[-2]).parent.parent.name, lang) for argv, lang in steps if "papermill" in argv]
    assert ran == [("notebooks", "en"), ("nb", "nb")]
    assert {lang for _, lang in steps} <= set(i18n.LANGUAGES)


def test_the_plots_label_their_own_axes_in_the_language_in_use():
    import matplotlib.pyplot as plt
    import numpy as np

    from segcourse.plots import charts, labels

    def drawn():
        fig = labels.plot_confusion(np.eye(2) * 5, ["a", "b"], "t")
        axes = fig.axes[0]
        hist = charts.plot_histogram(np.linspace(0, 1, 10))
        words = (axes.get_xlabel(), axes.get_ylabel(), hist.axes[0].get_ylabel())
        plt.close("all")
        return words

    try:
        assert drawn() == ("predicted class", "true class (pixels)", "number of cases")
        i18n.set_language("nb")
        assert drawn() == ("predikert klasse", "sann klasse (piksler)", "antall tilfeller")
    finally:
        i18n.set_language(None)
