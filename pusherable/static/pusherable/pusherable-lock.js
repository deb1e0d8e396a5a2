/*
 * pusherable-lock.js: the edit lock's banner, for django-pusherable.
 *
 * Loaded by {% pusherable_script %} after pusherable.js. It works on the banner
 * {% pusherable_lock %} renders in a view (or the admin) in lock mode:
 * [data-pusherable-lock] with its state in data-pusherable-lock-state. The server
 * decides everything (the form of a user without the lock is rendered read-only,
 * and their save is refused); this file only keeps the banner current and sends
 * the requests of its buttons to the lock endpoint (pusherable:lock):
 *
 * - the holder's page renews the lock's lease while it is open (every third of
 *   it, and when it joins the channel), lists who asks to edit, each with "Hand over";
 * - every page asks the lock's state when it joins the channel, so that a change
 *   made between its rendering and its subscription is not missed;
 * - the others' pages offer "Ask to edit" (and "Take over" to users with the
 *   take-over permission), and "Edit now" once the holder left or let go; a page
 *   given the lock reloads, to show the form editable;
 * - a holder who lost the lock (handed over, taken over, expired) sees why, and the
 *   form turns read-only: a save would be refused.
 *
 * Events (to the channel's callbacks, and as "pusherable:notify" DOM events):
 *
 *   pusherable:lock      {channel, holder: {id, name} | null, previous, reason, mine}
 *   pusherable:lock-ask  {channel, user: {id, name}}   on the holder's page
 *
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const document = root.document;
  const pusherable = root.pusherable;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-lock.js: load pusherable.js first.');
    return;
  }

  const { parseJSON, make, reload } = pusherable.helpers;
  const SELECTOR = '[data-pusherable-lock][data-pusherable-lock-state]';
  const REASONS = {
    handover: 'you handed it over',
    takeover: 'they took it over',
    expired: 'your lock expired',
    abandoned: 'your lock expired',
    released: 'you let it go',
  };

  let host = null;
  const banners = new Map(); // channel -> {element, state, timer, note}


  function button(label, action, onClick) {
    const node = make('button', 'pusherable-lock__button', label);
    node.type = 'button';
    node.setAttribute('data-pusherable-lock-action', action);
    node.addEventListener('click', onClick);
    return node;
  }

  // The guarded form of the banner's object.
  function formsOf(channel) {
    const found = [];
    for (const input of document.querySelectorAll('input[data-pusherable-field-channel]')) {
      if (input.getAttribute('data-pusherable-field-channel') === channel && input.form) found.push(input.form);
    }
    return found;
  }

  function makeReadOnly(channel) {
    for (const form of formsOf(channel)) {
      for (const control of Array.prototype.slice.call(form.elements)) {
        const tag = String(control.tagName).toUpperCase();
        const type = String(control.type || '').toLowerCase();
        if ((tag === 'TEXTAREA' || tag === 'INPUT') && ['checkbox', 'radio', 'submit', 'button', 'file'].indexOf(type) === -1) {
          control.readOnly = true; // the text stays, to be copied
        } else if (type !== 'hidden') {
          control.disabled = true;
        }
      }
    }
  }

  // --- the banner -----------------------------------------------------------------------

  function render(entry) {
    const element = entry.element;
    const state = entry.state;
    while (element.firstChild) element.removeChild(element.firstChild);
    element.classList.toggle('pusherable-lock--mine', Boolean(state.mine));
    const holder = state.holder;
    let text;
    if (state.lost) {
      text = (holder ? holder.name + ' has the edit lock now' : 'You no longer hold the edit lock') +
        ' (' + (REASONS[state.lost] || state.lost) + '). Your unsaved changes cannot be saved.';
    } else if (state.mine) {
      text = 'You are editing this. The others see it read-only until you leave or hand it over.';
    } else if (holder) {
      text = holder.name + ' is editing this, so it is read-only for you.' +
        (state.asked ? ' You asked them to hand it over.' : '');
    } else {
      text = (state.left ? state.left + ' left. ' : '') + 'Nobody is editing this now.';
    }
    element.appendChild(make('p', 'pusherable-lock__text', text));
    if (state.lost) return;
    if (state.mine) {
      for (const asker of state.asks || []) {
        const row = make('p', 'pusherable-lock__ask', asker.name + ' asks to edit. ');
        row.setAttribute('data-pusherable-lock-asker', asker.id);
        row.appendChild(button('Hand over to ' + asker.name, 'handover', () => act(entry, 'handover', { to: asker.id })));
        element.appendChild(row);
      }
    } else if (holder) {
      if (!state.asked) element.appendChild(button('Ask to edit', 'ask', () => act(entry, 'ask')));
      if (state.canTakeOver) element.appendChild(button('Take over', 'take', () => act(entry, 'take')));
    } else {
      element.appendChild(button('Edit now', 'edit', reload));
    }
    if (entry.note) element.appendChild(make('p', 'pusherable-lock__error', entry.note));
  }

  function lost(entry, holder, reason) {
    entry.state.mine = false;
    entry.state.holder = holder;
    entry.state.lost = reason;
    stopRenewing(entry);
    makeReadOnly(entry.state.channel);
    render(entry);
  }

  // Whether news of the lock made at `at` (the server's epoch seconds) is newer than
  // what the page shows, and if so remember it. An answer read before a change can
  // arrive after the change's event (a renewal that crossed a take-over): it must
  // not undo it. News without a time (an older server) is always applied.
  function isNews(entry, at) {
    if (typeof at !== 'number') return true;
    if (at < (entry.state.at || 0)) return false;
    entry.state.at = at;
    return true;
  }

  // What the endpoint answered: {holder, mine, asks} or null.
  function update(entry, lock, reason) {
    if (entry.state.mine && (!lock || !lock.mine)) {
      lost(entry, lock ? lock.holder : null, reason);
      return;
    }
    if (lock && lock.mine && !entry.state.mine) {
      reload(); // given the lock: the server renders the form editable
      return;
    }
    entry.state.holder = lock ? lock.holder : null;
    if (lock && lock.mine) entry.state.asks = lock.asks || [];
    render(entry);
  }

  function act(entry, action, extra) {
    const url = host.config.endpoints.lock;
    const fields = Object.assign({ channel_name: entry.state.channel, action: action }, extra);
    const socketId = host.socketId();
    if (socketId) fields.socket_id = socketId;
    entry.note = null;
    return host.post(url, fields).then(
      (answer) => {
        if (action === 'ask') entry.state.asked = true;
        if (action === 'handover') entry.state.asks = [];
        if (!isNews(entry, answer.at)) return;
        update(entry, answer.lock, action === 'renew' ? 'expired' : action);
      },
      (error) => {
        entry.note = error.message;
        render(entry);
        host.emit(entry.state.channel, 'pusherable:error', pusherable.helpers.errorData(entry.state.channel, 'lock', error));
      }
    );
  }

  function startRenewing(entry) {
    stopRenewing(entry);
    const every = Math.max(1000, Number(entry.state.renewEvery) || 20000);
    entry.timer = root.setInterval(() => act(entry, 'renew'), every);
  }

  function stopRenewing(entry) {
    if (entry.timer) root.clearInterval(entry.timer);
    entry.timer = null;
  }

  function scan(node) {
    if (!node || typeof node.querySelectorAll !== 'function') return;
    for (const element of node.querySelectorAll(SELECTOR)) {
      const state = parseJSON(element.getAttribute('data-pusherable-lock-state'), null);
      if (!state || !state.channel || banners.has(state.channel)) continue;
      const entry = { element: element, state: state, timer: null, note: null };
      banners.set(state.channel, entry);
      if (state.mine) startRenewing(entry);
      render(entry);
    }
  }

  // --- server events ---------------------------------------------------------------------

  function onLock(channel, entry, data) {
    if (!isNews(entry, data.at)) return;
    const holder = data.holder || null;
    const mine = Boolean(holder && holder.id === entry.state.me);
    host.emit(channel, 'pusherable:lock', {
      channel: channel, holder: holder, previous: data.previous || null, reason: data.reason || null, mine: mine,
    });
    if (mine && !entry.state.mine) {
      reload();
    } else if (entry.state.mine && !mine) {
      lost(entry, holder, data.reason);
    } else if (!entry.state.mine) {
      entry.state.holder = holder;
      entry.state.asked = false;
      entry.state.left = holder ? null : data.previous && data.previous.name;
      render(entry);
    }
  }

  function onAsk(channel, entry, data) {
    const user = data.user;
    if (!entry.state.mine || !user || data.holder_id !== entry.state.me) return;
    const asks = (entry.state.asks || []).filter((item) => item.id !== user.id);
    asks.push({ id: String(user.id), name: String(user.name) });
    entry.state.asks = asks;
    render(entry);
    host.emit(channel, 'pusherable:lock-ask', { channel: channel, user: { id: String(user.id), name: String(user.name) } });
  }

  const plugin = {
    name: 'lock',
    start(api) {
      host = api;
    },
    scan: scan,
    subscribed(channel) {
      // On the channel (again): the holder's lease starts over, and any page learns
      // what changed between its rendering and now, when no event could reach it.
      const entry = banners.get(channel);
      if (entry) act(entry, 'renew');
    },
    server(channel, event, data) {
      const entry = banners.get(channel);
      if (!entry || !data) return;
      if (event === 'pusherable:lock') onLock(channel, entry, data);
      else if (event === 'pusherable:lock-ask') onAsk(channel, entry, data);
    },
    presence(channel, event, data) {
      const entry = banners.get(channel);
      if (!entry || entry.state.mine || event !== 'pusherable:left' || !data || !data.member) return;
      const holder = entry.state.holder;
      if (holder && String(data.member.id) === holder.id) {
        // The holder's last tab is gone (after the grace period): the lock is theirs
        // no more once the server sees it too; "Edit now" asks it.
        entry.state.holder = null;
        entry.state.left = holder.name;
        render(entry);
      }
    },
  };

  pusherable.use(plugin);
})(typeof window !== 'undefined' ? window : this);
