"""The README's quick start is what CI runs: keep the two in step."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    command = next(
        line for line in ci.splitlines() if "pytest" in line and not line.startswith("#") and "echo" not in line
    )
    assert command.strip() in readme.splitlines(), f"README quick start lacks the CI command: {command}"
    start = readme.index("## Quick start")
    assert command.strip() in readme[start : readme.index("\n## ", start + 1)]
