"""The documentation stays true: config/README.md matches the schema it is generated from, every setting is
described, and every relative link in the README and docs/ leads to an existing file (and heading)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vocoder_energy.core.config_docs import README, config_readme, load_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT)
DOCUMENTS = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# What a setting's schema may hold: a key outside these is a fragment of a broken line (an unquoted
# comma inside a YAML flow mapping splits a description into a stray key).
KEYWORDS = {
    "type", "description", "default", "enum", "const", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "items", "uniqueItems", "minItems", "oneOf", "anyOf", "properties", "required",
    "additionalProperties", "propertyNames", "minProperties",
}  # fmt: skip


def settings(properties: dict, prefix: str = ""):
    """(dotted name, schema) of every setting, nested mappings included."""
    for key, spec in properties.items():
        yield prefix + key, spec
        yield from settings(spec.get("properties", {}), f"{prefix}{key}.")


SECTIONS = list(SCHEMA["properties"].items())
SETTINGS = [(section, name, spec) for section, s in SECTIONS for name, spec in settings(s.get("properties", {}))]


def test_config_readme_is_generated_from_the_current_schema():
    written = (ROOT / README).read_text()
    assert written == config_readme(SCHEMA), (
        "config/README.md is out of date with workflow/schemas/config.schema.yaml: run `make config-docs`"
    )


@pytest.mark.parametrize(("name", "spec"), SECTIONS + [(name, spec) for _, name, spec in SETTINGS])
def test_every_section_and_setting_has_a_description_and_nothing_stray(name, spec):
    assert spec.get("description", "").strip(), f"{name}: add a description to the schema"
    assert set(spec) <= KEYWORDS, f"{name}: stray keys {set(spec) - KEYWORDS} (an unquoted comma in a flow mapping?)"


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def as_written(value) -> str:
    """A default as a YAML config file writes it (flow style), independently of the generator."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).removesuffix("\n...\n").strip()


def section_text(readme: str, section: str) -> str:
    match = re.search(rf"^## `{section}`\n(.*?)(?=^## |\Z)", readme, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no section for `{section}`"
    return match.group(1)


def test_every_top_level_section_appears_with_its_description():
    readme = config_readme(SCHEMA)
    for section, spec in SECTIONS:
        text = section_text(readme, section)
        assert one_line(spec["description"])[1:] in one_line(text), section
        required = section in SCHEMA.get("required", [])
        assert ("Required section." in text) == required, section
        for family in spec.get("propertyNames", {}).get("enum", []):  # models, inference: keyed by family
            assert f"`{family}`" in text, (section, family)


@pytest.mark.parametrize(("section", "name", "spec"), SETTINGS, ids=[f"{s}.{n}" for s, n, _ in SETTINGS])
def test_every_setting_appears_with_its_type_default_and_description(section, name, spec):
    rows = [
        line for line in section_text(config_readme(SCHEMA), section).splitlines() if line.startswith(f"| `{name}` |")
    ]
    assert len(rows) == 1, f"{section}.{name}: expected one table row, found {len(rows)}"
    _, kind, default, description, _ = [cell.strip() for cell in re.split(r"(?<!\\)\|", rows[0])][1:]
    assert description == one_line(spec["description"]).replace("|", "\\|")
    if "default" in spec:
        assert default == f"`{as_written(spec['default'])}`"
    else:
        assert default in {"required", "—"}
    types = spec.get("type", [])
    # An enumeration is shown by its values (they say the type); otherwise the type's names.
    words = [as_written(value) for value in spec["enum"]] if "enum" in spec else types
    for word in words if isinstance(words, list) else [words]:
        word = {"object": "mapping", "array": "list"}.get(word, word)
        assert word in kind, f"{section}.{name}: {word!r} missing from the type {kind!r}"


# --------------------------------------------------------------------------------------------- links
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    without_fences = re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", without_fences)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose_headings(markdown), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def prose_headings(markdown: str) -> str:
    """Headings outside code blocks, inline code kept as its text (GitHub drops only the backticks)."""
    return re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL).replace("`", "")


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path.read_text()))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_every_relative_link_points_to_an_existing_file_and_heading(document):
    broken = []
    for target in relative_links(document):
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{document.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_documents_link_to_each_other():
    linked = {
        (ROOT / "README.md").parent.joinpath(t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")
    }
    missing = [p.relative_to(ROOT) for p in DOCUMENTS[1:] if p.resolve() not in linked]
    assert not missing, f"README.md does not link to {missing}"


def test_the_readme_stays_a_few_screens():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= 150, f"README.md has {lines} lines; move detail into docs/ (a newcomer reads it in ten minutes)"


POINTER_SOURCES = [
    ROOT / "config.yaml",
    *sorted((ROOT / "config").glob("*.yaml")),
    *sorted((ROOT / "workflow").rglob("*.smk")),
    *sorted((ROOT / "workflow").rglob("*.rst")),
    *sorted((ROOT / "src").rglob("*.py")),
]
POINTER = re.compile(r'(docs/[\w-]+\.md)(?:,? "([^"]+)")?')


def test_pointers_from_code_and_config_lead_to_a_page_and_heading():
    """Comments and messages send readers to docs/<page>.md ("Heading"); the README keeps no detail."""
    broken = []
    for source in POINTER_SOURCES:
        text = source.read_text()
        where = source.relative_to(ROOT)
        if re.search(r"see README\b(?!\.md)|README \"", text):
            broken.append(f"{where}: points to the README for detail that lives in docs/")
        for page, heading in POINTER.findall(text):
            if not (ROOT / page).exists():
                broken.append(f"{where}: {page} does not exist")
            elif heading and not re.search(rf"^#+ {re.escape(heading)}\s*$", (ROOT / page).read_text(), re.MULTILINE):
                broken.append(f'{where}: {page} has no heading "{heading}"')
    assert not broken, "; ".join(broken)
