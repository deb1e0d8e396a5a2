"""The template tags, checked on the HTML they render, parsed as a browser would."""

import json
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.template import Context, RequestContext, Template, TemplateSyntaxError
from django.test import Client, RequestFactory, override_settings

from pusherable.conf import PUSHER_JS_INTEGRITY, PUSHER_JS_URL
from pusherable.exceptions import ConfigurationError
from pusherable.page_config import browser_config, pusher_js_options, to_script_json
from pusherable.templatetags.pusherable_tags import SCRIPTS
from pusherable.versions import object_version
from tests.testapp.models import Article, Document

HOSTILE = "</script><script>alert(1)//"
HOSTILE_VARIANTS = [
    HOSTILE,
    "</SCRIPT ><img src=x onerror=alert(1)>",
    "<!--<script>",
    '"}]</script>&lt;',
    "\u2028\u2029'\\",
]


class ScriptCollector(HTMLParser):
    """Collects every <script> element: its attributes and its raw text."""

    def __init__(self):
        super().__init__()
        self.scripts = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._current = {"attrs": dict(attrs), "text": ""}
            self.scripts.append(self._current)

    def handle_data(self, data):
        if self._current is not None:
            self._current["text"] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._current = None


def scripts_in(html):
    parser = ScriptCollector()
    parser.feed(html)
    parser.close()
    return parser.scripts


def render(source, context=None, request=None):
    template = Template("{% load pusherable_tags %}" + source)
    if request is None:
        return template.render(Context(context or {}))
    return template.render(RequestContext(request, context or {}))


def config_of(html):
    [config] = [s for s in scripts_in(html) if s["attrs"].get("id") == "pusherable-config"]
    assert config["attrs"]["type"] == "application/json"
    return json.loads(config["text"])


def subscriptions_of(html):
    found = [s for s in scripts_in(html) if "data-pusherable-subscription" in s["attrs"]]
    for script in found:
        assert script["attrs"]["type"] == "application/json"
    return [json.loads(s["text"]) for s in found]


@pytest.fixture
def rf_request(rf: RequestFactory):
    request = rf.get("/page/")
    request.user = AnonymousUser()
    return request


# --- {% pusherable_script %} ---------------------------------------------------------

#: The configuration, pusher-js, and the files of SCRIPTS (the core's requests, the
#: core, the three files that plug into it, the four add-ons).
SCRIPT_TAGS = 2 + len(SCRIPTS)


def test_script_loads_pusher_js_then_pusherable_js(rf_request):
    scripts = scripts_in(render("{% pusherable_script %}", request=rf_request))
    assert [s["attrs"].get("src") for s in scripts] == [
        None,
        PUSHER_JS_URL,
        "/static/pusherable/pusherable-http.js",
        "/static/pusherable/pusherable.js",
        "/static/pusherable/pusherable-page.js",
        "/static/pusherable/pusherable-presence.js",
        "/static/pusherable/pusherable-guard.js",
        "/static/pusherable/pusherable-forms.js",
        "/static/pusherable/pusherable-catchup.js",
        "/static/pusherable/pusherable-fields.js",
        "/static/pusherable/pusherable-lock.js",
    ]
    # Executed in document order once the page is parsed, so subscriptions declared
    # anywhere in the body are already there when pusherable.js starts.
    assert all("defer" in s["attrs"] for s in scripts[1:])
    # From another origin, so pinned by its hash (tests/test_pusher_js.py).
    assert scripts[1]["attrs"]["integrity"] == PUSHER_JS_INTEGRITY
    assert scripts[1]["attrs"]["crossorigin"] == "anonymous"


@override_settings(
    PUSHERABLE_PUSHER_JS_URL="/static/vendor/pusher.min.js",
    PUSHERABLE_PUSHER_JS_INTEGRITY="sha384-abc+/=",
)
def test_script_uses_configured_url_with_sri(rf_request):
    pusher_js = scripts_in(render("{% pusherable_script %}", request=rf_request))[1]
    assert pusher_js["attrs"] == {
        "src": "/static/vendor/pusher.min.js",
        "integrity": "sha384-abc+/=",
        "crossorigin": "anonymous",
        "defer": None,
    }


