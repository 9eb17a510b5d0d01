from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.idempotency.services import purge_expired_keys
from apps.core.models import IdempotencyKey
from apps.core.tests.factories import UserFactory, access_token_for

pytestmark = pytest.mark.urls("apps.core.tests.probe_urls")


def _post(client: APIClient, body: dict, key: str | None = "key-1"):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/probe/", body, format="json", headers=headers)


@pytest.mark.django_db
def test_same_key_same_body_runs_once_and_replays_marked(api_client: APIClient) -> None:
    first = _post(api_client, {"name": "g1"})
    second = _post(api_client, {"name": "g1"})

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Group.objects.filter(name="g1").count() == 1


@pytest.mark.django_db
def test_same_key_different_body_is_422(api_client: APIClient) -> None:
    assert _post(api_client, {"name": "g1"}).status_code == 201
    response = _post(api_client, {"name": "g2"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert not Group.objects.filter(name="g2").exists()


@pytest.mark.django_db
def test_key_required_on_declared_endpoint(api_client: APIClient) -> None:
    response = _post(api_client, {"name": "g1"}, key=None)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "idempotency_key_required",
        "message": "This request needs an Idempotency-Key header.",
        "field": "Idempotency-Key",
    }
    assert not Group.objects.exists()


@pytest.mark.django_db
def test_server_error_releases_key_so_retry_runs(api_client: APIClient) -> None:
    failed = _post(api_client, {"name": "g1", "fail": True})
    assert failed.status_code == 503
    assert not IdempotencyKey.objects.exists()

    retried = _post(api_client, {"name": "g1", "fail": True})
    assert retried.status_code == 503
    assert "Idempotent-Replayed" not in retried


@pytest.mark.django_db
def test_identical_keys_of_two_users_never_collide(
    api_client: APIClient, other_api_client: APIClient
) -> None:
    mine = _post(api_client, {"name": "mine"}, key="shared")
    theirs = _post(other_api_client, {"name": "theirs"}, key="shared")

    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["name"] == "theirs"
    assert IdempotencyKey.objects.filter(key="shared").count() == 2


@pytest.mark.django_db
def test_expired_keys_are_purged_and_reusable(api_client: APIClient, user) -> None:
    assert _post(api_client, {"name": "old"}, key="k").status_code == 201
    assert _post(api_client, {"name": "fresh"}, key="live").status_code == 201
    IdempotencyKey.objects.filter(key="k").update(expires_at=timezone.now() - timedelta(seconds=1))

    assert purge_expired_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["live"]
    again = _post(api_client, {"name": "new"}, key="k")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again


@pytest.mark.django_db
def test_expired_key_is_taken_over_without_purge(api_client: APIClient) -> None:
    _post(api_client, {"name": "a"}, key="k")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _post(api_client, {"name": "b"}, key="k")

    assert response.status_code == 201
    assert response.json()["name"] == "b"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_once() -> None:
    user = UserFactory.create()
    token = access_token_for(user)
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = _post(client, {"name": "once", "sleep": 0.5}, key="race")
            with lock:
                results.append((response.status_code, response.get("Idempotent-Replayed") == "true"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Group.objects.filter(name="once").count() == 1
    statuses = sorted(results)
    assert statuses[0] == (201, False)
    assert statuses[1] in {(409, False), (201, True)}
