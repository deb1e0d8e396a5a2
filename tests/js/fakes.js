// The Node tests' page: jsdom (a real DOM), and doubles for what the live tests
// (tests/live/test_core_browser.py: real pusher-js, Django and the Pusher servers, in
// Chromium) cannot make happen on cue: a fake pusher-js, a manual clock and a scripted
// fetch. load() runs the real static files in a fresh jsdom window wired to them, in
// the order {% pusherable_script %} loads them, so each test starts from a new page.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { JSDOM, VirtualConsole } = require('jsdom');

const STATIC_DIR = path.join(__dirname, '..', '..', 'pusherable', 'static', 'pusherable');
// The files {% pusherable_script %} loads before the add-ons, in its order.
const CORE = ['pusherable-http.js', 'pusherable.js', 'pusherable-page.js', 'pusherable-presence.js', 'pusherable-guard.js'];
const SOURCES = new Map();

function source(name) {
  if (!SOURCES.has(name)) SOURCES.set(name, fs.readFileSync(path.join(STATIC_DIR, name), 'utf8'));
  return SOURCES.get(name);
}

// Builds an element: h(document, 'form', {method: 'post'}, [children]) or (..., 'text').
function h(document, tag, attributes, content) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
  if (typeof content === 'string') element.textContent = content;
  for (const child of Array.isArray(content) ? content : []) element.appendChild(child);
  return element;
}

// The text of a node, its elements' texts separated by spaces.
function allText(node) {
  const parts = Array.from(node.childNodes, (child) => (child.nodeType === 1 ? allText(child) : child.textContent));
  return parts.join(' ').trim();
}

// --- clock -----------------------------------------------------------------------

class Clock {
  constructor() {
    this.now = 0;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (callback, delay) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.now + (delay || 0), callback });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
  }

  tick(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next[1].at)) next = [id, timer];
      }
      if (next === null) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].callback();
    }
    this.now = end;
  }
}

// --- pusher-js -------------------------------------------------------------------

class FakeMembers {
  constructor() {
    this.reset();
  }

  reset() {
    this.members = {};
    this.me = null;
  }

  get(id) {
    return Object.prototype.hasOwnProperty.call(this.members, id) ? { id, info: this.members[id] } : null;
  }

  each(callback) {
    for (const id of Object.keys(this.members)) callback(this.get(id));
  }
}

class FakeChannel {
  constructor(name) {
    this.name = name;
    this.globalCallbacks = [];
    this.members = new FakeMembers(); // used on presence channels only
  }

  bind_global(callback) {
    this.globalCallbacks.push(callback);
  }

  unbind_global(callback) {
    this.globalCallbacks = this.globalCallbacks.filter((fn) => fn !== callback);
  }

  // What the server (through pusher-js) does:

  trigger(event, data) {
    for (const callback of this.globalCallbacks.slice()) callback(event, data);
  }

  succeed(presence) {
    if (!presence) {
      this.trigger('pusher:subscription_succeeded', {});
      return;
    }
    this.members.reset();
    for (const [id, info] of Object.entries(presence.members)) this.members.members[id] = info;
    this.members.me = this.members.get(presence.me);
    this.trigger('pusher:subscription_succeeded', this.members);
  }

  memberAdded(id, info) {
    this.members.members[id] = info || {};
    this.trigger('pusher:member_added', this.members.get(id));
  }

  memberRemoved(id) {
    const member = this.members.get(id);
    if (!member) return;
    delete this.members.members[id];
    this.trigger('pusher:member_removed', member);
  }

  fail(data) {
    this.trigger('pusher:subscription_error', data);
  }
}

function makeFakePusher() {
  return class FakePusher {
    constructor(key, options) {
      FakePusher.instances.push(this);
      this.key = key;
      this.options = options;
      this.channels = new Map();
      this.subscribeCalls = [];
      const bindings = [];
      this.connection = {
        state: 'initialized',
        socket_id: undefined,
        bind: (event, callback) => bindings.push({ event, callback }),
        emit: (event, data) => {
          for (const binding of bindings) if (binding.event === event) binding.callback(data);
        },
      };
    }

    subscribe(name) {
      this.subscribeCalls.push(name);
      if (!this.channels.has(name)) this.channels.set(name, new FakeChannel(name));
      return this.channels.get(name);
    }

    unsubscribe(name) {
      this.channels.delete(name);
    }

    channel(name) {
      return this.channels.get(name);
    }

    // Test controls:

    setState(current) {
      const previous = this.connection.state;
      this.connection.state = current;
      this.connection.emit('state_change', { previous, current });
    }

    connect(socketId) {
      this.connection.socket_id = socketId;
      this.setState('connecting');
      this.setState('connected');
    }

    drop() {
      for (const channel of this.channels.values()) channel.members.reset();
      this.setState('connecting');
    }

    // Runs the channel authorizer pusher-js was given, as pusher-js does on subscribe.
    authorize(channelName) {
      return new Promise((resolve) => {
        this.options.channelAuthorization.customHandler(
          { socketId: this.connection.socket_id, channelName },
          (error, data) => resolve({ error, data })
        );
      });
    }
  };
}

// --- fetch -----------------------------------------------------------------------

