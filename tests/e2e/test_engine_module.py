"""The PostgreSQL engine is a module beside the chatd binary, chatd-postgres.so
(docs/architecture.md, docs/operations.md): a server on SQLite maps neither it
nor libpq, one on PostgreSQL maps both, and a chatd without the module refuses
a PostgreSQL DATABASE_URL with one sentence that says why.
"""

import os
import shutil
import subprocess

from conftest import CHATD, SANITIZER_MARKERS, Server


def mapped_files(pid):
    """The base names of the files a process maps."""
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(fields[5]) for fields in map(str.split, f) if len(fields) > 5}


def test_module_and_libpq_are_mapped_only_on_postgres(server):
    files = mapped_files(server.proc.pid)
    on_postgres = server.engine == "postgres"
    assert ("chatd-postgres.so" in files) == on_postgres, sorted(files)
    assert any(name.startswith("libpq.so") for name in files) == on_postgres, sorted(files)


def test_missing_module_refuses_to_start():
    srv = Server(env={"DATABASE_URL": "postgresql://chat@127.0.0.1:1/chat", "PORT": "0"})
    try:
        alone = os.path.join(srv.tmpdir, "chatd")  # a copy with no module beside it
        shutil.copy(CHATD, alone)
        p = subprocess.run([alone], cwd=srv.tmpdir, env=srv.env, capture_output=True, text=True,
                           timeout=30)
    finally:
        srv.cleanup()
    assert p.returncode == 1, p.stderr
    expected = ("DATABASE_URL names PostgreSQL, but its engine did not load: "
                "%s/chatd-postgres.so: cannot open shared object file" % srv.tmpdir)
    assert expected in p.stderr, p.stderr
    assert not any(marker in p.stderr for marker in SANITIZER_MARKERS), p.stderr
