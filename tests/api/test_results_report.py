"""RESULTS.md and its pages in docs/results/ as a report: the headline table
comes first and every number of it is in the raw file it links, every
relative link resolves, no raw file is empty and docs/results/ stays within
the size budget that RESULTS.md states. Pure file reading."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = ROOT / "RESULTS.md"
RAW = ROOT / "docs" / "results"
PAGES = [RESULTS] + sorted(RAW.glob("*.md"))

_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_MB = 1_000_000


def _without_fences(text):
  return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _prose(text):
  """The text outside fenced code blocks and inline code spans."""
  return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def _slug(heading):
  """GitHub's anchor of a Markdown heading (code spans and links kept as text)."""
  text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
  text = re.sub(r"[^\w\- ]", "", text.strip().lower())
  return text.replace(" ", "-")


def _anchors(path):
  headings = re.findall(r"^#{1,6}\s+(.*)$", _without_fences(path.read_text()), re.M)
  return {_slug(h) for h in headings}


def _relative_links(path):
  for target in _LINK.findall(_prose(path.read_text())):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
      continue
    yield target


def _tables(text):
  """Markdown tables of the text, each a list of rows of stripped cells."""
  tables, rows = [], []
  for line in _prose(text).splitlines() + [""]:
    if line.startswith("|"):
      rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    elif rows:
      tables.append(rows)
      rows = []
  return tables


def _section(text, title):
  match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
  assert match, f"RESULTS.md has no section '## {title}'"
  return match.group(1)


def _budget():
  """(total MB, per-file MB, per-checkpoint-file MB) as RESULTS.md states them."""
  text = _section(RESULTS.read_text(), "Raw files and their budget")
  text = " ".join(text.split())
  total = re.search(r"at most (\d+(?:\.\d+)?) MB under docs/results/ in all", text)
  per_file = re.search(r"no file over (\d+(?:\.\d+)?) MB", text)
  checkpoint = re.search(r"`checkpoints/` folder\), at most (\d+(?:\.\d+)?) MB each", text)
  assert total and per_file and checkpoint, "the budget sentence of RESULTS.md changed"
  return float(total.group(1)), float(per_file.group(1)), float(checkpoint.group(1))


def _raw_files():
  return [p for p in RAW.rglob("*") if p.is_file()]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
  broken = []
  for target in _relative_links(page):
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists():
      broken.append(target)
    elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
      broken.append(target)
  assert not broken, f"{page.relative_to(ROOT)}: links that do not resolve: {broken}"


def test_every_results_page_is_linked_from_results_md():
  linked = {(RESULTS.parent / t.partition("#")[0]).resolve()
            for t in _relative_links(RESULTS)}
  pages = {p.resolve() for p in RAW.glob("*.md")}
  # Markdown tables that launchers wrote next to their JSON are raw files, not pages.
  pages = {p for p in pages if p.read_text().startswith("#")}
  assert pages <= linked, f"pages not linked from RESULTS.md: {sorted(pages - linked)}"


def test_no_empty_file_under_docs_results():
  empty = [str(p.relative_to(ROOT)) for p in _raw_files() if p.stat().st_size == 0]
  assert not empty, f"empty raw files: {empty}"


def test_docs_results_within_the_stated_budget():
  total_mb, file_mb, checkpoint_mb = _budget()
  files = _raw_files()
  total = sum(p.stat().st_size for p in files)
  assert total <= total_mb * _MB, (
      f"docs/results/ holds {total / _MB:.1f} MB, over the {total_mb:g} MB budget")
  over = []
  for p in files:
    limit = checkpoint_mb if "checkpoints" in p.relative_to(RAW).parts else file_mb
    if p.stat().st_size > limit * _MB:
      over.append(f"{p.relative_to(ROOT)} ({p.stat().st_size / _MB:.2f} MB)")
  assert not over, f"files over their budget: {over}"


def test_results_md_starts_with_the_headline_table():
  text = RESULTS.read_text()
  first_table = _tables(text)[0]
  header = [c.lower() for c in first_table[0]]
  assert "paper" in header and any(c.startswith("this project") for c in header), header
  assert "raw file" in header and "check" in header, header
  # The table comes before any section: it is page one.
  assert text.index("|") < text.index("\n## ")
  assert len(first_table) > 2 + 20  # header, rule, then Table 1, 2, 3 and figures


def test_every_headline_number_is_in_its_raw_file():
  table = _tables(RESULTS.read_text())[0]
  header = [c.lower() for c in table[0]]
  here = next(i for i, c in enumerate(header) if c.startswith("this project"))
  raw = header.index("raw file")
  missing = []
  for row in table[2:]:
    links = _LINK.findall(row[raw])
    assert len(links) == 1, f"one raw file per headline row: {row}"
    path = (RESULTS.parent / links[0]).resolve()
    assert path.is_relative_to(RAW.resolve()) and path.is_file(), row
    values = [float(v) for v in _NUMBER.findall(path.read_text())]
    for cell in _NUMBER.findall(row[here]):
      decimals = len(cell.partition(".")[2])
      tolerance = 0.5 * 10 ** -decimals + 1e-9
      if not any(abs(v - float(cell)) <= tolerance for v in values):
        missing.append(f"{cell} ({row[0]}) not in {path.relative_to(ROOT)}")
  assert not missing, missing
