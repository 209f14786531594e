"""What a run says of the candidate's requirements file: the additions and changes the assessment
does not install ([runtime] candidate_requirements; the rules are grader.requirements').

Read from the exported tree before anything runs, never installed: the run goes on with the
assessment's runtime, and its note (Run.reason on a scored run) tells the candidate and the
reviewers why a dependency they added is not there, instead of an ImportError or nothing at all.
"""

from __future__ import annotations

from pathlib import Path

from grader.manifest import Manifest
from grader.requirements import NOT_A_FILE, Requirements, requirements_note, requirements_read, requirements_refused


def requirements_policy_note(*, tree: Path, manifest: Manifest) -> str:
    """The sentence the run shows for what ``tree``'s requirements file adds or changes that the
    manifest does not allow; "" when it adds nothing, or has no requirements file."""
    shipped = requirements_read(manifest.shipped_dir / manifest.requirements) or Requirements()
    path = tree / manifest.requirements
    # The file is opened without following a link; a folder on its way that is a link is not followed either.
    inside = path.parent.resolve() == tree.resolve() / Path(manifest.requirements).parent
    refused = requirements_refused(
        shipped=shipped,
        candidate=requirements_read(path) if inside else Requirements(unread=NOT_A_FILE),
        allowed=manifest.candidate_requirements,
    )
    return requirements_note(filename=manifest.requirements, refused=refused, allowed=manifest.candidate_requirements)