def test_config_for_self_hosted_server(rf_request):
    # tests/settings.py: PUSHER_HOST 127.0.0.1, PUSHER_PORT 9, PUSHER_SSL False.
    config = config_of(render("{% pusherable_script %}", request=rf_request))
    assert config["key"] == "test-key"
    assert config["options"] == {
        "cluster": "mt1",
        "wsHost": "127.0.0.1",
        "wsPort": 9,
        "wssPort": 9,
        "forceTLS": False,
        "enabledTransports": ["ws", "wss"],
    }
    assert config["socketIdField"] == "pusherable_socket_id"
    assert config["socketIdHeader"] == "X-Socket-ID"
    assert config["user"] is None
    assert config["presenceGracePeriod"] == 3000


@override_settings(PUSHER_HOST=None, PUSHER_PORT=None, PUSHER_SSL=True, PUSHER_CLUSTER="eu")
def test_config_for_hosted_pusher():
    assert pusher_js_options() == {"cluster": "eu", "forceTLS": True}


@override_settings(
    PUSHER_HOST="pusher-api.internal",
    PUSHER_PORT=6001,
    PUSHER_SSL=True,
    PUSHERABLE_WS_HOST="ws.example.com",
    PUSHERABLE_WS_PORT=443,
    PUSHERABLE_JS_OPTIONS={"enabledTransports": ["ws"], "activityTimeout": 60000},
)
def test_browser_host_and_js_options_override():
    assert pusher_js_options() == {
        "cluster": "mt1",
        "wsHost": "ws.example.com",
        "wsPort": 443,
        "wssPort": 443,
        "forceTLS": True,
        "enabledTransports": ["ws"],
        "activityTimeout": 60000,
    }


@override_settings(PUSHERABLE_JS_OPTIONS=["not", "a", "dict"])
def test_js_options_must_be_a_dict():
    with pytest.raises(ConfigurationError, match="PUSHERABLE_JS_OPTIONS"):
        pusher_js_options()


@override_settings(PUSHERABLE_JS_OPTIONS={"bad": object()})
def test_unserializable_js_options_are_a_clear_error():
    with pytest.raises(ConfigurationError, match="JSON"):
        to_script_json(browser_config())


@override_settings(PUSHERABLE_PRESENCE_GRACE_PERIOD=0.5)
def test_grace_period_in_milliseconds():
    assert browser_config()["presenceGracePeriod"] == 500


@pytest.mark.urls("tests.urls_without_pusherable")
def test_endpoints_are_null_without_pusherable_urls(rf_request):
    config = config_of(render("{% pusherable_script %}", request=rf_request))
    assert config["endpoints"] == {
        "auth": None,
        "userAuth": None,
        "intent": None,
        "changes": None,
        "field": None,
        "lock": None,
    }


@pytest.mark.urls("tests.frontend_urls")
def test_endpoints_come_from_pusherable_urls(rf_request):
    config = config_of(render("{% pusherable_script %}", request=rf_request))
    assert config["endpoints"] == {
        "auth": "/pusherable/auth/",
        "userAuth": "/pusherable/user-auth/",
        "intent": "/pusherable/intent/",
        "changes": "/pusherable/changes/",
        "field": "/pusherable/field/",
        "lock": "/pusherable/lock/",
    }


def test_endpoints_follow_the_request_urlconf(rf_request):
    rf_request.urlconf = "tests.frontend_urls"
    config = config_of(render("{% pusherable_script %}", request=rf_request))
    assert config["endpoints"]["intent"] == "/pusherable/intent/"


def test_no_request_means_no_csrf_token_and_user_from_context():
    user = SimpleNamespace(
        is_authenticated=True, pk=7, get_username=lambda: "bob", get_full_name=lambda: ""
    )
    config = config_of(render("{% pusherable_script %}", {"user": user}))
    assert config["csrfToken"] is None
    assert config["user"] == {"id": "7", "username": "bob", "name": "bob"}


@pytest.mark.django_db
def test_current_user_in_config(rf_request):
    rf_request.user = get_user_model().objects.create_user(
        "alice", first_name="Alice", last_name="Liddell"
    )
    config = config_of(render("{% pusherable_script %}", request=rf_request))
    assert config["user"] == {
        "id": str(rf_request.user.pk),
        "username": "alice",
        "name": "Alice Liddell",
    }


