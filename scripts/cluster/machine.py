"""What this machine needs to run a cluster, and what to install where something is missing."""

from __future__ import annotations

import os
import pwd
import shutil
import sys

from cluster import patroni
from cluster.hosts import run
from cluster.patroni import PG_USER


def unavailable_reason() -> str | None:
    """Why this machine cannot run a cluster, with what to install; None when it can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [
        package
        for package, found in (
            ("iproute2", shutil.which("ip")),
            ("haproxy", shutil.which("haproxy")),
            ("postgresql", patroni.postgres_bin()),
            ("etcd-server", shutil.which("etcd")),
        )
        if not found
    ]
    if missing:
        return f"needs {', '.join(missing)}: apt-get install {' '.join(missing)}"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return f"needs the system user {PG_USER!r} (Debian's postgresql package makes it)"
    if not patroni.PATRONI.exists():
        return f"needs Patroni in {patroni.VENV.name}/: make cluster-venv"
    as_postgres = ["setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups"]
    if run(*as_postgres, str(patroni.PATRONI), "--version", check=False, cwd="/").returncode:
        return (
            f"the {PG_USER} user cannot run {patroni.PATRONI}: remake it on a Python that user"
            " can run (rm -r .venv-cluster; make cluster-venv CLUSTER_PYTHON=/usr/bin/python3)"
        )
    probe = f"notes-probe{os.getpid()}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make network namespaces here: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None
