"""List the messages French has and another language lacks (missing, empty, fuzzy or other placeholders).

    python scripts/catalogue_gaps.py              # every language against French
    python scripts/catalogue_gaps.py pt           # Portuguese only
    python scripts/catalogue_gaps.py pt --json    # a file to fill in for scripts/translate.py, per catalogue file

Exits with 1 when there is a gap, so it can stand in a merge checklist or CI.
The same check runs in tests/web/test_portal_pages.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opendsp.locale import LANGUAGES, translations  # noqa: E402
from opendsp.locale.gaps import all_gaps  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("languages", nargs="*", help=f"languages to check, among {', '.join(LANGUAGES)} (default: all)")
    parser.add_argument("--json", action="store_true",
                        help="print, per catalogue file, the messages to translate with their French, German and "
                             "English texts (the input of scripts/translate.py, with the gaps to fill)")
    arguments = parser.parse_args()
    unknown = set(arguments.languages) - set(LANGUAGES)
    if unknown:
        parser.error(f"not a language of the platform: {', '.join(sorted(unknown))}")
    found = all_gaps(tuple(arguments.languages) or LANGUAGES)
    if arguments.json:
        files: dict[str, dict[str, dict[str, str]]] = {}
        for gap in found:
            texts = {language: translations(language).gettext(gap.message) for language in LANGUAGES}
            entry = files.setdefault(gap.file, {}).setdefault(gap.message, texts)
            entry[gap.language] = ""
        print(json.dumps(files, ensure_ascii=False, indent=2))
    else:
        for gap in found:
            print(f"{gap.language}\t{gap.file}\t{gap.problem}\t{gap.message}")
        print(f"{len(found)} gap(s)" if found else "no gap: every language has every French message",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
