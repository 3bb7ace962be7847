"""The deployment files (Dockerfile, compose.yaml, deploy/k8s) pass Tools/check-deploy: schemas,
references, hardening, settings, and the scripts they run exercised on this machine. No
container engine runs here, so no image is built and nothing is deployed (deploy/README.md).

This test does not use the `system` fixture: it starts no Souk process of its own (the check
runs `souk keys` from the build, when there is one, on temporary folders)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_passes():
    done = subprocess.run([sys.executable, str(ROOT / "Tools" / "check-deploy")], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAIL", "  failed:"))]
    assert done.returncode == 0, "Tools/check-deploy failed:\n" + "\n".join(failed) + "\n\n" + done.stdout[-8000:]
