/*
 * pusherable.js: the browser side of django-pusherable.
 *
 * Loaded by {% pusherable_script %} after pusher-js. It reads the page's
 * configuration (<script type="application/json" id="pusherable-config">) and the
 * subscriptions declared by {% pusherable_subscribe %}
 * (<script type="application/json" data-pusherable-subscription>), including those
 * added to the page later, and subscribes them all on ONE Pusher connection.
 *
 * Every event reaches window.pusherable_notify(event, data, meta) (or the callback a
 * subscription names) and a "pusherable:notify" CustomEvent on document, whose
 * detail is {event, data, channel}. The library's own events:
 *
 *   pusherable:state       {previous, current, socketId}          connection state
 *   pusherable:subscribed  {channel}                               (re)subscribed
 *   pusherable:error       {channel, reason, status, message, source}
 *   pusherable:here        {channel, members: [{id, info}], me}   presence, once
 *   pusherable:joined      {channel, member: {id, info}}          a user's first tab
 *   pusherable:left        {channel, member: {id, info}}          a user's last tab,
 *                                                                 after a grace period
 *   pusherable:intent      {channel, member: {id, info}, intent}  viewing/editing
 *   pusherable:conflict    {channel, model, pk, version, current, deleted, user,
 *                           user_id, fields, changes}             someone else saved
 *                                                                 the object of an
 *                                                                 open edit form
 *
 * Add-ons loaded after this file (pusherable-forms.js: live merge of edit forms;
 * pusherable-catchup.js: catch-up after a reconnection; pusherable-fields.js: who
 * is editing which field; pusherable-lock.js: the edit lock) plug in through
 * pusherable.use(plugin), and add events of their own. A plugin's hooks: start(host),
 * scan(node), state(change), subscribed(channel), event(channel, event, data),
 * server(channel, event, data) for the server's pusherable:* events the core does
 * not handle, presence(channel, event, data) after here/joined/left.
 *
 * Collision guard: an edit form rendered by PusherUpdateMixin (or the admin mixin)
 * holds a hidden input[data-pusherable-version]. When an "updated" (or "deleted")
 * event about that object arrives with another version, pusherable.js emits
 * pusherable:conflict, and, when the input or its form has data-pusherable-guard,
 * shows a notice at the top of the form: who changed which fields, from what to
 * what, with "Reload" and "Keep editing". The server merges the save field by field
 * anyway, and refuses only a field both changed to different values.
 *
 * Public API: window.pusherable (see docs/reference/javascript.rst).
 *
 * Plain ES2017, no build step, no dependency but pusher-js.
 */
