// Test doubles for pusherable.js, for what the live tests (tests/live/test_core_browser.py:
// real pusher-js, Django and the Pusher servers, in Chromium) cannot make happen on cue:
// a minimal DOM, a fake pusher-js, a manual clock and a scripted fetch. load() runs the
// real static files in a fresh VM context wired to them, so each test starts from an
// empty page.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const STATIC_DIR = path.join(__dirname, '..', '..', 'pusherable', 'static', 'pusherable');
// The files {% pusherable_script %} loads before the add-ons, in its order.
const CORE = ['pusherable.js', 'pusherable-page.js', 'pusherable-presence.js', 'pusherable-guard.js'];
const SOURCES = new Map();

function source(name) {
  if (!SOURCES.has(name)) SOURCES.set(name, fs.readFileSync(path.join(STATIC_DIR, name), 'utf8'));
  return SOURCES.get(name);
}

// --- DOM -------------------------------------------------------------------------

class FakeElement {
  constructor(document, tagName) {
    this.ownerDocument = document;
    this.nodeType = 1;
    this.tagName = tagName.toUpperCase();
    this.attributes = new Map();
    this.children = [];
    this.parentNode = null;
    this.textContent = '';
    this.value = '';
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  get name() {
    return this.getAttribute('name') || '';
  }

  set name(value) {
    this.setAttribute('name', value);
  }

  get type() {
    return this.getAttribute('type') || '';
  }

  set type(value) {
    this.setAttribute('type', value);
  }

  appendChild(child) {
    if (child.parentNode) child.parentNode.removeChild(child);
    child.parentNode = this;
    this.children.push(child);
    return child;
  }

  insertBefore(child, reference) {
    if (child.parentNode) child.parentNode.removeChild(child);
    const index = this.children.indexOf(reference);
    child.parentNode = this;
    if (index === -1) this.children.push(child);
    else this.children.splice(index, 0, child);
    return child;
  }

  get firstChild() {
    return this.children[0] || null;
  }

  addEventListener(type, listener) {
    if (!this.listeners) this.listeners = [];
    this.listeners.push({ type, listener });
  }

  click() {
    for (const { type, listener } of this.listeners || []) {
      if (type === 'click') listener({ type: 'click', target: this });
    }
  }

  // The text of this element and its descendants, as the DOM's textContent reads it.
  allText() {
    return [this.textContent, ...this.children.map((child) => child.allText())].join(' ').trim();
  }

  removeChild(child) {
    this.children = this.children.filter((node) => node !== child);
    child.parentNode = null;
    return child;
  }

  querySelectorAll(tag) {
    const wanted = tag.toUpperCase();
    const found = [];
    const walk = (node) => {
      for (const child of node.children) {
        if (child.tagName === wanted) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }
}

class FakeDocument {
  constructor() {
    this.readyState = 'complete';
    this.visibilityState = 'visible';
    this.baseURI = 'http://testserver/page/';
    this.listeners = [];
    this.dispatched = [];
    this.documentElement = new FakeElement(this, 'html');
    this.body = this.documentElement.appendChild(new FakeElement(this, 'body'));
  }

  createElement(tag) {
    return new FakeElement(this, tag);
  }

  getElementById(id) {
    return this.all().find((el) => el.getAttribute('id') === id) || null;
  }

  querySelectorAll(tag) {
    const wanted = tag.toUpperCase();
    return this.all().filter((el) => el.tagName === wanted);
  }

  all() {
    const found = [];
    const walk = (node) => {
      for (const child of node.children) {
        found.push(child);
        walk(child);
      }
    };
    walk(this.documentElement);
    return found;
  }

  addEventListener(type, listener) {
    this.listeners.push({ type, listener });
  }

  dispatchEvent(event) {
    this.dispatched.push(event);
    for (const { type, listener } of this.listeners) {
      if (type === event.type) listener(event);
    }
    return true;
  }

}

class FakeCustomEvent {
  constructor(type, init) {
    this.type = type;
    this.detail = init && init.detail;
  }
}

// Builds an element: h('form', {method: 'post'}, [children]) or h('script', {...}, 'text').
function h(document, tag, attributes, content) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
  if (typeof content === 'string') element.textContent = content;
  for (const child of Array.isArray(content) ? content : []) element.appendChild(child);
  return element;
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
  constructor(pusher, name) {
    this.pusher = pusher;
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

  emit(event, data) {
    for (const callback of this.globalCallbacks.slice()) callback(event, data);
  }

  // What the server (through pusher-js) does:

  succeed(presence) {
    if (!presence) {
      this.emit('pusher:subscription_succeeded', {});
      return;
    }
    this.members.reset();
    for (const [id, info] of Object.entries(presence.members)) this.members.members[id] = info;
    this.members.me = this.members.get(presence.me);
    this.emit('pusher:subscription_succeeded', this.members);
  }

  memberAdded(id, info) {
    this.members.members[id] = info || {};
    this.emit('pusher:member_added', this.members.get(id));
  }

  memberRemoved(id) {
    const member = this.members.get(id);
    if (!member) return;
    delete this.members.members[id];
    this.emit('pusher:member_removed', member);
  }

  trigger(event, data) {
    this.emit(event, data);
  }

  fail(data) {
    this.emit('pusher:subscription_error', data);
  }
}

class FakeConnection {
  constructor() {
    this.state = 'initialized';
    this.socket_id = undefined;
    this.callbacks = [];
  }

  bind(event, callback) {
    this.callbacks.push({ event, callback });
  }

  emit(event, data) {
    for (const binding of this.callbacks) if (binding.event === event) binding.callback(data);
  }

  setState(current) {
    const previous = this.state;
    this.state = current;
    this.emit('state_change', { previous, current });
  }
}

function makeFakePusher() {
  return class FakePusher {
    constructor(key, options) {
      FakePusher.instances.push(this);
      this.key = key;
      this.options = options;
      this.connection = new FakeConnection();
      this.channels = new Map();
      this.subscribeCalls = [];
    }

    subscribe(name) {
      this.subscribeCalls.push(name);
      if (!this.channels.has(name)) this.channels.set(name, new FakeChannel(this, name));
      return this.channels.get(name);
    }

    unsubscribe(name) {
      this.channels.delete(name);
    }

    channel(name) {
      return this.channels.get(name);
    }

    disconnect() {
      this.connection.setState('disconnected');
    }

    // Test controls:

    connect(socketId) {
      this.connection.socket_id = socketId;
      this.connection.setState('connecting');
      this.connection.setState('connected');
    }

    drop() {
      for (const channel of this.channels.values()) channel.members.reset();
      this.connection.setState('connecting');
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
  return h(
    document,
    'script',
    { type: 'application/json', 'data-pusherable-subscription': '' },
    JSON.stringify(declaration)
  );
}

// Copies data across the VM boundary so that deepStrictEqual compares plain values.
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

function load(options = {}) {
  const document = new FakeDocument();
  const clock = new Clock();
  const FakePusher = makeFakePusher();
  FakePusher.instances = [];
  const notifications = [];
  const warnings = [];
  const errors = [];
  const fetchCalls = [];
  const navigations = [];
  const config = options.config === undefined ? CONFIG : options.config;

  if (config !== null) {
    document.body.appendChild(
      h(document, 'script', { type: 'application/json', id: 'pusherable-config' }, JSON.stringify(config))
    );
  }
  for (const build of options.body || []) {
    document.body.appendChild(typeof build === 'function' ? build(document) : subscriptionElement(document, build));
  }

  const windowListeners = [];
  const window = {
    document,
    Date: { now: () => clock.now },
    addEventListener: (type, listener) => windowListeners.push({ type, listener }),
    console: {
      warn: (...args) => warnings.push(args.join(' ')),
      error: (...args) => errors.push(args.map(String).join(' ')),
      log: () => {},
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    URL,
    URLSearchParams,
    CustomEvent: FakeCustomEvent,
    fetch: makeFetch(fetchCalls, options.respond || (() => null)),
    location: {
      href: 'http://testserver/page/',
      origin: 'http://testserver',
      assign: (url) => navigations.push(url),
    },
  };
  if (!options.noPusher) window.Pusher = FakePusher;
  if (options.notify !== false) {
    window.pusherable_notify = (event, data, meta) => {
      notifications.push({ event, data: plain(data), channel: meta.channel });
    };
  }
  window.window = window;
  vm.createContext(window);
  // Deferred scripts, as {% pusherable_script %} loads them: they run in order once the
  // page is parsed ("interactive"), then DOMContentLoaded starts the page.
  document.readyState = 'interactive';
  for (const name of CORE.concat(options.addons || [])) {
    vm.runInContext(source(name), window, { filename: name });
  }
  document.dispatchEvent({ type: 'DOMContentLoaded' });

  return {
    window,
    document,
    clock,
    FakePusher,
    pusher: FakePusher.instances[0],
    notifications,
    warnings,
    errors,
    fetchCalls,
    navigations,
    api: window.pusherable,
    h: (tag, attributes, content) => h(document, tag, attributes, content),
    subscription: (declaration) => subscriptionElement(document, declaration),
    // Notifications with this event name (all of them without a name).
    events(name) {
      return notifications.filter((n) => name === undefined || n.event === name);
    },
    // A window event: "online", "offline".
    fire(type) {
      for (const { type: wanted, listener } of windowListeners) if (wanted === type) listener({ type });
    },
    // The tab goes to the background or comes back.
    setVisibility(visibility) {
      document.visibilityState = visibility;
      document.dispatchEvent({ type: 'visibilitychange' });
    },
    // Lets promises and mutation observers run.
    async settle() {
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

module.exports = { CONFIG, load, plain };
