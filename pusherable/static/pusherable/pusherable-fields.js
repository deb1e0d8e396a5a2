/*
 * pusherable-fields.js: who is editing which field, for django-pusherable.
 *
 * Loaded by {% pusherable_script %} after pusherable.js. It works on every guarded
 * edit form whose hidden input carries data-pusherable-fields (the form's field
 * names, signed by the server) and data-pusherable-field-channel (the object's
 * presence channel), as PusherUpdateMixin and the admin render it:
 *
 * - When the editor focuses a field, the page tells the server (the field endpoint,
 *   pusherable:field), which checks the field against the signed names and triggers
 *   a server event on the presence channel; blurring it says "no field". Requests go
 *   out at most once every MIN_INTERVAL ms, one at a time, coalesced to the latest
 *   focus: a burst of focus changes costs a few requests a second at most, typing
 *   inside a field none.
 * - When another editor's event arrives, the field gets a mark ("Bob is editing")
 *   until they blur it, move on, or leave the object (after the presence grace
 *   period: a closed tab clears its field too).
 *
 * Events (to the channel's callbacks, and as "pusherable:notify" DOM events):
 *
 *   pusherable:field   {channel, member: {id, info}, field, label, previous}
 *                      field and label are null when the member left the field
 *
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const document = root.document;
  const pusherable = root.pusherable;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-fields.js: load pusherable.js first.');
    return;
  }

  const { parseJSON, formOf, memberName } = pusherable.helpers;
  const INPUT_SELECTOR = 'input[data-pusherable-fields][data-pusherable-field-channel]';
  const EVENT = 'pusherable:field';
  // At most 4 announcements a second from one page and object.
  const MIN_INTERVAL = 250;
  const MARK_CLASS = 'pusherable-field-presence';
  const EDITING_ATTRIBUTE = 'data-pusherable-editing';

  let host = null;
  const forms = new Map(); // form -> {input, channel, token, prefix, labels}
  const outgoing = new Map(); // channel -> what this page announces there
  const editing = new Map(); // channel -> Map(member id -> field name)


  // --- the forms -----------------------------------------------------------------------

  function scan(node) {
    if (!node || typeof node.querySelectorAll !== 'function') return;
    const inputs = Array.prototype.slice.call(node.querySelectorAll(INPUT_SELECTOR));
    if (node.matches && node.matches(INPUT_SELECTOR)) inputs.push(node);
    for (const input of inputs) {
      const form = formOf(input);
      if (!form || forms.has(form)) continue;
      forms.set(form, {
        input: input,
        channel: input.getAttribute('data-pusherable-field-channel'),
        token: input.getAttribute('data-pusherable-fields'),
        prefix: input.name.slice(0, input.name.lastIndexOf('-') + 1),
        labels: parseJSON(input.getAttribute('data-pusherable-labels'), {}) || {},
      });
      render(input.getAttribute('data-pusherable-field-channel'));
    }
  }

  // The form field a control belongs to: its name less the form's prefix, and less
  // the "_0"/"_1" of a widget split in parts (a date and a time).
  function fieldOf(entry, control) {
    const name = String(control.name || '');
    if (!name || name.indexOf(entry.prefix) !== 0 || control === entry.input) return null;
    const bare = name.slice(entry.prefix.length);
    if (Object.prototype.hasOwnProperty.call(entry.labels, bare)) return bare;
    const whole = bare.replace(/_\d+$/, '');
    return Object.prototype.hasOwnProperty.call(entry.labels, whole) ? whole : null;
  }

  function controlsOf(form, entry, field) {
    return Array.prototype.slice.call(form.elements).filter((control) => fieldOf(entry, control) === field);
  }

  // --- announcing this page's field ----------------------------------------------------

  function outgoingFor(entry) {
    let out = outgoing.get(entry.channel);
    if (!out) {
      out = { channel: entry.channel, token: entry.token, wanted: null, sent: null, force: false,
        lastAt: 0, timer: null, busy: false, off: false };
      outgoing.set(entry.channel, out);
    }
    return out;
  }

  function subscribedTo(channel) {
    return host.channels().some((item) => item.name === channel && item.subscribed);
  }

  function announce(entry, field) {
    const out = outgoingFor(entry);
    out.wanted = field;
    out.token = entry.token;
    // Deferred: a blur followed by the next field's focus is one announcement.
    if (!out.timer) out.timer = root.setTimeout(() => pump(out), 0);
  }

  function pump(out) {
    out.timer = null;
    if (out.busy || out.off || (out.wanted === out.sent && !out.force)) return;
    const wait = out.lastAt + MIN_INTERVAL - Date.now();
    if (wait > 0) {
      out.timer = root.setTimeout(() => pump(out), wait);
      return;
    }
    const url = host && host.config && host.config.endpoints.field;
    const socketId = host && host.socketId();
    // Only to a channel this page is on: it hears the others there, and they see it
    // leave. Sent once the channel is subscribed.
    if (!url || !socketId || !subscribedTo(out.channel)) return;
    const field = out.wanted;
    out.force = false;
    out.busy = true;
    out.lastAt = Date.now();
    out.sent = field;
    let failed = false;
    host
      .post(url, { socket_id: socketId, channel_name: out.channel, fields: out.token, field: field || '' })
      .catch((error) => {
        failed = true;
        // Refused (not an editor, a form the server does not know): stop asking.
        if (error.status === 400 || error.status === 403 || error.status === 404) out.off = true;
        out.sent = undefined; // not said: the next focus change tries again
        host.emit(out.channel, 'pusherable:error', pusherable.helpers.errorData(out.channel, 'field', error));
      })
      .then(() => {
        out.busy = false;
        if (!failed) pump(out); // the focus moved on while this one was on its way
      });
  }

  function onFocusIn(event) {
    const form = formOf(event.target);
    const entry = form && forms.get(form);
    if (!entry) return;
    const field = fieldOf(entry, event.target);
    if (field) announce(entry, field);
  }

  function onFocusOut(event) {
    const form = formOf(event.target);
    const entry = form && forms.get(form);
    if (entry && fieldOf(entry, event.target)) announce(entry, null);
  }

  // Leaving the page: say "no field" at once, so that a reload does not leave a mark
  // behind (the presence grace period hides the reload itself).
  function onPageHide() {
    const url = host && host.config && host.config.endpoints.field;
    const socketId = host && host.socketId();
    if (!url || !socketId || !root.navigator || typeof root.navigator.sendBeacon !== 'function') return;
    for (const out of outgoing.values()) {
      if (!out.sent || out.off) continue;
      const body = new root.URLSearchParams({
        socket_id: socketId, channel_name: out.channel, fields: out.token, field: '',
        csrfmiddlewaretoken: host.config.csrfToken || '',
      });
      root.navigator.sendBeacon(url, body);
      out.sent = null;
    }
  }

  // --- showing the others' fields ------------------------------------------------------

  function memberOf(channel, id) {
    for (const member of pusherable.members(channel)) if (member.id === id) return member;
    return { id: id, info: {} };
  }

  function render(channel) {
    const fields = editing.get(channel) || new Map();
    for (const [form, entry] of forms) {
      if (entry.channel !== channel) continue;
      for (const mark of Array.prototype.slice.call(form.querySelectorAll('.' + MARK_CLASS))) mark.remove();
      for (const control of Array.prototype.slice.call(form.querySelectorAll('[' + EDITING_ATTRIBUTE + ']'))) {
        control.removeAttribute(EDITING_ATTRIBUTE);
      }
      const byField = new Map();
      for (const [id, field] of fields) {
        if (!byField.has(field)) byField.set(field, []);
        byField.get(field).push(memberName(memberOf(channel, id), 'Someone'));
      }
      for (const [field, names] of byField) {
        const controls = controlsOf(form, entry, field);
        if (!controls.length) continue;
        const text = names.join(', ') + (names.length > 1 ? ' are' : ' is') + ' editing';
        for (const control of controls) control.setAttribute(EDITING_ATTRIBUTE, names.join(', '));
        const mark = document.createElement('span');
        mark.className = MARK_CLASS;
        mark.setAttribute('data-pusherable-field', field);
        mark.setAttribute('role', 'status');
        mark.textContent = text;
        const last = controls[controls.length - 1];
        const anchor = last.closest('label') && controls.length > 1 ? last.closest('label') : last;
        anchor.insertAdjacentElement('afterend', mark);
      }
    }
  }

  function labelOf(channel, field) {
    if (!field) return null;
    for (const entry of forms.values()) {
      if (entry.channel === channel && entry.labels[field]) return String(entry.labels[field]);
    }
    return field;
  }

  function setField(channel, id, field) {
    let fields = editing.get(channel);
    if (!fields) {
      fields = new Map();
      editing.set(channel, fields);
    }
    const previous = fields.has(id) ? fields.get(id) : null;
    if (previous === field) return;
    if (field) fields.set(id, field);
    else fields.delete(id);
    render(channel);
    host.emit(channel, EVENT, {
      channel: channel,
      member: memberOf(channel, id),
      field: field,
      label: labelOf(channel, field),
      previous: previous,
    });
  }

  function isMe(channel, id) {
    const me = pusherable.me(channel);
    const user = host.config && host.config.user;
    return (me && me.id === id) || (user && String(user.id) === id);
  }

  const plugin = {
    name: 'fields',
    start(api) {
      host = api;
      if (document) {
        document.addEventListener('focusin', onFocusIn, true);
        document.addEventListener('focusout', onFocusOut, true);
      }
      root.addEventListener('pagehide', onPageHide);
    },
    scan: scan,
    subscribed(channel) {
      const out = outgoing.get(channel);
      if (out && out.wanted) {
        out.force = true;
        pump(out);
      }
    },
    server(channel, event, data) {
      if (event !== EVENT || !data || data.user_id == null) return;
      const id = String(data.user_id);
      if (isMe(channel, id)) return; // my other tab
      setField(channel, id, typeof data.field === 'string' && data.field ? data.field : null);
    },
    presence(channel, event, data) {
      if (event === 'pusherable:left' && data && data.member) {
        setField(channel, String(data.member.id), null); // a member takes their field along
      } else if (event === 'pusherable:joined') {
        // A newcomer has not heard which field this page is in: say it again.
        const out = outgoing.get(channel);
        if (out && out.sent) {
          out.force = true;
          pump(out);
        }
      }
    },
  };

  pusherable.use(plugin);
})(typeof window !== 'undefined' ? window : this);
