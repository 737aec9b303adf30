"""docs/mutants.py stays in step with the code: every mutant's code occurs exactly once in
its file (a moved or reworded line makes it "stale": it would test nothing), its names are
unique, and the tests it names exist."""

import importlib.util
import re
import sys

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("mutants", ROOT / "docs" / "mutants.py")
mutants = importlib.util.module_from_spec(spec)
sys.modules["mutants"] = mutants   # dataclasses look their module up there
spec.loader.exec_module(mutants)


def test_mutant_names_are_unique():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_a_mutant_changes_one_place_of_its_file_and_names_tests_that_exist(mutant):
    text = (ROOT / mutant.file).read_text()
    assert text.count(mutant.old) == 1, f"{mutant.name} is stale: update docs/mutants.py"
    assert mutant.old != mutant.new
    for test in mutant.tests:
        path, _, name = test.partition("::")
        source = (ROOT / path).read_text()
        if name:
            function = re.sub(r"\[.*", "", name)
            assert re.search(rf"^def {re.escape(function)}\(", source, re.MULTILINE), test
