"""The channel authorization and signin endpoints."""

import base64
import itertools
import json
import logging
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.urls import reverse
from django.views.generic import DetailView
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pusher.crypto import generate_shared_secret, parse_master_key
from pusher.signature import verify

from pusherable import authorization, members
from pusherable.channels import channel_for, channel_for_model, encode_pk, parse_channel
from pusherable.exceptions import ChannelError, ConfigurationError
from tests.authz import (
    KEY,
    OBJECT_BACKENDS,
    SECRET,
    client_for,
    grant,
    make_world,
    post_form,
    reference_client,
)
from tests.testapp.models import Article

SOCKET_ID = "1234.5678"
AUTH_URL = "/pusherable/auth/"
USER_AUTH_URL = "/pusherable/user-auth/"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("object_backends")]


@pytest.fixture
def object_backends():
    with override_settings(AUTHENTICATION_BACKENDS=OBJECT_BACKENDS):
        yield


@pytest.fixture
def world():
    # Only exposed models can be asked about. Views and admins of other test modules
    # (tests/guard_urls.py) expose these too, but only once imported: exposing them
    # here keeps the expected grants the same whichever tests ran before.
    models = ["testapp.article", "testapp.tag", "testapp.document", "testapp.ticket"]
    with override_settings(PUSHERABLE_EXPOSED_MODELS=[*models, "testapp.account"]):
        yield make_world()


def authorize(user, channel, socket_id=SOCKET_ID, intent=None, **kwargs):
    data = {"socket_id": socket_id, "channel_name": channel, "intent": intent}
    return post_form(client_for(user, **kwargs), AUTH_URL, data)


def assert_signed(answer, channel, socket_id=SOCKET_ID):
    """Check the answer with the pusher library's own verification."""
    key, signature = answer["auth"].split(":")
    assert key == KEY
    string_to_sign = f"{socket_id}:{channel}"
    if "channel_data" in answer:
        string_to_sign += f":{answer['channel_data']}"
    assert verify(SECRET, string_to_sign, signature)


# -- URLs ----------------------------------------------------------------------------


def test_url_names():
    assert reverse("pusherable:auth") == AUTH_URL
    assert reverse("pusherable:user-auth") == USER_AUTH_URL
    assert reverse("pusherable:intent") == "/pusherable/intent/"
    assert reverse("pusherable:webhook") == "/pusherable/webhook/"


# -- Private and presence channels ---------------------------------------------------


def test_private_channel_answers_auth_only(world):
    channel = channel_for(world.article, "private")
    response = authorize(world.users["viewer"], channel)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"auth"}
    assert_signed(answer, channel)
    assert answer == reference_client().authenticate(channel, SOCKET_ID)


def test_presence_channel_data_shape(world):
    viewer = world.users["viewer"]
    channel = channel_for(world.article, "presence")
    answer = authorize(viewer, channel).json()
    assert set(answer) == {"auth", "channel_data"}
    assert_signed(answer, channel)
    assert json.loads(answer["channel_data"]) == {
        "user_id": str(viewer.pk),
        "user_info": {"id": str(viewer.pk), "name": "Viewer Example", "intent": "viewing"},
    }


def test_presence_name_falls_back_to_username(world):
    editor = world.users["editor"]
    editor.first_name = editor.last_name = ""
    editor.save()
    answer = authorize(editor, channel_for(world.article, "presence"), intent="editing").json()
    assert json.loads(answer["channel_data"])["user_info"] == {
        "id": str(editor.pk),
        "name": "editor",
        "intent": "editing",
    }


def test_model_channel_needs_model_permission(world):
    channel = channel_for_model(Article)
    assert authorize(world.users["viewer"], channel).status_code == 200
    # The author may see their own article, not the whole model's list.
    assert authorize(world.users["author"], channel).status_code == 403


def test_object_level_permission(world):
    author = world.users["author"]
    assert authorize(author, channel_for(world.article)).status_code == 200
    assert authorize(author, channel_for(world.article), intent="editing").status_code == 200
    response = authorize(author, channel_for(world.other_article))
    assert response.status_code == 403
    assert response.json() == {"error": "You may not view this article."}


def test_editing_needs_change_permission(world):
    channel = channel_for(world.article, "presence")
    response = authorize(world.users["viewer"], channel, intent="editing")
    assert response.status_code == 403
    assert response.json() == {"error": "You may not edit this article."}
    assert authorize(world.users["editor"], channel, intent="editing").status_code == 200


