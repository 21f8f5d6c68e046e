"""Load test: users who write, read, page through, change and delete their own notes.

    make load-test                                           # web UI on 127.0.0.1:8089
    make load-test LOCUST_PORT=8090                          # ... on another port
    make load-test-headless USERS=50 SPAWN=10 DURATION=30s   # CSV + HTML report in reports/

Each user keeps the ids of the notes it created and has not deleted, and asks only for those: a
404 is requested only where the scenario expects one (reading back a note it has just deleted), and
is then counted as a success. Any other failure is a real one.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit

from locust import FastHttpUser, between, task

# How many notes a user keeps before it starts deleting some.
KEEP = 20
# Picks which note to act on: a load test's dice, not a secret.
dice = random.Random()  # noqa: S311


class NotesUser(FastHttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.mine: list[int] = []
        for _ in range(3):
            self.create()

    def create(self) -> None:
        with self.client.post(
            "/notes",
            json={"text": f"Locust note {dice.randrange(10**6)}", "completed": False},
            name="POST /notes",
            catch_response=True,
        ) as response:
            if response.status_code == 200 and isinstance(response.json().get("id"), int):
                self.mine.append(response.json()["id"])
                response.success()
            else:
                response.failure(f"create: {response.status_code} {response.text[:200]}")

    @task(4)
    def create_note(self) -> None:
        self.create()
        if len(self.mine) > KEEP:
            self.delete_note()

    @task(10)
    def read_own_note(self) -> None:
        if not self.mine:
            self.create()
            return
        note_id = dice.choice(self.mine)
        with self.client.get(
            f"/notes/{note_id}", name="GET /notes/{id}", catch_response=True
        ) as response:
            if response.status_code == 200 and response.json()["id"] == note_id:
                response.success()
            else:
                response.failure(f"read {note_id}: {response.status_code}")

    @task(5)
    def list_pages(self) -> None:
        """The first page, then up to three more by following the Link header's cursor."""
        url: str | None = "/notes?take=20"
        for page in range(4):
            if url is None:
                break
            name = "GET /notes?take=20" if page == 0 else "GET /notes?after=<id>&take=20"
            with self.client.get(url, name=name, catch_response=True) as response:
                if response.status_code != 200 or not isinstance(response.json(), list):
                    response.failure(f"list: {response.status_code}")
                    return
                response.success()
                url = next_link(response.headers.get("Link"))

    @task(3)
    def replace_note(self) -> None:
        if not self.mine:
            return
        note_id = dice.choice(self.mine)
        with self.client.put(
            f"/notes/{note_id}",
            json={"text": "Replaced by locust", "completed": True},
            name="PUT /notes/{id}",
            catch_response=True,
        ) as response:
            if response.status_code == 200 and response.json()["completed"] is True:
                response.success()
            else:
                response.failure(f"replace {note_id}: {response.status_code}")

    @task(3)
    def patch_note(self) -> None:
        if not self.mine:
            return
        note_id = dice.choice(self.mine)
        with self.client.patch(
            f"/notes/{note_id}",
            json={"completed": False},
            name="PATCH /notes/{id}",
            catch_response=True,
        ) as response:
            if response.status_code == 200 and response.json()["completed"] is False:
                response.success()
            else:
                response.failure(f"patch {note_id}: {response.status_code}")

    @task(2)
    def delete_note(self) -> None:
        """Delete one of its notes, then check that it is gone: that 404 is the expected answer."""
        if not self.mine:
            return
        note_id = self.mine.pop(dice.randrange(len(self.mine)))
        with self.client.delete(
            f"/notes/{note_id}", name="DELETE /notes/{id}", catch_response=True
        ) as response:
            if response.status_code == 200 and response.json()["id"] == note_id:
                response.success()
            else:
                response.failure(f"delete {note_id}: {response.status_code}")
        with self.client.get(
            f"/notes/{note_id}", name="GET /notes/{id} (deleted: 404)", catch_response=True
        ) as response:
            if response.status_code == 404:
                response.success()
            else:
                response.failure(f"deleted note {note_id} answered {response.status_code}")


def next_link(header: str | None) -> str | None:
    """The path of the `rel="next"` link in a Link header, if there is one."""
    if not header:
        return None
    for link in header.split(","):
        target, _, params = link.partition(";")
        if 'rel="next"' in params:
            parts = urlsplit(target.strip().strip("<>"))
            return f"{parts.path}?{parts.query}" if parts.query else parts.path
    return None
