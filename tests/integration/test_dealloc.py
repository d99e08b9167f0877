"""Dealloc: pymac sees every deallocation where it says it does."""

import pytest

from conftest import (
    INTERPRETERS,
    child_process,
    events,
    interp_params,
    module,
    record,
    require_interp,
    source_status,
    summary,
)

M = 20000
TYPE = "PymacProbeObject"


@pytest.mark.parametrize("interp", interp_params(INTERPRETERS))
def test_dealloc_of_known_type(pymac, tmp_path, interp):
    python = require_interp(interp)
    trace = tmp_path / "dealloc.pmt"
    rec = record(pymac, trace, [python, module("test_class_dealloc.py"), str(M)], probes="dealloc")
    assert rec.returncode == 0, rec.describe()

    summ = summary(pymac, trace)
    proc = child_process(summ, rec, python)
    pid = proc["pid"]
    status, detail = source_status(proc, "dealloc")
    evs = [e for e in events(pymac, trace, pid) if e["kind"] == "py_dealloc"]
    ours = sum(1 for e in evs if e.get("type_name") == TYPE)

    # The summary is computed from the same events.
    assert proc["counts"]["py_dealloc"] == len(evs), (proc["counts"], len(evs))
    assert proc["lost"] == 0, proc.get("lost_by_kind")

    # Where pymac says it sees every deallocation, it must: 3.8-3.10 builds
    # without LTO call _Py_Dealloc for every object. From 3.11 the bytecode
    # loop calls tp_dealloc itself, and LTO builds (Debian's) inline
    # _Py_Dealloc: there pymac must say "partial" and give the reason.
    if interp.is_pyenv and minor_version(python) <= 10:
        assert status == "full", "dealloc source on %s is %s (%s)" % (python, status, detail)
    elif status != "full":
        assert status == "partial", "dealloc source on %s is %s (%s)" % (python, status, detail)
        assert detail, "a partial source must say why"
        return
    assert ours >= M, "dealloc source says %s (%s) but only %d of %d %s deallocations were seen" % (status, detail, ours, M, TYPE)


def minor_version(python):
    import re

    m = re.search(r"python3\.(\d+)$", str(python))
    assert m, python
    return int(m.group(1))
