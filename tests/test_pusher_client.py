"""The shared ``pusher`` client: its transport, and ending a user's connections.

Against the fake Pusher HTTP API on 127.0.0.1 (:mod:`tests.fake_pusher`), which can
answer 404 on the first path, report errors with status 200 as soketi does, or
refuse connections.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from pusherable import pusher_client
from pusherable.backends.http import APIError, Urllib3Transport
from pusherable.exceptions import DeliveryError
from tests.fake_pusher import FakePusher


@pytest.fixture
def api_settings(api: FakePusher, no_proxy_in_the_environment):
    pusher_client.reset_clients()
    with override_settings(**api.settings()):
        yield api
    pusher_client.reset_clients()


def test_the_client_sends_through_the_urllib3_transport(api_settings):
    client = pusher_client.get_client()
    assert isinstance(client._pusher_client.http, Urllib3Transport)
    assert pusher_client.get_client() is client
    assert pusher_client.get_client(timeout=0.5) is not client


def test_an_error_answer_raises_the_transports_error_with_its_status(api_settings):
    api_settings.status = 403
    with pytest.raises(APIError) as caught:
        pusher_client.get_client().users_info("presence-article_1")
    assert caught.value.status == 403


def test_resetting_closes_the_clients_connections(api_settings):
    transport = pusher_client.get_client()._pusher_client.http
    transport.client.trigger("news", "e", {})
    assert transport._pool.num_connections == 1
    pusher_client.reset_clients()
    assert transport._pool.pool is None  # urllib3 closes a pool by dropping its queue
    assert pusher_client.get_client()._pusher_client.http is not transport


def test_terminate_posts_to_the_users_path(api_settings):
    pusher_client.terminate_user_connections("7")
    assert [path.split("?")[0] for path in api_settings.paths] == [
        "/users/7/terminate_connections"
    ]


def test_terminate_falls_back_to_the_apps_path_on_404(api_settings):
    api_settings.fail_next(1, 404)  # soketi serves the path under /apps/<id>/ only
    pusher_client.terminate_user_connections("7")
    assert [path.split("?")[0] for path in api_settings.paths] == [
        "/users/7/terminate_connections",
        f"/apps/{api_settings.app_id}/users/7/terminate_connections",
    ]


@pytest.mark.parametrize("errors_as_200", [False, True], ids=["status", "soketi-body"])
def test_terminate_refused_raises_delivery_error_with_the_status(api_settings, errors_as_200):
    api_settings.errors_as_200 = errors_as_200
    api_settings.fail_next(2, 401)
    with pytest.raises(DeliveryError, match="Cannot end the connections of user 7") as caught:
        pusher_client.terminate_user_connections("7")
    assert caught.value.status == 401


def test_terminate_with_the_server_unreachable_raises_delivery_error(api_settings):
    api_settings.refuse()
    with pytest.raises(DeliveryError, match="Cannot end the connections") as caught:
        pusher_client.terminate_user_connections("7")
    assert caught.value.status is None


def test_the_backends_proxy_and_ca_certs_serve_these_calls_too(api_settings, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    options = {"proxy": "http://127.0.0.1:3128", "ca_certs": str(bundle)}
    with override_settings(PUSHERABLE_BACKEND_OPTIONS=options, PUSHER_SSL=True):
        transport = pusher_client.get_client()._pusher_client.http
        assert transport.proxy == "http://127.0.0.1:3128"
        assert transport.manager.connection_pool_kw["ca_certs"] == str(bundle)
    with override_settings(PUSHERABLE_BACKEND_OPTIONS={"proxy": False}):
        assert pusher_client.get_client()._pusher_client.http.proxy is None