@pytest.mark.django_db
@pytest.mark.urls("tests.frontend_urls")
def test_csrf_token_in_config_passes_django_csrf_check():
    article = Article.objects.create(title="Hello")
    client = Client(enforce_csrf_checks=True)
    page = client.get(f"/articles/{article.pk}/")
    config = config_of(page.content.decode())
    assert config["csrfToken"]

    refused = client.post("/pusherable/intent/", {"intent": "editing"})
    assert refused.status_code == 403
    accepted = client.post(
        "/pusherable/intent/",
        {"intent": "editing"},
        headers={"X-CSRFToken": config["csrfToken"], "X-Socket-ID": "1.2"},
    )
    assert accepted.status_code == 200
    assert accepted.json() == {"ok": True, "socket_id": "1.2"}


def test_script_renders_once_per_page(rf_request):
    html = render("{% pusherable_script %}{% pusherable_script %}", request=rf_request)
    assert len(scripts_in(html)) == SCRIPT_TAGS
    # A second template rendered for the same request (an include with "only", a
    # fragment) does not load the scripts again either.
    assert render("{% pusherable_script %}", request=rf_request) == ""


def test_script_renders_once_without_request():
    assert len(scripts_in(render("{% pusherable_script %}{% pusherable_script %}"))) == SCRIPT_TAGS


@pytest.mark.django_db
@pytest.mark.urls("tests.frontend_urls")
def test_script_once_across_includes_and_real_page():
    article = Article.objects.create(title="Hello")
    html = Client().get(f"/articles/{article.pk}/").content.decode()
    sources = [s["attrs"].get("src") for s in scripts_in(html)]
    assert sources.count("/static/pusherable/pusherable.js") == 1
    assert len([s for s in scripts_in(html) if s["attrs"].get("id") == "pusherable-config"]) == 1


# --- escaping ------------------------------------------------------------------------


def assert_only_expected_scripts(html, count):
    """Nothing hostile opened a script or an element of its own."""
    scripts = scripts_in(html)
    assert len(scripts) == count, html
    for script in scripts:
        assert "<" not in script["text"], script
        if script["attrs"].get("type") == "application/json":
            json.loads(script["text"])
    assert "<img" not in html


@pytest.mark.parametrize("hostile", HOSTILE_VARIANTS)
def test_hostile_settings_stay_inside_the_json(hostile, rf_request):
    with override_settings(
        PUSHER_KEY=hostile,
        PUSHER_CLUSTER=hostile,
        PUSHERABLE_SOCKET_ID_FIELD=hostile,
        PUSHERABLE_JS_OPTIONS={hostile: hostile},
    ):
        html = render("{% pusherable_script %}", request=rf_request)
    assert_only_expected_scripts(html, SCRIPT_TAGS)
    config = config_of(html)
    assert config["key"] == hostile
    assert config["options"]["cluster"] == hostile
    assert config["options"][hostile] == hostile
    assert config["socketIdField"] == hostile


@pytest.mark.parametrize("hostile", HOSTILE_VARIANTS)
def test_hostile_url_integrity_and_nonce_stay_in_attributes(hostile, rf_request):
    with override_settings(
        PUSHERABLE_PUSHER_JS_URL="https://cdn.example/" + hostile,
        PUSHERABLE_PUSHER_JS_INTEGRITY=hostile,
    ):
        html = render("{% pusherable_script nonce=n %}", {"n": hostile}, request=rf_request)
    scripts = scripts_in(html)
    assert len(scripts) == SCRIPT_TAGS
    assert scripts[1]["attrs"]["src"] == "https://cdn.example/" + hostile
    assert scripts[1]["attrs"]["integrity"] == hostile
    assert all(s["attrs"]["nonce"] == hostile for s in scripts)


@pytest.mark.parametrize("hostile", HOSTILE_VARIANTS)
def test_hostile_user_name_stays_inside_the_json(hostile, rf_request):
    rf_request.user = SimpleNamespace(
        is_authenticated=True,
        pk=hostile,
        get_username=lambda: hostile,
        get_full_name=lambda: hostile,
    )
    html = render("{% pusherable_script %}", request=rf_request)
    assert_only_expected_scripts(html, SCRIPT_TAGS)
    assert config_of(html)["user"] == {"id": hostile, "username": hostile, "name": hostile}


@pytest.mark.parametrize("hostile", HOSTILE_VARIANTS)
def test_hostile_event_name_and_pk_stay_inside_the_json(hostile, settings):
    settings.PUSHERABLE_INTENTS = ("viewing", hostile)
    document = Document(key=hostile)
    html = render(
        "{% pusherable_subscribe events doc %}{% pusherable_subscribe events doc intent=event %}",
        # A list, so that the spaces some variants contain do not split the name.
        {"events": [hostile], "event": hostile, "doc": document},
    )
    assert_only_expected_scripts(html, 2)
    first, second = subscriptions_of(html)
    assert first["events"] == [hostile]
    assert first["channels"][0].startswith("presence-document_")
    assert "<" not in first["channels"][0]
    assert second["intent"] == hostile