@pytest.mark.parametrize("name", ["anonymous", "plain", "inactive"])
def test_refusals_are_403_with_a_reason(world, name):
    response = authorize(world.users[name], channel_for(world.article))
    assert response.status_code == 403
    assert response.json()["error"]


def test_anonymous_does_not_learn_whether_an_object_exists(world):
    response = authorize(world.users["anonymous"], "private-article_999999")
    assert response.status_code == 403
    assert response.json() == {"error": "Authentication required."}
    assert authorize(world.users["viewer"], "private-article_999999").status_code == 404


def test_free_text_and_uuid_primary_keys(world):
    for obj in (world.document, world.ticket):
        channel = channel_for(obj, "presence")
        response = authorize(world.users["viewer"], channel)
        assert response.status_code == 200, response.json()
        assert_signed(response.json(), channel)


@pytest.mark.parametrize(
    ("channel", "status"),
    [
        ("", 400),
        ("article_1", 400),  # public channels need no authorization
        ("private-article_1 ", 400),
        ("private-article_abc", 400),  # not a valid integer key
        ("private-ticket_not-a-uuid", 400),
        ("private-article_=ZZ", 400),
        ("private-" + "a" * 200, 400),
        ("#server-to-user-1", 400),
        ("private-nosuchmodel_1", 404),
        ("private-article_999999", 404),
        ("private-article_99999999999999999999999999", 404),
        ("private-encrypted-article_1", 400),  # no master key configured
    ],
)
def test_bad_channel_names(world, channel, status):
    response = authorize(world.users["admin"], channel)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize(
    "socket_id", [None, "", "1234", "1234.", "abc.def", "1.2\n", "١٢.٣٤", "1.2:x", "1" * 30 + ".1"]
)
def test_malformed_socket_id(world, socket_id):
    response = authorize(world.users["admin"], channel_for(world.article), socket_id=socket_id)
    assert response.status_code == 400
    assert response.json() == {"error": "Missing or malformed socket_id."}


def test_unknown_intent(world):
    response = authorize(world.users["admin"], channel_for(world.article), intent="spying")
    assert response.status_code == 400
    assert "viewing, editing" in response.json()["error"]


