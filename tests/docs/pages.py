"""The documentation the tests read, one constant per page: the README and the site's pages
(docs/, built by MkDocs from mkdocs.yml). A test that checks what a page states reads it here."""

from __future__ import annotations

from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
README: Final = ROOT / "README.md"
MKDOCS_CONFIG: Final = ROOT / "mkdocs.yml"
DOCS: Final = ROOT / "docs"

# The configuration table: every key, and the values derived from the defaults.
CONFIGURATION: Final = DOCS / "operators" / "configuration.md"
# Deploying: the bootstrap among its commands.
DEPLOY: Final = DOCS / "operators" / "deploy.md"
# The IAM deviation table, which tests/infra/test_iam.py compares statement by statement.
IAM: Final = DOCS / "operators" / "iam.md"
# When things fail: every row names the tests that show it.
FAILURES: Final = DOCS / "operators" / "failures.md"


def documentation() -> list[Path]:
    """The README and every page of the site."""
    return [README, *sorted(DOCS.rglob("*.md"))]