def test_free_text_pk_from_the_brief():
    html = render("{% pusherable_subscribe 'update' doc %}", {"doc": Document(key=HOSTILE)})
    [script] = scripts_in(html)
    assert script["text"].count("<") == 0
    [declaration] = subscriptions_of(html)
    assert declaration["channels"] == [
        "presence-document_=3C=2Fscript=3E=3Cscript=3Ealert=281=29=2F=2F"
    ]


# --- CSP nonce -----------------------------------------------------------------------


def test_nonce_argument_on_every_script(rf_request):
    html = render(
        "{% pusherable_script nonce='abc123' %}"
        "{% pusherable_subscribe 'update' a nonce='abc123' %}",
        {"a": Article(pk=1)},
        request=rf_request,
    )
    scripts = scripts_in(html)
    assert len(scripts) == SCRIPT_TAGS + 1
    assert [s["attrs"]["nonce"] for s in scripts] == ["abc123"] * (SCRIPT_TAGS + 1)


def test_nonce_from_request_csp_nonce(rf_request):
    rf_request.csp_nonce = "from-django-csp"
    html = render(
        "{% pusherable_script %}{% pusherable_subscribe 'update' a %}",
        {"a": Article(pk=1)},
        request=rf_request,
    )
    assert {s["attrs"]["nonce"] for s in scripts_in(html)} == {"from-django-csp"}


def test_nonce_from_context_variable():
    html = render(
        "{% pusherable_script %}{% pusherable_subscribe 'update' a %}",
        {"a": Article(pk=1), "csp_nonce": "ctx"},
    )
    assert {s["attrs"]["nonce"] for s in scripts_in(html)} == {"ctx"}


def test_no_nonce_attribute_without_a_nonce(rf_request):
    html = render("{% pusherable_script %}", request=rf_request)
    assert all("nonce" not in s["attrs"] for s in scripts_in(html))


# --- {% pusherable_subscribe %} -----------------------------------------------------------


def test_subscribe_declares_channel_and_events():
    html = render("{% pusherable_subscribe 'update' a %}", {"a": Article(pk=42)})
    assert subscriptions_of(html) == [
        {
            "channels": ["presence-article_42"],
            "events": ["update"],
            "intent": None,
            "callback": None,
            # The version the page holds; no view here, so no catch-up scope.
            "version": object_version(Article(pk=42)),
            "scope": None,
        }
    ]


def test_any_number_of_subscriptions_and_no_extra_scripts():
    html = render(
        "{% pusherable_subscribe 'update' a %}"
        "{% pusherable_subscribe 'update updated, deleted' b %}"
        "{% pusherable_subscribe '*' c callback='app.onEvent' %}",
        {"a": Article(pk=1), "b": Article(pk=2), "c": Document(key="x y")},
    )
    # Subscriptions never load pusher-js themselves: one connection per page.
    assert all("src" not in s["attrs"] for s in scripts_in(html))
    first, second, third = subscriptions_of(html)
    assert first["events"] == ["update"]
    assert second["events"] == ["update", "updated", "deleted"]
    assert second["channels"] == ["presence-article_2"]
    assert third == {
        "channels": ["presence-document_x=20y"],
        "events": "*",
        "intent": None,
        "callback": "app.onEvent",
        "version": object_version(Document(key="x y")),
        "scope": None,
    }


def test_events_as_a_list_variable():
    html = render(
        "{% pusherable_subscribe names a %}", {"names": ["a", "b", "a"], "a": Article(pk=1)}
    )
    assert subscriptions_of(html)[0]["events"] == ["a", "b"]


def test_intent_uses_a_presence_channel():
    html = render("{% pusherable_subscribe 'update' a intent='editing' %}", {"a": Article(pk=3)})
    [declaration] = subscriptions_of(html)
    assert declaration["channels"] == ["presence-article_3"]
    assert declaration["intent"] == "editing"


