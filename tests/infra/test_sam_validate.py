"""``sam validate --lint`` on the template: the SAM CLI's own transform and its bundled cfn-lint.

The SAM CLI lives in its own virtual environment, ``.venv-tools/sam`` (``.ci/run`` installs it),
since its dependency pins are not this project's. It needs no network and no credentials for this
command; telemetry is switched off so that it does not try to send any.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.sam_template import REGION, TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-tools" / "sam" / "bin" / "sam"


def test_sam_validate_lint_passes() -> None:
    assert SAM.exists(), f"{SAM} is missing: .ci/run installs it"
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("AWS_")
    } | {"AWS_DEFAULT_REGION": REGION, "SAM_CLI_TELEMETRY": "0"}
    completed = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
        env=environment,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "is a valid SAM Template" in completed.stdout + completed.stderr