function makeFetch(calls, respond) {
  return async (url, init) => {
    const headers = Object.assign({}, init.headers);
    const form = Object.fromEntries(new URLSearchParams(init.body));
    const query = Object.fromEntries(new URL(url, 'http://testserver/').searchParams);
    calls.push({ url, method: init.method, headers, form, query, credentials: init.credentials });
    const answer = (await respond(url, form, query)) || { status: 200, body: { ok: true } };
    if (answer.networkError) throw new Error(answer.networkError);
    return {
      ok: answer.status >= 200 && answer.status < 300,
      status: answer.status,
      json: async () => {
        if (answer.body === undefined) throw new SyntaxError('not JSON');
        return answer.body;
      },
    };
  };
}

// --- loading pusherable.js ------------------------------------------------------------

const CONFIG = {
  key: 'test-key',
  options: { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: 6001, wssPort: 6001, forceTLS: false },
  endpoints: {
    auth: '/pusherable/auth/',
    userAuth: '/pusherable/user-auth/',
    intent: '/pusherable/intent/',
    changes: '/pusherable/changes/',
  },
  csrfToken: 'csrf-token',
  socketIdField: 'pusherable_socket_id',
  socketIdHeader: 'X-Socket-ID',
  user: { id: '1', username: 'alice', name: 'Alice' },
  presenceGracePeriod: 3000,
  // pusherable.protocol_rules.browser_rules(), passed by tests/test_javascript.py; the
  // same values when the tests run on their own (node --test tests/js/).
  protocol: process.env.PUSHERABLE_PROTOCOL
    ? JSON.parse(process.env.PUSHERABLE_PROTOCOL)
    : {
        prefixes: { private: 'private-', presence: 'presence-', encrypted: 'private-encrypted-' },
        protocolEventPrefixes: ['pusher:', 'pusher_internal:'],
        libraryEventPrefix: 'pusherable:',
        clientEventPrefix: 'client-',
      },
};

function subscriptionElement(document, declaration) {
  const attributes = { type: 'application/json', 'data-pusherable-subscription': '' };
  return h(document, 'script', attributes, JSON.stringify(declaration));
}

// Copies data across the window boundary so that deepStrictEqual compares plain values.
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

function load(options = {}) {
  const clock = new Clock();
  const FakePusher = makeFakePusher();
  FakePusher.instances = [];
  const notifications = [];
  const dispatched = [];
  const warnings = [];
  const errors = [];
  const fetchCalls = [];
  const navigations = [];
  const config = options.config === undefined ? CONFIG : options.config;

  const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
    url: 'http://testserver/page/',
    runScripts: 'outside-only',
    virtualConsole: new VirtualConsole(),
  });
  const window = dom.window;
  const document = window.document;
  // Deferred scripts run once the page is parsed ("interactive"); the tab is visible.
  let readyState = 'interactive';
  let visibility = 'visible';
  Object.defineProperty(document, 'readyState', { configurable: true, get: () => readyState });
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });

  if (config !== null) {
    const attributes = { type: 'application/json', id: 'pusherable-config' };
    document.body.appendChild(h(document, 'script', attributes, JSON.stringify(config)));
  }
  for (const build of options.body || []) {
    document.body.appendChild(typeof build === 'function' ? build(document) : subscriptionElement(document, build));
  }
  document.addEventListener('pusherable:notify', (event) => dispatched.push(plain(event.detail)));

  window.Date.now = () => clock.now;
  Object.assign(window, {
    console: {
      warn: (...args) => warnings.push(args.join(' ')),
      error: (...args) => errors.push(args.map(String).join(' ')),
      log: () => {},
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    fetch: makeFetch(fetchCalls, options.respond || (() => null)),
  });
  if (!options.noPusher) window.Pusher = FakePusher;
  if (options.notify !== false) {
    window.pusherable_notify = (event, data, meta) => {
      notifications.push({ event, data: plain(data), channel: meta.channel });
    };
  }
  for (const name of (options.core || CORE).concat(options.addons || [])) {
    window.eval(source(name) + '\n//# sourceURL=' + name);
  }
  const api = window.pusherable;
  // jsdom does not navigate: the helper every "Reload" button calls records instead.
  if (api && api.helpers && api.helpers.reload) api.helpers.reload = () => navigations.push(window.location.href);
  document.dispatchEvent(new window.Event('DOMContentLoaded'));
  readyState = 'complete';

  return {
    window,
    document,
    clock,
    FakePusher,
    pusher: FakePusher.instances[0],
    notifications,
    dispatched,
    warnings,
    errors,
    fetchCalls,
    navigations,
    api,
    h: (tag, attributes, content) => h(document, tag, attributes, content),
    subscription: (declaration) => subscriptionElement(document, declaration),
    // Notifications with this event name (all of them without a name).
    events(name) {
      return notifications.filter((n) => name === undefined || n.event === name);
    },
    // A window event: "online", "offline".
    fire(type) {
      window.dispatchEvent(new window.Event(type));
    },
    // The tab goes to the background or comes back.
    setVisibility(state) {
      visibility = state;
      document.dispatchEvent(new window.Event('visibilitychange'));
    },
    // Lets promises and mutation observers run.
    async settle() {
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

module.exports = { CORE, CONFIG, allText, load, plain };