def test_malformed_form_data_is_a_json_400(world):
    client = client_for(world.users["viewer"])
    response = client.post(AUTH_URL, b"--x\r\nbroken", content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json() == {"error": "Malformed form data."}


def test_get_is_405_json(world):
    response = client_for(world.users["viewer"]).get(AUTH_URL)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed; use POST."}


def test_missing_credentials_are_503_not_500(world, caplog):
    with override_settings(PUSHER_SECRET=None):
        response = authorize(world.users["viewer"], channel_for(world.article))
    assert response.status_code == 503
    assert "not configured" in response.json()["error"]


# -- CSRF ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [AUTH_URL, USER_AUTH_URL, "/pusherable/intent/"])
def test_csrf_is_enforced(world, url):
    client = client_for(world.users["admin"], enforce_csrf_checks=True)
    data = {"socket_id": SOCKET_ID, "channel_name": channel_for(world.article, "presence")}
    assert post_form(client, url, data).status_code == 403


def test_csrf_token_header_is_accepted(world):
    client = client_for(world.users["viewer"], enforce_csrf_checks=True)
    token = "a" * 32
    client.cookies["csrftoken"] = token
    data = {"socket_id": SOCKET_ID, "channel_name": channel_for(world.article)}
    response = post_form(client, AUTH_URL, data, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


# -- Encrypted channels --------------------------------------------------------------


def test_encrypted_channel_answers_shared_secret_as_text(world):
    master_key = base64.b64encode(b"k" * 32).decode()
    channel = "private-encrypted-" + channel_for(world.article, "public")
    with override_settings(PUSHER_ENCRYPTION_MASTER_KEY_BASE64=master_key):
        response = authorize(world.users["viewer"], channel)
        assert authorize(world.users["plain"], channel).status_code == 403
    assert response.status_code == 200
    answer = response.json()
    assert_signed(answer, channel)
    expected = generate_shared_secret(channel.encode(), parse_master_key(None, master_key))
    assert base64.b64decode(answer["shared_secret"]) == expected


# -- Policies ------------------------------------------------------------------------


def titles_starting_with_m(*, user, obj, **kwargs):
    return user.is_authenticated and obj is not None and obj.title.startswith("M")


def locked_policy(**kwargs):
    raise PermissionDenied("Locked while Bob edits it.")


def truthy_but_not_true(**kwargs):
    return "yes"


def test_custom_policy(world):
    policy = "tests.test_authorization.titles_starting_with_m"
    with override_settings(PUSHERABLE_AUTHORIZER=policy):
        assert authorize(world.users["plain"], channel_for(world.article)).status_code == 200
        assert authorize(world.users["admin"], channel_for(world.other_article)).status_code == 403


def test_policy_refusal_message_reaches_the_browser(world):
    with override_settings(PUSHERABLE_AUTHORIZER="tests.test_authorization.locked_policy"):
        response = authorize(world.users["admin"], channel_for(world.article))
    assert response.status_code == 403
    assert response.json() == {"error": "Locked while Bob edits it."}


def test_only_true_grants(world):
    with override_settings(PUSHERABLE_AUTHORIZER="tests.test_authorization.truthy_but_not_true"):
        assert authorize(world.users["admin"], channel_for(world.article)).status_code == 403


def test_view_queryset_scopes_subscriptions(world):
    class MyArticles(DetailView):
        model = Article

        def get_queryset(self):
            return Article.objects.filter(author=self.request.user)

    authorization.register_view(MyArticles)
    try:
        assert authorize(world.users["author"], channel_for(world.article)).status_code == 200
        # The viewer holds the model permission, but the page would not show it to them.
        assert authorize(world.users["viewer"], channel_for(world.article)).status_code == 404
    finally:
        authorization.unregister(Article)
    assert authorize(world.users["viewer"], channel_for(world.article)).status_code == 200


def test_register_view_as_decorator_needs_a_model():
    with pytest.raises(ConfigurationError, match="neither `model` nor `queryset`"):

        @authorization.register_view
        class Nothing(DetailView):
            pass


# -- User info -----------------------------------------------------------------------


def big_user_info(*, user, **kwargs):
    return {"name": "N" * 3000, "avatar": "https://example.com/" + "a" * 500, "team": "x" * 600}


def list_user_info(**kwargs):
    return ["not", "a", "dict"]


@override_settings(PUSHERABLE_USER_INFO="tests.test_authorization.big_user_info")
def test_user_info_is_trimmed_to_the_limit(world, caplog):
    channel = channel_for(world.article, "presence")
    with caplog.at_level(logging.WARNING, logger="pusherable"):
        answer = authorize(world.users["viewer"], channel, intent="viewing").json()
    assert len(answer["channel_data"].encode()) <= 1024
    info = json.loads(answer["channel_data"])["user_info"]
    assert info["intent"] == "viewing"
    assert info["name"].startswith("NNN")
    assert "avatar" not in info
    assert "team" not in info
    assert_signed(answer, channel)
    assert "PUSHERABLE_MAX_USER_INFO_SIZE" in caplog.text


@override_settings(
    PUSHERABLE_USER_INFO="tests.test_authorization.big_user_info",
    PUSHERABLE_MAX_USER_INFO_SIZE=20,
)
def test_user_info_that_cannot_fit_is_refused(world, caplog):
    response = authorize(world.users["viewer"], channel_for(world.article, "presence"))
    assert response.status_code == 400
    assert "PUSHERABLE_MAX_USER_INFO_SIZE" in response.json()["error"]


def test_fit_user_info_keeps_small_info_and_makes_it_json_safe():
    import datetime

    when = datetime.date(2024, 1, 2)
    assert members.fit_user_info("1", {"name": "A", "since": when}) == {
        "name": "A",
        "since": "2024-01-02",
    }


def test_user_id_of_a_free_text_pk_is_escaped():
    class FakeUser:
        pk = "bob smith"

    assert members.member_id(FakeUser()) == encode_pk("bob smith") == "bob=20smith"


# -- Signin --------------------------------------------------------------------------


def signin(user, socket_id=SOCKET_ID):
    return post_form(client_for(user), USER_AUTH_URL, {"socket_id": socket_id})


def test_signin_answers_user_data_with_a_string_id(world):
    viewer = world.users["viewer"]
    response = signin(viewer)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"auth", "user_data"}
    user_data = json.loads(answer["user_data"])
    assert user_data == {
        "id": str(viewer.pk),
        "user_info": {"id": str(viewer.pk), "name": "Viewer Example"},
    }
    key, signature = answer["auth"].split(":")
    assert key == KEY
    assert verify(SECRET, f"{SOCKET_ID}::user::{answer['user_data']}", signature)


@pytest.mark.parametrize("name", ["anonymous", "inactive"])
def test_signin_refuses_anonymous_and_inactive(world, name):
    response = signin(world.users[name])
    assert response.status_code == 403
    assert response.json() == {"error": "Authentication required."}


def test_signin_malformed_socket_id(world):
    assert signin(world.users["viewer"], socket_id="x").status_code == 400


# -- Property: no 500, no wrong grant ------------------------------------------------

SOCKET_ID_RE = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")
RANDOM_USERS = itertools.count()
CODENAMES = [
    f"{action}_{model}"
    for action in ("view", "change", "add", "delete")
    for model in ("article", "tag", "document", "ticket", "account")
]


def expected_grant(user, channel, socket_id, intent):
    """Decide independently of the policy code whether a grant is allowed."""
    if not SOCKET_ID_RE.fullmatch(socket_id or "") or intent not in (None, "viewing", "editing"):
        return False
    if not user.is_authenticated or not user.is_active:
        return False
    try:
        parsed = parse_channel(channel)
    except ChannelError:
        return False
    if parsed.type == "public":
        return False
    model = parsed.model
    obj = None
    if parsed.pk is not None:
        try:
            obj = model._default_manager.filter(pk=model._meta.pk.to_python(parsed.pk)).first()
        except Exception:
            return False
        if obj is None:
            return False
    if user.is_superuser:
        return True
    actions = ["change"] if intent == "editing" else ["view", "change"]
    codenames = {f"{action}_{model._meta.model_name}" for action in actions}
    held = set(
        Permission.objects.filter(user=user, codename__in=codenames).values_list(
            "codename", flat=True
        )
    )
    is_author = isinstance(obj, Article) and obj.author_id == user.pk
    return bool(held) or is_author


def channel_names(world):
    objects = [world.article, world.other_article, world.tag, world.document, world.ticket]
    built = st.builds(
        lambda obj, kind: channel_for(obj, kind),
        st.sampled_from(objects),
        st.sampled_from(["private", "presence", "private", "presence", "public"]),
    )
    models = st.sampled_from(["article", "tag", "document", "ticket", "account", "nothing"])
    made_up = st.builds(
        lambda prefix, model, pk: f"{prefix}{model}{pk}",
        st.sampled_from(["private-", "presence-", "", "private-encrypted-", "presence-private-"]),
        models,
        st.one_of(
            st.just(""),
            st.integers(-5, 10**30).map(lambda n: f"_{n}"),
            st.text(alphabet="abc0123456789=_-@,.;", max_size=40).map(lambda t: "_" + t),
            st.text(max_size=20).map(lambda t: "_" + t),
        ),
    )
    # Built names twice: grants must be common enough to be checked, not only refusals.
    return st.one_of(built, built, built, made_up, st.text(max_size=80))


@given(data=st.data())
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_property_no_server_error_and_no_wrong_grant(world, data):
    user_name = data.draw(st.sampled_from([*sorted(world.users), "random", "random"]))
    if user_name == "random":
        # A fresh user with any mix of permissions, active or not.
        user = User.objects.create_user(f"user{next(RANDOM_USERS)}", first_name="R")
        user.is_active = data.draw(st.booleans(), label="active")
        user.save()
        codenames = data.draw(st.sets(st.sampled_from(CODENAMES), max_size=4), label="perms")
        grant(user, *codenames)
    else:
        user = world.users[user_name]
    channel = data.draw(channel_names(world), label="channel")
    socket_id = data.draw(
        st.one_of(
            st.just(SOCKET_ID),
            st.just("9.1"),
            st.just("0.0"),
            st.builds("{}.{}".format, st.integers(0, 10**12), st.integers(0, 10**12)),
            st.text(max_size=30),
        ),
        label="socket_id",
    )
    intents = [None, "viewing", "editing", "viewing", "editing", "", "spying"]
    intent = data.draw(st.sampled_from(intents), label="intent")
    response = authorize(user, channel, socket_id, intent)
    assert response.status_code in (200, 400, 403, 404), response.content
    answer = response.json()
    event(f"status {response.status_code}")
    if intent == "":
        intent = None
    should_grant = expected_grant(user, channel, socket_id, intent)
    assert (response.status_code == 200) == should_grant, (response.status_code, answer)
    if response.status_code == 200:
        assert_signed(answer, channel, socket_id)
        if channel.startswith("presence-"):
            member = json.loads(answer["channel_data"])
            assert member["user_id"] == str(user.pk)
            assert member["user_info"]["intent"] == (intent or "viewing")
    else:
        assert set(answer) == {"error"}
