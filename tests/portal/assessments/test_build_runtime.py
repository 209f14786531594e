from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_build_runtime_prepares_the_runtime_of_a_package_and_of_a_loaded_slug(assessment_version):
    out = StringIO()
    call_command("build_runtime", str(ROOT / "assessment_app"), stdout=out)
    path = out.getvalue().split("Runtime ready: ", 1)[1].strip()
    assert (Path(path) / "bin" / "python").exists()
    by_slug = StringIO()
    call_command("build_runtime", "library-lending-api", stdout=by_slug)
    assert by_slug.getvalue() == out.getvalue()


def test_an_unknown_assessment_is_refused(db):
    with pytest.raises(CommandError, match="neither a loaded assessment's slug nor a package folder"):
        call_command("build_runtime", "no-such-thing", stdout=StringIO())