def test_channel_type_keyword():
    html = render(
        "{% pusherable_subscribe 'update' a channel_type='public' %}"
        "{% pusherable_subscribe 'update' a channel_type='presence' %}",
        {"a": Article(pk=3)},
    )
    assert [d["channels"] for d in subscriptions_of(html)] == [
        ["article_3"],
        ["presence-article_3"],
    ]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("'testapp.Article'", "private-article"),
        ("qs", "private-article"),
        ("view.model", "private-article"),
        ("a", "private-article"),
    ],
)
@pytest.mark.django_db
def test_model_channel_for_list_pages(model, expected):
    html = render(
        "{% pusherable_subscribe 'created deleted' model=" + model + " %}",
        {
            "qs": Article.objects.all(),
            "view": SimpleNamespace(model=Article),
            "a": Article(pk=5),
        },
    )
    assert subscriptions_of(html)[0]["channels"] == [expected]


class FakeView:
    def __init__(self, obj, channels=None):
        self.object = obj
        self._channels = channels

    def get_pusher_channels(self):
        return self._channels


def test_channel_comes_from_the_view():
    article = Article(pk=9)
    view = FakeView(article, ["presence-special_9", "private-special_9"])
    html = render(
        "{% pusherable_subscribe 'update' object %}"
        "{% pusherable_subscribe 'update' %}"
        "{% pusherable_subscribe 'update' object channel_type='private' %}"
        "{% pusherable_subscribe 'update' intent='editing' %}",
        {"view": view, "object": article},
    )
    assert [d["channels"] for d in subscriptions_of(html)] == [
        ["presence-special_9", "private-special_9"],
        ["presence-special_9", "private-special_9"],
        ["private-special_9"],
        ["presence-special_9"],
    ]


def test_other_objects_on_a_view_page_use_their_own_channel():
    view = FakeView(Article(pk=9), ["private-special_9"])
    html = render(
        "{% pusherable_subscribe 'update' other %}", {"view": view, "other": Article(pk=10)}
    )
    assert subscriptions_of(html)[0]["channels"] == ["presence-article_10"]


def test_view_without_get_pusher_channels_uses_its_object():
    view = SimpleNamespace(object=Article(pk=11))
    html = render("{% pusherable_subscribe 'update' %}", {"view": view})
    assert subscriptions_of(html)[0]["channels"] == ["presence-article_11"]


def test_view_channels_of_another_type_are_an_error_not_another_channel():
    view = FakeView(Article(pk=12), ["private-special_12"])
    with pytest.raises(TemplateSyntaxError, match="sends its events on private-special_12"):
        render("{% pusherable_subscribe 'update' intent='viewing' %}", {"view": view})


@pytest.mark.django_db
@pytest.mark.urls("tests.frontend_urls")
def test_real_detail_view_with_get_pusher_channels():
    article = Article.objects.create(title="Hello")
    html = Client().get(f"/custom/{article.pk}/").content.decode()
    first, second = subscriptions_of(html)
    assert first["channels"] == [f"presence-custom_{article.pk}", f"private-custom_{article.pk}"]
    assert first["events"] == ["update", "updated"]
    assert second["channels"] == [f"presence-custom_{article.pk}"]
    assert second["intent"] == "editing"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% pusherable_subscribe '' a %}", "at least one event"),
        ("{% pusherable_subscribe 'pusher:member_added' a %}", "reserved"),
        ("{% pusherable_subscribe 'pusherable:here' a %}", "reserved"),
        ("{% pusherable_subscribe long a %}", "200 characters"),
        ("{% pusherable_subscribe 'update' %}", "needs an object"),
        ("{% pusherable_subscribe 'update' 'text' %}", "model instance"),
        ("{% pusherable_subscribe 'update' a channel_type='secret' %}", "Unknown channel_type"),
        (
            "{% pusherable_subscribe 'update' a intent='editing' channel_type='private' %}",
            "presence",
        ),
        ("{% pusherable_subscribe 'update' a callback='alert(1)' %}", "global function"),
        ("{% pusherable_subscribe 'update' model='nope.Nope' %}", "not an installed model"),
        ("{% pusherable_subscribe 'update' unsaved %}", "no primary key"),
        ("{% pusherable_subscribe 'update' toolong %}", "164"),
    ],
)
def test_bad_arguments_are_clear_template_errors(source, message):
    context = {
        "a": Article(pk=1),
        "long": "x" * 201,
        "unsaved": Article(),
        "toolong": Document(key="k" * 200),
    }
    with pytest.raises(TemplateSyntaxError, match=message):
        render(source, context)