(function (root) {
  'use strict';

  if (root.pusherable && root.pusherable.version) {
    return; // Loaded twice: the first copy owns the connection.
  }

  const VERSION = '1.0.0';
  const DEFAULT_CALLBACK = 'pusherable_notify';
  const DOM_EVENT = 'pusherable:notify';
  const CONFIG_ELEMENT_ID = 'pusherable-config';
  const SUBSCRIPTION_ATTRIBUTE = 'data-pusherable-subscription';
  const IGNORE_FORM_ATTRIBUTE = 'data-pusherable-ignore';
  const VERSION_ATTRIBUTE = 'data-pusherable-version';
  const GUARD_ATTRIBUTE = 'data-pusherable-guard';
  const NOTICE_CLASS = 'pusherable-conflict';
  const MAX_QUOTED_LENGTH = 60;
  // Protocol events, and this library's own events delivered by the code below:
  // a subscription to '*' never receives them as ordinary events.
  const RESERVED_EVENT = /^(pusher:|pusher_internal:|pusherable:)/;
  // Server events of add-ons (pusherable:field, pusherable:lock and others): only the
  // server can send them (client events start with "client-").
  const SERVER_EVENT = /^pusherable:/;
  const PRESENCE_EVENT = /^pusherable:(here|joined|left)$/;
  const DEFAULTS = {
    key: '',
    options: {},
    endpoints: { auth: null, userAuth: null, intent: null },
    csrfToken: null,
    socketIdField: 'pusherable_socket_id',
    socketIdHeader: 'X-Socket-ID',
    user: null,
    presenceGracePeriod: 3000,
  };

  const document = root.document;
  const console = root.console;

  const state = {
    config: null,
    pusher: null,
    channels: new Map(), // channel name -> channel record
    keys: new Map(), // dedupe key of a declared subscription -> handle
    elements: new Map(), // subscription <script> element -> handle
    warned: new Set(),
    nextId: 1,
    observer: null,
    conflicts: new Map(), // version input -> {changes, notice, deleted}
    plugins: [],
    objects: new Map(), // object key (channel name less its prefix) -> {version, scope}
  };

  // --- helpers ------------------------------------------------------------------

  function warnOnce(key, message) {
    if (state.warned.has(key)) return;
    state.warned.add(key);
    if (console) console.warn('pusherable: ' + message);
  }

  function channelType(name) {
    if (name.indexOf('presence-') === 0) return 'presence';
    if (name.indexOf('private-') === 0) return 'private';
    return 'public';
  }

  // One object's channels differ only by their type prefix: "presence-article_7" and
  // "private-article_7" are both "article_7".
  function objectKey(name) {
    return String(name).replace(/^(private-encrypted-|private-|presence-)/, '');
  }

  function copyMember(member) {
    return member ? { id: member.id, info: Object.assign({}, member.info) } : null;
  }

  function intentOf(member) {
    return member && member.info ? member.info.intent : undefined;
  }

  function reasonFor(status) {
    if (!status) return 'network';
    if (status === 400) return 'bad_request';
    if (status === 401) return 'unauthenticated';
    if (status === 403) return 'forbidden';
    if (status === 404) return 'not_found';
    if (status >= 500) return 'server_error';
    return 'refused';
  }

  // The JSON of an endpoint's answer; an error answer or one that is not JSON throws,
  // with the endpoint's own message when it sent one.
  async function readJSON(response) {
    let json = null;
    try {
      json = await response.json();
    } catch (error) {
      json = null;
    }
    if (!response.ok) {
      throw requestError(response.status, (json && json.error) || 'HTTP ' + response.status);
    }
    if (json === null) throw requestError(response.status, 'The answer is not JSON.');
    return json;
  }

  function requestError(status, message) {
    const error = new Error(message);
    error.status = status;
    return error;
  }

  // --- notifications -------------------------------------------------------------

  function resolveCallback(handler, quiet) {
    if (typeof handler === 'function') return handler;
    let target = root;
    for (const part of String(handler).split('.')) {
      target = target == null ? undefined : target[part];
    }
    if (typeof target === 'function') return target;
    if (!quiet) {
      warnOnce(
        'callback:' + handler,
        'window.' + handler + ' is not a function, so events are not delivered to it. ' +
          'Define it, name another callback, or listen to the "' + DOM_EVENT + '" DOM event.'
      );
    }
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

  function notifyChannel(record, event, data) {
    deliver(handlersOf(record), event, data, record.name, false);
    // Add-ons that keep per-member state (who is in which field) follow presence.
    if (PRESENCE_EVENT.test(event)) runPlugins('presence', record.name, event, data);
  }

  // --- HTTP ----------------------------------------------------------------------

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

  async function post(url, fields, extra) {
    const config = state.config;
    const options = extra || {};
    const body = new root.URLSearchParams();
    for (const name of Object.keys(options.params || {})) body.append(name, options.params[name]);
    for (const name of Object.keys(fields)) body.append(name, fields[name]);
    const requestHeaders = headers(
      Object.assign(
        { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        options.headers
      )
    );
    if (config.csrfToken) requestHeaders['X-CSRFToken'] = config.csrfToken;
    let response;
    try {
      response = await root.fetch(url, {
        method: 'POST',
        headers: requestHeaders,
        body: body.toString(),
        credentials: 'same-origin',
      });
    } catch (error) {
      throw requestError(0, 'Network error: ' + (error && error.message));
    }
    return readJSON(response);
  }

  // pusher-js calls this instead of its own XHR: the request then carries the CSRF
  // token, the socket id and, for presence channels, this page's intent.
  function authorizeChannel(params, callback) {
    const record = state.channels.get(params.channelName);
    const fields = { socket_id: params.socketId, channel_name: params.channelName };
    if (record && record.type === 'presence' && record.intent) {
      fields.intent = record.intent;
      record.authorizedIntent = record.intent;
    }
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

  // --- presence ------------------------------------------------------------------

  function presenceSync(record, members) {
    const presence = record.presence;
    const me = members && members.me ? { id: String(members.me.id), info: members.me.info || {} } : null;
    presence.me = me;
    const current = new Map();
    if (members && typeof members.each === 'function') {
      members.each((member) => {
        const id = String(member.id);
        if (me && id === me.id) return; // my own tabs are never "others"
        current.set(id, { id: id, info: Object.assign({}, member.info) });
      });
    }
    for (const member of current.values()) applyPendingIntent(presence, member);
    if (!presence.synced) {
      presence.synced = true;
      presence.members = current;
      notifyChannel(record, 'pusherable:here', {
        channel: record.name,
        members: Array.from(current.values(), copyMember),
        me: copyMember(me),
      });
      return;
    }
    // Subscribed again after a reconnection: report the difference only.
    for (const [id, member] of current) {
      if (presence.leaving.has(id)) {
        root.clearTimeout(presence.leaving.get(id));
        presence.leaving.delete(id);
        presence.members.set(id, member);
      } else if (!presence.members.has(id)) {
        presence.members.set(id, member);
        notifyChannel(record, 'pusherable:joined', { channel: record.name, member: copyMember(member) });
      }
    }
    for (const id of Array.from(presence.members.keys())) {
      if (!current.has(id) && !presence.leaving.has(id)) scheduleLeave(record, id);
    }
  }

  function applyPendingIntent(presence, member) {
    if (!presence.intents.has(member.id)) return;
    member.info = Object.assign({}, member.info, { intent: presence.intents.get(member.id) });
    presence.intents.delete(member.id);
  }

  function memberAdded(record, member) {
    const presence = record.presence;
    const id = String(member.id);
    if (presence.me && id === presence.me.id) return; // another tab of mine
    const next = { id: id, info: Object.assign({}, member.info) };
    applyPendingIntent(presence, next);
    if (presence.leaving.has(id)) {
      // Back within the grace period (a reload): the others see nothing, unless
      // the new page declared another intent.
      root.clearTimeout(presence.leaving.get(id));
      presence.leaving.delete(id);
      const previous = presence.members.get(id);
      presence.members.set(id, next);
      if (intentOf(previous) !== intentOf(next) && intentOf(next) !== undefined) {
        notifyChannel(record, 'pusherable:intent', {
          channel: record.name,
          member: copyMember(next),
          intent: intentOf(next),
        });
      }
      return;
    }
    if (presence.members.has(id)) return; // a second tab, on a server that reports tabs
    presence.members.set(id, next);
    notifyChannel(record, 'pusherable:joined', { channel: record.name, member: copyMember(next) });
  }

  function memberRemoved(record, member) {
    const presence = record.presence;
    const id = String(member.id);
    if (presence.me && id === presence.me.id) return;
    if (!presence.members.has(id) || presence.leaving.has(id)) return;
    scheduleLeave(record, id);
  }

  function stillPresent(record, id) {
    const members = record.channel && record.channel.members;
    return Boolean(members && typeof members.get === 'function' && members.get(id));
  }

  function scheduleLeave(record, id) {
    const presence = record.presence;
    const leave = () => {
      presence.leaving.delete(id);
      // While this page itself is offline nobody can tell; the next subscription
      // reports the difference.
      if (!state.pusher || state.pusher.connection.state !== 'connected') return;
      if (stillPresent(record, id) || !presence.members.has(id)) return;
      const member = presence.members.get(id);
      presence.members.delete(id);
      notifyChannel(record, 'pusherable:left', { channel: record.name, member: copyMember(member) });
    };
    const grace = Number(state.config.presenceGracePeriod) || 0;
    if (grace <= 0) {
      leave();
    } else {
      presence.leaving.set(id, root.setTimeout(leave, grace));
    }
  }

  function intentChanged(record, data) {
    if (!data || data.user_id == null || typeof data.intent !== 'string') return;
    const presence = record.presence;
    const id = String(data.user_id);
    if (presence.me && id === presence.me.id) {
      presence.me.info = Object.assign({}, presence.me.info, { intent: data.intent });
      return;
    }
    const member = presence.members.get(id);
    if (!member) {
      presence.intents.set(id, data.intent); // arrived before the member: keep it for the join
      return;
    }
    member.info = Object.assign({}, member.info, { intent: data.intent });
    notifyChannel(record, 'pusherable:intent', {
      channel: record.name,
      member: copyMember(member),
      intent: data.intent,
    });
  }

  function clearPresence(record) {
    if (!record.presence) return;
    for (const timer of record.presence.leaving.values()) root.clearTimeout(timer);
    record.presence.leaving.clear();
  }


  // --- collision guard ------------------------------------------------------------

  function parseJSON(text, fallback) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return fallback;
    }
  }

  function describeValue(value) {
    if (value === null || value === undefined || value === '') return '(empty)';
    if (value === true) return 'yes';
    if (value === false) return 'no';
    if (Array.isArray(value) && !value.length) return '(none)';
    let text = Array.isArray(value) ? value.map(String).join(', ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (text.length > MAX_QUOTED_LENGTH) text = text.slice(0, MAX_QUOTED_LENGTH - 1) + '\u2026';
    return '\u201c' + text + '\u201d';
  }

  function formOf(element) {
    let node = element;
    while (node && !(isElement(node) && tagOf(node) === 'FORM')) node = node.parentNode;
    return node || null;
  }

  // The version a guarded form was rendered from: the attribute when the server puts
  // it there (the value is then an opaque token for the merge), else the value.
  function versionOf(input) {
    return input.getAttribute(VERSION_ATTRIBUTE) || input.value;
  }

  function guardedInputs(model, pk) {
    const found = [];
    if (!document) return found;
    for (const input of elementsIn(document, 'INPUT')) {
      if (!input.hasAttribute(VERSION_ATTRIBUTE)) continue;
      if (input.getAttribute('data-pusherable-model') !== model) continue;
      if (String(parseJSON(input.getAttribute('data-pusherable-pk'), null)) !== String(pk)) continue;
      found.push(input);
    }
    return found;
  }

  // What one event changed: {name: {old, new, label}}, sensitive fields by name only.
  function changedFields(data, labels) {
    const fields = {};
    const changed = (data && data.changed) || {};
    const previous = (data && data.previous) || {};
    for (const name of Object.keys(changed)) {
      fields[name] = {
        label: labels[name] || name,
        old: Object.prototype.hasOwnProperty.call(previous, name) ? previous[name] : null,
        new: changed[name],
      };
    }
    return fields;
  }

  function checkConflict(record, event, data) {
    if (!data || typeof data !== 'object' || data.model == null || data.pk == null) return;
    const deleted = event === 'deleted';
    if (!deleted && (event !== 'updated' || !data.version)) return;
    for (const input of guardedInputs(String(data.model), data.pk)) {
      if (!deleted && versionOf(input) === data.version) continue; // the form is up to date
      const labels = parseJSON(input.getAttribute('data-pusherable-labels'), {}) || {};
      let conflict = state.conflicts.get(input);
      if (!conflict) {
        conflict = { changes: [], notice: null, deleted: false };
        state.conflicts.set(input, conflict);
      }
      const change = {
        user: data.user == null ? null : String(data.user),
        user_name: data.user_name == null ? null : String(data.user_name),
        user_id: data.user_id == null ? null : String(data.user_id),
        version: deleted ? null : data.version,
        previous_version: deleted ? null : data.previous_version || null,
        fields: deleted ? {} : changedFields(data, labels),
      };
      conflict.changes.push(change);
      conflict.deleted = conflict.deleted || deleted;
      const detail = {
        channel: record.name,
        model: String(data.model),
        pk: data.pk,
        version: versionOf(input),
        current: change.version,
        deleted: deleted,
        user: change.user,
        user_name: change.user_name,
        user_id: change.user_id,
        fields: change.fields,
        changes: conflict.changes.map((item) => JSON.parse(JSON.stringify(item))),
      };
      deliver(handlersOf(record), 'pusherable:conflict', detail, record.name, true);
      const form = formOf(input);
      if (input.hasAttribute(GUARD_ATTRIBUTE) || (form && form.hasAttribute(GUARD_ATTRIBUTE))) {
        showNotice(input, form, conflict);
      }
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.setAttribute('class', className);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function removeNotice(conflict) {
    const notice = conflict.notice;
    conflict.notice = null;
    if (notice && notice.parentNode) notice.parentNode.removeChild(notice);
  }

  function showNotice(input, form, conflict) {
    removeNotice(conflict);
    const container = form || input.parentNode;
    if (!container) return;
    const users = [];
    for (const change of conflict.changes) {
      const name = change.user_name || change.user || 'someone';
      if (users.indexOf(name) === -1) users.push(name);
    }
    const who = users.join(', ');
    const notice = element('div', NOTICE_CLASS);
    notice.setAttribute('role', 'alert');
    notice.setAttribute('data-pusherable-conflict', '');
    const headline = conflict.deleted
      ? 'Deleted by ' + who + ' since you opened it.'
      : 'Changed by ' + who + ' since you opened it.';
    notice.appendChild(element('p', NOTICE_CLASS + '__title', headline));
    const list = element('ul', NOTICE_CLASS + '__fields');
    for (const change of conflict.changes) {
      for (const name of Object.keys(change.fields)) {
        const field = change.fields[name];
        list.appendChild(
          element(
            'li',
            null,
            field.label + ': ' + describeValue(field.old) + ' \u2192 ' + describeValue(field.new) +
              (users.length > 1 && (change.user_name || change.user)
                ? ' (' + (change.user_name || change.user) + ')'
                : '')
          )
        );
      }
    }
    if (list.children.length) notice.appendChild(list);
    notice.appendChild(
      element(
        'p',
        NOTICE_CLASS + '__help',
        conflict.deleted
          ? 'Saving will not bring it back.'
          : 'If you save, their changes to the fields you left alone are kept; a field you ' +
            'both changed is shown to you again to choose.'
      )
    );
    const reload = element('button', NOTICE_CLASS + '__reload', 'Reload');
    reload.setAttribute('type', 'button');
    reload.addEventListener('click', () => {
      state.conflicts.delete(input);
      // A GET of the same address: never resubmits the form.
      if (root.location && typeof root.location.assign === 'function') root.location.assign(root.location.href);
    });
    const keep = element('button', NOTICE_CLASS + '__keep', 'Keep editing');
    keep.setAttribute('type', 'button');
    keep.addEventListener('click', () => removeNotice(conflict));
    notice.appendChild(reload);
    notice.appendChild(keep);
    if (container.firstChild) container.insertBefore(notice, container.firstChild);
    else container.appendChild(notice);
    conflict.notice = notice;
  }

  // --- channels ------------------------------------------------------------------

  function onChannelEvent(record, event, data) {
    switch (event) {
      case 'pusher:subscription_succeeded':
        subscribed(record, data);
        return;
      case 'pusher:subscription_error':
        subscriptionFailed(record, data);
        return;
      case 'pusher:member_added':
        if (record.presence) memberAdded(record, data);
        return;
      case 'pusher:member_removed':
        if (record.presence) memberRemoved(record, data);
        return;
      case 'pusherable:intent':
        if (record.presence) intentChanged(record, data);
        return;
      default:
        if (SERVER_EVENT.test(event)) {
          runPlugins('server', record.name, event, data);
          return;
        }
        if (RESERVED_EVENT.test(event)) return;
    }
    const handlers = handlersOf(record, event);
    if (handlers.size) deliver(handlers, event, data, record.name, false);
    noteVersion(record, event, data);
    // Add-ons (the live merge of edit forms) act before pusherable:conflict goes out,
    // so that its handlers see the form as merged.
    runPlugins('event', record.name, event, data);
    try {
      checkConflict(record, event, data);
    } catch (error) {
      if (console) console.error('pusherable: could not check for an edit conflict', error);
    }
  }

  // The version of each object the page holds: declared by the page, then moved on by
  // every "updated" event, so that a catch-up asks for what came after it.
  function noteVersion(record, event, data) {
    const held = state.objects.get(objectKey(record.name));
    if (!held || !data || typeof data !== 'object') return;
    if (event === 'deleted') held.deleted = true;
    if (event === 'updated' && typeof data.version === 'string' && data.version) {
      held.version = data.version;
      held.seen.add(data.version);
    }
  }

  // --- add-ons -------------------------------------------------------------------

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

  async function getJSON(url, params) {
    const query = new root.URLSearchParams();
    for (const name of Object.keys(params || {})) {
      if (params[name] !== null && params[name] !== undefined) query.append(name, params[name]);
    }
    let response;
    try {
      response = await root.fetch(url + (url.indexOf('?') === -1 ? '?' : '&') + query.toString(), {
        method: 'GET',
        headers: headers({ Accept: 'application/json' }),
        credentials: 'same-origin',
      });
    } catch (error) {
      throw requestError(0, 'Network error: ' + (error && error.message));
    }
    return readJSON(response);
  }

  // What an add-on may do: read the channels and the objects' versions, deliver events
  // as if they came from the server, and make requests like this file does.
  const host = {
    get config() {
      return state.config;
    },
    channels: () =>
      Array.from(state.channels.values(), (record) => ({
        name: record.name,
        type: record.type,
        key: objectKey(record.name),
        subscribed: record.subscribed,
        skipped: record.skipped,
      })),
    object: (name) => {
      const held = state.objects.get(objectKey(name));
      return held ? { version: held.version, scope: held.scope, deleted: held.deleted, seen: new Set(held.seen) } : null;
    },
    setVersion: (name, version) => {
      const held = state.objects.get(objectKey(name));
      if (held && typeof version === 'string' && version) held.version = version;
    },
    // An event of the channel, as if it had come from the server: the page's handlers,
    // the add-ons, the conflict check.
    dispatch: (name, event, data) => {
      const record = state.channels.get(name);
      if (record) onChannelEvent(record, event, data);
    },
    // A pusherable:* event for every handler of the channel, and the add-ons.
    emit: (name, event, data) => {
      const record = state.channels.get(name);
      if (!record) return;
      deliver(handlersOf(record), event, data, record.name, true);
      runPlugins('event', record.name, event, data);
    },
    checkConflict: (name, event, data) => {
      const record = state.channels.get(name);
      if (record) checkConflict(record, event, data);
    },
    notifyPage: notifyPage,
    getJSON: getJSON,
    // A POST with the CSRF token and the socket id, as the library's own requests.
    post: (url, fields) => post(url, fields),
    socketId: socketId,
    me: (name) => {
      const record = state.channels.get(name);
      return record && record.presence ? copyMember(record.presence.me) : null;
    },
    members: (name) => {
      const record = state.channels.get(name);
      return record && record.presence ? Array.from(record.presence.members.values(), copyMember) : [];
    },
    reasonFor: reasonFor,
    parseJSON: parseJSON,
    versionOf: versionOf,
    describeValue: describeValue,
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

  function subscribed(record, data) {
    record.subscribed = true;
    record.authFailure = null;
    notifyChannel(record, 'pusherable:subscribed', { channel: record.name });
    runPlugins('subscribed', record.name);
    if (!record.presence) return;
    presenceSync(record, data);
    // The intent changed while the authorization was on its way: send it now.
    if (record.intent && record.intent !== record.authorizedIntent) {
      setIntent(record.name, record.intent).catch(() => {});
    }
  }

  function subscriptionFailed(record, data) {
    const failure = record.authFailure || {};
    record.authFailure = null;
    const status = failure.status || (data && data.status) || null;
    notifyChannel(record, 'pusherable:error', {
      channel: record.name,
      reason: reasonFor(status),
      status: status,
      message: failure.message || (data && data.error) || 'Subscription refused.',
      source: 'subscribe',
    });
  }

  function channelRecord(name) {
    let record = state.channels.get(name);
    if (record) return record;
    const type = channelType(name);
    record = {
      name: name,
      type: type,
      channel: null,
      subscriptions: new Set(),
      subscribed: false,
      skipped: false,
      intent: null,
      authorizedIntent: null,
      authFailure: null,
      presence:
        type === 'presence'
          ? { synced: false, me: null, members: new Map(), leaving: new Map(), intents: new Map() }
          : null,
    };
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

  function subscribe(spec, element) {
    if (!state.pusher) throw new Error('pusherable: call pusherable.start() first.');
    const channels = (spec.channels || (spec.channel ? [spec.channel] : [])).map(String);
    const events = parseEvents(spec.events);
    if (!channels.length || !events.length) {
      throw new Error('pusherable: a subscription needs channels and events.');
    }
    const callback = spec.callback || null;
    const key = typeof callback === 'function' ? null : JSON.stringify([channels, events, callback, spec.intent || null]);
    if (key && state.keys.has(key)) return state.keys.get(key); // the same tag rendered twice
    const sub = { id: state.nextId++, channels: channels, events: events, callback: callback, intent: spec.intent || null };
    const handle = {
      id: sub.id,
      channels: channels.slice(),
      events: events === '*' ? '*' : events.slice(),
      unsubscribe: () => unsubscribe(sub, handle, key, element),
    };
    if (key) state.keys.set(key, handle);
    if (typeof spec.version === 'string' && spec.version) {
      for (const name of channels) {
        const objectId = objectKey(name);
        if (!state.objects.has(objectId)) {
          state.objects.set(objectId, { version: spec.version, scope: spec.scope || null, deleted: false, seen: new Set() });
        }
      }
    }
    for (const name of channels) {
      const record = channelRecord(name);
      const handler = callback || DEFAULT_CALLBACK;
      const alreadyServed = handlersOf(record).has(handler);
      record.subscriptions.add(sub);
      if (record.skipped) {
        deliver([handler], 'pusherable:error', {
          channel: name,
          reason: 'no_auth_endpoint',
          status: null,
          message: 'pusherable.urls is not included, so ' + name + ' cannot be authorized.',
          source: 'subscribe',
        }, name, false);
        continue;
      }
      if (sub.intent && record.presence && sub.intent !== record.intent) {
        record.intent = sub.intent; // the last declared intent wins
        if (record.subscribed) setIntent(name, sub.intent).catch(() => {});
      }
      connectChannel(record);
      // Declared after the channel was joined (e.g. added to the page later):
      // catch this handler up on what the others already heard.
      if (record.subscribed && !alreadyServed) {
        deliver([handler], 'pusherable:subscribed', { channel: name }, name, false);
        if (record.presence && record.presence.synced) {
          deliver([handler], 'pusherable:here', {
            channel: name,
            members: Array.from(record.presence.members.values(), copyMember),
            me: copyMember(record.presence.me),
          }, name, false);
        }
      }
    }
    return handle;
  }

  function unsubscribe(sub, handle, key, element) {
    if (key && state.keys.get(key) === handle) state.keys.delete(key);
    if (element && state.elements.get(element) === handle) state.elements.delete(element);
    for (const name of sub.channels) {
      const record = state.channels.get(name);
      if (!record || !record.subscriptions.delete(sub) || record.subscriptions.size) continue;
      // Nobody on the page listens any more: leave the channel.
      clearPresence(record);
      if (record.channel) {
        record.channel.unbind_global(record.listener);
        state.pusher.unsubscribe(name);
      }
      state.channels.delete(name);
    }
  }

  // --- the page ------------------------------------------------------------------

  function isElement(node) {
    return Boolean(node && node.nodeType === 1);
  }

  function tagOf(node) {
    return String(node.tagName || '').toUpperCase();
  }

  function elementsIn(node, tag) {
    const found = [];
    if (!node) return found;
    if (isElement(node) && tagOf(node) === tag) found.push(node);
    if (typeof node.querySelectorAll === 'function') {
      for (const element of node.querySelectorAll(tag.toLowerCase())) found.push(element);
    }
    return found;
  }

  function declareFrom(element) {
    if (state.elements.has(element) || !element.hasAttribute(SUBSCRIPTION_ATTRIBUTE)) return;
    let spec;
    try {
      spec = JSON.parse(element.textContent);
    } catch (error) {
      if (console) console.error('pusherable: unreadable subscription', element, error);
      return;
    }
    try {
      state.elements.set(element, subscribe(spec, element));
    } catch (error) {
      if (console) console.error(error);
    }
  }

  function isPostForm(form) {
    return String(form.getAttribute('method') || 'get').toLowerCase() === 'post';
  }

  function sameOrigin(form) {
    const action = form.getAttribute('action');
    if (!action || !root.location) return true;
    try {
      const base = (document && document.baseURI) || root.location.href;
      return new root.URL(action, base).origin === root.location.origin;
    } catch (error) {
      return false;
    }
  }

  // Only same-origin POST forms get the socket id: it is of no use elsewhere.
  function addSocketId(form) {
    const id = socketId();
    if (!id || !isPostForm(form) || form.hasAttribute(IGNORE_FORM_ATTRIBUTE) || !sameOrigin(form)) {
      return;
    }
    const field = state.config.socketIdField;
    let input = null;
    for (const candidate of form.querySelectorAll('input')) {
      if (candidate.name === field) input = candidate;
    }
    if (!input) {
      input = document.createElement('input');
      input.type = 'hidden';
      input.name = field;
      form.appendChild(input);
    }
    input.value = id;
  }

  function scan(node) {
    if (!state.pusher) return;
    const target = node || document;
    for (const element of elementsIn(target, 'SCRIPT')) declareFrom(element);
    for (const form of elementsIn(target, 'FORM')) addSocketId(form);
    runPlugins('scan', target);
  }

  function forget(node) {
    for (const element of elementsIn(node, 'SCRIPT')) {
      const handle = state.elements.get(element);
      if (handle) handle.unsubscribe();
    }
  }

  function observe() {
    if (typeof root.MutationObserver !== 'function' || !document.documentElement) return;
    state.observer = new root.MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.removedNodes || []) if (isElement(node)) forget(node);
        for (const node of record.addedNodes || []) if (isElement(node)) scan(node);
      }
    });
    state.observer.observe(document.documentElement, { childList: true, subtree: true });
  }

  function onSubmit(event) {
    // Covers forms built in ways no observer saw, and a socket id that changed.
    const form = event.target;
    if (isElement(form) && tagOf(form) === 'FORM') addSocketId(form);
  }

  function onStateChange(change) {
    const current = change.current;
    if (current !== 'connected') {
      for (const record of state.channels.values()) record.subscribed = false;
    } else {
      for (const form of elementsIn(document, 'FORM')) addSocketId(form);
    }
    notifyPage('pusherable:state', {
      previous: change.previous,
      current: current,
      socketId: socketId(),
    });
    runPlugins('state', { previous: change.previous, current: current });
  }

  function onConnectionError(error) {
    // pusher-js reports a pusher:error message as {type: 'PusherError', data: {code, message}}.
    const data = (error && (error.data || (error.error && error.error.data))) || {};
    notifyPage('pusherable:error', {
      channel: null,
      reason: 'connection',
      status: data.code || null,
      message: data.message || (error && error.type) || 'Connection error.',
      source: 'connection',
    });
  }

  // --- public API ----------------------------------------------------------------

  async function setIntent(channel, intent) {
    const record = state.channels.get(channel);
    if (!record || !record.presence) {
      throw new Error('pusherable.setIntent: the page is not subscribed to presence channel ' + channel);
    }
    record.intent = String(intent);
    if (record.presence.me) {
      record.presence.me.info = Object.assign({}, record.presence.me.info, { intent: record.intent });
    }
    const id = socketId();
    if (!record.subscribed || !id) return null; // sent with the next authorization instead
    record.authorizedIntent = record.intent;
    const url = state.config.endpoints.intent;
    try {
      if (!url) throw requestError(null, 'pusherable.urls is not included: no intent endpoint.');
      return await post(url, { socket_id: id, channel_name: channel, intent: record.intent });
    } catch (error) {
      notifyChannel(record, 'pusherable:error', {
        channel: channel,
        reason: url ? reasonFor(error.status) : 'no_intent_endpoint',
        status: error.status || null,
        message: error.message,
        source: 'intent',
      });
      throw error;
    }
  }

  function start(config) {
    if (state.pusher) return api;
    const settings = Object.assign({}, DEFAULTS, config);
    settings.endpoints = Object.assign({}, DEFAULTS.endpoints, settings.endpoints);
    state.config = settings;
    if (typeof root.Pusher !== 'function') {
      if (console) console.error('pusherable: pusher-js is not loaded (check PUSHERABLE_PUSHER_JS_URL).');
      notifyPage('pusherable:error', {
        channel: null,
        reason: 'pusher_js_missing',
        status: null,
        message: 'pusher-js is not loaded.',
        source: 'connection',
      });
      return api;
    }
    const options = Object.assign({}, settings.options);
    state.authOptions = Object.assign({}, options.channelAuthorization);
    state.userOptions = Object.assign({}, options.userAuthentication);
    options.channelAuthorization = Object.assign({}, state.authOptions, {
      endpoint: settings.endpoints.auth || '',
      transport: 'ajax',
      customHandler: authorizeChannel,
    });
    options.userAuthentication = Object.assign({}, state.userOptions, {
      endpoint: settings.endpoints.userAuth || '',
      transport: 'ajax',
      customHandler: authenticateUser,
    });
    state.pusher = new root.Pusher(settings.key, options);
    runPlugins('start', host);
    state.pusher.connection.bind('state_change', onStateChange);
    state.pusher.connection.bind('error', onConnectionError);
    if (document) {
      document.addEventListener('submit', onSubmit, true);
      observe();
      scan(document);
    }
    return api;
  }

  function readConfig() {
    const element = document && document.getElementById(CONFIG_ELEMENT_ID);
    if (!element) return null;
    try {
      return JSON.parse(element.textContent);
    } catch (error) {
      if (console) console.error('pusherable: unreadable configuration', error);
      return null;
    }
  }

  const api = {
    version: VERSION,
    get config() {
      return state.config;
    },
    get pusher() {
      return state.pusher;
    },
    start: start,
    subscribe: (spec) => subscribe(spec, null),
    use: use,
    scan: scan,
    socketId: socketId,
    headers: headers,
    setIntent: setIntent,
    conflicts: () => {
      const result = [];
      for (const [input, conflict] of state.conflicts) {
        result.push({
          model: input.getAttribute('data-pusherable-model'),
          pk: parseJSON(input.getAttribute('data-pusherable-pk'), null),
          version: versionOf(input),
          deleted: conflict.deleted,
          changes: JSON.parse(JSON.stringify(conflict.changes)),
        });
      }
      return result;
    },
    members: (channel) => {
      const record = state.channels.get(channel);
      return record && record.presence ? Array.from(record.presence.members.values(), copyMember) : [];
    },
    me: (channel) => {
      const record = state.channels.get(channel);
      return record && record.presence ? copyMember(record.presence.me) : null;
    },
    state: () => (state.pusher ? state.pusher.connection.state : 'uninitialized'),
    signin: () => {
      if (!state.pusher || !state.config.endpoints.userAuth) return false;
      state.pusher.signin();
      return true;
    },
    disconnect: () => {
      if (state.pusher) state.pusher.disconnect();
    },
  };
  root.pusherable = api;

  function boot() {
    const config = readConfig();
    if (config) start(config);
  }

  if (document && document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', boot);
  } else {
    boot();
  }
})(typeof window !== 'undefined' ? window : this);
