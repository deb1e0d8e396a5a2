/*
 * pusherable/admin.js: the Django admin side of django-pusherable.
 *
 * Loaded by the templates of pusherable.admin.PusherableAdminMixin, after the files
 * of {% pusherable_script %}, whose helpers it uses. It listens to the
 * "pusherable:notify" DOM events and:
 *
 * - on a change form, keeps the presence bar ([data-pusherable-presence]) up to
 *   date: "alice is editing this", "bob is editing Body", from
 *   pusherable:here/joined/left/intent and pusherable-fields.js's pusherable:field;
 * - on a change list ([data-pusherable-live-list]), refreshes the results when
 *   an object of the model is created, changed or deleted, unless the user is in
 *   the middle of something there (rows selected, list_editable), in which case
 *   it offers to reload instead.
 *
 * The "changed by" notice of the change form is pusherable-guard.js's notice.
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const document = root.document;
  const pusherable = root.pusherable;
  if (!pusherable || !pusherable.helpers || typeof pusherable.helpers.make !== 'function') {
    if (root.console) root.console.warn('pusherable/admin.js: load the files of {% pusherable_script %} first.');
    return;
  }
  const { make, memberName, reload } = pusherable.helpers;
  const REFRESH_DELAY = 300; // ms: one refresh for a burst of events
  const LIST_EVENTS = ['created', 'updated', 'deleted'];

  // --- presence bar ----------------------------------------------------------------

  function presenceBar(bar) {
    const channel = bar.getAttribute('data-pusherable-presence');
    const members = new Map();
    const fields = new Map(); // member id -> label of the field they are in

    function render() {
      while (bar.firstChild) bar.removeChild(bar.firstChild);
      if (!members.size) {
        bar.hidden = true;
        return;
      }
      for (const member of members.values()) {
        const intent = (member.info && member.info.intent) || 'viewing';
        const field = fields.get(String(member.id));
        const text = memberName(member) + ' is ' + (field ? 'editing ' + field : intent + ' this');
        const item = make('span', 'pusherable-presence__member', text);
        item.setAttribute('data-intent', intent);
        item.setAttribute('data-member', member.id);
        bar.appendChild(item);
      }
      bar.hidden = false;
    }

    return function (event, data) {
      if (!data || data.channel !== channel) return;
      if (event === 'pusherable:here') {
        members.clear();
        for (const member of data.members || []) members.set(String(member.id), member);
      } else if (event === 'pusherable:joined' || event === 'pusherable:intent') {
        members.set(String(data.member.id), data.member);
      } else if (event === 'pusherable:left') {
        members.delete(String(data.member.id));
        fields.delete(String(data.member.id));
      } else if (event === 'pusherable:field') {
        if (data.label) fields.set(String(data.member.id), data.label);
        else fields.delete(String(data.member.id));
      } else {
        return;
      }
      render();
    };
  }

  // --- live change list ------------------------------------------------------------

  function liveList(box) {
    const channel = box.getAttribute('data-pusherable-live-list');
    const editable = box.hasAttribute('data-pusherable-editable');
    let pending = [];
    let timer = null;

    function summary(events) {
      const counts = { created: 0, updated: 0, deleted: 0 };
      const users = [];
      for (const item of events) {
        counts[item.event] += 1;
        if (item.user && users.indexOf(item.user) === -1) users.push(item.user);
      }
      const parts = [];
      if (counts.created) parts.push(counts.created + ' added');
      if (counts.updated) parts.push(counts.updated + ' changed');
      if (counts.deleted) parts.push(counts.deleted + ' deleted');
      return parts.join(', ') + (users.length ? ' by ' + users.join(', ') : '');
    }

    function say(text, offerReload) {
      while (box.firstChild) box.removeChild(box.firstChild);
      box.appendChild(make('span', 'pusherable-live-list__text', text));
      if (offerReload) {
        const button = make('button', 'pusherable-live-list__reload', 'Reload');
        button.type = 'button';
        button.addEventListener('click', reload);
        box.appendChild(button);
      }
      box.hidden = false;
    }

    function busy() {
      return editable || Boolean(document.querySelector('#changelist-form input.action-select:checked'));
    }

    function swap(fresh) {
      const oldForm = document.getElementById('changelist-form');
      const newForm = fresh.getElementById('changelist-form');
      if (!oldForm || !newForm) return false;
      const oldResults = oldForm.querySelector('.results');
      const newResults = newForm.querySelector('.results');
      if (oldResults && newResults) {
        oldResults.replaceWith(document.importNode(newResults, true));
        const oldPaginator = oldForm.querySelector('.paginator');
        const newPaginator = newForm.querySelector('.paginator');
        if (oldPaginator && newPaginator) oldPaginator.replaceWith(document.importNode(newPaginator, true));
      } else {
        oldForm.replaceWith(document.importNode(newForm, true));
      }
      return true;
    }

    function highlight(events) {
      for (const item of events) {
        if (item.event === 'deleted') continue;
        for (const input of document.querySelectorAll('#changelist-form input.action-select')) {
          if (input.value === String(item.pk)) {
            const row = input.closest('tr');
            if (row) row.classList.add('pusherable-changed');
          }
        }
      }
    }

    async function refresh() {
      timer = null;
      const events = pending;
      pending = [];
      const text = 'This list changed: ' + summary(events) + '.';
      if (busy()) {
        say(text, true);
        return;
      }
      try {
        const response = await root.fetch(root.location.href, {
          credentials: 'same-origin',
          headers: { Accept: 'text/html' },
        });
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const fresh = new root.DOMParser().parseFromString(await response.text(), 'text/html');
        if (busy() || !swap(fresh)) {
          say(text, true);
          return;
        }
        highlight(events);
        say('Updated live: ' + summary(events) + '.', false);
      } catch (error) {
        say(text, true);
      }
    }

    return function (event, data, channelName) {
      if (channelName !== channel || LIST_EVENTS.indexOf(event) === -1 || !data) return;
      pending.push({ event: event, pk: data.pk, user: data.user_name || data.user || null });
      if (timer === null) timer = root.setTimeout(refresh, REFRESH_DELAY);
    };
  }

  // --- wiring ------------------------------------------------------------------------

  function boot() {
    const handlers = [];
    const bar = document.querySelector('[data-pusherable-presence]');
    if (bar) handlers.push(presenceBar(bar));
    const box = document.querySelector('[data-pusherable-live-list]');
    if (box) handlers.push(liveList(box));
    if (!handlers.length) return;
    // The admin listens to DOM events only: a no-op callback keeps pusherable.js from
    // warning that the page defines none.
    if (typeof root.pusherable_notify !== 'function') root.pusherable_notify = function () {};
    document.addEventListener('pusherable:notify', (event) => {
      const detail = event.detail || {};
      for (const handler of handlers) handler(detail.event, detail.data, detail.channel);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})(window);
