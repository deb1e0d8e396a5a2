/*
 * pusherable-catchup.js: catch-up after a reconnection, for django-pusherable.
 *
 * Loaded by {% pusherable_script %} after pusherable.js. Events sent while a page is
 * offline never reach it: the connection dropped, the laptop slept, the tab was
 * frozen in the background. When the page is back (its channel subscribed again
 * after a drop, the tab visible again after a while, the browser online again), it
 * asks the server (pusherable:changes) what changed on each object it holds since
 * the version it holds (declared by {% pusherable_subscribe %}, moved on by every
 * "updated" event), and delivers what it missed as if it had been online:
 *
 *   updated / deleted      the same data as live, plus catch_up: true
 *   pusherable:missed      {channel, model, pk, version, object, catch_up}: the object
 *                          changed but the server's history cannot say how (reload,
 *                          or use data.object); edit forms refill untouched fields
 *   pusherable:error       {channel, reason, status, message, source: "catch_up"}
 *                          when the request fails
 *
 * A page turns it off with data-pusherable-catch-up="off" on <html> or <body>.
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const pusherable = root.pusherable;
  const document = root.document;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-catchup.js: load pusherable.js first.');
    return;
  }

  // A tab hidden this long may have been frozen by the browser: ask when it is back.
  const HIDDEN_LONG_ENOUGH = 5000;
  // The browser says "online" before the socket is back: give pusher-js a moment.
  const ONLINE_DELAY = 500;
  const OFF_ATTRIBUTE = 'data-pusherable-catch-up';

  let host = null;
  let everConnected = false;
  let hiddenAt = null;
  const stale = new Set(); // object keys to ask about once their channel is back
  const running = new Map(); // object key -> {again}
  // The version of each object the page holds: declared by {% pusherable_subscribe %}
  // (or pusherable.subscribe's spec), then moved on by every "updated" event, so that
  // a catch-up asks for what came after it. Object key -> {version, scope, deleted, seen}.
  const objects = new Map();

  function keyOf(name) {
    const channel = host && host.channel(name);
    return channel ? channel.key : null;
  }

  // A copy of what the page holds of the channel's object, or null.
  function held(name) {
    const object = objects.get(keyOf(name));
    return object ? { version: object.version, scope: object.scope, deleted: object.deleted, seen: new Set(object.seen) } : null;
  }

  function setVersion(name, version) {
    const object = objects.get(keyOf(name));
    if (object && typeof version === 'string' && version) object.version = version;
  }

  function noteVersion(name, event, data) {
    const object = objects.get(keyOf(name));
    if (!object || !data || typeof data !== 'object') return;
    if (event === 'deleted') object.deleted = true;
    if (event === 'updated' && typeof data.version === 'string' && data.version) {
      object.version = data.version;
      object.seen.add(data.version);
    }
  }

  function disabled() {
    for (const node of [document && document.documentElement, document && document.body]) {
      if (node && node.getAttribute && node.getAttribute(OFF_ATTRIBUTE) === 'off') return true;
    }
    return false;
  }

  // The channel to ask through: one per object. A page that also listens on a presence
  // channel for "who is here" gets the object's events on its other channel.
  function channelFor(key) {
    let chosen = null;
    for (const channel of host.channels()) {
      if (channel.key !== key || channel.skipped) continue;
      if (!chosen || (chosen.type === 'presence' && channel.type !== 'presence')) chosen = channel;
    }
    return chosen;
  }

  function heldObjects() {
    const keys = [];
    for (const channel of host.channels()) {
      const object = objects.get(channel.key);
      if (object && object.version && !object.deleted && keys.indexOf(channel.key) === -1) keys.push(channel.key);
    }
    return keys;
  }

  function catchUpAll() {
    if (!host || disabled()) return;
    for (const key of heldObjects()) catchUp(key);
  }

  // Fields a later change already set on the page: an older missed change must not
  // put their older values back.
  function withoutLaterFields(change, later) {
    const copy = Object.assign({}, change);
    const changed = Object.assign({}, change.changed);
    const previous = Object.assign({}, change.previous);
    for (const newer of later) {
      for (const name of Object.keys(newer.changed || {})) {
        delete changed[name];
        delete previous[name];
      }
    }
    copy.changed = changed;
    copy.previous = previous;
    return copy;
  }

  function deliverAnswer(channel, since, answer) {
    const name = channel.name;
    if (answer.deleted) {
      host.dispatch(name, 'deleted', {
        event: 'deleted',
        model: answer.model,
        pk: answer.pk,
        object: null,
        user: null,
        user_id: null,
        catch_up: true,
      });
      return;
    }
    const holding = held(name) || { version: since, seen: new Set() };
    if (answer.changes === null) {
      if (holding.version === answer.version) return; // live events already brought it
      host.emit(name, 'pusherable:missed', {
        channel: name,
        model: answer.model,
        pk: answer.pk,
        version: answer.version,
        object: answer.object,
        catch_up: true,
      });
      // The guard notice says the form is out of date, without details.
      host.checkConflict(name, 'updated', {
        event: 'updated',
        model: answer.model,
        pk: answer.pk,
        changed: {},
        previous: {},
        version: answer.version,
        user: null,
        user_id: null,
      });
      setVersion(name, answer.version);
      return;
    }
    const changes = answer.changes || [];
    for (let index = 0; index < changes.length; index += 1) {
      const change = changes[index];
      if (holding.seen.has(change.version)) continue; // it arrived live meanwhile
      const later = changes.slice(index + 1).filter((item) => holding.seen.has(item.version));
      const data = withoutLaterFields(change, later);
      data.object = answer.object;
      data.catch_up = true;
      host.dispatch(name, 'updated', data);
    }
    setVersion(name, answer.version);
  }

  async function catchUp(key) {
    const current = running.get(key);
    if (current) {
      current.again = true; // asked again meanwhile: once more when this one is done
      return;
    }
    const url = host.config && host.config.endpoints && host.config.endpoints.changes;
    const channel = channelFor(key);
    const holding = channel && held(channel.name);
    if (!url || !channel || !holding || !holding.version || holding.deleted) return;
    const run = { again: false };
    running.set(key, run);
    try {
      const answer = await host.getJSON(url, { channel: channel.name, since: holding.version, scope: holding.scope });
      deliverAnswer(channel, holding.version, answer);
    } catch (error) {
      host.emit(channel.name, 'pusherable:error', pusherable.helpers.errorData(channel.name, 'catch_up', error));
    } finally {
      running.delete(key);
    }
    if (run.again) catchUp(key);
  }

  function onVisibility() {
    if (document.visibilityState === 'hidden') {
      hiddenAt = Date.now();
      return;
    }
    const since = hiddenAt;
    hiddenAt = null;
    if (since !== null && Date.now() - since >= HIDDEN_LONG_ENOUGH && pusherable.state() === 'connected') {
      catchUpAll();
    }
  }

  function onOnline() {
    root.setTimeout(() => {
      // Not connected yet: the channels' new subscriptions will ask instead.
      if (pusherable.state() === 'connected') catchUpAll();
    }, ONLINE_DELAY);
  }

  pusherable.use({
    name: 'catch-up',
    start(api) {
      host = api;
      if (document && typeof document.addEventListener === 'function') {
        document.addEventListener('visibilitychange', onVisibility);
      }
      if (typeof root.addEventListener === 'function') root.addEventListener('online', onOnline);
    },
    declare(name, declaration) {
      const key = keyOf(name);
      const version = declaration.version;
      if (key === null || typeof version !== 'string' || !version || objects.has(key)) return;
      objects.set(key, { version: version, scope: declaration.scope || null, deleted: false, seen: new Set() });
    },
    event: noteVersion,
    state(change) {
      if (change.current === 'connected') {
        everConnected = true;
        return;
      }
      // Dropped: whatever is sent until the channels are back is missed.
      if (everConnected) for (const key of heldObjects()) stale.add(key);
    },
    subscribed(name) {
      const channel = host && host.channels().filter((item) => item.name === name)[0];
      if (!channel || !stale.has(channel.key)) return;
      const chosen = channelFor(channel.key);
      if (!chosen || chosen.name !== name) return; // asked through the object's other channel
      stale.delete(channel.key);
      if (!disabled()) catchUp(channel.key);
    },
  });
})(typeof window !== 'undefined' ? window : this);
