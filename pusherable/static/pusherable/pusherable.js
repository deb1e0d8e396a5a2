/*
 * pusherable.js: the core of django-pusherable's browser side. It reads the page's
 * configuration (<script type="application/json" id="pusherable-config">), opens ONE
 * Pusher connection, subscribes channels (authorized through Django), delivers every
 * event to window.pusherable_notify(event, data, meta) or a subscription's callback
 * and as a "pusherable:notify" DOM event, and runs the plugins that the other files
 * of {% pusherable_script %} add with pusherable.use(plugin). The protocol's prefixes
 * come from config.protocol (pusherable/protocol_rules.py): no copy of them here.
 * Hooks and API: docs/reference/javascript.rst. Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  if (root.pusherable && root.pusherable.version) {
    return; // Loaded twice: the first copy owns the connection.
  }
  // pusherable-http.js hands its helpers over under this symbol (see that file for why).
  const http = root[Symbol.for('pusherable.http')];
  if (!http) {
    if (root.console) root.console.error('pusherable.js: load pusherable-http.js first.');
    return;
  }

  const VERSION = '1.0.0';
  const DEFAULT_CALLBACK = 'pusherable_notify';
  const DOM_EVENT = 'pusherable:notify';
  const CONFIG_ELEMENT_ID = 'pusherable-config';
  const DEFAULTS = { key: '', options: {}, endpoints: {}, csrfToken: null, socketIdHeader: 'X-Socket-ID', user: null };

  const document = root.document;
  const console = root.console;

  const state = {
    config: null,
    pusher: null,
    channels: new Map(), // channel name -> channel record
    keys: new Map(), // dedupe key of a declared subscription -> handle
    warned: new Set(),
    nextId: 1,
    plugins: [],
  };

  // --- helpers (pusherable.helpers: pusherable-page.js adds the DOM's) ------------------

  function parseJSON(text, fallback) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return fallback;
    }
  }

  const reasonFor = http.reasonFor;
  const errorData = http.errorData;

  function warnOnce(key, message) {
    if (state.warned.has(key)) return;
    state.warned.add(key);
    if (console) console.warn('pusherable: ' + message);
  }

  // --- the protocol's facts, from config.protocol ---------------------------------------

  function startsWithAny(name, prefixes) {
    return prefixes.some((prefix) => String(name).indexOf(prefix) === 0);
  }

  // "presence", "private" (encrypted ones too: both need an authorization) or "public".
  function channelType(name) {
    const prefixes = state.config.protocol.prefixes;
    if (startsWithAny(name, [prefixes.presence])) return 'presence';
    return startsWithAny(name, [prefixes.encrypted, prefixes.private]) ? 'private' : 'public';
  }

  // One object's channels differ only by their type prefix: "presence-article_7" and
  // "private-article_7" are both "article_7".
  function objectKey(name) {
    const text = String(name);
    let longest = '';
    for (const prefix of Object.values(state.config.protocol.prefixes)) {
      if (text.indexOf(prefix) === 0 && prefix.length > longest.length) longest = prefix;
    }
    return text.slice(longest.length);
  }

  function isLibraryEvent(event) {
    return startsWithAny(event, [state.config.protocol.libraryEventPrefix]);
  }

  function isProtocolEvent(event) {
    return startsWithAny(event, state.config.protocol.protocolEventPrefixes);
  }

  // --- notifications -----------------------------------------------------------------

  function resolveCallback(handler, quiet) {
    if (typeof handler === 'function') return handler;
    let target = root;
    for (const part of String(handler).split('.')) {
      target = target == null ? undefined : target[part];
    }
    if (typeof target === 'function') return target;
    if (quiet) return null;
    const advice = 'Define it, name another callback, or listen to the "' + DOM_EVENT + '" DOM event.';
    warnOnce('callback:' + handler, 'window.' + handler + ' is not a function: no events for it. ' + advice);
    return null;
  }

  // Calls each distinct handler once, then dispatches the DOM event once.
  function deliver(handlers, event, data, channel, quiet) {
    const meta = { channel: channel };
    for (const handler of handlers) {
      const callback = resolveCallback(handler, quiet);
      if (!callback) continue;
      try {
        callback.call(root, event, data, meta);
      } catch (error) {
        // One broken handler must not stop the others, nor the connection.
        if (console) console.error('pusherable: a handler failed on "' + event + '"', error);
      }
    }
    if (document && typeof root.CustomEvent === 'function') {
      document.dispatchEvent(
        new root.CustomEvent(DOM_EVENT, { detail: { event: event, data: data, channel: channel } })
      );
    }
  }

  function notifyPage(event, data) {
    // Page-wide events go to the default callback only, and silently when it is missing.
    deliver([DEFAULT_CALLBACK], event, data, data ? data.channel || null : null, true);
  }

  function handlersOf(record, event) {
    const handlers = new Set();
    for (const sub of record.subscriptions) {
      if (event === undefined || sub.events === '*' || sub.events.indexOf(event) !== -1) {
        handlers.add(sub.callback || DEFAULT_CALLBACK);
      }
    }
    return handlers;
  }

  function notifyChannel(record, event, data, quiet) {
    deliver(handlersOf(record), event, data, record.name, Boolean(quiet));
  }

  // --- HTTP (pusherable-http.js makes the requests) ------------------------------------

  function socketId() {
    const pusher = state.pusher;
    if (!pusher || pusher.connection.state !== 'connected') return null;
    return pusher.connection.socket_id || null;
  }

  function headers(extra) {
    const result = Object.assign({}, extra);
    const id = socketId();
    if (id) result[(state.config || DEFAULTS).socketIdHeader] = id;
    return result;
  }

  // A POST with the CSRF token and the socket id; extra: {params, headers} to add.
  function post(url, fields, extra) {
    const options = extra || {};
    const defaults = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    const requestHeaders = headers(Object.assign(defaults, options.headers));
    if (state.config.csrfToken) requestHeaders['X-CSRFToken'] = state.config.csrfToken;
    return http.request(url, { method: 'POST', headers: requestHeaders, body: http.formBody(fields, options.params) });
  }

  function getJSON(url, params) {
    return http.request(http.withQuery(url, params), { method: 'GET', headers: headers({ Accept: 'application/json' }) });
  }

  // pusher-js calls this instead of its own XHR: the request then carries the CSRF
  // token, the socket id, and what the plugins add (presence: this page's intent).
  function authorizeChannel(params, callback) {
    const record = state.channels.get(params.channelName);
    const fields = { socket_id: params.socketId, channel_name: params.channelName };
    runPlugins('authorize', params.channelName, fields);
    post(state.config.endpoints.auth, fields, state.authOptions).then(
      (json) => callback(null, json),
      (error) => {
        if (record) record.authFailure = { status: error.status, message: error.message };
        callback(error, null);
      }
    );
  }

  function authenticateUser(params, callback) {
    post(state.config.endpoints.userAuth, { socket_id: params.socketId }, state.userOptions).then(
      (json) => callback(null, json),
      (error) => callback(error, null)
    );
  }

  // --- channels ----------------------------------------------------------------------

  function onChannelEvent(record, event, data) {
    if (event === 'pusher:subscription_succeeded') return subscribed(record, data);
    if (event === 'pusher:subscription_error') return subscriptionFailed(record, data);
    // The server's own events (only the server can send them: client events start
    // with "client-"), then the protocol's: never delivered as ordinary events.
    if (isLibraryEvent(event)) return runPlugins('server', record.name, event, data);
    if (isProtocolEvent(event)) return runPlugins('protocol', record.name, event, data);
    const handlers = handlersOf(record, event);
    if (handlers.size) deliver(handlers, event, data, record.name, false);
    // Add-ons (the live merge of edit forms) act before the guard's check, so that
    // the handlers of pusherable:conflict see the form as merged.
    runPlugins('event', record.name, event, data);
    runPlugins('check', record.name, event, data);
  }

  function subscribed(record, data) {
    record.subscribed = true;
    record.authFailure = null;
    notifyChannel(record, 'pusherable:subscribed', { channel: record.name });
    runPlugins('subscribed', record.name, data);
  }

  function subscriptionFailed(record, data) {
    const failure = record.authFailure || {};
    record.authFailure = null;
    const status = failure.status || (data && data.status);
    const message = failure.message || (data && data.error) || 'Subscription refused.';
    notifyChannel(record, 'pusherable:error', errorData(record.name, 'subscribe', { status: status, message: message }));
  }

  function channelRecord(name) {
    let record = state.channels.get(name);
    if (record) return record;
    const type = channelType(name);
    record = { name: name, type: type, channel: null, subscriptions: new Set(), subscribed: false, skipped: false, authFailure: null };
    state.channels.set(name, record);
    if (type !== 'public' && !state.config.endpoints.auth) {
      record.skipped = true;
      warnOnce(
        'skip:' + name,
        'not subscribing to ' + name + ': ' + type + ' channels need the authorization ' +
          'endpoint; include pusherable.urls in your URLconf.'
      );
    }
    return record;
  }

  function connectChannel(record) {
    if (record.skipped || record.channel) return;
    record.channel = state.pusher.subscribe(record.name);
    record.listener = (event, data) => onChannelEvent(record, event, data);
    record.channel.bind_global(record.listener);
  }

  function parseEvents(events) {
    if (events === '*') return '*';
    const list = Array.isArray(events) ? events : String(events || '').split(/[\s,]+/);
    const names = list.map(String).filter(Boolean);
    return names.indexOf('*') !== -1 ? '*' : names;
  }

  function subscribe(spec) {
    if (!state.pusher) throw new Error('pusherable: call pusherable.start() first.');
    const channels = (spec.channels || (spec.channel ? [spec.channel] : [])).map(String);
    const events = parseEvents(spec.events);
    if (!channels.length || !events.length) {
      throw new Error('pusherable: a subscription needs channels and events.');
    }
    const callback = spec.callback || null;
    const intent = spec.intent || null;
    const key = typeof callback === 'function' ? null : JSON.stringify([channels, events, callback, intent]);
    if (key && state.keys.has(key)) return state.keys.get(key); // the same tag rendered twice
    const sub = { id: state.nextId++, channels: channels, events: events, callback: callback };
    const handle = {
      id: sub.id,
      channels: channels.slice(),
      events: events === '*' ? '*' : events.slice(),
      unsubscribe: () => unsubscribe(sub, handle, key),
    };
    if (key) state.keys.set(key, handle);
    for (const name of channels) {
      const record = channelRecord(name);
      const handler = callback || DEFAULT_CALLBACK;
      const alreadyServed = handlersOf(record).has(handler);
      record.subscriptions.add(sub);
      if (record.skipped) {
        const message = 'pusherable.urls is not included, so ' + name + ' cannot be authorized.';
        deliver([handler], 'pusherable:error', errorData(name, 'subscribe', { message: message }, 'no_auth_endpoint'), name, false);
        continue;
      }
      const declaration = { intent: intent, events: handle.events, callback: callback, version: spec.version, scope: spec.scope };
      runPlugins('declare', name, declaration);
      connectChannel(record);
      // Declared after the channel was joined (e.g. added to the page later):
      // catch this handler up on what the others already heard.
      if (record.subscribed && !alreadyServed) {
        deliver([handler], 'pusherable:subscribed', { channel: name }, name, false);
        runPlugins('late', name, handler);
      }
    }
    return handle;
  }

  function unsubscribe(sub, handle, key) {
    if (key && state.keys.get(key) === handle) state.keys.delete(key);
    for (const name of sub.channels) {
      const record = state.channels.get(name);
      if (!record || !record.subscriptions.delete(sub) || record.subscriptions.size) continue;
      // Nobody on the page listens any more: leave the channel.
      runPlugins('unsubscribed', name);
      if (record.channel) {
        record.channel.unbind_global(record.listener);
        state.pusher.unsubscribe(name);
      }
      state.channels.delete(name);
    }
  }

  // --- the connection ----------------------------------------------------------------

  // Subscriptions declared in the page, forms and the like: pusherable-page.js, add-ons.
  function scan(node) {
    if (state.pusher) runPlugins('scan', node || document);
  }

  function onStateChange(change) {
    if (change.current !== 'connected') {
      for (const record of state.channels.values()) record.subscribed = false;
    }
    notifyPage('pusherable:state', { previous: change.previous, current: change.current, socketId: socketId() });
    runPlugins('state', { previous: change.previous, current: change.current });
  }

  function onConnectionError(error) {
    // pusher-js reports a pusher:error message as {type: 'PusherError', data: {code, message}}.
    const data = (error && (error.data || (error.error && error.error.data))) || {};
    const message = data.message || (error && error.type) || 'Connection error.';
    notifyPage('pusherable:error', errorData(null, 'connection', { status: data.code, message: message }, 'connection'));
  }

  // --- plugins -----------------------------------------------------------------------

  function runPlugins(hook) {
    const args = Array.prototype.slice.call(arguments, 1);
    for (const plugin of state.plugins) {
      if (typeof plugin[hook] !== 'function') continue;
      try {
        plugin[hook].apply(plugin, args);
      } catch (error) {
        if (console) console.error('pusherable: add-on "' + (plugin.name || '?') + '" failed in ' + hook, error);
      }
    }
  }

  function channelInfo(record) {
    return { name: record.name, type: record.type, key: objectKey(record.name), subscribed: record.subscribed, skipped: record.skipped };
  }

  function withRecord(name, action) {
    const record = state.channels.get(name);
    return record ? action(record) : undefined;
  }

  // What a plugin may do: read the channels, deliver events as if they came from the
  // server, and make requests like this file does.
  const host = {
    get config() { return state.config; },
    channels: () => Array.from(state.channels.values(), channelInfo),
    channel: (name) => withRecord(name, channelInfo) || null,
    // An event of the channel, as if it had come from the server: the page's handlers,
    // the add-ons, the guard's check.
    dispatch: (name, event, data) => withRecord(name, (record) => onChannelEvent(record, event, data)),
    // A pusherable:* event for every handler of the channel, and the add-ons.
    emit: (name, event, data) =>
      withRecord(name, (record) => {
        notifyChannel(record, event, data, true);
        runPlugins('event', record.name, event, data);
      }),
    // An event for the channel's handlers only; quiet: no warning for a missing callback.
    notify: (name, event, data, quiet) => withRecord(name, (record) => notifyChannel(record, event, data, quiet)),
    deliverTo: (handler, name, event, data) => deliver([handler], event, data, name, false),
    // The guard's check of an event, without delivering it (a catch-up's summary).
    checkConflict: (name, event, data) => runPlugins('check', name, event, data),
    // Another hook of every plugin: presence runs "presence" after here/joined/left.
    run: runPlugins,
    getJSON: getJSON,
    // A POST with the CSRF token and the socket id, as the library's own requests.
    post: (url, fields) => post(url, fields),
    socketId: socketId,
    reasonFor: reasonFor,
  };

  function use(plugin) {
    if (!plugin || state.plugins.indexOf(plugin) !== -1) return api;
    state.plugins.push(plugin);
    if (state.pusher) {
      // Loaded after the page started: catch up on the start and the first scan.
      try {
        if (typeof plugin.start === 'function') plugin.start(host);
        if (typeof plugin.scan === 'function' && document) plugin.scan(document);
      } catch (error) {
        if (console) console.error('pusherable: add-on "' + (plugin.name || '?') + '" failed to start', error);
      }
    }
    return api;
  }

  // --- start ---------------------------------------------------------------------------

  function refuse(reason, message) {
    if (console) console.error('pusherable: ' + message);
    notifyPage('pusherable:error', errorData(null, 'connection', { message: message }, reason));
    return api;
  }

  function start(config) {
    if (state.pusher) return api;
    const settings = Object.assign({}, DEFAULTS, config);
    settings.endpoints = Object.assign({}, DEFAULTS.endpoints, settings.endpoints);
    state.config = settings;
    const protocol = settings.protocol;
    if (!protocol || !protocol.prefixes || !Array.isArray(protocol.protocolEventPrefixes) || !protocol.libraryEventPrefix) {
      state.config = null;
      return refuse('configuration', 'the configuration has no "protocol": render it with {% pusherable_script %} ' +
        'or pusherable.page_config.browser_config().');
    }
    if (typeof root.Pusher !== 'function') {
      return refuse('pusher_js_missing', 'pusher-js is not loaded (check PUSHERABLE_PUSHER_JS_URL).');
    }
    const options = Object.assign({}, settings.options);
    state.authOptions = Object.assign({}, options.channelAuthorization);
    state.userOptions = Object.assign({}, options.userAuthentication);
    // pusher-js calls the handlers instead of its own XHR (transport and endpoint unused).
    const handler = (endpoint, customHandler) => ({ endpoint: endpoint || '', transport: 'ajax', customHandler: customHandler });
    options.channelAuthorization = Object.assign({}, state.authOptions, handler(settings.endpoints.auth, authorizeChannel));
    options.userAuthentication = Object.assign({}, state.userOptions, handler(settings.endpoints.userAuth, authenticateUser));
    state.pusher = new root.Pusher(settings.key, options);
    runPlugins('start', host);
    state.pusher.connection.bind('state_change', onStateChange);
    state.pusher.connection.bind('error', onConnectionError);
    scan(document);
    return api;
  }

  function readConfig() {
    const element = document && document.getElementById(CONFIG_ELEMENT_ID);
    const config = element ? parseJSON(element.textContent, null) : null;
    if (element && !config && console) console.error('pusherable: unreadable configuration');
    return config;
  }

  const api = {
    version: VERSION,
    get config() { return state.config; },
    get pusher() { return state.pusher; },
    start: start,
    subscribe: subscribe,
    use: use,
    scan: scan,
    socketId: socketId,
    headers: headers,
    state: () => (state.pusher ? state.pusher.connection.state : 'uninitialized'),
    signin: () => {
      if (!state.pusher || !state.config.endpoints.userAuth) return false;
      state.pusher.signin();
      return true;
    },
    disconnect: () => {
      if (state.pusher) state.pusher.disconnect();
    },
    http: http,
    helpers: { parseJSON: parseJSON, reasonFor: reasonFor, errorData: errorData },
  };
  root.pusherable = api;

  // Deferred scripts run in order once the page is parsed (readyState "interactive"),
  // then DOMContentLoaded fires: by then every file of {% pusherable_script %} has
  // plugged in. A script added after that boots on "load", or at once.
  let booted = false;
  function boot() {
    if (booted) return;
    booted = true;
    const config = readConfig();
    if (config) start(config);
  }

  if (document && document.readyState !== 'complete') {
    document.addEventListener('DOMContentLoaded', boot);
    root.addEventListener('load', boot);
  } else {
    boot();
  }
})(typeof window !== 'undefined' ? window : this);
