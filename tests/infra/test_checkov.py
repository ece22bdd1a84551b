"""The template against checkov, a security scanner for CloudFormation, run offline.

checkov pins dependencies that conflict with this project's, so it lives in its own virtual
environment, ``.venv-tools/checkov`` (``.ci/run`` installs it). Every check the template does not
pass is either fixed in the template or suppressed on the resource with checkov's
``Metadata: checkov: skip: [{id, comment}]`` form, and the comment says why the check does not
apply: a suppression without its reason is a failure here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support import sam_template
from support.sam_template import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-tools" / "checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: .ci/run installs it"
    # --skip-download: no guideline or severity download, so the scan needs no network.
    completed = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    assert completed.stdout, completed.stderr
    return json.loads(completed.stdout)


def test_checkov_reports_no_failed_check(report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def test_every_suppression_says_why(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the scan saw the template's suppressions"
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "")
        assert len(comment.split()) >= 8, f"{check['check_id']} on {check['resource']}: {comment!r}"


def test_suppressions_in_the_template_are_id_and_comment_pairs() -> None:
    template = sam_template.load()
    seen = 0
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert set(skip) == {"id", "comment"}, name
            assert skip["id"].startswith("CKV"), name
            assert skip["comment"].strip(), f"{name}: {skip['id']} has no justification"
            seen += 1
    assert seen > 0
